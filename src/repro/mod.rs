//! Staleness, the executor and the run-cache: `init`, `status`, `repro`, `dag`, `checkout`.

mod checkout;
mod dag;
pub mod executor;
pub mod run_cache;
pub mod staleness;

use std::process::ExitCode;

use serde::Serialize;

pub use checkout::checkout_workspace;

use crate::cache::ObjectStore;
use crate::cli::{DagArgs, ReproArgs, StatusArgs, TargetArgs};
use crate::error::{Error, Result};
use crate::hash::{Hasher, StateTable};
use crate::lock::Lock;
use crate::pipeline::Pipeline;
use crate::workspace::Workspace;
use staleness::Reason;

/// `cairn init`.
pub fn init() -> Result<ExitCode> {
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

/// A stage's status for `cairn status --json`.
#[derive(Debug, Serialize)]
struct StageStatus<'a> {
    name: &'a str,
    stale: bool,
    reasons: Vec<Reason>,
}

/// Why each selected stage is stale, in topological order; a stage whose upstream is stale is
/// stale too.
pub fn stale_stages(
    pipeline: &Pipeline,
    lock: &Lock,
    hasher: &Hasher,
    selected: &[usize],
) -> Result<Vec<(usize, Vec<Reason>)>> {
    let mut out: Vec<(usize, Vec<Reason>)> = Vec::with_capacity(selected.len());
    // By stage index: whether it was found stale (one lookup per edge, not a scan).
    let mut stale = vec![false; pipeline.stages.len()];
    for &i in selected {
        let stage = &pipeline.stages[i];
        let (mut reasons, _) =
            staleness::check(stage, pipeline, lock.stages.get(&stage.name), hasher)?;
        if !stage.frozen {
            for &u in pipeline.graph.upstream(i) {
                if stale[u] {
                    reasons.push(Reason::UpstreamStale {
                        stage: pipeline.stages[u].name.clone(),
                    });
                }
            }
        }
        stale[i] = !reasons.is_empty();
        out.push((i, reasons));
    }
    Ok(out)
}

/// `cairn status`.
pub fn status(args: &StatusArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let lock = Lock::read(&ws.lock_path())?;
    let selected = pipeline.select(&args.targets, false, false)?;
    let mut hasher = Hasher::new(&ws.root, StateTable::load(&ws.state_path()));
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

/// `cairn repro`.
pub fn repro(args: &ReproArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let selected = pipeline.select(&args.targets, args.single_item, args.downstream)?;
    check_deps_exist(&ws, &pipeline, &selected)?;
    let _guard = ws.lock("repro")?;
    if args.pull {
        crate::remote::fetch_for_repro(&ws)?;
    }
    let lock = Lock::read(&ws.lock_path())?;
    let store = ObjectStore::open(&ws)?;
    let hasher = Hasher::new(&ws.root, StateTable::load(&ws.state_path()));

    if args.dry {
        let stale = stale_stages(&pipeline, &lock, &hasher, &selected)?;
        hasher.save_state()?;
        let mut any = false;
        for (i, reasons) in stale {
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

/// Refuses to start when a selected stage depends on a path that neither exists nor is made by
/// any stage: nothing would be run before failing on it.
fn check_deps_exist(ws: &Workspace, pipeline: &Pipeline, selected: &[usize]) -> Result<()> {
    for &i in selected {
        let stage = &pipeline.stages[i];
        for dep in &stage.deps {
            let made = pipeline.stages.iter().any(|s| {
                s.outs
                    .iter()
                    .any(|o| crate::pipeline::overlaps(dep, &o.path))
            });
            if !made && std::fs::symlink_metadata(ws.root.join(dep)).is_err() {
                return Err(Error::invalid(
                    &pipeline.file,
                    format!(
                        "stage '{}': dep '{dep}' does not exist and no stage makes it",
                        stage.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Removes leftovers of interrupted writes in `.cairn/tmp` (the workspace lock is held, so no
/// other cairn is writing there).
fn clear_tmp(ws: &Workspace) {
    if let Ok(entries) = std::fs::read_dir(ws.tmp_dir()) {
        for entry in entries.flatten() {
            let _ = executor::remove_path(&entry.path());
        }
    }
}

/// `cairn dag`.
pub fn dag(args: &DagArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    print!("{}", dag::render(&pipeline, args.format));
    Ok(ExitCode::SUCCESS)
}

/// `cairn checkout`.
pub fn checkout(args: &TargetArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let _guard = ws.lock("checkout")?;
    let report = checkout_workspace(&ws, &args.targets)?;
    if report.restored.is_empty() {
        println!("Workspace matches pipeline.lock; nothing to check out.");
    } else {
        for path in &report.restored {
            println!("M       {path}");
        }
        println!("{} paths checked out", report.restored.len());
    }
    Ok(ExitCode::SUCCESS)
}
