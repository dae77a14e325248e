//! `cairn fetch` (into the cache) and `cairn pull` (fetch, then check out); `repro --pull`.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::repro::checkout_workspace;
use cairn_core::workspace::Workspace;
use cairn_remote::FetchReport;

use crate::cli::TransferArgs;
use crate::render::{mib, warn_all};

/// `cairn fetch`.
pub fn run(args: &TransferArgs) -> Result<ExitCode> {
    transfer(args, false)
}

/// `cairn pull`.
pub fn pull(args: &TransferArgs) -> Result<ExitCode> {
    transfer(args, true)
}

fn transfer(args: &TransferArgs, place: bool) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    // For the whole fetch: a `repro` beside it would clear the staging folder the downloads
    // land in, and rewrite the lock and the outs this reads.
    let _lock = ws.lock(if place { "pull" } else { "fetch" })?;
    let options = crate::settings::transfer(args);
    let report = cairn_remote::fetch(&ws, &cwd, &options)?;
    warn_all(&report.warnings);
    let placed = if place {
        let placed = checkout_workspace(&ws, &report.checkout_targets)?;
        Some(placed.restored.len() as u64)
    } else {
        None
    };
    summary(&report, args.run_cache, args.json, placed);
    Ok(ExitCode::SUCCESS)
}

fn summary(report: &FetchReport, run_cache: bool, json: bool, placed: Option<u64>) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "remote": report.remote,
                "fetched": report.objects,
                "bytes": report.bytes,
                "already_in_cache": report.already,
                "run_cache_entries": report.run_entries,
                "placed": placed,
            })
        );
        return;
    }
    let runs = if run_cache {
        format!(", {} run-cache entries", report.run_entries)
    } else {
        String::new()
    };
    println!(
        "fetched {} objects ({}) from remote '{}', {} already in the cache{runs}",
        report.objects,
        mib(report.bytes),
        report.remote,
        report.already
    );
    if let Some(n) = placed {
        println!("placed {n} paths in the workspace");
    }
}

/// For `repro --pull`: everything the lock, the pointer files and the remote's run-cache
/// reference, into the cache only (the caller holds the workspace lock).
pub fn for_repro(ws: &Workspace) -> Result<()> {
    let report = cairn_remote::fetch_for_repro(ws)?;
    warn_all(&report.warnings);
    if !report.not_on_remote.is_empty() {
        eprintln!(
            "note: {} objects are not on remote '{}'; the stages that make them will run",
            report.not_on_remote.len(),
            report.remote
        );
    }
    eprintln!(
        "fetched {} objects ({}) and {} run-cache entries from remote '{}'",
        report.objects,
        mib(report.bytes),
        report.run_entries,
        report.remote
    );
    Ok(())
}
