//! `.cairnignore` (and DVC's `.dvcignore`, read the same way so a DVC project keeps its
//! ignores): gitignore patterns at the workspace root naming folders and files cairn does not
//! search for pipeline and pointer files, e.g. test fixtures that hold pipelines of their own.

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Error, Result};

/// The ignore files read at the workspace root, cairn's first.
pub const FILE_NAMES: [&str; 2] = [".cairnignore", ".dvcignore"];

/// Past this an ignore file is refused unread: it is a list of patterns, not data.
const MAX_BYTES: u64 = 1 << 20;

/// The patterns of a workspace's ignore files.
pub struct Ignores(Option<Gitignore>);

impl Ignores {
    /// Reads the ignore files at `root`; none is no patterns. A link or a folder by that name is
    /// refused rather than followed, as is a file past 1 MiB or a pattern gitignore rejects.
    pub fn load(root: &Path) -> Result<Ignores> {
        let mut builder = GitignoreBuilder::new(root);
        let mut any = false;
        for name in FILE_NAMES {
            let path = root.join(name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                return Err(Error::invalid(
                    &path,
                    "is not a regular file; make it a file of gitignore patterns or remove it",
                ));
            }
            if meta.len() > MAX_BYTES {
                return Err(Error::invalid(
                    &path,
                    format!(
                        "is {} bytes, over the 1 MiB an ignore file may hold",
                        meta.len()
                    ),
                ));
            }
            if let Some(e) = builder.add(&path) {
                return Err(Error::invalid(&path, e.to_string()));
            }
            any = true;
        }
        if !any {
            return Ok(Ignores(None));
        }
        let matcher = builder
            .build()
            .map_err(|e| Error::invalid(root.join(FILE_NAMES[0]), e.to_string()))?;
        Ok(Ignores(Some(matcher)))
    }

    /// Whether `path` (under the root the patterns were loaded for) is ignored, itself or by a
    /// folder above it.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        self.0
            .as_ref()
            .is_some_and(|m| m.matched_path_or_any_parents(path, is_dir).is_ignore())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_from_both_files_apply_to_folders_and_what_is_inside_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".cairnignore"), "tests/fixtures/\n").unwrap();
        std::fs::write(dir.path().join(".dvcignore"), "*.tmp\n").unwrap();
        let ignores = Ignores::load(dir.path()).unwrap();
        let at = |p: &str| dir.path().join(p);
        assert!(ignores.is_ignored(&at("tests/fixtures"), true));
        assert!(ignores.is_ignored(&at("tests/fixtures/a/dvc.yaml"), false));
        assert!(ignores.is_ignored(&at("x.tmp"), false));
        assert!(!ignores.is_ignored(&at("tests/other/dvc.yaml"), false));
    }

    #[test]
    fn no_files_ignore_nothing_and_a_folder_by_that_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ignores = Ignores::load(dir.path()).unwrap();
        assert!(!ignores.is_ignored(&dir.path().join("a"), true));
        std::fs::create_dir(dir.path().join(".dvcignore")).unwrap();
        let err = Ignores::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(".dvcignore") && err.contains("not a regular file"),
            "{err}"
        );
    }
}
