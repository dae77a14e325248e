//! `cairn repro`: run what is stale, in dependency order (`--pull` fetches first).

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::cache::ObjectStore;
use cairn_core::hash::Hasher;
use cairn_core::lock::Lock;
use cairn_core::pipeline::Pipeline;
use cairn_core::repro::{check_deps_exist, clear_tmp, executor, stale_stages};
use cairn_core::workspace::Workspace;

use crate::cli::ReproArgs;

/// `cairn repro`.
pub fn run(args: &ReproArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let selected = pipeline.select(&args.targets, args.single_item, args.downstream)?;
    check_deps_exist(&ws, &pipeline, &selected)?;
    let _guard = ws.lock("repro")?;
    if args.pull {
        super::fetch::for_repro(&ws)?;
    }
    let lock = Lock::read(&ws.lock_path())?;
    let store = ObjectStore::open(&ws)?;
    let hasher = Hasher::for_workspace(&ws);

    if args.dry {
        let stale = stale_stages(&pipeline, &lock, &hasher, &selected)?;
        hasher.save_state()?;
        let mut any = false;
        for (i, reasons) in stale {
            if pipeline.stages[i].frozen && !reasons.is_empty() {
                // Frozen stages never run: their only reasons are missing outs, which fail them.
                any = true;
                for r in &reasons {
                    println!("stage '{}' would fail: {r}", pipeline.stages[i].name);
                }
                continue;
            }
            if !reasons.is_empty() || (args.force && !pipeline.stages[i].frozen) {
                any = true;
                let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                println!(
                    "would run stage '{}' ({})",
                    pipeline.stages[i].name,
                    if why.is_empty() {
                        "forced".into()
                    } else {
                        why.join(", ")
                    }
                );
                for cmd in &pipeline.stages[i].cmd {
                    println!("> {cmd}");
                }
            }
        }
        if !any {
            println!("Pipeline is up to date. Nothing to reproduce.");
        }
        return Ok(ExitCode::SUCCESS);
    }

    clear_tmp(&ws);
    let options = executor::Options {
        force: args.force,
        no_run_cache: args.no_run_cache,
        keep_going: args.keep_going,
        jobs: args.jobs as usize,
    };
    let result =
        executor::Executor::new(&ws, &pipeline, &store, &hasher, lock, options).run(&selected);
    hasher.save_state()?;
    let summary = result?;
    if summary.ran.is_empty() && summary.restored.is_empty() {
        println!("Pipeline is up to date. Nothing to reproduce.");
    } else {
        println!(
            "{} ran, {} restored from run-cache, {} up to date; pipeline.lock updated",
            summary.ran.len(),
            summary.restored.len(),
            summary.up_to_date
        );
    }
    Ok(ExitCode::SUCCESS)
}
