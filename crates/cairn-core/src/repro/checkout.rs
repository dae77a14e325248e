//! `cairn checkout`: make the workspace hold what `pipeline.lock` and the pointer files record,
//! placing only paths whose content differs, never bytes whose digest does not match.

use crate::cache::ObjectStore;
use crate::error::{Error, Result};
use crate::hash::Hasher;
use crate::lock::{Lock, LockedPath};
use crate::pipeline::Pipeline;
use crate::pointer::Pointer;
use crate::workspace::Workspace;

/// What a checkout did.
#[derive(Debug, Default)]
pub struct CheckoutReport {
    /// Workspace-relative paths that were (re)placed.
    pub restored: Vec<String>,
    /// Paths asked to be left alone whose objects the cache lacks, so left as they are.
    pub left: Vec<String>,
}

/// Checks out the cached outs of the stages named in `targets` (a stage, a foreach group, or a
/// pointer file), or of everything when `targets` is empty.
pub fn checkout_workspace(ws: &Workspace, targets: &[String]) -> Result<CheckoutReport> {
    checkout_workspace_leaving(ws, targets, &[])
}

/// Like [`checkout_workspace`], leaving the paths in `leave` as they are when the cache lacks
/// their objects instead of failing: a pull does not fetch the outs no remote has (`push:
/// false`).
pub fn checkout_workspace_leaving(
    ws: &Workspace,
    targets: &[String],
    leave: &[String],
) -> Result<CheckoutReport> {
    let store = ObjectStore::open(ws)?;
    let hasher = Hasher::for_workspace(ws);
    let mut wanted: Vec<LockedPath> = Vec::new();

    let (pointer_targets, stage_targets): (Vec<&String>, Vec<&String>) = targets
        .iter()
        .partition(|t| t.ends_with(crate::pointer::SUFFIX));
    let pointers_only = !targets.is_empty() && stage_targets.is_empty();
    if !pointers_only && Pipeline::exists(ws)? {
        let pipeline = Pipeline::load(ws)?;
        let lock = Lock::read(&ws.lock_path())?;
        let names: Vec<String> = stage_targets.iter().map(|s| s.to_string()).collect();
        for i in pipeline.select(&names, true, false)? {
            let stage = &pipeline.stages[i];
            let Some(locked) = lock.stages.get(&stage.name) else {
                continue;
            };
            for out in &locked.outs {
                if stage.outs.iter().any(|o| o.path == out.path && o.cache) {
                    wanted.push(out.clone());
                }
            }
        }
    }
    if targets.is_empty() || !pointer_targets.is_empty() {
        for (rel, pointer) in Pointer::find_all(&ws.root)? {
            if targets.is_empty()
                || pointer_targets.iter().any(|t| {
                    crate::workspace::normalize_relative(t).ok().as_deref() == Some(rel.as_str())
                })
            {
                wanted.extend(pointer.workspace_outs(&rel));
            }
        }
    }

    let mut report = CheckoutReport::default();
    let mut errors = Vec::new();
    for out in &wanted {
        match place(ws, &store, &hasher, out) {
            Ok(true) => report.restored.push(out.path.to_string()),
            Ok(false) => {}
            Err(Error::Missing { .. }) if leave.iter().any(|l| *l == out.path) => {
                report.left.push(out.path.to_string());
            }
            Err(e @ Error::Missing { .. }) => errors.push(e),
            Err(e) => {
                let _ = hasher.save_state();
                return Err(e);
            }
        }
    }
    hasher.save_state()?;
    match errors.len() {
        0 => Ok(report),
        1 => Err(errors.remove(0)),
        n => {
            for e in &errors {
                crate::report::err(format!("error: {e}"));
            }
            Err(Error::Failed(format!(
                "{n} paths could not be checked out because their objects are not in the cache; run `cairn pull`"
            )))
        }
    }
}

/// Places one recorded path if the workspace differs; says whether it did.
fn place(ws: &Workspace, store: &ObjectStore, hasher: &Hasher, out: &LockedPath) -> Result<bool> {
    crate::confine::check_placeable(&ws.root, &out.path)?;
    let current = hasher.hash(&out.path)?;
    if current.as_ref().map(|h| &h.digest) == Some(&out.digest) {
        return Ok(false);
    }
    let abs = ws.root.join(&out.path);
    if out.is_dir() {
        let manifest = current.as_ref().and_then(|h| h.manifest.as_ref());
        store.checkout_dir(&out.digest, &abs, manifest)?;
    } else {
        store.checkout_file(&out.digest, &abs)?;
    }
    Ok(true)
}
