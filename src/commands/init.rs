//! `cairn init`: create `.cairn/` in the current folder.

use std::process::ExitCode;

use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

/// `cairn init`.
pub fn run() -> Result<ExitCode> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::Failed(format!("current directory: {e}")))?;
    let (ws, existed) = Workspace::init(&cwd)?;
    if existed {
        println!(
            "cairn workspace already initialised in {}",
            ws.root.display()
        );
    } else {
        println!("initialised cairn workspace in {}", ws.root.display());
    }
    Ok(ExitCode::SUCCESS)
}
