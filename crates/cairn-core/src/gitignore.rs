//! Keeping cached paths out of git: `/name` lines in the `.gitignore` beside each path, as DVC does.

use std::path::Path;

use crate::error::{IoContext, Result};

/// Adds `/name` for the workspace-relative `rel` to the `.gitignore` of its folder, unless there.
pub fn ignore(root: &Path, rel: &str) -> Result<()> {
    let rel_path = Path::new(rel);
    let name = match rel_path.file_name() {
        Some(n) => n.to_string_lossy(),
        None => return Ok(()),
    };
    let dir = root.join(rel_path.parent().unwrap_or(Path::new("")));
    let file = dir.join(".gitignore");
    let entry = format!("/{name}");
    let mut text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).at(&file),
    };
    if text.lines().any(|l| l.trim() == entry) {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&entry);
    text.push('\n');
    crate::atomic::write(&file, text.as_bytes())
}
