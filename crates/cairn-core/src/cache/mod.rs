//! The object store: file bytes (and directory manifests) named by their BLAKE3 digest under
//! `.cairn/cache/v1/ab/cdef…`. Every write goes through `.cairn/tmp/` and is renamed into place
//! only after its digest was checked, so the cache never holds a half-written or misnamed object,
//! whatever happens to the process. Objects are read-only so that a hard- or symlinked workspace
//! file cannot be edited in place by accident.

mod link;

pub use crate::workspace::LinkType;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::hash::{Manifest, PathDigest};
use crate::workspace::Workspace;

/// Version of the cache layout; a new layout gets a new folder beside the old one.
pub const LAYOUT: &str = "v1";

/// Objects this process fetched from a remote and hashed on arrival. Placing one of them needs
/// no second read to check it (a pull would otherwise hash every file twice in one run): objects
/// are read-only, and no stage command has run since. Objects stored from the workspace are not
/// included, as `repro` runs stage commands between storing and placing.
static FETCHED: LazyLock<Mutex<HashSet<Digest>>> = LazyLock::new(Default::default);

fn remember_fetched(digest: &Digest) {
    FETCHED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(digest.clone());
}

/// Whether this process fetched `digest` and found it right.
fn was_fetched(digest: &Digest) -> bool {
    FETCHED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(digest)
}

/// Content-addressed object store.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    dir: PathBuf,
    tmp: PathBuf,
    link_types: Vec<LinkType>,
}

impl ObjectStore {
    /// The workspace's cache, `.cairn/cache/v1`, with the link types its config asks for.
    pub fn open(ws: &Workspace) -> Result<ObjectStore> {
        let mut link_types = ws.config()?.cache.link_types;
        if link_types.is_empty() {
            link_types = vec![LinkType::Reflink, LinkType::Copy];
        }
        Ok(ObjectStore::at(&ws.cache_dir(), &ws.tmp_dir(), link_types))
    }

    /// A store in `cache_dir`, staging writes in `tmp_dir` (which must be on the same file system).
    pub fn at(cache_dir: &Path, tmp_dir: &Path, link_types: Vec<LinkType>) -> ObjectStore {
        ObjectStore {
            dir: cache_dir.join(LAYOUT),
            tmp: tmp_dir.to_path_buf(),
            link_types,
        }
    }

    /// Whether outs should be replaced by links into the cache after a stage stores them (the
    /// configured first link type is a hard or symbolic link), saving the space of a copy.
    pub fn links_outs(&self) -> bool {
        matches!(
            self.link_types.first(),
            Some(LinkType::Hardlink | LinkType::Symlink)
        )
    }

