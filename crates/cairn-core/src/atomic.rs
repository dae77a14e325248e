//! Writes that are all or nothing: bytes go to a temporary file beside the target and are
//! renamed over it only once complete, so a crash (even `kill -9`) leaves either the old file or
//! the new one, never half of either.

use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Replaces `path` with `bytes` atomically, creating parent directories as needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).at(dir)?;
    // The pid in the name lets a later command remove what a killed one left
    // (`Workspace::remove_stale_temps`).
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::confine::temp_prefix())
        .tempfile_in(dir)
        .at(dir)?;
    tmp.write_all(bytes).at(tmp.path())?;
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}
