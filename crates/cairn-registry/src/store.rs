//! The registry file on disk: read as someone else's file (a regular file, not a link, of
//! bounded size, checked whole before use), changed only under a lock (two `cairn models`
//! commands at once each see the other's entry) and replaced atomically (`kill -9` leaves the
//! old file or the new one).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use cairn_core::error::{Error, IoContext, Result};
use cairn_core::workspace::Workspace;

use crate::file::RegistryData;
use crate::text;

/// Biggest registry file read: some 130,000 versions.
const MAX_BYTES: u64 = 64 << 20;
/// How many problems one error lists.
const SHOWN_PROBLEMS: usize = 5;

/// The registry of a workspace, as read.
#[derive(Debug)]
pub struct Registry {
    /// The registry file.
    pub path: PathBuf,
    /// What it holds (empty when there is no file yet).
    pub data: RegistryData,
}

impl Registry {
    /// Reads the workspace's registry; a workspace without the file has an empty one.
    pub fn read(ws: &Workspace) -> Result<Registry> {
        let path = ws.registry_path();
        Ok(Registry {
            data: read_file(&path)?,
            path,
        })
    }

    /// Reads the registry under its lock, lets `change` change it, and writes it back if it
    /// changed and still holds together. `change`'s error leaves the file as it was.
    pub fn update<T>(
        ws: &Workspace,
        change: impl FnOnce(&mut RegistryData) -> Result<T>,
    ) -> Result<T> {
        let _lock = lock(ws)?;
        let path = ws.registry_path();
        let mut data = read_file(&path)?;
        let before = data.clone();
        let outcome = change(&mut data)?;
        if data != before {
            if let Some(p) = data.problems().first() {
                // A bug of ours, not the user's: say so rather than write it.
                return Err(Error::Failed(format!(
                    "{}: refusing to write a registry that does not hold together: {}",
                    path.display(),
                    p.message
                )));
            }
            cairn_core::atomic::write(&path, text::write(&data).as_bytes())?;
        }
        Ok(outcome)
    }
}

/// The registry file's data, checked; empty when there is none.
fn read_file(path: &Path) -> Result<RegistryData> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistryData::default()),
        Err(e) => return Err(e).at(path),
    };
    if !meta.file_type().is_file() {
        return Err(Error::refused(
            path,
            "is not a regular file (a link, or a folder); the model registry must be a file of the workspace: replace it with the file itself",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(Error::invalid(
            path,
            format!(
                "is {} bytes, more than the {MAX_BYTES} a registry may be",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).at(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::invalid(path, format!("is not UTF-8 text ({e})")))?;
    let read = text::read(&text).map_err(|e| Error::invalid(path, e))?;
    let problems = read.data.problems();
    if problems.is_empty() {
        return Ok(read.data);
    }
    let shown: Vec<String> = problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(|p| match read.line(&p.place) {
            Some(line) => format!("line {line}: {}", p.message),
            None => p.message.clone(),
        })
        .collect();
    let more = match problems.len().saturating_sub(SHOWN_PROBLEMS) {
        0 => String::new(),
        n => format!("\n  and {n} more"),
    };
    Err(Error::invalid(
        path,
        format!(
            "the model registry does not hold together:\n  {}{more}\nfix the file (`git diff {}` shows what changed) or restore it from git",
            shown.join("\n  "),
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ),
    ))
}

/// The registry's own lock, `.cairn/registry.lock`, held while a change is read, made and
/// written. Separate from the workspace lock, so that a stage of `cairn repro` can register
/// its model.
fn lock(ws: &Workspace) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = ws.dot().join("registry.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            cairn_core::report::err(format!(
                "cairn: waiting for another cairn process to finish changing the model registry ({})",
                path.display()
            ));
            file.lock().at(&path)?;
        }
        Err(TryLockError::Error(e)) => return Err(e).at(&path),
    }
    Ok(file)
}
