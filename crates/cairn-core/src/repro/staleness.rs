//! Why a stage is stale, as DESIGN.md fixes it: no lock entry; cmd changed; a dep's digest
//! changed; a param's value changed; an out missing or different from the lock; an upstream
//! stage stale. Also what the stage's inputs are now, to record or to key the run-cache.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::dep_path::{DepPath, Location};
use crate::error::{Error, Result};
use crate::hash::{Hasher, PathDigest};
use crate::lock::{LockedDep, LockedPath, LockedStage};
use crate::pipeline::params::{same_value, show};
use crate::pipeline::{Pipeline, Stage};
use crate::rel_path::RelPath;

/// One reason a stage must run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The lock has no entry for it.
    NeverRun,
    /// `always_changed: true`.
    AlwaysChanged,
    /// Its command text changed.
    CmdChanged,
    /// A dep was added to or removed from its list.
    DepsListChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// A dep's content changed.
    DepModified { path: String },
    /// A dep does not exist.
    DepMissing {
        path: String,
        /// The pointer file (`.cairn` or DVC's `.dvc`) tracking it, if one does.
        #[serde(skip_serializing_if = "Option::is_none")]
        tracked_by: Option<String>,
    },
    /// A tracked param's value changed (or appeared, or went away).
    ParamChanged {
        file: String,
        key: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The list of declared outs changed.
    OutsListChanged,
    /// An out does not exist.
    OutMissing { path: String },
    /// An out of a frozen stage does not exist: `repro` will not make it.
    FrozenOutMissing { path: String, stage: String },
    /// An out's content differs from the lock.
    OutModified { path: String },
    /// A stage it depends on is stale.
    UpstreamStale { stage: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NeverRun => write!(f, "never run"),
            Reason::AlwaysChanged => write!(f, "always changed"),
            Reason::CmdChanged => write!(f, "cmd changed"),
            Reason::DepsListChanged { added, removed } => {
                write!(f, "deps changed:")?;
                for a in added {
                    write!(f, " +{a}")?;
                }
                for r in removed {
                    write!(f, " -{r}")?;
                }
                Ok(())
            }
            Reason::DepModified { path } => write!(f, "dep {path} changed"),
            Reason::DepMissing {
                path,
                tracked_by: None,
            } => write!(f, "dep {path} missing"),
            Reason::DepMissing {
                path,
                tracked_by: Some(pointer),
            } => write!(f, "dep {path} missing (tracked by {pointer})"),
            Reason::ParamChanged {
                file,
                key,
                old,
                new,
            } => {
                let file = if file == crate::pipeline::DEFAULT_PARAMS {
                    String::new()
                } else {
                    format!("{file}:")
                };
                match (old, new) {
                    (Some(o), Some(n)) => write!(f, "param {file}{key} {o} → {n}"),
                    (None, Some(n)) => write!(f, "param {file}{key} added ({n})"),
                    (Some(o), None) => write!(f, "param {file}{key} removed (was {o})"),
                    (None, None) => write!(f, "param {file}{key} changed"),
                }
            }
            Reason::OutsListChanged => write!(f, "outs changed"),
            Reason::OutMissing { path } => write!(f, "out {path} missing"),
            Reason::FrozenOutMissing { path, stage } => write!(
                f,
                "out {path} missing and the stage is frozen: restore it (`cairn checkout \
                 {stage}`, or `cairn pull {stage}`) or unfreeze the stage (remove `frozen: true`)"
            ),
            Reason::OutModified { path } => write!(f, "out {path} modified"),
            Reason::UpstreamStale { stage } => write!(f, "upstream {stage} stale"),
        }
    }
}

