//! Remotes (a folder or S3) and moving cache objects to and from them; `add` and `gc`.

use std::process::ExitCode;

use crate::cli::{AddArgs, GcArgs, RemoteCommand, TransferArgs};
use crate::error::{Error, Result};

fn todo(what: &str) -> Result<ExitCode> {
    Err(Error::Failed(format!(
        "`cairn {what}` is not implemented yet"
    )))
}

/// `cairn add`.
pub fn add(_args: &AddArgs) -> Result<ExitCode> {
    todo("add")
}
/// `cairn push`.
pub fn push(_args: &TransferArgs) -> Result<ExitCode> {
    todo("push")
}
/// `cairn pull`.
pub fn pull(_args: &TransferArgs) -> Result<ExitCode> {
    todo("pull")
}
/// `cairn fetch`.
pub fn fetch(_args: &TransferArgs) -> Result<ExitCode> {
    todo("fetch")
}
/// `cairn gc`.
pub fn gc(_args: &GcArgs) -> Result<ExitCode> {
    todo("gc")
}
/// `cairn remote …`.
pub fn remote_command(_cmd: &RemoteCommand) -> Result<ExitCode> {
    todo("remote")
}

/// Fetches everything `pipeline.lock` references, and the run-cache, from the default remote
/// into the cache (for `repro --pull`).
pub fn fetch_for_repro(_ws: &crate::workspace::Workspace) -> Result<()> {
    Err(Error::Failed(
        "`cairn repro --pull` is not implemented yet".into(),
    ))
}
