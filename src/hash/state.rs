use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
    entries: HashMap<String, Entry>,
    dirty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    size: u64,
    mtime_ns: i128,
    inode: u64,
    digest: String,
}

fn mtime_ns(meta: &Metadata) -> i128 {
    meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128
}

impl StateTable {
    /// Loads the table at `path`; a missing or unreadable table is empty (it is only a cache).
    pub fn load(path: &Path) -> StateTable {
        let mut entries = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
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
                let (Ok(size), Ok(mtime_ns), Ok(inode)) =
                    (size.parse(), mtime.parse(), inode.parse())
                else {
                    continue;
                };
                entries.insert(
                    rel.to_string(),
                    Entry {
                        size,
                        mtime_ns,
                        inode,
                        digest: digest.to_string(),
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

    /// The remembered digest of `rel`, if its metadata still matches.
    pub fn lookup(&self, rel: &str, meta: &Metadata) -> Option<String> {
        let e = self.entries.get(rel)?;
        (e.size == meta.len() && e.mtime_ns == mtime_ns(meta) && e.inode == meta.ino())
            .then(|| e.digest.clone())
    }

    /// Remembers `digest` for `rel` as of `meta`, unless the file changed too recently to trust.
    pub fn insert(&mut self, rel: &str, meta: &Metadata, digest: &str) {
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < RACY_WINDOW);
        if recent {
            return;
        }
        let entry = Entry {
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
            inode: meta.ino(),
            digest: digest.to_string(),
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
                e.digest, e.size, e.mtime_ns, e.inode, rel
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