/// A declared dep as a checked [`DepPath`]. An absolute path inside the workspace is refused:
/// it would be hashed as an outside path, and the graph would not see the stage that makes it.
pub fn resolve_dep(root: &Path, pipeline: &Pipeline, stage: &Stage, dep: &str) -> Result<DepPath> {
    let invalid =
        |m: String| Error::invalid(&pipeline.file, format!("stage '{}': deps: {m}", stage.name));
    let path = DepPath::parse(dep).map_err(invalid)?;
    if let Location::External(abs) = path.location() {
        let resolved = std::fs::canonicalize(abs).ok();
        let inside = abs.starts_with(root) || resolved.is_some_and(|r| r.starts_with(root));
        if inside {
            let rel = abs.strip_prefix(root).ok().map(|r| r.display().to_string());
            return Err(invalid(format!(
                "'{dep}' is inside the workspace; write it relative to the workspace root{}",
                rel.map(|r| format!(" ('{r}')")).unwrap_or_default()
            )));
        }
    }
    Ok(path)
}

/// A stage's inputs as they are now, and its outs on disk.
#[derive(Debug, Clone)]
pub struct Observed {
    /// cmd, deps (existing ones) and params now; `outs` lists the declared paths (their digests
    /// are placeholders).
    pub inputs: LockedStage,
    /// Each declared out as hashed now (None when missing), in declaration order.
    pub outs: Vec<(String, Option<PathDigest>)>,
}

/// Looks at `stage` now and says why it is stale compared with its lock entry (empty: up to
/// date). Upstream staleness is the caller's business.
pub fn check(
    stage: &Stage,
    pipeline: &Pipeline,
    locked: Option<&LockedStage>,
    hasher: &Hasher,
) -> Result<(Vec<Reason>, Observed)> {
    let mut reasons = Vec::new();
    let mut deps = Vec::new();
    // As in DVC, a frozen stage's deps are not looked at: it never runs, its outs stand.
    let deps_looked_at = if stage.frozen {
        &[][..]
    } else {
        &stage.deps[..]
    };
    for dep in deps_looked_at {
        let path = resolve_dep(hasher.root(), pipeline, stage, dep)?;
        match hasher.hash_dep(&path)? {
            Some(h) => deps.push(LockedDep::new(path, &h)),
            None => {
                // Only names are looked at (no walk): this runs for missing deps alone.
                let tracked_by = match path.location() {
                    Location::Workspace(rel) => crate::tracked::tracking(hasher.root(), rel)?,
                    Location::External(_) => None,
                };
                reasons.push(Reason::DepMissing {
                    path: dep.clone(),
                    tracked_by: tracked_by.map(|t| t.pointer),
                });
            }
        }
    }
    let mut params: BTreeMap<String, BTreeMap<String, serde_norway::Value>> = BTreeMap::new();
    for p in &stage.params {
        if let Some(v) = pipeline.param_value(p) {
            params
                .entry(p.file.clone())
                .or_default()
                .insert(p.key.clone(), v.clone());
        }
    }
    let mut outs = Vec::new();
    for out in &stage.outs {
        outs.push((out.path.clone(), hasher.hash(&out.path)?));
    }
    // The outs' digests are not inputs: a placeholder stands in until the run records them
    // (the run-cache key leaves them out).
    let unknown = crate::hash::digest_bytes(b"");
    let inputs = LockedStage {
        cmd: stage.cmd.clone(),
        deps,
        params,
        outs: stage
            .outs
            .iter()
            .map(|o| {
                Ok(LockedPath {
                    path: RelPath::parse(&o.path).map_err(Error::Failed)?,
                    digest: unknown.clone(),
                    size: 0,
                    nfiles: None,
                })
            })
            .collect::<Result<_>>()?,
    };
    let observed = Observed { inputs, outs };
    if stage.frozen {
        // As in DVC (`Stage.changed_outs` is asked even of a frozen stage, and `repro` then
        // fails on "missing data"): a frozen stage whose outs are missing is not up to date.
        let missing = observed
            .outs
            .iter()
            .filter(|(_, hashed)| hashed.is_none())
            .map(|(path, _)| Reason::FrozenOutMissing {
                path: path.clone(),
                stage: stage.name.clone(),
            })
            .collect();
        return Ok((missing, observed));
    }
    if stage.always_changed {
        reasons.push(Reason::AlwaysChanged);
    }
    let Some(locked) = locked else {
        reasons.insert(0, Reason::NeverRun);
        return Ok((reasons, observed));
    };
    if locked.cmd != stage.cmd {
        reasons.push(Reason::CmdChanged);
    }
    compare_deps(&observed.inputs.deps, stage, locked, &mut reasons);
    compare_params(&observed.inputs.params, locked, &mut reasons);
    compare_outs(&observed.outs, locked, &mut reasons);
    Ok((reasons, observed))
}

