//! BLAKE3 digests of files and directories. A directory's digest is the digest of its
//! [`Manifest`]; the [`StateTable`] remembers file digests by (size, mtime, inode) so unchanged
//! files are never read twice.

mod manifest;
mod state;

pub use manifest::{Manifest, ManifestEntry};
pub use state::{Stamp, StateTable};

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::dep_path::{DepPath, Location};
use crate::error::{Error, IoContext, Result};
use crate::rel_path::RelPath;

/// Files at least this big are memory-mapped for hashing (and hashed on all cores when huge).
const MMAP_THRESHOLD: u64 = 128 * 1024;
const RAYON_THRESHOLD: u64 = 64 * 1024 * 1024;

pub use crate::digest::{Digest, is_digest};

/// The digest of some bytes.
pub fn digest_bytes(bytes: &[u8]) -> Digest {
    Digest::of_bytes(bytes)
}

/// The digest of a file's bytes, read from disk.
pub fn digest_file(path: &Path) -> Result<Digest> {
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
    Ok(Digest::from_hash(hasher.finalize()))
}

/// Hashes the bytes written through it on their way to `inner`, so that what arrives from a
/// remote is checked without being read back from disk.
pub struct DigestWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
    written: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Hashes what is written to `inner`.
    pub fn new(inner: W) -> DigestWriter<W> {
        DigestWriter {
            inner,
            hasher: blake3::Hasher::new(),
            written: 0,
        }
    }

    /// Flushes `inner`; returns the digest and the number of bytes written.
    pub fn finish(mut self) -> std::io::Result<(Digest, u64)> {
        self.inner.flush()?;
        Ok((Digest::from_hash(self.hasher.finalize()), self.written))
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What a path in the workspace hashes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathDigest {
    /// The file's digest, or for a directory its manifest's digest.
    pub digest: Digest,
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
            // Resolved, so that links inside tracked folders can be checked against it.
            root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            state: Mutex::new(state),
            progress: true,
        }
    }

    /// A hasher for `ws` with its state table (`.cairn/state`).
    pub fn for_workspace(ws: &crate::workspace::Workspace) -> Hasher {
        Hasher::new(&ws.root, StateTable::load(&ws.state_path()))
    }

    /// Never draws a progress bar (for commands whose output is read by programs).
    pub fn quiet(mut self) -> Hasher {
        self.progress = false;
        self
    }

    /// The workspace's root, resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Hashes `rel` (a normalised workspace-relative path). `Ok(None)` when it does not exist.
    pub fn hash(&self, rel: &str) -> Result<Option<PathDigest>> {
        self.hash_at(rel, &self.root.join(rel), Some(&self.root))
    }

    /// Hashes a dependency, inside the workspace or outside it. `Ok(None)` when it does not
    /// exist.
    pub fn hash_dep(&self, dep: &DepPath) -> Result<Option<PathDigest>> {
        match dep.location() {
            Location::Workspace(rel) => self.hash(rel),
            // Only read: links inside an outside folder may lead anywhere, as they are neither
            // cached nor pushed. The state table keys it by its absolute path, which no
            // workspace path can be.
            Location::External(abs) => self.hash_at(dep.as_str(), abs, None),
        }
    }

    /// Hashes `abs`, known to the state table as `key`. Symbolic links inside a folder must
    /// resolve inside `confine` when given.
    fn hash_at(&self, key: &str, abs: &Path, confine: Option<&Path>) -> Result<Option<PathDigest>> {
        let meta = match std::fs::metadata(abs) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(abs),
        };
        crate::confine::check_file_type(abs, &meta)?;
        if meta.is_dir() {
            self.hash_dir(key, abs, confine).map(Some)
        } else {
            let digest = self.file_digest(key, abs, &meta)?;
            Ok(Some(PathDigest {
                digest,
                size: meta.len(),
                manifest: None,
            }))
        }
    }

    fn file_digest(&self, rel: &str, abs: &Path, meta: &std::fs::Metadata) -> Result<Digest> {
        let stamp = Stamp::of(meta);
        if let Some(d) = self.lock_state().lookup(rel, &stamp) {
            return Ok(d);
        }
        let digest = digest_file(abs)?;
        self.lock_state().insert(rel, &stamp, &digest);
        Ok(digest)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, StateTable> {
        // A panic while holding the lock cannot leave the table inconsistent (each call is one
        // map operation), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hash_dir(&self, rel: &str, abs: &Path, confine: Option<&Path>) -> Result<PathDigest> {
        let mut files = Vec::new();
        list_dir(confine, abs, &format!("{rel}/"), &mut files)?;
        let prefix = rel.len() + 1;

        // One pass under the state lock answers for every unchanged file; only the others are
        // read, in parallel, and remembered in a second pass.
        let mut digests: Vec<Option<Digest>> = {
            let state = self.lock_state();
            files
                .iter()
                .map(|f| state.lookup(&f.key, &f.stamp))
                .collect()
        };
        let unknown: Vec<usize> = (0..files.len()).filter(|&i| digests[i].is_none()).collect();
        let unknown_bytes: u64 = unknown.iter().map(|&i| files[i].stamp.size()).sum();
        let bar = if self.progress && (unknown_bytes > 64 << 20 || unknown.len() > 2000) {
            crate::report::bar(
                &format!("hashing {rel}"),
                unknown_bytes,
                crate::report::Unit::Bytes,
            )
        } else {
            Box::new(crate::report::NoBar)
        };
        let fresh: Vec<Digest> = unknown
            .par_iter()
            .map(|&i| {
                let digest = digest_file(&abs.join(&files[i].key[prefix..]))?;
                bar.inc(files[i].stamp.size());
                Ok(digest)
            })
            .collect::<Result<_>>()?;
        {
            let mut state = self.lock_state();
            for (&i, digest) in unknown.iter().zip(fresh) {
                state.insert(&files[i].key, &files[i].stamp, &digest);
                digests[i] = Some(digest);
            }
        }
        let entries: Vec<ManifestEntry> = files
            .into_iter()
            .zip(digests)
            .map(|(file, digest)| {
                let inside = &file.key[prefix..];
                Ok(ManifestEntry {
                    path: RelPath::parse(inside).map_err(|m| Error::data(abs.join(inside), m))?,
                    digest: digest
                        .ok_or_else(|| Error::Failed(format!("{}: left unhashed", file.key)))?,
                    size: file.stamp.size(),
                })
            })
            .collect::<Result<_>>()?;
        bar.finish();
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

/// A file found inside a tracked directory.
struct ListedFile {
    /// Workspace-relative path: the state table's key; the manifest's path is its tail.
    key: String,
    stamp: Stamp,
}

/// Appends the files under `dir` to `out`, keyed `prefix` + their path inside `dir`, in the
/// order the manifest has always used: each directory's entries sorted by name, a
/// subdirectory's files in the place of its name (so `a/x` comes before `a.txt`).
///
/// On a no-op status over many files the stat calls are nearly all the work, so they are made
/// relative to the open directory (no path walk from the root) and on all cores.
///
/// A symbolic link inside is followed only to a regular file, inside `root` when given (the
/// workspace: a link out would get a file from elsewhere cached and pushed).
fn list_dir(
    root: Option<&Path>,
    dir: &Path,
    prefix: &str,
    out: &mut Vec<ListedFile>,
) -> Result<()> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        entries.push((entry.file_name(), entry));
    }
    // Names are unique within a directory, so an unstable sort gives the one order.
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // `None` for a directory. An indexed collect writes each result in place (a `Result`
    // collect would gather per-thread lists and copy them).
    let stamps: Vec<Result<Option<Stamp>>> = entries
        .par_iter()
        .map(|(_, entry)| {
            let mut meta = entry.metadata().map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
            if meta.file_type().is_symlink() {
                // Symlinks are followed to files; a link to a directory is refused rather
                // than silently left out of the digest.
                let path = entry.path();
                if let Some(root) = root {
                    crate::confine::check_inside(root, &path)?;
                }
                meta = std::fs::metadata(&path).at(&path)?;
                if meta.is_dir() {
                    return Err(Error::data(
                        &path,
                        "a symbolic link to a directory inside a tracked directory is not supported; copy the directory instead",
                    ));
                }
            }
            crate::confine::check_file_type(&entry.path(), &meta)?;
            Ok((!meta.is_dir()).then(|| Stamp::of(&meta)))
        })
        .collect();
    out.reserve(entries.len());
    for ((name, entry), stamp) in entries.into_iter().zip(stamps) {
        let name = name
            .to_str()
            .ok_or_else(|| Error::data(entry.path(), "file name is not valid UTF-8"))?;
        let key = format!("{prefix}{name}");
        match stamp? {
            Some(stamp) => out.push(ListedFile { key, stamp }),
            None => list_dir(root, &entry.path(), &format!("{key}/"), out)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_writer_hashes_what_passes_through() {
        let mut out = DigestWriter::new(Vec::new());
        out.write_all(b"hello ").unwrap();
        out.write_all(b"world").unwrap();
        let (digest, n) = out.finish().unwrap();
        assert_eq!(digest, digest_bytes(b"hello world"));
        assert_eq!(n, 11);
    }

    /// Directory digests are in every lock file: the listing order must never change. It is
    /// each directory's names sorted, a subdirectory's files in the place of its name.
    #[test]
    fn directory_listing_keeps_the_manifest_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("d/a/x", "1"),
            ("d/a.txt", "2"),
            ("d/a/b/y", "3"),
            ("d/B", "4"),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let hasher = Hasher::new(root, StateTable::default()).quiet();
        let hashed = hasher.hash("d").unwrap().unwrap();
        let paths: Vec<&str> = hashed
            .manifest
            .as_ref()
            .unwrap()
            .entries
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(paths, ["B", "a/b/y", "a/x", "a.txt"]);
        assert_eq!(hashed.size, 4);
    }
}
