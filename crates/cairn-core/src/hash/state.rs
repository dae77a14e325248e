use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// A file modified this recently may still change within the same mtime tick, so its digest is
/// not remembered (git calls this the "racy" case): the next run hashes it again.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Remembered digests of workspace files, keyed by path and valid while size, mtime and inode
/// are unchanged. Stored as `.cairn/state`, one line per file:
/// `digest size mtime_ns inode path`.
#[derive(Debug, Default)]
pub struct StateTable {
    path: PathBuf,
    /// foldhash rather than SipHash: the keys are the user's own paths, and on a no-op status
    /// over many files this map is looked up once per file.
    entries: foldhash::HashMap<String, Entry>,
    dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    stamp: Stamp,
    digest: Digest,
}

/// What a remembered digest is valid for: the file's size, mtime and inode. (Kept instead of a
/// whole `Metadata`, which is four times larger, because a listing holds one per file.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            inode: meta.ino(),
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl StateTable {
    /// Loads the table at `path`; a missing or unreadable table is empty (it is only a cache).
    pub fn load(path: &Path) -> StateTable {
        let mut entries = foldhash::HashMap::default();
        if let Ok(text) = std::fs::read_to_string(path) {
            entries.reserve(text.len() / 100);
            for line in text.lines() {
                let mut parts = line.splitn(5, ' ');
                let (Some(digest), Some(size), Some(mtime), Some(inode), Some(rel)) = (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) else {
                    continue;
                };
                let (Ok(digest), Ok(size), Ok(mtime_ns), Ok(inode)) = (
                    Digest::parse(digest),
                    size.parse(),
                    mtime.parse(),
                    inode.parse(),
                ) else {
                    continue;
                };
                entries.insert(
                    rel.to_string(),
                    Entry {
                        stamp: Stamp {
                            size,
                            mtime_ns,
                            inode,
                        },
                        digest,
                    },
                );
            }
        }
        StateTable {
            path: path.to_path_buf(),
            entries,
            dirty: false,
        }
    }

    /// The remembered digest of `rel`, if its stamp still matches.
    pub fn lookup(&self, rel: &str, stamp: &Stamp) -> Option<Digest> {
        let e = self.entries.get(rel)?;
        (e.stamp == *stamp).then(|| e.digest.clone())
    }

    /// Remembers `digest` for `rel` as of `stamp`, unless the file changed too recently to
    /// trust.
    pub fn insert(&mut self, rel: &str, stamp: &Stamp, digest: &Digest) {
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        if now_ns - stamp.mtime_ns < RACY_WINDOW.as_nanos() as i128 {
            return;
        }
        let entry = Entry {
            stamp: *stamp,
            digest: digest.clone(),
        };
        if self.entries.get(rel) != Some(&entry) {
            self.entries.insert(rel.to_string(), entry);
            self.dirty = true;
        }
    }

    /// Writes the table back (atomically) if anything was added.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut rows: Vec<_> = self.entries.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(rows.len() * 120);
        for (rel, e) in rows {
            use std::fmt::Write;
            let _ = writeln!(
                text,
                "{} {} {} {} {}",
                e.digest, e.stamp.size, e.stamp.mtime_ns, e.stamp.inode, rel
            );
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        crate::atomic::write(&self.path, text.as_bytes())?;
        self.dirty = false;
        Ok(())
    }
}
