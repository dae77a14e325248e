//! Keeping writes inside the workspace. Paths read from files are checked lexically when they
//! are read ([`crate::rel_path::RelPath`]); this module adds what only the disk can tell, right
//! before a write: no folder on the way to a placed path is a symbolic link (a link would carry
//! the write, or a delete, to wherever it points), cairn's own files and git's are never data,
//! and a path whose bytes will be cached and pushed resolves inside the workspace.
//!
//! The checks use `lstat` on each part of the path and are not proof against another process
//! swapping a folder for a link between the check and the write; the trust model is about files
//! and remotes written by others, not about hostile processes on the same machine.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::pointer::SUFFIX as POINTER_SUFFIX;
use crate::workspace::DOT_DIR;

/// Files at the workspace root that cairn reads its pipeline (and its model registry) from.
const DEFINITION_FILES: [&str; 5] = [
    "pipeline.yaml",
    "pipeline.lock",
    "params.yaml",
    "dvc.yaml",
    crate::workspace::REGISTRY_FILE,
];

/// Why `rel` (a normalised workspace-relative path) can never be data cairn writes: it is or
/// lies in git's or cairn's own folder (anywhere, in any case: a nested repository counts too),
/// is a pointer file, or is a file the pipeline is read from.
pub fn reserved(rel: &str) -> Option<String> {
    for part in rel.split('/') {
        if part.eq_ignore_ascii_case(".git") {
            return Some("it is or lies in .git/, git's own folder".into());
        }
        if part.eq_ignore_ascii_case(DOT_DIR) {
            return Some("it is or lies in .cairn/, cairn's own folder".into());
        }
        if part.to_ascii_lowercase().ends_with(POINTER_SUFFIX) {
            return Some(format!(
                "it has '{part}', the name of a pointer file (*{POINTER_SUFFIX})"
            ));
        }
    }
    DEFINITION_FILES
        .contains(&rel)
        .then(|| "it is a file cairn reads the pipeline or the model registry from".into())
}

/// Checks that writing `rel` under `base` stays under `base`: no folder on the way is a symbolic
/// link, and `rel` itself is not a link to a folder (a file link is replaced when placing; a
/// folder would be written into). Parts that do not exist yet are fine: they are made as real
/// folders.
pub fn check_no_links(base: &Path, rel: &str) -> Result<()> {
    let mut at = base.to_path_buf();
    let mut parts = rel.split('/').filter(|p| !p.is_empty()).peekable();
    while let Some(part) = parts.next() {
        at.push(part);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).at(&at),
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let last = parts.peek().is_none();
        if last && !fs::metadata(&at).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        return Err(link_refused(&at));
    }
    Ok(())
}

fn link_refused(at: &Path) -> Error {
    let target = fs::read_link(at)
        .map(|t| format!(" to {}", t.display()))
        .unwrap_or_default();
    Error::refused(
        at,
        format!(
            "is a symbolic link{target}; cairn does not write through links: remove the link \
             (it will be made again as a real folder) and run the command again"
        ),
    )
}

/// Checks that the workspace path `rel` may be written: not reserved, and no link on the way
/// out of `root`.
pub fn check_placeable(root: &Path, rel: &str) -> Result<()> {
    if let Some(why) = reserved(rel) {
        return Err(Error::refused(
            root.join(rel),
            format!("cairn will not write this path as data: {why}"),
        ));
    }
    check_no_links(root, rel)
}

/// Checks that `path`, with every link in it resolved, is inside `root` (itself resolved): its
/// bytes would otherwise be cached and pushed from outside the workspace.
pub fn check_inside(root: &Path, path: &Path) -> Result<()> {
    let resolved = fs::canonicalize(path).at(path)?;
    if resolved.starts_with(root) {
        return Ok(());
    }
    Err(Error::refused(
        path,
        format!(
            "is a symbolic link to {}, outside the workspace; cairn does not store or push files \
             from outside it: copy the file into the workspace instead of linking it",
            resolved.display()
        ),
    ))
}

/// Refuses what is neither a regular file nor a folder (a FIFO, socket or device would block a
/// read forever or never end).
pub fn check_file_type(path: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.is_file() || meta.is_dir() {
        return Ok(());
    }
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_fifo() {
        "a named pipe (FIFO)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(Error::refused(
        path,
        format!("is {kind}; cairn only hashes and stores regular files and folders"),
    ))
}

/// Prefix of temporary files cairn leaves beside a target while writing it; the writer's pid
/// follows, so that a later command can tell a dead writer's leftovers from a live one's.
pub const TEMP_PREFIX: &str = ".cairn-tmp-";

/// The name prefix of this process's temporary files beside their targets: [`TEMP_PREFIX`],
/// the pid, a dash.
pub fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// Removes the leftovers of dead cairn processes in `dir`: entries named `PREFIX-PID-…` (any
/// prefix without a dash, or [`TEMP_PREFIX`] followed by the pid) whose process is gone.
/// Returns how many it removed. A missing folder has none.
pub fn remove_stale_temps(dir: &Path, only_temp_prefix: bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let rest = match name.strip_prefix(TEMP_PREFIX) {
            Some(rest) => rest,
            None if only_temp_prefix => continue,
            None => match name.split_once('-') {
                Some((_, rest)) => rest,
                None => continue,
            },
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let path: PathBuf = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether process `pid` exists (signal 0 checks without sending).
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths() {
        for rel in [
            ".git",
            ".git/hooks/pre-commit",
            ".cairn/cache",
            "pipeline.yaml",
            "x.cairn",
        ] {
            assert!(reserved(rel).is_some(), "{rel}");
        }
        assert!(reserved("sub/.GIT/config").is_some());
        for rel in ["data/x", "git/x", "a/.git2", "models/pipeline.yaml"] {
            assert!(reserved(rel).is_none(), "{rel}");
        }
    }

    #[test]
    fn links_on_the_way_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::fs::write(root.join("f"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("f"), root.join("link")).unwrap();
        assert!(check_no_links(root, "out").is_err());
        assert!(check_no_links(root, "out/x").is_err());
        assert!(
            check_no_links(root, "link").is_ok(),
            "a file link is replaced"
        );
        assert!(check_no_links(root, "new/x").is_ok());
    }

    #[test]
    fn stale_temps_of_dead_processes_go() {
        let dir = tempfile::tempdir().unwrap();
        let mine = format!("{TEMP_PREFIX}{}-a", std::process::id());
        // Pids are below 2^22 on Linux: this one is never alive.
        let dead = format!("{TEMP_PREFIX}{}-b", i32::MAX);
        std::fs::write(dir.path().join(&mine), "").unwrap();
        std::fs::write(dir.path().join(&dead), "").unwrap();
        std::fs::write(dir.path().join("keep.txt"), "").unwrap();
        assert_eq!(remove_stale_temps(dir.path(), true), 1);
        assert!(dir.path().join(&mine).exists());
        assert!(!dir.path().join(&dead).exists());
    }
}
