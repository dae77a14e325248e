//! The in-process layer: each generated input through the library's parser, and what the
//! binary does next with what it parsed (templating and the DAG for a pipeline, run-cache keys
//! for a lock, workspace paths for a pointer file, a manifest's digest). A parse that succeeds
//! must also survive writing and reading back.
//!
//! The cases run in a child process, this test binary running the ignored `in_process_worker`
//! test, which writes `start KIND CASE` before each case to a progress file. A panic is caught
//! and recorded by the child; a hang, a crash or a memory explosion ends the child, and the
//! parent names the last case started and runs the child again from the next one.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_core::hash::Manifest;
use cairn_core::lock::Lock;
use cairn_core::pipeline::Pipeline;
use cairn_core::pointer::Pointer;
use cairn_core::repro::run_cache::{RunCache, RunEntry};
use cairn_core::workspace::Workspace;

use super::generate::{Kind, Seeds, case, explosive_shape};
use super::{Failure, Lab, MARKER, base_seed, cases_per_parser, run_bounded};

/// Environment variable naming the folder a worker reads its seeds from and writes to.
const WORKER_DIR: &str = "CAIRN_FUZZ_WORKER_DIR";
/// Environment variable telling a worker where to start again: `KIND CASE`.
const RESUME: &str = "CAIRN_FUZZ_RESUME";
/// Environment variable telling a worker which explosive shapes to skip: `KIND SHAPE,…`.
const SKIP: &str = "CAIRN_FUZZ_SKIP";
/// A case taking longer than this is a hang (they take milliseconds).
const CASE_LIMIT: Duration = Duration::from_secs(5);
/// A worker using more than this is a memory explosion (the inputs are at most a few MiB).
const RSS_LIMIT_KIB: i64 = 256 << 10;
/// After this many crashes or hangs the layer stops: each costs a restart and a time limit.
const MAX_RESTARTS: usize = 10;

/// Explosive inputs per parser (see [`case`]): the last cases.
const EXPLOSIVE: usize = 4;

fn explosive(n: usize, cases: usize) -> bool {
    n + EXPLOSIVE >= cases
}

/// Kinds the library exposes a parser of. A pack index's parser is private to the remote
/// module: the binary layer reads those.
fn in_process(kind: Kind) -> bool {
    kind != Kind::PackIndex
}

