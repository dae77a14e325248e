//! What the workspace references: the outs of every stage in `pipeline.lock`, the paths of every
//! `.cairn` pointer file and (when asked) of every run-cache entry, narrowed to targets; and the
//! objects those paths stand for — a file's object, or a directory's manifest and every file it
//! lists.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cache::ObjectStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lock::{Lock, LockedPath};
use crate::pipeline::Pipeline;
use crate::pointer::{Pointer, SUFFIX};
use crate::rel_path::RelPath;
use crate::repro::run_cache::RunCache;
use crate::workspace::{Workspace, normalize_relative};

/// One object to move, and the first workspace path that wants it (for messages).
#[derive(Debug, Clone)]
pub struct Needed {
    /// Object digest.
    pub digest: Digest,
    /// The path whose bytes (or part of whose bytes) it is.
    pub wanted_by: String,
    /// Size when known (0 for manifests).
    pub size: u64,
}

/// What a set of targets selects.
#[derive(Debug, Default)]
pub struct Selection {
    /// The tracked paths (workspace-relative) with their digests.
    pub tracked: Vec<LockedPath>,
    /// The same targets as `checkout` takes them: stage names, workspace-relative pointer files.
    pub checkout_targets: Vec<String>,
    /// How the outs of `pipeline.yaml` travel to and from remotes.
    pub routes: Routes,
}

/// Where the objects of a stage's out go, when not simply to the default remote: DVC's
/// `push: false` (never sent, so never fetched) and `remote: NAME` (sent to and fetched from
/// that remote instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The stage whose out it is.
    pub stage: String,
    /// Whether `push` sends it.
    pub push: bool,
    /// The remote it goes to instead of the default one.
    pub remote: Option<String>,
}

/// The [`Route`] of every out of `pipeline.yaml` that has one, by workspace-relative path.
/// Outs not listed (and paths tracked by pointer files) go to the default remote.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_path: BTreeMap<String, Route>,
}

impl Routes {
    /// The routes the pipeline's outs declare.
    pub fn of(pipeline: &Pipeline) -> Routes {
        let mut by_path = BTreeMap::new();
        for stage in &pipeline.stages {
            for out in &stage.outs {
                if out.cache && (!out.push || out.remote.is_some()) {
                    by_path.insert(
                        out.path.clone(),
                        Route {
                            stage: stage.name.clone(),
                            push: out.push,
                            remote: out.remote.clone(),
                        },
                    );
                }
            }
        }
        Routes { by_path }
    }

    /// The route of the out at workspace-relative `path`, if it has one.
    pub fn get(&self, path: &str) -> Option<&Route> {
        self.by_path.get(path)
    }

    /// The workspace paths of the outs with `push: false`.
    pub fn unpushed(&self) -> impl Iterator<Item = &str> {
        self.by_path
            .iter()
            .filter(|(_, r)| !r.push)
            .map(|(p, _)| p.as_str())
    }
}

/// The cached outs `pipeline.lock` records for each stage, and how they travel. With a
/// `pipeline.yaml`, only its stages' outs that are cached (`cache: false` outs live in git, not
/// in the cache).
fn locked_outs(ws: &Workspace) -> Result<(BTreeMap<String, Vec<LockedPath>>, Routes)> {
    let lock = Lock::read(&ws.lock_path())?;
    if !Pipeline::exists(ws)? {
        let outs = lock
            .stages
            .into_iter()
            .map(|(name, s)| (name, s.outs))
            .collect();
        return Ok((outs, Routes::default()));
    }
    let pipeline = Pipeline::load(ws)?;
    let routes = Routes::of(&pipeline);
    let mut outs = BTreeMap::new();
    for stage in &pipeline.stages {
        let Some(locked) = lock.stages.get(&stage.name) else {
            continue;
        };
        let cached = locked
            .outs
            .iter()
            .filter(|o| stage.outs.iter().any(|out| out.path == o.path && out.cache))
            .cloned()
            .collect();
        outs.insert(stage.name.clone(), cached);
    }
    Ok((outs, routes))
}

