//! `cairn push`: send the cache objects the targets need to a remote.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;

use crate::cli::PushArgs;
use crate::render::{mib, warn_all, warn_first_few};

/// `cairn push`.
pub fn run(args: &PushArgs) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    let options = crate::settings::transfer(&args.transfer);
    let report = cairn_remote::push(&ws, &cwd, &options, args.force)?;
    warn_all(&report.warnings);
    warn_first_few(
        "not in the cache, not pushed",
        "not in the cache",
        &report.not_in_cache,
    );
    if args.transfer.json {
        println!(
            "{}",
            serde_json::json!({
                "remote": report.remote,
                "pushed": report.pushed,
                "bytes": report.bytes,
                "packs": report.packs,
                "already_on_remote": report.already,
                "not_in_cache": report.not_in_cache.len(),
                "run_cache_entries": report.run_entries,
                "forced": report.forced,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let runs = if options.run_cache {
        format!(", {} run-cache entries", report.run_entries)
    } else {
        String::new()
    };
    let packs = match report.packs {
        0 => String::new(),
        1 => format!(", {} of them in 1 pack", report.in_packs),
        n => format!(", {} of them in {n} packs", report.in_packs),
    };
    if report.forced {
        println!(
            "pushed {} objects ({}) to remote '{}', replacing what it held (--force){runs}",
            report.pushed,
            mib(report.bytes),
            report.remote
        );
    } else {
        println!(
            "pushed {} objects ({}{packs}), {} already on remote '{}'{runs}",
            report.pushed,
            mib(report.bytes),
            report.already,
            report.remote
        );
    }
    Ok(ExitCode::SUCCESS)
}
