//! `cairn status`: every stale stage and why, as text or JSON; `--check` exits 1 when any is.

use std::process::ExitCode;

use serde::Serialize;

use cairn_core::Result;
use cairn_core::hash::Hasher;
use cairn_core::lock::Lock;
use cairn_core::pipeline::Pipeline;
use cairn_core::repro::stale_stages;
use cairn_core::repro::staleness::Reason;
use cairn_core::workspace::Workspace;

use crate::cli::StatusArgs;

/// A stage's status for `cairn status --json`.
#[derive(Debug, Serialize)]
struct StageStatus<'a> {
    name: &'a str,
    stale: bool,
    reasons: Vec<Reason>,
}

/// `cairn status`.
pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let lock = Lock::read(&ws.lock_path())?;
    let selected = pipeline.select(&args.targets, false, false)?;
    let mut hasher = Hasher::for_workspace(&ws);
    if args.json {
        hasher = hasher.quiet();
    }
    let stale = stale_stages(&pipeline, &lock, &hasher, &selected)?;
    hasher.save_state()?;
    let any_stale = stale.iter().any(|(_, r)| !r.is_empty());
    if args.json {
        let stages: Vec<StageStatus> = stale
            .into_iter()
            .map(|(i, reasons)| StageStatus {
                name: &pipeline.stages[i].name,
                stale: !reasons.is_empty(),
                reasons,
            })
            .collect();
        let doc = serde_json::json!({ "up_to_date": !any_stale, "stages": stages });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else if !any_stale {
        println!("Pipeline is up to date.");
    } else {
        for (i, reasons) in &stale {
            if reasons.is_empty() {
                continue;
            }
            println!("{}:", pipeline.stages[*i].name);
            for r in reasons {
                println!("    {r}");
            }
        }
    }
    Ok(if args.check && any_stale {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
