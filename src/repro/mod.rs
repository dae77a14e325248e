//! Staleness, the executor and the run-cache: `init`, `status`, `repro`, `dag`, `checkout`.

pub mod run_cache;

use std::process::ExitCode;

use crate::cli::{DagArgs, ReproArgs, StatusArgs, TargetArgs};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// `cairn init`.
pub fn init() -> Result<ExitCode> {
    let cwd = std::env::current_dir().map_err(|e| Error::Failed(e.to_string()))?;
    let (ws, existed) = Workspace::init(&cwd)?;
    if existed {
        println!("cairn workspace already initialised in {}", ws.root.display());
    } else {
        println!("initialised cairn workspace in {}", ws.root.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn todo(what: &str) -> Result<ExitCode> {
    Err(Error::Failed(format!("`cairn {what}` is not implemented yet")))
}

/// `cairn status`.
pub fn status(_args: &StatusArgs) -> Result<ExitCode> {
    todo("status")
}
/// `cairn repro`.
pub fn repro(_args: &ReproArgs) -> Result<ExitCode> {
    todo("repro")
}
/// `cairn dag`.
pub fn dag(_args: &DagArgs) -> Result<ExitCode> {
    todo("dag")
}
/// `cairn checkout`.
pub fn checkout(_args: &TargetArgs) -> Result<ExitCode> {
    todo("checkout")
}
