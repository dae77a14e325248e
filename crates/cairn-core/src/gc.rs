//! Garbage collection of the local cache: removes objects nothing in the workspace references —
//! not an out in `pipeline.lock`, not tracked by a pointer file, not kept by a run-cache entry
//! (unless the run-cache is dropped too), not a file of a referenced directory. Never touches a
//! remote.

use std::collections::HashSet;

use crate::cache::ObjectStore;
use crate::error::Result;
use crate::lock::LockedPath;
use crate::repro::run_cache::RunCache;
use crate::workspace::Workspace;

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only count what would go.
    pub dry: bool,
    /// Also drop every run-cache entry (and so the objects only they kept).
    pub run_cache: bool,
    /// Objects referenced by what the core does not read itself (the model registry's
    /// versions), kept as the workspace's own are.
    pub keep: Vec<LockedPath>,
}

/// What a collection removed (or, dry, would remove).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Objects removed.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Run-cache entries removed.
    pub run_entries: u64,
    /// Objects kept because something references them.
    pub kept: u64,
    /// Directories whose listing the cache lacks: their files cannot be told from garbage.
    pub unlisted: Vec<LockedPath>,
}

/// Collects the workspace's cache; the caller holds the workspace lock.
pub fn gc(ws: &Workspace, options: &GcOptions) -> Result<GcReport> {
    let store = ObjectStore::open(ws)?;
    let mut tracked = crate::refs::select(ws, &[], &ws.root)?.tracked;
    tracked.extend(options.keep.iter().cloned());
    if !options.run_cache {
        tracked.extend(crate::refs::run_cache_tracked(ws)?);
    }
    let (needed, unlisted) = crate::refs::expand(&store, &tracked)?;
    let keep: HashSet<&str> = needed.iter().map(|n| n.digest.as_str()).collect();
    let mut report = GcReport {
        kept: keep.len() as u64,
        unlisted,
        ..GcReport::default()
    };
    for digest in store.all()? {
        if keep.contains(digest.as_str()) {
            continue;
        }
        report.objects += 1;
        report.bytes += if options.dry {
            std::fs::metadata(store.path(&digest)).map_or(0, |m| m.len())
        } else {
            store.remove(&digest)?
        };
    }
    if options.run_cache {
        let runs = RunCache::at(&ws.runs_dir());
        for (key, _) in runs.entries()? {
            report.run_entries += 1;
            if !options.dry {
                runs.remove(&key)?;
            }
        }
    }
    Ok(report)
}
