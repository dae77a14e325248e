//! Staleness, the executor and the run-cache: what `status`, `repro`, `dag` and `checkout` do.

mod checkout;
pub mod executor;
pub mod run_cache;
pub mod staleness;

pub use checkout::{CheckoutReport, checkout_workspace, checkout_workspace_leaving};

use std::collections::BTreeSet;

use serde::Serialize;

use crate::dep_path::Location;
use crate::error::{Error, Result};
use crate::hash::Hasher;
use crate::lock::Lock;
use crate::pipeline::Pipeline;
use crate::tracked::{DataState, Kind};
use crate::workspace::Workspace;
use staleness::Reason;

/// Why each selected stage is stale, in topological order; a stage whose upstream is stale is
/// stale too.
pub fn stale_stages(
    pipeline: &Pipeline,
    lock: &Lock,
    hasher: &Hasher,
    selected: &[usize],
) -> Result<Vec<(usize, Vec<Reason>)>> {
    let mut out: Vec<(usize, Vec<Reason>)> = Vec::with_capacity(selected.len());
    // By stage index: whether it was found stale (one lookup per edge, not a scan).
    let mut stale = vec![false; pipeline.stages.len()];
    for &i in selected {
        let stage = &pipeline.stages[i];
        let (mut reasons, _) =
            staleness::check(stage, pipeline, lock.stages.get(&stage.name), hasher)?;
        if !stage.frozen {
            for &u in pipeline.graph.upstream(i) {
                if stale[u] {
                    reasons.push(Reason::UpstreamStale {
                        stage: pipeline.stages[u].name.clone(),
                    });
                }
            }
        }
        stale[i] = !reasons.is_empty();
        out.push((i, reasons));
    }
    Ok(out)
}

/// Refuses to start when a selected stage depends on a path that neither exists nor is made by
/// any stage: nothing would be run before failing on it. A frozen stage's deps are not looked
/// at (as in DVC: it never runs).
pub fn check_deps_exist(ws: &Workspace, pipeline: &Pipeline, selected: &[usize]) -> Result<()> {
    for &i in selected {
        let stage = &pipeline.stages[i];
        if stage.frozen {
            continue;
        }
        for dep in &stage.deps {
            let path = staleness::resolve_dep(&ws.root, pipeline, stage, dep)?;
            let abs = match path.location() {
                Location::Workspace(rel) => ws.root.join(rel),
                Location::External(abs) => {
                    if std::fs::symlink_metadata(abs).is_err() {
                        return Err(Error::invalid(
                            &pipeline.file,
                            format!(
                                "stage '{}': dep '{dep}' does not exist; it is outside the \
                                 workspace, where cairn only reads: put it there or change \
                                 the path",
                                stage.name
                            ),
                        ));
                    }
                    continue;
                }
            };
            let made = pipeline.stages.iter().any(|s| {
                s.outs
                    .iter()
                    .any(|o| crate::pipeline::overlaps(dep, &o.path))
            });
            if !made && std::fs::symlink_metadata(abs).is_err() {
                // Data a pointer tracks is to be fetched; the pipeline is not wrong.
                if let Some(t) = crate::tracked::tracking(&ws.root, dep)? {
                    return Err(Error::TrackedMissing {
                        stage: stage.name.clone(),
                        path: dep.clone(),
                        fix: t.fix(&DataState::Missing),
                        pointer: t.pointer,
                    });
                }
                return Err(Error::invalid(
                    &pipeline.file,
                    format!(
                        "stage '{}': dep '{dep}' does not exist and no stage makes it",
                        stage.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Data tracked by a pointer file that is not as its pointer records, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct DataStatus {
    /// The pointer file (`.cairn` or DVC's `.dvc`), workspace-relative.
    pub pointer: String,
    /// Which tool wrote it.
    pub kind: Kind,
    /// The data, workspace-relative.
    pub path: String,
    /// How it compares.
    #[serde(flatten)]
    pub state: DataState,
    /// What would set it right.
    pub fix: String,
}

/// The tracked data (of `.cairn` and `.dvc` pointer files) that is missing, modified or without
/// a recorded hash: of every pointer in the workspace when `all`, else of those tracking a dep
/// of a selected stage (or a folder holding one, or data inside one). Frozen stages' deps are
/// not looked at, as elsewhere. Stage outs are not searched for pointer files.
pub fn tracked_data(
    ws: &Workspace,
    pipeline: &Pipeline,
    hasher: &Hasher,
    selected: &[usize],
    all: bool,
) -> Result<Vec<DataStatus>> {
    let outs: BTreeSet<&str> = pipeline
        .stages
        .iter()
        .flat_map(|s| s.outs.iter().map(|o| o.path.as_str()))
        .collect();
    let deps: Vec<&str> = selected
        .iter()
        .map(|&i| &pipeline.stages[i])
        .filter(|s| !s.frozen)
        .flat_map(|s| s.deps.iter().map(String::as_str))
        .collect();
    let mut found = Vec::new();
    for t in crate::tracked::find_all(&ws.root, &outs)? {
        if !all && !deps.iter().any(|d| crate::pipeline::overlaps(d, &t.path)) {
            continue;
        }
        let state = t.state(&ws.root, hasher)?;
        if state == DataState::Present {
            continue;
        }
        found.push(DataStatus {
            fix: t.fix(&state),
            kind: t.kind(),
            path: t.path.to_string(),
            pointer: t.pointer,
            state,
        });
    }
    Ok(found)
}

/// Removes leftovers of interrupted writes in `.cairn/tmp`: those of processes that are gone
/// (every temporary name there carries its writer's pid). Not everything: experiments share the
/// folder, and their repros write there at the same time as this one.
pub fn clear_tmp(ws: &Workspace) {
    crate::confine::remove_stale_temps(&ws.tmp_dir(), false);
}
