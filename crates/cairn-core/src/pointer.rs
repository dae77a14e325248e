//! Pointer files (`PATH.cairn`) written by `cairn add` for data kept out of git: the digest,
//! size and file count of PATH, whose bytes live in the cache and on remotes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::lock::LockedPath;
use crate::rel_path::RelPath;

/// File name suffix of pointer files.
pub const SUFFIX: &str = ".cairn";

/// The contents of a pointer file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pointer {
    /// The tracked paths, relative to the folder holding the pointer file (normally one).
    pub outs: Vec<LockedPath>,
}

impl Pointer {
    /// Reads a pointer file.
    pub fn read(path: &Path) -> Result<Pointer> {
        let text = std::fs::read_to_string(path).at(path)?;
        crate::yaml::from_str_unique(&text).map_err(|e| {
            Error::invalid(
                path,
                format!("{e}; restore it from git or run `cairn add` again"),
            )
        })
    }

    /// Writes a pointer file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text =
            serde_norway::to_string(self).map_err(|e| Error::invalid(path, e.to_string()))?;
        crate::atomic::write(path, text.as_bytes())
    }

    /// Every pointer file in the workspace at `root`, as (workspace-relative pointer path,
    /// contents). Hidden folders (`.git`, `.cairn`), the data a pointer tracks and what
    /// `.cairnignore`/`.dvcignore` name are not walked.
    pub fn find_all(root: &Path) -> Result<Vec<(String, Pointer)>> {
        let ignores = crate::ignore_file::Ignores::load(root)?;
        let mut found = Vec::new();
        let walker = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                if e.depth() == 0 {
                    return true;
                }
                if ignores.is_ignored(e.path(), e.file_type().is_dir()) {
                    return false;
                }
                if e.file_type().is_dir() {
                    // Skip hidden folders, build output, and folders tracked by a pointer.
                    let tracked = e
                        .path()
                        .parent()
                        .map(|p| p.join(format!("{name}{SUFFIX}")).is_file())
                        .unwrap_or(false);
                    return !name.starts_with('.') && name != "target" && !tracked;
                }
                true
            });
        for entry in walker {
            let entry = entry.map_err(|e| Error::Failed(e.to_string()))?;
            if !entry.file_type().is_file()
                || !entry.file_name().to_string_lossy().ends_with(SUFFIX)
            {
                continue;
            }
            let rel = relative(root, entry.path())?;
            found.push((rel, Pointer::read(entry.path())?));
        }
        Ok(found)
    }

    /// The tracked paths made workspace-relative, given the pointer's own workspace-relative path.
    pub fn workspace_outs(&self, pointer_rel: &str) -> Vec<LockedPath> {
        let dir = RelPath::parse(pointer_rel)
            .ok()
            .and_then(|p| p.parent().and_then(|d| RelPath::parse(d).ok()));
        self.outs
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if let Some(dir) = &dir {
                    o.path = dir.join(&o.path);
                }
                o
            })
            .collect()
    }
}

fn relative(root: &Path, path: &Path) -> Result<String> {
    let rel = path
        .strip_prefix(root)
        .map_err(|_| Error::Failed(format!("{} is outside the workspace", path.display())))?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}
