//! Tracking data outside git (`cairn add PATH…`). The bytes go into the cache, `PATH.cairn`
//! records their digest, size and file count, and `/PATH` is added to the `.gitignore` beside it.

use std::path::{Path, PathBuf};

use crate::cache::ObjectStore;
use crate::error::{Error, IoContext, Result};
use crate::hash::Hasher;
use crate::lock::{Lock, LockedPath};
use crate::pipeline::Pipeline;
use crate::pointer::{Pointer, SUFFIX};
use crate::workspace::Workspace;

/// One path now tracked.
#[derive(Debug, Clone)]
pub struct Added {
    /// Workspace-relative path of the data.
    pub path: String,
    /// Workspace-relative path of its pointer file.
    pub pointer: String,
    /// Bytes.
    pub size: u64,
    /// Files, for a folder.
    pub nfiles: Option<u64>,
}

/// Tracks `paths` (relative to `cwd`) with pointer files, calling `on_added` after each. The
/// caller holds the workspace lock.
pub fn add(
    ws: &Workspace,
    cwd: &Path,
    paths: &[PathBuf],
    mut on_added: impl FnMut(&Added),
) -> Result<()> {
    let store = ObjectStore::open(ws)?;
    let stage_outs = stage_outs(ws)?;
    let hasher = Hasher::for_workspace(ws);
    for path in paths {
        let rel = checked_path(ws, cwd, path, &stage_outs)?;
        let abs = ws.root.join(&rel);
        // A link out of the workspace would get a file from elsewhere cached and pushed.
        crate::confine::check_inside(&ws.root, &abs)?;
        let hashed = hasher.hash(&rel)?.ok_or_else(|| {
            Error::Usage(format!("{}: no such file or directory", path.display()))
        })?;
        store.insert_path(&abs, &hashed)?;
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pointer_path = abs.with_file_name(format!("{name}{SUFFIX}"));
        Pointer {
            outs: vec![LockedPath::new(&name, &hashed)?],
        }
        .write(&pointer_path)?;
        crate::gitignore::ignore(&ws.root, &rel)?;
        on_added(&Added {
            pointer: format!("{rel}{SUFFIX}"),
            path: rel,
            size: hashed.size,
            nfiles: hashed.nfiles(),
        });
    }
    hasher.save_state()?;
    Ok(())
}

/// `path` (relative to `cwd`) as a workspace-relative path cairn may track with a pointer file.
fn checked_path(
    ws: &Workspace,
    cwd: &Path,
    path: &Path,
    stage_outs: &[(String, String)],
) -> Result<String> {
    let abs = cwd.join(path);
    if std::fs::symlink_metadata(&abs).is_err() {
        return Err(Error::Usage(format!(
            "{}: no such file or directory",
            path.display()
        )));
    }
    // Resolve the folder (not the path itself) so that `..` and symlinked parents are followed.
    let parent = std::fs::canonicalize(abs.parent().unwrap_or(Path::new(""))).at(&abs)?;
    let full = match abs.file_name() {
        Some(name) if name != ".." && name != "." => parent.join(name),
        _ => std::fs::canonicalize(&abs).at(&abs)?,
    };
    let rel = full
        .strip_prefix(&ws.root)
        .map_err(|_| {
            Error::Usage(format!(
                "{}: outside the workspace {}; only paths inside it can be tracked",
                path.display(),
                ws.root.display()
            ))
        })?
        .to_string_lossy()
        .replace('\\', "/");
    if rel.is_empty() {
        return Err(Error::Usage(
            "the workspace root itself cannot be tracked; name a file or folder in it".into(),
        ));
    }
    if let Some(why) = crate::confine::reserved(&rel) {
        return Err(Error::Usage(format!("{rel}: cannot be tracked: {why}")));
    }
    for (stage, out) in stage_outs {
        let overlaps = *out == rel
            || rel.starts_with(&format!("{out}/"))
            || out.starts_with(&format!("{rel}/"));
        if overlaps {
            return Err(Error::Usage(format!(
                "{rel}: overlaps '{out}', an out of stage '{stage}', which the pipeline already \
                 tracks; remove it from the stage's outs first"
            )));
        }
    }
    Ok(rel)
}

/// (stage, out path) for every out of `pipeline.yaml` and of `pipeline.lock`.
fn stage_outs(ws: &Workspace) -> Result<Vec<(String, String)>> {
    let mut outs: Vec<(String, String)> = Lock::read(&ws.lock_path())?
        .stages
        .into_iter()
        .flat_map(|(name, s)| {
            s.outs
                .into_iter()
                .map(move |o| (name.clone(), o.path.to_string()))
        })
        .collect();
    if Pipeline::exists(ws)? {
        for stage in Pipeline::load(ws)?.stages {
            outs.extend(stage.outs.into_iter().map(|o| (stage.name.clone(), o.path)));
        }
    }
    Ok(outs)
}