    /// Where the object `digest` lives (whether or not it is there).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        let (head, tail) = digest.shard();
        self.dir.join(head).join(tail)
    }

    /// Whether the object is present (its bytes are not checked).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// A new empty file in the staging folder, removed unless persisted.
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        fs::create_dir_all(&self.tmp).at(&self.tmp)?;
        // The pid lets a later command remove what this one left if it is killed.
        tempfile::Builder::new()
            .prefix(&format!("obj-{}-", std::process::id()))
            .tempfile_in(&self.tmp)
            .at(&self.tmp)
    }

    /// Moves a staged file whose bytes hashed to `actual` (as they were written) into the store
    /// as `digest`: a mismatch is [`Error::Corrupt`] and nothing is stored.
    pub fn insert_staged(
        &self,
        staged: tempfile::NamedTempFile,
        digest: &Digest,
        actual: &Digest,
    ) -> Result<()> {
        if actual != digest {
            return Err(Error::Corrupt {
                digest: digest.clone(),
                path: staged.path().to_path_buf(),
                actual: actual.clone(),
            });
        }
        self.persist(staged, digest)?;
        remember_fetched(digest);
        Ok(())
    }

    /// Stores `bytes` that arrived from a remote as `digest` once they hash to it: a mismatch
    /// is [`Error::Corrupt`] and nothing is stored.
    pub fn insert_fetched(&self, bytes: &[u8], digest: &Digest) -> Result<()> {
        let actual = crate::hash::digest_bytes(bytes);
        if actual != *digest {
            return Err(Error::Corrupt {
                digest: digest.clone(),
                path: self.path(digest),
                actual,
            });
        }
        let mut staged = self.temp_file()?;
        staged.write_all(bytes).at(staged.path())?;
        self.persist(staged, digest)?;
        remember_fetched(digest);
        Ok(())
    }

    /// Moves `staged`, whose bytes were just hashed to `digest`, into place.
    fn persist(&self, staged: tempfile::NamedTempFile, digest: &Digest) -> Result<()> {
        let dest = self.path(digest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        let _ = fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o444));
        staged.persist(&dest).map_err(|e| e.error).at(&dest)?;
        Ok(())
    }

    /// Stores `bytes` and returns their digest.
    pub fn insert_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = crate::hash::digest_bytes(bytes);
        if !self.contains(&digest) {
            let mut staged = self.temp_file()?;
            staged.write_all(bytes).at(staged.path())?;
            self.persist(staged, &digest)?;
        }
        Ok(digest)
    }

    /// Stores the file at `src`, which is expected to hash to `digest`. The copy is hashed as it
    /// is made; if the file changed since it was hashed, that is an error naming it.
    pub fn insert_file(&self, src: &Path, digest: &Digest) -> Result<()> {
        if self.contains(digest) {
            return Ok(());
        }
        let mut staged = self.temp_file()?;
        let staged_path = staged.path().to_path_buf();
        let actual = copy_hashing(src, staged.as_file_mut(), &staged_path)?;
        if actual != *digest {
            return Err(Error::Failed(format!(
                "{}: changed while it was being stored in the cache; run the command again",
                src.display()
            )));
        }
        self.persist(staged, digest)
    }

    /// Stores a hashed workspace path: the file, or every file of the directory and its manifest.
    pub fn insert_path(&self, abs: &Path, hashed: &PathDigest) -> Result<()> {
        match &hashed.manifest {
            None => self.insert_file(abs, &hashed.digest),
            Some(manifest) => {
                use rayon::prelude::*;
                manifest
                    .entries
                    .par_iter()
                    .try_for_each(|e| self.insert_file(&abs.join(&e.path), &e.digest))?;
                let digest = self.insert_bytes(&manifest.to_bytes())?;
                debug_assert_eq!(digest, hashed.digest);
                Ok(())
            }
        }
    }

    /// Reads and verifies the manifest object `digest`.
    pub fn manifest(&self, digest: &Digest) -> Result<Manifest> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::Missing {
                    digest: digest.clone(),
                    path,
                });
            }
            Err(e) => return Err(e).at(&path),
        };
        let actual = crate::hash::digest_bytes(&bytes);
        if actual != *digest {
            return Err(Error::Corrupt {
                digest: digest.clone(),
                path,
                actual,
            });
        }
        Manifest::from_bytes(&bytes)
            .map_err(|e| Error::data(&path, format!("not a directory manifest: {e}")))
    }

    /// Places object `digest` at `dest`, replacing what is there, using the first link type that
    /// works. The object's bytes are verified first: a damaged object is [`Error::Corrupt`] and
    /// `dest` is left alone.
    pub fn checkout_file(&self, digest: &Digest, dest: &Path) -> Result<()> {
        let object = self.path(digest);
        if !object.is_file() {
            return Err(Error::Missing {
                digest: digest.clone(),
                path: dest.to_path_buf(),
            });
        }
        let parent = dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).at(parent)?;
        if dest.is_dir() {
            fs::remove_dir_all(dest).at(dest)?;
        }
        fs::create_dir_all(&self.tmp).at(&self.tmp)?;
        link::place(&object, digest, dest, &self.link_types, &self.tmp)
    }

    /// Makes the directory `dest` hold exactly what manifest `digest` lists. `current` is what
    /// it holds now (if it is a directory), so only files that differ are placed.
    pub fn checkout_dir(
        &self,
        digest: &Digest,
        dest: &Path,
        current: Option<&Manifest>,
    ) -> Result<()> {
        let wanted = self.manifest(digest)?;
        let meta = fs::symlink_metadata(dest).ok();
        if meta.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
            return Err(Error::refused(
                dest,
                "is a symbolic link where a folder belongs; cairn does not write through links: \
                 remove the link and run the command again",
            ));
        }
        if meta.is_some_and(|m| !m.is_dir()) {
            fs::remove_file(dest).at(dest)?;
        }
        fs::create_dir_all(dest).at(dest)?;
        // A folder inside `dest` that is a link would carry writes and deletes elsewhere.
        let folders: std::collections::BTreeSet<&str> = wanted
            .entries
            .iter()
            .filter_map(|e| e.path.parent())
            .chain(
                current
                    .iter()
                    .flat_map(|m| m.entries.iter().filter_map(|e| e.path.parent())),
            )
            .collect();
        for folder in folders {
            crate::confine::check_no_links(dest, folder)?;
        }
        let have: std::collections::HashMap<&str, &Digest> = current
            .map(|m| {
                m.entries
                    .iter()
                    .map(|e| (e.path.as_str(), &e.digest))
                    .collect()
            })
            .unwrap_or_default();
        {
            use rayon::prelude::*;
            wanted
                .entries
                .par_iter()
                .filter(|e| have.get(e.path.as_str()) != Some(&&e.digest))
                .try_for_each(|e| self.checkout_file(&e.digest, &dest.join(&e.path)))?;
        }
        if let Some(current) = current {
            let keep: std::collections::HashSet<&str> =
                wanted.entries.iter().map(|e| e.path.as_str()).collect();
            for e in &current.entries {
                if !keep.contains(e.path.as_str()) {
                    let p = dest.join(&e.path);
                    fs::remove_file(&p).at(&p)?;
                }
            }
        }
        Ok(())
    }

    /// Every object digest in the store (for gc and push).
    pub fn all(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let heads = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).at(&self.dir),
        };
        for head in heads {
            let head = head.at(&self.dir)?;
            let head_name = head.file_name().to_string_lossy().into_owned();
            if head_name.len() != 2 {
                continue;
            }
            for obj in fs::read_dir(head.path()).at(&head.path())? {
                let obj = obj.at(&head.path())?;
                let name = format!("{head_name}{}", obj.file_name().to_string_lossy());
                if let Ok(digest) = Digest::parse(&name) {
                    out.push(digest);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes object `digest`; returns the bytes freed.
    pub fn remove(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).at(&path),
        }
    }
}

