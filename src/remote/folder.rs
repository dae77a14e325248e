//! A remote that is a folder (a mounted disk, a network share, another directory). Objects are
//! written to a temporary name beside their destination and renamed into place, so an
//! interrupted push never leaves a partial object under a real key.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::backend::{Failure, FailureKind, Remote, RemoteResult};

/// A folder remote rooted at `root`.
#[derive(Debug)]
pub struct FolderRemote {
    root: PathBuf,
}

impl FolderRemote {
    /// The remote in folder `root`, which need not exist yet.
    pub fn new(root: PathBuf) -> FolderRemote {
        FolderRemote { root }
    }
}

fn io_failure(what: &str, path: &Path, e: io::Error) -> Failure {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => FailureKind::NotFound,
        io::ErrorKind::Interrupted | io::ErrorKind::TimedOut => FailureKind::Transient,
        _ => FailureKind::Permanent,
    };
    Failure::new(kind, format!("{what} {}: {e}", path.display()))
}

impl Remote for FolderRemote {
    fn list(&self, prefix: &str) -> RemoteResult<Vec<String>> {
        let base = self.root.join(prefix.trim_end_matches('/'));
        let mut keys = Vec::new();
        for entry in walkdir::WalkDir::new(&base).min_depth(1) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) if e.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) => {
                    continue;
                }
                Err(e) => {
                    return Err(Failure::new(
                        FailureKind::Permanent,
                        format!("listing {}: {e}", base.display()),
                    ));
                }
            };
            let name = entry.file_name().to_string_lossy();
            if !entry.file_type().is_file() || name.starts_with('.') {
                continue;
            }
            if let Ok(rel) = entry.path().strip_prefix(&self.root) {
                keys.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(keys)
    }

    fn put(&self, key: &str, src: &Path) -> RemoteResult<()> {
        let dest = self.root.join(key);
        let dir = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| io_failure("creating", dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".cairn-tmp-")
            .tempfile_in(dir)
            .map_err(|e| io_failure("creating a file in", dir, e))?;
        fs::copy(src, tmp.path()).map_err(|e| io_failure("copying to", tmp.path(), e))?;
        tmp.persist(&dest)
            .map_err(|e| io_failure("renaming into", &dest, e.error))?;
        Ok(())
    }

    fn get(&self, key: &str, dest: &Path) -> RemoteResult<()> {
        let src = self.root.join(key);
        fs::copy(&src, dest).map_err(|e| io_failure("reading", &src, e))?;
        Ok(())
    }
}
