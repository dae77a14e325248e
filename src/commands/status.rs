//! `cairn status`: every stale stage and why, and tracked data (`.cairn`, `.dvc` pointers) not
//! as its pointer records, as text or JSON; `--check` exits 1 when anything is.

use std::process::ExitCode;

use serde::Serialize;

use cairn_core::Result;
use cairn_core::hash::Hasher;
use cairn_core::lock::Lock;
use cairn_core::pipeline::Pipeline;
use cairn_core::repro::staleness::Reason;
use cairn_core::repro::{stale_stages, tracked_data};
use cairn_core::tracked::DataState;
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
    // Data tracked by pointer files (`.cairn`, DVC's `.dvc`): all of it when every stage is
    // asked about, else what the selected stages read.
    let data = tracked_data(&ws, &pipeline, &hasher, &selected, args.targets.is_empty())?;
    hasher.save_state()?;
    let any_stale = stale.iter().any(|(_, r)| !r.is_empty()) || !data.is_empty();
    if args.json {
        let stages: Vec<StageStatus> = stale
            .into_iter()
            .map(|(i, reasons)| StageStatus {
                name: &pipeline.stages[i].name,
                stale: !reasons.is_empty(),
                reasons,
            })
            .collect();
        let doc = serde_json::json!({ "up_to_date": !any_stale, "stages": stages, "data": data });
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
        for d in &data {
            println!("{}:", d.pointer);
            let what = match &d.state {
                DataState::Missing => "missing".to_string(),
                DataState::Modified { detail } => format!("modified ({detail})"),
                DataState::Unrecorded => "not recorded".to_string(),
                DataState::Present => "as recorded".to_string(),
            };
            println!("    {} {what}: {}", d.path, d.fix);
        }
    }
    Ok(if args.check && any_stale {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
