//! `cairn gc`: removes cache objects nothing in the workspace references — not an out in
//! `pipeline.lock`, not tracked by a pointer file, not kept by a run-cache entry (unless
//! `--run-cache` drops those too), not a file of a referenced directory. Never touches a remote.

use std::collections::HashSet;
use std::process::ExitCode;

use crate::cache::ObjectStore;
use crate::cli::GcArgs;
use crate::error::Result;
use crate::repro::run_cache::RunCache;

use super::transfer::mib;

/// `cairn gc`.
pub fn gc(args: &GcArgs) -> Result<ExitCode> {
    let (ws, _) = super::here()?;
    let _lock = ws.lock("gc")?;
    let store = ObjectStore::open(&ws)?;
    let mut tracked = super::refs::select(&ws, &[], &ws.root)?.tracked;
    if !args.run_cache {
        tracked.extend(super::refs::run_cache_tracked(&ws)?);
    }
    let (needed, no_manifest) = super::refs::expand(&store, &tracked)?;
    for dir in &no_manifest {
        eprintln!(
            "warning: the listing of {} ({}) is not in the cache, so its files cannot be told apart from garbage",
            dir.path, dir.digest
        );
    }
    let keep: HashSet<&str> = needed.iter().map(|n| n.digest.as_str()).collect();
    let mut count = 0u64;
    let mut bytes = 0u64;
    for digest in store.all()? {
        if keep.contains(digest.as_str()) {
            continue;
        }
        count += 1;
        bytes += if args.dry {
            std::fs::metadata(store.path(&digest)).map_or(0, |m| m.len())
        } else {
            store.remove(&digest)?
        };
    }
    let mut entries = 0;
    if args.run_cache {
        let runs = RunCache::at(&ws.runs_dir());
        for (key, _) in runs.entries()? {
            entries += 1;
            if !args.dry {
                runs.remove(&key)?;
            }
        }
    }
    let verb = if args.dry { "would remove" } else { "removed" };
    let runs = if args.run_cache {
        format!(" and {entries} run-cache entries")
    } else {
        String::new()
    };
    println!(
        "{verb} {count} objects ({}){runs}; {} referenced objects kept",
        mib(bytes),
        keep.len()
    );
    Ok(ExitCode::SUCCESS)
}
