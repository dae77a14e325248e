//! `cairn push`: send the cache objects the targets need to a remote.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;

use crate::cli::PushArgs;
use crate::render::{mib, note_first_few, warn_all, warn_first_few};

/// `cairn push`.
pub fn run(args: &PushArgs) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    let mut options = crate::settings::transfer(&args.transfer);
    let registry = crate::commands::models::registry_objects(&ws, &options.targets)?;
    options.also = registry.models;
    options.also_if_present = registry.lock_entries;
    let report = cairn_remote::push(&ws, &cwd, &options, args.force)?;
    warn_all(&report.warnings);
    warn_first_few(
        "not in the cache, not pushed",
        "not in the cache",
        &report.not_in_cache,
    );
    note_first_few("not pushed", &report.left_out);
    if args.transfer.json {
        let remotes: Vec<serde_json::Value> = report
            .remotes
            .iter()
            .map(|r| {
                serde_json::json!({
                    "remote": r.remote,
                    "pushed": r.pushed,
                    "bytes": r.bytes,
                    "packs": r.packs,
                    "already_on_remote": r.already,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "remote": report.remote,
                "pushed": report.pushed,
                "bytes": report.bytes,
                "packs": report.packs,
                "already_on_remote": report.already,
                "not_in_cache": report.not_in_cache.len(),
                "not_pushed": report.left_out,
                "remotes": remotes,
                "run_cache_entries": report.run_entries,
                "forced": report.forced,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    if report.remotes.is_empty() {
        println!("pushed nothing: no selected out goes to a remote");
        return Ok(ExitCode::SUCCESS);
    }
    let runs = if options.run_cache {
        format!(", {} run-cache entries", report.run_entries)
    } else {
        String::new()
    };
    for (i, sent) in report.remotes.iter().enumerate() {
        // The run-cache goes to the first (the default) remote.
        let runs = if i == 0 { runs.as_str() } else { "" };
        let packs = match sent.packs {
            0 => String::new(),
            1 => format!(", {} of them in 1 pack", sent.in_packs),
            n => format!(", {} of them in {n} packs", sent.in_packs),
        };
        if report.forced {
            println!(
                "pushed {} objects ({}) to remote '{}', replacing what it held (--force){runs}",
                sent.pushed,
                mib(sent.bytes),
                sent.remote
            );
        } else {
            println!(
                "pushed {} objects ({}{packs}), {} already on remote '{}'{runs}",
                sent.pushed,
                mib(sent.bytes),
                sent.already,
                sent.remote
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