fn compare_deps(now: &[LockedDep], stage: &Stage, locked: &LockedStage, reasons: &mut Vec<Reason>) {
    let added: Vec<String> = stage
        .deps
        .iter()
        .filter(|d| !locked.deps.iter().any(|l| &l.path == *d))
        .cloned()
        .collect();
    let removed: Vec<String> = locked
        .deps
        .iter()
        .filter(|l| !stage.deps.iter().any(|d| *d == l.path))
        .map(|l| l.path.to_string())
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        reasons.push(Reason::DepsListChanged { added, removed });
    }
    for dep in now {
        if locked
            .deps
            .iter()
            .any(|l| l.path == dep.path && l.digest != dep.digest)
        {
            reasons.push(Reason::DepModified {
                path: dep.path.to_string(),
            });
        }
    }
}

fn compare_params(
    now: &BTreeMap<String, BTreeMap<String, serde_norway::Value>>,
    locked: &LockedStage,
    reasons: &mut Vec<Reason>,
) {
    let empty = BTreeMap::new();
    let files: std::collections::BTreeSet<&String> =
        now.keys().chain(locked.params.keys()).collect();
    for file in files {
        let a = locked.params.get(file).unwrap_or(&empty);
        let b = now.get(file).unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            diff_value(file, key, a.get(key), b.get(key), reasons);
        }
    }
}

/// Reports a changed param; when a whole section changed, names the keys inside it that did.
fn diff_value(
    file: &str,
    key: &str,
    old: Option<&serde_norway::Value>,
    new: Option<&serde_norway::Value>,
    reasons: &mut Vec<Reason>,
) {
    use serde_norway::Value;
    match (old, new) {
        (Some(o), Some(n)) if same_value(o, n) => {}
        (Some(Value::Mapping(o)), Some(Value::Mapping(n))) => {
            let keys: std::collections::BTreeSet<String> =
                o.keys().chain(n.keys()).map(show).collect();
            for k in keys {
                let sub = format!("{key}.{k}");
                diff_value(file, &sub, o.get(k.as_str()), n.get(k.as_str()), reasons);
            }
        }
        (old, new) => reasons.push(Reason::ParamChanged {
            file: file.to_string(),
            key: key.to_string(),
            old: old.map(show),
            new: new.map(show),
        }),
    }
}

fn compare_outs(
    now: &[(String, Option<PathDigest>)],
    locked: &LockedStage,
    reasons: &mut Vec<Reason>,
) {
    let mut declared: Vec<&str> = now.iter().map(|(p, _)| p.as_str()).collect();
    let mut recorded: Vec<&str> = locked.outs.iter().map(|o| o.path.as_str()).collect();
    declared.sort_unstable();
    recorded.sort_unstable();
    if declared != recorded {
        reasons.push(Reason::OutsListChanged);
    }
    for (path, hashed) in now {
        match hashed {
            None => reasons.push(Reason::OutMissing { path: path.clone() }),
            Some(h) => {
                if locked
                    .outs
                    .iter()
                    .any(|l| &l.path == path && l.digest != h.digest)
                {
                    reasons.push(Reason::OutModified { path: path.clone() });
                }
            }
        }
    }
}
