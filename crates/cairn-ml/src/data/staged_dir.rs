//! An output directory that appears all at once: files are written into a temporary directory
//! beside the target, which replaces the target only when everything is written. A failure
//! leaves the previous directory (or nothing) — never a half-written one. Only a directory
//! holding nothing but the files this output consists of is ever replaced, so pointing
//! `--output` at a folder of other files cannot delete them.

use std::path::{Path, PathBuf};

use cairn_core::error::{Error, IoContext, Result};

/// A directory being written; dropped without `commit`, it disappears.
pub struct StagedDir {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl StagedDir {
    /// Starts writing the directory `target`, made of the files `names`. An existing `target`
    /// holding anything else is [`Error::Usage`], before anything is written.
    pub fn new(target: &Path, names: &[&str]) -> Result<StagedDir> {
        if target.exists() {
            let foreign: Vec<String> = std::fs::read_dir(target)
                .at(target)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !names.contains(&n.as_str()))
                .collect();
            if !foreign.is_empty() {
                return Err(Error::Usage(format!(
                    "{} holds files cairn did not write there ({}); give a new or empty directory (nothing was changed)",
                    target.display(),
                    foreign.join(", ")
                )));
            }
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent).at(parent)?;
        let tmp = tempfile::Builder::new()
            .prefix(&cairn_core::confine::temp_prefix())
            .tempdir_in(parent)
            .at(parent)?;
        Ok(StagedDir {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// Where to write a file of the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Moves the finished directory into place, replacing what was there.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        let old = if target.exists() {
            // Move the old one aside first: a directory cannot be renamed over a non-empty one.
            let aside = self.tmp.path().with_extension("old");
            std::fs::rename(&target, &aside).at(&target)?;
            Some(aside)
        } else {
            None
        };
        let tmp = self.tmp.keep();
        if let Err(e) = std::fs::rename(&tmp, &target) {
            // Put things back as they were; the error is what matters.
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &target);
            }
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e).at(&target);
        }
        if let Some(old) = old {
            let removed = if old.is_dir() {
                std::fs::remove_dir_all(&old)
            } else {
                std::fs::remove_file(&old)
            };
            removed.at(&old)?;
        }
        Ok(())
    }
}
