//! Staleness, the executor and the run-cache: what `status`, `repro`, `dag` and `checkout` do.

mod checkout;
pub mod executor;
pub mod run_cache;
pub mod staleness;

pub use checkout::{CheckoutReport, checkout_workspace, checkout_workspace_leaving};

use crate::error::{Error, Result};
use crate::hash::Hasher;
use crate::lock::Lock;
use crate::pipeline::Pipeline;
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
/// any stage: nothing would be run before failing on it.
pub fn check_deps_exist(ws: &Workspace, pipeline: &Pipeline, selected: &[usize]) -> Result<()> {
    for &i in selected {
        let stage = &pipeline.stages[i];
        for dep in &stage.deps {
            let made = pipeline.stages.iter().any(|s| {
                s.outs
                    .iter()
                    .any(|o| crate::pipeline::overlaps(dep, &o.path))
            });
            if !made && std::fs::symlink_metadata(ws.root.join(dep)).is_err() {
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

/// Removes leftovers of interrupted writes in `.cairn/tmp` (the workspace lock is held, so no
/// other cairn is writing there).
pub fn clear_tmp(ws: &Workspace) {
    if let Ok(entries) = std::fs::read_dir(ws.tmp_dir()) {
        for entry in entries.flatten() {
            let _ = executor::remove_path(&entry.path());
        }
    }
}
