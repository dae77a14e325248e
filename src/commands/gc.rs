//! `cairn gc`: remove cache objects nothing references.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::gc::{GcOptions, gc};
use cairn_core::workspace::Workspace;

use crate::cli::GcArgs;
use crate::render::mib;

/// `cairn gc`.
pub fn run(args: &GcArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let _lock = ws.lock("gc")?;
    let options = GcOptions {
        dry: args.dry,
        run_cache: args.run_cache,
        keep: crate::commands::models::registry_objects(&ws, &[])?.all(),
    };
    let report = gc(&ws, &options)?;
    for dir in &report.unlisted {
        eprintln!(
            "warning: the listing of {} ({}) is not in the cache, so its files cannot be told apart from garbage",
            dir.path, dir.digest
        );
    }
    let verb = if args.dry { "would remove" } else { "removed" };
    let runs = if args.run_cache {
        format!(" and {} run-cache entries", report.run_entries)
    } else {
        String::new()
    };
    println!(
        "{verb} {} objects ({}){runs}; {} referenced objects kept",
        report.objects,
        mib(report.bytes),
        report.kept
    );
    Ok(ExitCode::SUCCESS)
}