/// The parent: builds the seeds, runs the worker until it has been through every case, and
/// fails naming each input that panicked, hung, crashed or exploded.
pub fn run_in_child() {
    let started = Instant::now();
    let lab = Lab::new();
    let dir = lab.sandbox();
    let (seeds, _) = super::build_seed_workspace(&lab, &dir.join("seed"), &dir.join("seed-remote"));
    seeds.save(&dir.join("seeds"));
    super::copy_dir(&dir.join("seed"), &dir.join("ws"));
    // The seed documents themselves must pass, or the failures found could be the check's own.
    let ws = Workspace {
        root: std::fs::canonicalize(dir.join("ws")).expect("ws"),
    };
    for kind in Kind::ALL.into_iter().filter(|k| in_process(*k)) {
        let docs = seeds.docs(kind);
        // The repository's own pipeline and params do not go with the seed workspace.
        let own = if matches!(kind, Kind::Pipeline | Kind::Params) {
            &docs[..1]
        } else {
            docs
        };
        for (i, doc) in own.iter().enumerate() {
            let outcome = check(kind, doc, &ws, &seeds);
            assert_eq!(outcome, Ok(true), "{} seed document {i}", kind.name());
        }
    }
    let outside_before = super::walk_files(&lab.outside())
        .into_iter()
        .map(|(rel, path)| (rel, std::fs::read(path).expect("read")))
        .collect::<Vec<_>>();

    let cases = cases_per_parser();
    let progress = dir.join("progress");
    let mut failures = Vec::new();
    let mut resume: Option<(Kind, usize)> = None;
    // Shapes of explosive input that exploded, as `KIND SHAPE`.
    let mut exploded: Vec<String> = Vec::new();
    let mut restarts = 0;
    let mut ran_cases: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut skipped: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut accepted: BTreeMap<Kind, usize> = BTreeMap::new();
    loop {
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "trust::fuzz::in_process_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_DIR, &dir)
        .env("RUST_BACKTRACE", "0");
        if let Some((kind, case)) = resume {
            cmd.env(RESUME, format!("{} {case}", kind.name()));
        }
        cmd.env(SKIP, exploded.join(","));
        std::fs::write(&progress, "").expect("progress");
        let watched = progress.clone();
        let ran = run_bounded(
            cmd,
            CASE_LIMIT,
            &dir.join("out"),
            Some(RSS_LIMIT_KIB),
            || std::fs::metadata(&watched).map_or(0, |m| m.len()),
        );
        let log = std::fs::read_to_string(&progress).expect("progress");
        let mut last = None;
        let mut finished = false;
        for line in log.lines() {
            if line == "finished" {
                finished = true;
                continue;
            }
            let mut parts = line.splitn(4, ' ');
            let (Some(verb), Some(kind), Some(n)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(kind) = Kind::from_name(kind) else {
                continue;
            };
            let n: usize = n.parse().unwrap_or_default();
            match verb {
                "skip" => *skipped.entry(kind).or_default() += 1,
                "start" => {
                    last = Some((kind, n));
                    *ran_cases.entry(kind).or_default() += 1;
                }
                "slow" => {
                    let ms = parts.next().unwrap_or_default();
                    eprintln!("fuzz: in-process {} case {n} took {ms} ms", kind.name());
                }
                "accepted" => *accepted.entry(kind).or_default() += 1,
                "panic" | "fail" => {
                    let what = parts.next().unwrap_or_default().replace("\\n", "\n");
                    let what = if verb == "panic" {
                        format!("panics: {what}")
                    } else {
                        what
                    };
                    failures.push(Failure {
                        layer: "in-process",
                        kind,
                        case: n.to_string(),
                        what,
                        input: case(&seeds, kind, base_seed(), n, explosive(n, cases)),
                    });
                }
                _ => {}
            }
        }
        if finished && ran.code == Some(0) {
            break;
        }
        let Some((kind, n)) = last else {
            panic!("the in-process worker failed before its first case: {ran:?}");
        };
        let what = if ran.hung {
            Some(format!("hangs (no progress for {CASE_LIMIT:?})"))
        } else {
            ran.problem(RSS_LIMIT_KIB)
        };
        let what = what.unwrap_or_else(|| {
            format!(
                "the worker ended with {:?}: {}",
                ran.code,
                super::tail(&ran.stderr)
            )
        });
        failures.push(Failure {
            layer: "in-process",
            kind,
            case: n.to_string(),
            what,
            input: case(&seeds, kind, base_seed(), n, explosive(n, cases)),
        });
        restarts += 1;
        if restarts >= MAX_RESTARTS {
            eprintln!("fuzz: in-process layer: stopped after {restarts} crashes or hangs");
            break;
        }
        // After one explodes, the others of its shape would too.
        if explosive(n, cases) {
            exploded.push(format!("{} {}", kind.name(), explosive_shape(kind, n)));
        }
        resume = Some(next_case(kind, n, cases));
    }
    let outside_after = super::walk_files(&lab.outside())
        .into_iter()
        .map(|(rel, path)| (rel, std::fs::read(path).expect("read")))
        .collect::<Vec<_>>();
    assert_eq!(
        outside_before, outside_after,
        "the folder outside the sandbox changed"
    );
    let per: Vec<String> = ran_cases
        .iter()
        .map(|(k, n)| {
            let ok = accepted.get(k).copied().unwrap_or_default();
            let skip = skipped.get(k).copied().unwrap_or_default();
            format!("{} {n} ({ok} accepted, {skip} explosive skipped)", k.name())
        })
        .collect();
    eprintln!(
        "fuzz: in-process layer: {} inputs ({}) in {:.1?}",
        ran_cases.values().sum::<usize>(),
        per.join(", "),
        started.elapsed()
    );
    super::report("in-process", &failures);
}

/// Where to start again after case `n` of `kind`: the next case, or the next kind after the
/// last.
fn next_case(kind: Kind, n: usize, cases: usize) -> (Kind, usize) {
    if n + 1 < cases {
        return (kind, n + 1);
    }
    let after = Kind::ALL.iter().position(|k| *k == kind).expect("kind") + 1;
    (
        *Kind::ALL.get(after).unwrap_or(&kind),
        if after < Kind::ALL.len() { 0 } else { cases },
    )
}

/// The worker: runs the cases, from `CAIRN_FUZZ_RESUME` on, writing progress for the parent.
/// Only as the parent's child: alone, an explosive input would take this process (and the
/// machine's memory) with it.
pub fn worker() {
    let Some(dir) = std::env::var_os(WORKER_DIR).map(PathBuf::from) else {
        eprintln!("run by parsers_survive_generated_inputs_in_process, which sets {WORKER_DIR}");
        return;
    };
    let skip: Vec<String> = std::env::var(SKIP)
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    let resume = std::env::var(RESUME).ok().and_then(|r| {
        let (kind, n) = r.split_once(' ')?;
        Some((Kind::from_name(kind)?, n.parse::<usize>().ok()?))
    });
    let progress_path = dir.join("progress");
    let thread_dir = dir.clone();
    // The binary parses on its main thread, which has 8 MiB of stack; test threads have 2.
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let dir = thread_dir;
            let seeds = Seeds::load(&dir.join("seeds"));
            let ws = Workspace {
                root: std::fs::canonicalize(dir.join("ws")).expect("ws"),
            };
            let mut progress = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&progress_path)
                .expect("progress");
            let default_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let cases = cases_per_parser();
            for kind in Kind::ALL.into_iter().filter(|k| in_process(*k)) {
                let first = match resume {
                    Some((k, n)) if k == kind => n,
                    Some((k, _)) if k > kind => continue,
                    _ => 0,
                };
                for n in first..cases {
                    let shape = format!("{} {}", kind.name(), explosive_shape(kind, n));
                    if explosive(n, cases) && skip.contains(&shape) {
                        writeln!(progress, "skip {} {n}", kind.name()).expect("progress");
                        continue;
                    }
                    writeln!(progress, "start {} {n}", kind.name()).expect("progress");
                    let input = case(&seeds, kind, base_seed(), n, explosive(n, cases));
                    let case_started = Instant::now();
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        check(kind, &input, &ws, &seeds)
                    }));
                    let ms = case_started.elapsed().as_millis();
                    if ms > 1000 {
                        writeln!(progress, "slow {} {n} {ms}", kind.name()).expect("progress");
                    }
                    let line = match outcome {
                        Ok(Ok(true)) => {
                            writeln!(progress, "accepted {} {n}", kind.name()).expect("progress");
                            continue;
                        }
                        Ok(Ok(false)) => continue,
                        Ok(Err(problem)) => format!("fail {} {n} {problem}", kind.name()),
                        Err(payload) => {
                            let message = payload
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "(no message)".into());
                            format!("panic {} {n} {message}", kind.name())
                        }
                    };
                    let line = line.replace('\n', "\\n");
                    writeln!(progress, "{line}").expect("progress");
                }
            }
            writeln!(progress, "finished").expect("progress");
            std::panic::set_hook(default_hook);
        })
        .expect("spawn worker thread");
    worker.join().expect("worker thread");
}

