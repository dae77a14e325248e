//! `cairn exp run`: an experiment is a `cairn repro` in a copy of the workspace (under
//! `.cairn/exps/work/NAME`), with the overrides written into the copy's params files and the
//! workspace's cache and run-cache shared, so the user's files are never touched and stages
//! another experiment already computed are restored, not rerun. `--queue` only records it;
//! `--run-all --jobs N` runs what is queued N at a time. Each repro dies with the process that
//! started it (a `kill -9` leaves no orphan writing into the cache); a record left `running`
//! by a process that is gone is queued again by the next `--run-all`.

use std::collections::VecDeque;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;

use cairn_core::exp::{self, ExpRecord, Override, Status};
use cairn_core::pipeline::Pipeline;
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};
use cairn_registry::provenance;

use crate::commands::compare::{flatten_file, metrics_files, to_json};

/// Largest params or metrics file an experiment keeps a copy of.
const MAX_KEPT_FILE: u64 = 1 << 20;

/// `cairn exp run [-S …] [-n NAME] [--queue] [TARGET…]`.
pub fn run(
    set: &[String],
    name: Option<&str>,
    queue: bool,
    targets: &[String],
) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let overrides = set
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<Vec<_>>>()?;
    exp::check_overrides(&ws.root, &overrides)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => made_up_name(&overrides),
    };
    exp::check_name(&name).map_err(Error::Usage)?;
    if exp::exps_dir(&ws).join(format!("{name}.json")).exists() {
        return Err(Error::Usage(format!(
            "experiment '{name}' exists: pick another -n, or remove it (`cairn exp remove {name}`)"
        )));
    }
    let record = ExpRecord::queued(
        name.clone(),
        provenance::commit(&ws.root).map(|c| c.trim_end_matches("+dirty").to_string()),
        overrides,
        targets.to_vec(),
        provenance::now(),
    );
    exp::write(&ws, &record)?;
    if queue {
        println!("queued {name}");
        return Ok(ExitCode::SUCCESS);
    }
    let done = execute(&ws, record)?;
    say(&done);
    Ok(if done.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cairn exp run --run-all --jobs N`.
pub fn run_all(jobs: usize) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let waiting: VecDeque<ExpRecord> = exp::list(&ws)?
        .into_iter()
        .filter(|r| {
            r.status == Status::Queued || (r.status == Status::Running && !r.pid.is_some_and(alive))
        })
        .collect();
    if waiting.is_empty() {
        println!("no queued experiments");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "running {} experiments, {} at a time",
        waiting.len(),
        jobs.min(waiting.len())
    );
    let queue = Mutex::new(waiting);
    let failed = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(record) = next else { break };
                    let name = record.name.clone();
                    match execute(&ws, record) {
                        Ok(done) => {
                            say(&done);
                            if done.status != Status::Succeeded {
                                failed.lock().unwrap_or_else(|e| e.into_inner()).push(name);
                            }
                        }
                        Err(e) => errors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(format!("{name}: {e}")),
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(first) = errors.first() {
        return Err(Error::Failed(format!(
            "{} experiments could not run; first: {first}",
            errors.len()
        )));
    }
    let failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one experiment to its end and records how it went.
fn execute(ws: &Workspace, mut record: ExpRecord) -> Result<ExpRecord> {
    record.status = Status::Running;
    record.pid = Some(std::process::id());
    exp::write(ws, &record)?;
    // Not under .cairn/tmp: the repro in the copy shares that folder and clears what is stale in it.
    let copy = ws.dot().join("exps").join("work").join(&record.name);
    if copy.exists() {
        std::fs::remove_dir_all(&copy).map_err(|e| Error::Io {
            path: copy.clone(),
            source: e,
        })?;
    }
    std::fs::create_dir_all(&copy).map_err(|e| Error::Io {
        path: copy.clone(),
        source: e,
    })?;
    let outcome = run_in(ws, &copy, &mut record);
    let _ = std::fs::remove_dir_all(&copy);
    if let Err(e) = outcome {
        record.status = Status::Failed;
        record.error = Some(e.to_string());
    }
    record.pid = None;
    record.finished = Some(provenance::now());
    exp::write(ws, &record)?;
    Ok(record)
}

fn run_in(ws: &Workspace, copy: &std::path::Path, record: &mut ExpRecord) -> Result<()> {
    exp::copy_workspace(ws, copy)?;
    exp::apply_overrides(copy, &record.overrides)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the cairn binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("repro")
        .args(&record.targets)
        .current_dir(copy)
        .env(cairn_core::workspace::SHARED_STORE_ENV, ws.dot())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| Error::Failed(format!("cannot run cairn repro: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let copy_ws = Workspace::find(copy)?;
    collect(&copy_ws, record)?;
    if out.status.success() {
        record.status = Status::Succeeded;
    } else {
        record.status = Status::Failed;
        record.exit_code = out.status.code();
        record.failed_stage = failed_stage(&stderr);
        record.error = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(str::to_string);
    }
    Ok(())
}

/// The stage an error line names (`stage 'train@a': …`).
fn failed_stage(stderr: &str) -> Option<String> {
    let line = stderr.lines().rev().find(|l| l.contains("stage '"))?;
    let start = line.find("stage '")? + 7;
    let end = line[start..].find('\'')? + start;
    Some(line[start..end].to_string())
}

/// Params or metrics, flat, as a record holds them.
pub(super) type Values = std::collections::BTreeMap<String, serde_json::Value>;

/// The workspace's own params and metrics: the baseline row of `exp show`.
pub(super) fn workspace_values(ws: &Workspace) -> Result<(Values, Values)> {
    let mut scratch = ExpRecord::queued(
        "workspace".into(),
        None,
        Vec::new(),
        Vec::new(),
        String::new(),
    );
    collect(ws, &mut scratch)?;
    Ok((scratch.params, scratch.metrics))
}

/// What the copy holds now: the lock, the params and metrics files (kept whole, so diffs read
/// them), and their values flat.
fn collect(copy: &Workspace, record: &mut ExpRecord) -> Result<()> {
    let pipeline = Pipeline::load(copy)?;
    let mut params_files: Vec<String> = pipeline
        .stages
        .iter()
        .flat_map(|s| s.params.iter().map(|p| p.file.clone()))
        .collect();
    params_files.extend(pipeline.top.params.iter().cloned());
    params_files.sort();
    params_files.dedup();
    let keep = |file: &str, record: &mut ExpRecord| -> Option<Vec<u8>> {
        let path = copy.root.join(file);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_KEPT_FILE {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        record.files.insert(
            file.to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        );
        Some(bytes)
    };
    keep(cairn_core::workspace::LOCK_FILE, record);
    record.params.clear();
    for file in &params_files {
        if let Some(bytes) = keep(file, record) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(value) = cairn_core::pipeline::params::parse(file, &text) {
                let flat = flatten_file(
                    file,
                    file,
                    serde_json::to_string(&to_json(&value))
                        .unwrap_or_default()
                        .as_bytes(),
                )?;
                for (k, v) in flat {
                    let key = if file == "params.yaml" {
                        k
                    } else {
                        format!("{file}:{k}")
                    };
                    record.params.insert(key, v);
                }
            }
        }
    }
    record.metrics.clear();
    for file in metrics_files(&pipeline) {
        if let Some(bytes) = keep(&file, record) {
            for (k, v) in flatten_file(&file, &file, &bytes)? {
                record.metrics.insert(format!("{file}:{k}"), v);
            }
        }
    }
    Ok(())
}

/// The child is killed when this process dies, however it dies.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Whether a process with this id is alive.
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// `exp-` and six hex digits of the overrides and the time.
fn made_up_name(overrides: &[Override]) -> String {
    let text = format!("{overrides:?}{:?}", std::time::SystemTime::now());
    let digest = blake3::hash(text.as_bytes()).to_hex();
    format!("exp-{}", &digest[..6])
}

fn say(record: &ExpRecord) {
    match record.status {
        Status::Succeeded => {
            let shown: Vec<String> = record.overrides.iter().map(Override::shown).collect();
            println!(
                "{}: done ({})",
                record.name,
                if shown.is_empty() {
                    "no overrides".into()
                } else {
                    shown.join(" ")
                }
            );
        }
        _ => println!(
            "{}: failed{}{}{}",
            record.name,
            record
                .failed_stage
                .as_ref()
                .map(|s| format!(" at stage '{s}'"))
                .unwrap_or_default(),
            record
                .exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default(),
            record
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
        ),
    }
}
