//! A copy of the workspace for an experiment to run in: the files git tracks or would track
//! (or, outside git, every file but hidden folders and `target`), the committed config, and no
//! cache (the copy shares the workspace's through [`crate::workspace::SHARED_STORE_ENV`]).

use std::path::Path;
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::workspace::Workspace;

/// Copies `ws` into the empty folder `to` and makes it a workspace.
pub fn copy_workspace(ws: &Workspace, to: &Path) -> Result<()> {
    for rel in files(ws)? {
        let from = ws.root.join(&rel);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue;
        };
        // Links are not followed into a copy: a link is copied as the link it is.
        let dest = to.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&from).at(&from)?;
            std::os::unix::fs::symlink(target, &dest).at(&dest)?;
        } else if meta.is_file() {
            reflink_copy::reflink_or_copy(&from, &dest).at(&dest)?;
        }
    }
    let dot = to.join(crate::workspace::DOT_DIR);
    std::fs::create_dir_all(&dot).at(&dot)?;
    let config = ws.config_path(false);
    if config.is_file() {
        std::fs::copy(&config, dot.join("config.yaml")).at(&config)?;
    }
    Ok(())
}

/// Workspace-relative files to copy.
fn files(ws: &Workspace) -> Result<Vec<String>> {
    let git = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&ws.root)
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(out) = git
        && out.status.success()
    {
        return Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .filter_map(|p| std::str::from_utf8(p).ok())
            .filter(|p| !p.starts_with(".cairn/"))
            .map(str::to_string)
            .collect());
    }
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(&ws.root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir() && (name.starts_with('.') || name == "target"))
        });
    for entry in walker {
        let entry = entry.map_err(|e| Error::Failed(e.to_string()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(&ws.root)
            && let Some(rel) = rel.to_str()
        {
            found.push(rel.to_string());
        }
    }
    Ok(found)
}
