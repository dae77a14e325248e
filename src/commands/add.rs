//! `cairn add PATH…`: track data outside git with pointer files.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;

use crate::cli::AddArgs;
use crate::render::mib;

/// `cairn add`.
pub fn run(args: &AddArgs) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    let _lock = ws.lock("add")?;
    cairn_core::add::add(&ws, &cwd, &args.paths, |added| {
        let files = added
            .nfiles
            .map_or(String::new(), |n| format!("{n} files, "));
        println!(
            "added {} ({files}{}) → {}",
            added.path,
            mib(added.size),
            added.pointer
        );
        if let Some(dvc) = &added.replaced {
            println!(
                "removed {dvc}: cairn tracks {} now, with {}",
                added.path, added.pointer
            );
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
