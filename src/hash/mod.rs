//! BLAKE3 digests of files and directories. A directory's digest is the digest of its
//! [`Manifest`]; the [`StateTable`] remembers file digests by (size, mtime, inode) so unchanged
//! files are never read twice.

mod manifest;
mod state;

pub use manifest::{Manifest, ManifestEntry};
pub use state::StateTable;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{Error, IoContext, Result};

/// Files at least this big are memory-mapped for hashing (and hashed on all cores when huge).
const MMAP_THRESHOLD: u64 = 128 * 1024;
const RAYON_THRESHOLD: u64 = 64 * 1024 * 1024;

/// The digest of some bytes, as lowercase hex.
pub fn digest_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The digest of a file's bytes, read from disk.
pub fn digest_file(path: &Path) -> Result<String> {
    let len = std::fs::metadata(path).at(path)?.len();
    let mut hasher = blake3::Hasher::new();
    if len >= RAYON_THRESHOLD {
        hasher.update_mmap_rayon(path).at(path)?;
    } else if len >= MMAP_THRESHOLD {
        hasher.update_mmap(path).at(path)?;
    } else {
        let mut buf = [0u8; 64 * 1024];
        let mut file = File::open(path).at(path)?;
        loop {
            let n = file.read(&mut buf).at(path)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Whether `s` looks like a digest this crate writes (64 lowercase hex characters).
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a path in the workspace hashes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathDigest {
    /// The file's digest, or for a directory its manifest's digest.
    pub digest: String,
    /// Total size in bytes of the file, or of every file in the directory.
    pub size: u64,
    /// For a directory, its listing; `None` for a file.
    pub manifest: Option<Manifest>,
}

impl PathDigest {
    /// Number of files: 1 for a file, the manifest's length for a directory.
    pub fn nfiles(&self) -> Option<u64> {
        self.manifest.as_ref().map(|m| m.entries.len() as u64)
    }
}

/// Hashes workspace paths, consulting and filling the state table.
pub struct Hasher {
    root: PathBuf,
    state: Mutex<StateTable>,
    progress: bool,
}

impl Hasher {
    /// A hasher for the workspace at `root` with its state table.
    pub fn new(root: &Path, state: StateTable) -> Hasher {
        Hasher {
            root: root.to_path_buf(),
            state: Mutex::new(state),
            progress: true,
        }
    }

    /// Never draws a progress bar (for commands whose output is read by programs).
    pub fn quiet(mut self) -> Hasher {
        self.progress = false;
        self
    }

    /// Hashes `rel` (a normalised workspace-relative path). `Ok(None)` when it does not exist.
    pub fn hash(&self, rel: &str) -> Result<Option<PathDigest>> {
        let abs = self.root.join(rel);
        let meta = match std::fs::metadata(&abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(&abs),
        };
        if meta.is_dir() {
            self.hash_dir(rel, &abs).map(Some)
        } else {
            let digest = self.file_digest(rel, &abs, &meta)?;
            Ok(Some(PathDigest {
                digest,
                size: meta.len(),
                manifest: None,
            }))
        }
    }

    fn file_digest(&self, rel: &str, abs: &Path, meta: &std::fs::Metadata) -> Result<String> {
        if let Some(d) = self.lock_state().lookup(rel, meta) {
            return Ok(d);
        }
        let digest = digest_file(abs)?;
        self.lock_state().insert(rel, meta, &digest);
        Ok(digest)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, StateTable> {
        // A panic while holding the lock cannot leave the table inconsistent (each call is one
        // map operation), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hash_dir(&self, rel: &str, abs: &Path) -> Result<PathDigest> {
        let mut files: Vec<(String, PathBuf, std::fs::Metadata)> = Vec::new();
        for entry in walkdir::WalkDir::new(abs)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(abs).to_path_buf();
                Error::Io {
                    path,
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk failed")),
                }
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let meta = entry.metadata().map_err(|e| Error::Io {
                path: entry.path().to_path_buf(),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("stat failed")),
            })?;
            let inner = entry
                .path()
                .strip_prefix(abs)
                .map_err(|_| Error::Failed(format!("walked outside {}", abs.display())))?;
            let inner = inner
                .to_str()
                .ok_or_else(|| Error::data(entry.path(), "file name is not valid UTF-8"))?
                .replace('\\', "/");
            files.push((inner, entry.path().to_path_buf(), meta));
        }

        // Which files the state table cannot answer for, and how many bytes they hold.
        let (unknown_bytes, unknown_files) = {
            let state = self.lock_state();
            files
                .iter()
                .filter(|(inner, _, meta)| state.lookup(&format!("{rel}/{inner}"), meta).is_none())
                .fold((0u64, 0u64), |(b, n), (_, _, m)| (b + m.len(), n + 1))
        };
        let bar = if self.progress && (unknown_bytes > 64 << 20 || unknown_files > 2000) {
            crate::progress::bytes_bar(unknown_bytes, &format!("hashing {rel}"))
        } else {
            indicatif::ProgressBar::hidden()
        };

        let entries: Vec<ManifestEntry> = files
            .par_iter()
            .map(|(inner, path, meta)| {
                let digest = self.file_digest(&format!("{rel}/{inner}"), path, meta)?;
                bar.inc(meta.len());
                Ok(ManifestEntry {
                    path: inner.clone(),
                    digest,
                    size: meta.len(),
                })
            })
            .collect::<Result<_>>()?;
        bar.finish_and_clear();
        let manifest = Manifest { entries };
        Ok(PathDigest {
            digest: manifest.digest(),
            size: manifest.size(),
            manifest: Some(manifest),
        })
    }

    /// Saves the state table if it changed.
    pub fn save_state(&self) -> Result<()> {
        self.lock_state().save()
    }
}