/// Runs one input through the parser of `kind` and what uses its result: whether the parser
/// accepted it, or what is wrong. A panic propagates.
fn check(kind: Kind, input: &[u8], ws: &Workspace, seeds: &Seeds) -> Result<bool, String> {
    let text = String::from_utf8_lossy(input);
    match kind {
        Kind::Pipeline => pipeline(ws, &text),
        Kind::Params => {
            std::fs::write(ws.params_path(), input).expect("write params");
            let mut params = cairn_core::pipeline::Params::default();
            let accepted = match params.load(&ws.root, "params.yaml") {
                Ok(Some(value)) => {
                    let value = value.clone();
                    cairn_core::pipeline::params::show(&value);
                    if !cairn_core::pipeline::params::same_value(&value, &value) && !has_nan(&value)
                    {
                        return Err("a params value is not the same as itself".into());
                    }
                    for key in [
                        "",
                        "train",
                        "train.seed",
                        "models.small.depth",
                        "lrs.1",
                        "lrs.99",
                    ] {
                        if let Some(v) = params.get("params.yaml", key) {
                            cairn_core::pipeline::params::show(v);
                        }
                    }
                    true
                }
                _ => false,
            };
            // The seed pipeline templates with these params.
            let seed_pipeline =
                String::from_utf8_lossy(&seeds.docs(Kind::Pipeline)[0]).into_owned();
            let outcome = pipeline(ws, &seed_pipeline);
            std::fs::write(ws.params_path(), &seeds.docs(Kind::Params)[0]).expect("restore params");
            outcome.map(|_| accepted)
        }
        Kind::Lock => {
            let path = ws.lock_path();
            let Ok(lock) = Lock::parse(&text, &path) else {
                return Ok(false);
            };
            for stage in lock.stages.values() {
                let _ = RunCache::key(stage);
            }
            // A lock that cannot be written down is refused, never written empty.
            let Ok(written) = lock.to_text() else {
                return Ok(true);
            };
            match Lock::parse(&written, &path) {
                Ok(again) if again.to_text().as_deref() == Ok(written.as_str()) => Ok(true),
                Ok(_) => Err("a lock written and read back is another lock".into()),
                Err(e) => Err(format!("a lock it wrote does not read back: {e}")),
            }
        }
        Kind::Pointer => {
            let Ok(pointer) = serde_norway::from_slice::<Pointer>(input) else {
                return Ok(false);
            };
            pointer.workspace_outs("sub/tracked.cairn");
            pointer.workspace_outs("data.csv.cairn");
            round_trip(&pointer, input)
        }
        Kind::RunEntry => match serde_norway::from_slice::<RunEntry>(input) {
            Ok(entry) => round_trip(&entry, input),
            Err(_) => Ok(false),
        },
        Kind::Manifest => {
            let Ok(manifest) = Manifest::from_bytes(input) else {
                return Ok(false);
            };
            manifest.digest();
            manifest.size();
            match Manifest::from_bytes(&manifest.to_bytes()) {
                Ok(again) if again == manifest => Ok(true),
                Ok(_) => Err("a manifest written and read back is another manifest".into()),
                Err(e) => Err(format!("a manifest it wrote does not read back: {e}")),
            }
        }
        Kind::PackIndex => Ok(false),
        // Never written, so nothing to read back; what is checked is that parsing ends.
        Kind::DvcFile => Ok(cairn_core::dvc_file::DvcFile::parse(&text).is_ok()),
    }
}