/// Hashes `file` and fails with [`Error::Corrupt`] naming `reported` (the object the bytes stand
/// for) unless it hashes to `digest`.
pub(crate) fn check_digest(file: &Path, digest: &Digest, reported: &Path) -> Result<()> {
    let actual = crate::hash::digest_file(file)?;
    if actual == *digest {
        return Ok(());
    }
    Err(Error::Corrupt {
        digest: digest.clone(),
        path: reported.to_path_buf(),
        actual,
    })
}

/// Copies `src` into `out` while hashing it; returns the digest of what was copied.
pub(crate) fn copy_hashing(src: &Path, out: &mut File, out_path: &Path) -> Result<Digest> {
    let mut input = File::open(src).at(src)?;
    let mut hasher = blake3::Hasher::new();
    // No bigger than the file (plus one byte to see its end in the same read): a zeroed 1 MiB
    // per small file would cost more than copying it.
    let len = input.metadata().map_or(0, |m| m.len());
    let mut buf = vec![0u8; (len.saturating_add(1)).clamp(4096, 1 << 20) as usize];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).at(src),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).at(out_path)?;
    }
    Ok(Digest::from_hash(hasher.finalize()))
}

/// Makes `path` (a file or a folder of files) hold private copies instead of hard or symbolic
/// links into the cache, so that a command editing it in place cannot change a cached object.
/// Regular files with one link are left as they are.
pub fn unlink_from_cache(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).at(path),
    };
    if meta.is_dir() {
        for entry in fs::read_dir(path).at(path)? {
            unlink_from_cache(&entry.at(path)?.path())?;
        }
        return Ok(());
    }
    let linked = meta.file_type().is_symlink() || (meta.is_file() && meta.nlink() > 1);
    if !linked {
        return Ok(());
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut copy = tempfile::Builder::new()
        .prefix(&crate::confine::temp_prefix())
        .tempfile_in(parent)
        .at(parent)?;
    let mut src = File::open(path).at(path)?;
    io::copy(&mut src, copy.as_file_mut()).at(copy.path())?;
    let _ = copy
        .as_file()
        .set_permissions(fs::Permissions::from_mode(0o644));
    copy.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}
