//! `cairn fetch` (into the cache) and `cairn pull` (fetch, then check out); `repro --pull`.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::repro::checkout_workspace_leaving;
use cairn_core::workspace::Workspace;
use cairn_remote::FetchReport;

use crate::cli::TransferArgs;
use crate::render::{mib, note_first_few, warn_all};

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
    let mut options = crate::settings::transfer(args);
    let registry = crate::commands::models::registry_objects(&ws, &options.targets)?;
    options.also = registry.models;
    options.also_if_present = registry.lock_entries;
    let report = cairn_remote::fetch(&ws, &cwd, &options)?;
    warn_all(&report.warnings);
    note_first_few("not fetched", &report.left_out);
    let placed = if place {
        // `push: false` outs are on no remote: if the cache lacks them, they stay as they are.
        let placed = checkout_workspace_leaving(&ws, &report.checkout_targets, &report.unpushed)?;
        note_first_few(
            "not placed (push: false, and not in this cache; `cairn repro` makes it)",
            &placed.left,
        );
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
                "remotes": report.remotes,
                "fetched": report.objects,
                "bytes": report.bytes,
                "already_in_cache": report.already,
                "run_cache_entries": report.run_entries,
                "not_fetched": report.left_out,
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
        "fetched {} objects ({}) from {}, {} already in the cache{runs}",
        report.objects,
        mib(report.bytes),
        remotes(report),
        report.already
    );
    if let Some(n) = placed {
        println!("placed {n} paths in the workspace");
    }
}

/// "remote 'a'", or "remotes 'a', 'b'" when outs name remotes of their own.
fn remotes(report: &FetchReport) -> String {
    match report.remotes.as_slice() {
        [] => "no remote".to_string(),
        [one] => format!("remote '{one}'"),
        many => format!("remotes '{}'", many.join("', '")),
    }
}

/// For `repro --pull`: everything the lock, the pointer files and the remote's run-cache
/// reference, into the cache only (the caller holds the workspace lock).
pub fn for_repro(ws: &Workspace) -> Result<()> {
    let report = cairn_remote::fetch_for_repro(ws)?;
    warn_all(&report.warnings);
    if !report.not_on_remote.is_empty() {
        eprintln!(
            "note: {} objects are not on {}; the stages that make them will run",
            report.not_on_remote.len(),
            remotes(&report)
        );
    }
    eprintln!(
        "fetched {} objects ({}) and {} run-cache entries from {}",
        report.objects,
        mib(report.bytes),
        report.run_entries,
        remotes(&report)
    );
    Ok(())
}