/// Parses `text` as the workspace's pipeline, then selects and shows what `status` would.
fn pipeline(ws: &Workspace, text: &str) -> Result<bool, String> {
    let (accepted, shown) = match Pipeline::parse(ws, &ws.pipeline_path(), text) {
        Ok(pipeline) => {
            pipeline.select(&[], false, true).ok();
            let mut shown = format!("{:?}", pipeline.stages);
            for stage in &pipeline.stages {
                for param in &stage.params {
                    if let Some(value) = pipeline.param_value(param) {
                        shown.push_str(&cairn_core::pipeline::params::show(value));
                    }
                }
            }
            (true, shown)
        }
        Err(e) => (false, e.to_string()),
    };
    if shown.contains(MARKER) {
        return Err("shows the contents of the file outside the sandbox".into());
    }
    Ok(accepted)
}

/// A value cairn parsed must read back the same after it writes it.
fn round_trip<T>(value: &T, input: &[u8]) -> Result<bool, String>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    // Written and read back, a big input costs more than the rest of the layer.
    if input.len() > 64 << 10 {
        return Ok(true);
    }
    let written = serde_norway::to_string(value)
        .map_err(|e| format!("what it parsed does not write: {e}"))?;
    match serde_norway::from_str::<T>(&written) {
        Ok(again) if again == *value => Ok(true),
        Ok(again) => Err(format!("written and read back, {value:?} became {again:?}")),
        Err(e) => Err(format!("what it wrote does not read back: {e}\n{written}")),
    }
}

fn has_nan(value: &serde_norway::Value) -> bool {
    match value {
        serde_norway::Value::Number(n) => n.as_f64().is_some_and(f64::is_nan),
        serde_norway::Value::Sequence(items) => items.iter().any(has_nan),
        serde_norway::Value::Mapping(m) => m.iter().any(|(k, v)| has_nan(k) || has_nan(v)),
        serde_norway::Value::Tagged(t) => has_nan(&t.value),
        _ => false,
    }
}