/// Every path the lock and the pointer files track, narrowed to `targets`: stage names (or a
/// foreach group's name), pointer files or the paths they track, relative to `cwd`. Unknown
/// targets are an error.
pub fn select(ws: &Workspace, targets: &[String], cwd: &Path) -> Result<Selection> {
    let (stages, routes) = locked_outs(ws)?;
    let pointers = Pointer::find_all(&ws.root)?;
    let pointer_outs = |(rel, p): &(String, Pointer)| p.workspace_outs(rel);
    let mut selection = Selection {
        routes,
        ..Selection::default()
    };
    let mut take = |outs: Vec<LockedPath>| selection.tracked.extend(outs);
    if targets.is_empty() {
        stages.values().for_each(|outs| take(outs.clone()));
        pointers.iter().for_each(|p| take(pointer_outs(p)));
        return Ok(selection);
    }
    for target in targets {
        let parsed = crate::pipeline::discover::Target::parse(target);
        let hits: Vec<&Vec<LockedPath>> = stages
            .iter()
            .filter(|(name, _)| parsed.selects(name))
            .map(|(_, outs)| outs)
            .collect();
        if !hits.is_empty() {
            hits.into_iter().for_each(|outs| take(outs.clone()));
            selection.checkout_targets.push(target.clone());
            continue;
        }
        let rel = workspace_relative(ws, cwd, target)?;
        let pointer_rel = if rel.ends_with(SUFFIX) {
            rel.clone()
        } else {
            format!("{rel}{SUFFIX}")
        };
        match pointers.iter().find(|(p, _)| *p == pointer_rel) {
            Some(found) => {
                take(pointer_outs(found));
                selection.checkout_targets.push(pointer_rel);
            }
            None => {
                return Err(Error::Usage(format!(
                    "'{target}' is neither a stage in pipeline.lock nor a .cairn pointer file (nor a path one tracks)"
                )));
            }
        }
    }
    Ok(selection)
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

/// The outs of every run-cache entry, their paths tagged with the entry's key (they are only
/// moved between caches, never placed in the workspace).
pub fn run_cache_tracked(ws: &Workspace) -> Result<Vec<LockedPath>> {
    Ok(run_cache_outs(ws)?
        .into_iter()
        .map(|(_, out)| out)
        .collect())
}

/// Like [`run_cache_tracked`], each with the workspace path the entry recorded (by which its
/// [`Route`] is found).
pub fn run_cache_outs(ws: &Workspace) -> Result<Vec<(String, LockedPath)>> {
    let runs = RunCache::at(&ws.runs_dir());
    Ok(runs
        .entries()?
        .into_iter()
        .flat_map(|(key, entry)| {
            entry.outs.into_iter().map(move |mut out| {
                let path = out.path.to_string();
                // A label for messages; these paths are never placed.
                let label = format!("{} (run-cache entry {})", out.path, key.short());
                if let Ok(label) = RelPath::parse(&label) {
                    out.path = label;
                }
                (path, out)
            })
        })
        .collect())
}

/// The objects behind `tracked` whose manifests are in `store`: each path's own object and, for
/// directories, every listed file. Directories whose manifest `store` lacks are returned apart.
pub fn expand(
    store: &ObjectStore,
    tracked: &[LockedPath],
) -> Result<(Vec<Needed>, Vec<LockedPath>)> {
    let mut needed: BTreeMap<Digest, Needed> = BTreeMap::new();
    let mut no_manifest = Vec::new();
    let mut want = |digest: &Digest, wanted_by: String, size: u64| {
        needed.entry(digest.clone()).or_insert_with(|| Needed {
            digest: digest.clone(),
            wanted_by,
            size,
        });
    };
    for out in tracked {
        if !out.is_dir() {
            want(&out.digest, out.path.to_string(), out.size);
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
