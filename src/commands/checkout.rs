//! `cairn checkout`: make the workspace match the lock and the pointer files.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::repro::checkout_workspace;
use cairn_core::workspace::Workspace;

use crate::cli::TargetArgs;

/// `cairn checkout`.
pub fn run(args: &TargetArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let _guard = ws.lock("checkout")?;
    let report = checkout_workspace(&ws, &args.targets)?;
    if report.restored.is_empty() {
        println!("Workspace matches pipeline.lock; nothing to check out.");
    } else {
        for path in &report.restored {
            println!("M       {path}");
        }
        println!("{} paths checked out", report.restored.len());
    }
    Ok(ExitCode::SUCCESS)
}
