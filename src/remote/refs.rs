//! What the workspace references: the outs of every stage in `pipeline.lock`, the paths of every
//! `.cairn` pointer file and (when asked) of every run-cache entry, narrowed to targets; and the
//! objects those paths stand for — a file's object, or a directory's manifest and every file it
//! lists.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cache::ObjectStore;
use crate::error::{Error, Result};
use crate::lock::{Lock, LockedPath};
use crate::pointer::{Pointer, SUFFIX};
use crate::repro::run_cache::RunCache;
use crate::workspace::{Workspace, normalize_relative};

/// A tracked path and where it is recorded.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The path (workspace-relative) with its digest.
    pub out: LockedPath,
    /// True when it comes from a run-cache entry only: it is not placed in the workspace.
    pub run_cache_only: bool,
}

/// One object to move, and the first workspace path that wants it (for messages).
#[derive(Debug, Clone)]
pub struct Needed {
    /// Object digest.
    pub digest: String,
    /// The path whose bytes (or part of whose bytes) it is.
    pub wanted_by: String,
    /// Size when known (0 for manifests).
    pub size: u64,
}

/// Every path the lock and the pointer files track, narrowed to `targets` (stage names, pointer
/// files or the paths they track, relative to `cwd`). Unknown targets are an error.
pub fn tracked(ws: &Workspace, targets: &[String], cwd: &Path) -> Result<Vec<Tracked>> {
    let lock = Lock::read(&ws.lock_path())?;
    let pointers = Pointer::find_all(&ws.root)?;
    let pointer_outs = |(rel, p): &(String, Pointer)| p.workspace_outs(rel);
    let wrap = |outs: Vec<LockedPath>| {
        outs.into_iter().map(|out| Tracked {
            out,
            run_cache_only: false,
        })
    };
    if targets.is_empty() {
        let mut all: Vec<Tracked> =
            wrap(lock.stages.values().flat_map(|s| s.outs.clone()).collect()).collect();
        all.extend(wrap(pointers.iter().flat_map(pointer_outs).collect()));
        return Ok(all);
    }
    let mut picked = Vec::new();
    for target in targets {
        if let Some(stage) = lock.stages.get(target) {
            picked.extend(wrap(stage.outs.clone()));
            continue;
        }
        let rel = workspace_relative(ws, cwd, target)?;
        let pointer_rel = if rel.ends_with(SUFFIX) {
            rel.clone()
        } else {
            format!("{rel}{SUFFIX}")
        };
        match pointers.iter().find(|(p, _)| *p == pointer_rel) {
            Some(found) => picked.extend(wrap(pointer_outs(found))),
            None => {
                return Err(Error::Usage(format!(
                    "'{target}' is neither a stage in pipeline.lock nor a .cairn pointer file (nor a path one tracks)"
                )));
            }
        }
    }
    Ok(picked)
}

/// `target` (relative to `cwd`) as a workspace-relative path.
pub fn workspace_relative(ws: &Workspace, cwd: &Path, target: &str) -> Result<String> {
    let abs = cwd.join(target);
    let rel = abs.strip_prefix(&ws.root).map_err(|_| {
        Error::Usage(format!(
            "{}: outside the workspace {}",
            abs.display(),
            ws.root.display()
        ))
    })?;
    normalize_relative(&rel.to_string_lossy()).map_err(|m| Error::Usage(format!("{target}: {m}")))
}

/// The outs of every run-cache entry, tagged with the entry's key.
pub fn run_cache_tracked(ws: &Workspace) -> Result<Vec<Tracked>> {
    let runs = RunCache::at(&ws.runs_dir());
    Ok(runs
        .entries()?
        .into_iter()
        .flat_map(|(key, entry)| {
            entry.outs.into_iter().map(move |mut out| {
                out.path = format!("{} (run-cache entry {})", out.path, &key[..12]);
                Tracked {
                    out,
                    run_cache_only: true,
                }
            })
        })
        .collect())
}

/// The objects behind `tracked` whose manifests are in `store`: each path's own object and, for
/// directories, every listed file. Directories whose manifest `store` lacks are returned apart.
pub fn expand(store: &ObjectStore, tracked: &[Tracked]) -> Result<(Vec<Needed>, Vec<LockedPath>)> {
    let mut needed: BTreeMap<String, Needed> = BTreeMap::new();
    let mut no_manifest = Vec::new();
    let mut want = |digest: &str, wanted_by: String, size: u64| {
        needed.entry(digest.to_string()).or_insert_with(|| Needed {
            digest: digest.to_string(),
            wanted_by,
            size,
        });
    };
    for t in tracked {
        let out = &t.out;
        if !out.is_dir() {
            want(&out.digest, out.path.clone(), out.size);
            continue;
        }
        want(&out.digest, format!("{} (its listing)", out.path), 0);
        match store.manifest(&out.digest) {
            Ok(manifest) => {
                for e in manifest.entries {
                    want(&e.digest, format!("{}/{}", out.path, e.path), e.size);
                }
            }
            Err(Error::Missing { .. }) => no_manifest.push(out.clone()),
            Err(e) => return Err(e),
        }
    }
    Ok((needed.into_values().collect(), no_manifest))
}
