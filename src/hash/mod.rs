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
        // List without stat (the directory entries carry their type), then stat in parallel:
        // on a no-op status over many files the stat calls are nearly all the work.
        let mut listed: Vec<(String, PathBuf)> = Vec::new();
        for entry in walkdir::WalkDir::new(abs).sort_by_file_name() {
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
            let inner = entry
                .path()
                .strip_prefix(abs)
                .map_err(|_| Error::Failed(format!("walked outside {}", abs.display())))?;
            let inner = inner
                .to_str()
                .ok_or_else(|| Error::data(entry.path(), "file name is not valid UTF-8"))?
                .replace('\\', "/");
            listed.push((inner, entry.into_path()));
        }
        let files: Vec<(String, PathBuf, std::fs::Metadata)> = listed
            .into_par_iter()
            .map(|(inner, path)| {
                // Symlinks are followed to files; a link to a directory is refused rather
                // than silently left out of the digest.
                let meta = std::fs::metadata(&path).at(&path)?;
                if meta.is_dir() {
                    return Err(Error::data(
                        &path,
                        "a symbolic link to a directory inside a tracked directory is not supported; copy the directory instead",
                    ));
                }
                Ok((inner, path, meta))
            })
            .collect::<Result<_>>()?;

        // One pass under the state lock answers for every unchanged file; only the others are
        // read, in parallel, and remembered in a second pass.
        let mut digests: Vec<Option<String>> = {
            let state = self.lock_state();
            files
                .iter()
                .map(|(inner, _, meta)| state.lookup(&format!("{rel}/{inner}"), meta))
                .collect()
        };
        let unknown: Vec<usize> = (0..files.len()).filter(|&i| digests[i].is_none()).collect();
        let unknown_bytes: u64 = unknown.iter().map(|&i| files[i].2.len()).sum();
        let bar = if self.progress && (unknown_bytes > 64 << 20 || unknown.len() > 2000) {
            crate::progress::bytes_bar(unknown_bytes, &format!("hashing {rel}"))
        } else {
            indicatif::ProgressBar::hidden()
        };
        let fresh: Vec<String> = unknown
            .par_iter()
            .map(|&i| {
                let digest = digest_file(&files[i].1)?;
                bar.inc(files[i].2.len());
                Ok(digest)
            })
            .collect::<Result<_>>()?;
        {
            let mut state = self.lock_state();
            for (&i, digest) in unknown.iter().zip(fresh) {
                let (inner, _, meta) = &files[i];
                state.insert(&format!("{rel}/{inner}"), meta, &digest);
                digests[i] = Some(digest);
            }
        }
        let entries: Vec<ManifestEntry> = files
            .into_iter()
            .zip(digests)
            .map(|((path, _, meta), digest)| ManifestEntry {
                path,
                digest: digest.unwrap_or_default(),
                size: meta.len(),
            })
            .collect();
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
