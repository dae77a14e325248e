//! Differential tests against DVC 3.x: every case under `tests/dvc/cases/` is loaded by DVC
//! (`tests/dvc/dump.py`, in the venv `scripts/dvc-venv.sh` makes) and by `cairn dag --format json`,
//! and the two must agree: the same stages in the same order with the same cmd, wdir, deps, params
//! and outs, the same edges; or both refuse the pipeline.
//!
//! A case directory holds `dvc.yaml` and the params/vars files it reads, plus optionally:
//! - `mentions`: words (one a line) cairn's stderr must contain when both refuse the pipeline;
//! - `differs.md`: cairn differs from DVC on purpose, the first line says why. cairn's output is
//!   then checked against `cairn.json` in the case (what `cairn dag --format json` prints, or
//!   `{"error": "TEXT"}` when cairn must refuse the pipeline with TEXT on stderr), so the
//!   difference is pinned rather than skipped.
//!
//! Every case is checked and all mismatches are reported at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::Project;

/// Where cairn reads the pipeline from: the case's `dvc.yaml` is copied there.
const CAIRN_PIPELINE: &str = "pipeline.yaml";

/// Files of a case that belong to this harness, not to the pipeline.
const HARNESS_FILES: [&str; 3] = ["mentions", "differs.md", "cairn.json"];

/// At most this many differences are listed per case.
const MAX_LINES: usize = 8;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dvc/cases")
}

/// The case directories, sorted; `CAIRN_DVC_CASE=WORD` keeps those whose name contains WORD.
fn cases() -> Vec<PathBuf> {
    let filter = std::env::var("CAIRN_DVC_CASE").unwrap_or_default();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/dvc/cases")
        .map(|e| e.expect("case entry").path())
        .filter(|p| p.is_dir() && name(p).contains(&filter))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case matches {filter:?}");
    cases
}

fn name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// DVC's result for each case, from one run of dump.py (DVC's import is slow).
fn dvc_results(cases: &[PathBuf]) -> Vec<Value> {
    let python = std::env::var_os("CAIRN_DVC_PYTHON").unwrap_or_else(|| {
        panic!(
            "CAIRN_DVC_PYTHON is not set: run scripts/test.sh or scripts/dvc-diff.sh, which \
             install DVC into a venv (scripts/dvc-venv.sh) and set it to the venv's python"
        )
    });
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dvc/dump.py");
    let out = Command::new(&python)
        .arg(&dump)
        .args(cases)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", Path::new(&python).display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dump.py failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("dump.py printed {l:?}: {e}")))
        .collect();
    assert_eq!(
        results.len(),
        cases.len(),
        "dump.py printed {} lines for {} cases",
        results.len(),
        cases.len()
    );
    results
}

/// Copies the case's pipeline files into `to`, `dvc.yaml` as cairn's pipeline file.
fn copy_case(from: &Path, to: &Path, top: bool) {
    for entry in std::fs::read_dir(from).expect("read case") {
        let entry = entry.expect("case entry");
        let file = entry.file_name().to_string_lossy().into_owned();
        if top && HARNESS_FILES.contains(&file.as_str()) {
            continue;
        }
        let target = if top && file == "dvc.yaml" {
            to.join(CAIRN_PIPELINE)
        } else {
            to.join(&file)
        };
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_case(&entry.path(), &target, false);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// What cairn made of a case: its JSON, or its exit code and stderr.
enum Cairn {
    Loaded(Value),
    Refused { code: i32, stderr: String },
}

fn run_cairn(case: &Path) -> Cairn {
    let p = Project::new();
    copy_case(case, p.path(), true);
    let mut out = p.cairn(&["dag", "--format", "json"]);
    // The temporary folder's name is noise in the report.
    out.stderr = out.stderr.replace(&format!("{}/", p.path().display()), "");
    if out.code == 0 {
        match serde_json::from_str(&out.stdout) {
            Ok(v) => Cairn::Loaded(v),
            Err(e) => Cairn::Refused {
                code: 0,
                stderr: format!("stdout is not JSON ({e}): {}", out.stdout),
            },
        }
    } else {
        Cairn::Refused {
            code: out.code,
            stderr: out.stderr,
        }
    }
}

/// The words cairn's stderr must hold when it refuses the case.
fn mentions(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("mentions"))
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A message on one line, shortened, for the report (DVC's span several lines).
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    short(&lines.join(" "))
}

fn short(text: &str) -> String {
    const MAX: usize = 240;
    if text.chars().count() > MAX {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    } else {
        text.to_string()
    }
}

fn compact(v: &Value) -> String {
    short(&v.to_string())
}

/// A refusal of cairn checked against the words it must name.
fn check_refusal(code: i32, stderr: &str, words: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if code != 2 {
        problems.push(format!(
            "cairn exited {code} (an invalid pipeline is exit 2): {}",
            one_line(stderr)
        ));
    }
    let missing: Vec<&str> = words
        .iter()
        .filter(|w| !stderr.contains(w.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "cairn's message lacks {missing:?}: {}",
            one_line(stderr)
        ));
    }
    problems
}

/// The differences between two loaded pipelines (`want` from DVC or cairn.json).
fn diff_loaded(want: &Value, got: &Value, who: &str) -> Vec<String> {
    let stages = |v: &Value| -> Vec<Value> { v["stages"].as_array().cloned().unwrap_or_default() };
    let (want_stages, got_stages) = (stages(want), stages(got));
    let names = |s: &[Value]| -> Vec<String> {
        s.iter()
            .map(|s| s["name"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    let (want_names, got_names) = (names(&want_stages), names(&got_stages));
    let mut lines = Vec::new();
    if want_names != got_names {
        lines.push(format!(
            "stages: {who} {} / cairn {}",
            short(&format!("{want_names:?}")),
            short(&format!("{got_names:?}"))
        ));
    }
    // Field by field for the stages both have.
    for w in &want_stages {
        let Some(g) = got_stages.iter().find(|g| g["name"] == w["name"]) else {
            continue;
        };
        let fields = w.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        for field in fields.unwrap_or_default() {
            if field != "name" && w[&field] != g[&field] {
                lines.push(format!(
                    "{} {field}: {who} {} / cairn {}",
                    w["name"].as_str().unwrap_or("?"),
                    compact(&w[&field]),
                    compact(&g[&field])
                ));
            }
        }
    }
    if want["edges"] != got["edges"] {
        lines.push(format!(
            "edges: {who} {} / cairn {}",
            compact(&want["edges"]),
            compact(&got["edges"])
        ));
    }
    lines
}

/// A one-line account of a loaded pipeline, for when only one side loaded it.
fn summary(v: &Value) -> String {
    let stages = v["stages"].as_array().cloned().unwrap_or_default();
    let shown: Vec<String> = stages
        .iter()
        .take(3)
        .map(|s| format!("{} {}", s["name"], compact(&s["cmd"])))
        .collect();
    let more = stages.len().saturating_sub(3);
    format!(
        "{} stage(s): {}{}",
        stages.len(),
        shown.join(", "),
        if more > 0 {
            format!(", … {more} more")
        } else {
            String::new()
        }
    )
}

/// The problems of one case compared with DVC; empty when they agree.
fn check_case(case: &Path, dvc: &Value) -> Vec<String> {
    let cairn = run_cairn(case);
    let words = mentions(case);
    let dvc_error = dvc.get("error").and_then(Value::as_str);

    if let Ok(why) = std::fs::read_to_string(case.join("differs.md")) {
        let why = why.lines().next().unwrap_or("").trim();
        return check_pinned(case, why, &cairn, dvc, &words);
    }
    match (dvc_error, &cairn) {
        (None, Cairn::Loaded(got)) => diff_loaded(dvc, got, "DVC"),
        (Some(_), Cairn::Refused { code, stderr }) => check_refusal(*code, stderr, &words),
        (None, Cairn::Refused { stderr, .. }) => vec![format!(
            "DVC loads it ({}); cairn refuses it: {}",
            summary(dvc),
            one_line(stderr)
        )],
        (Some(e), Cairn::Loaded(got)) => vec![format!(
            "DVC refuses it ({}); cairn loads it: {}",
            one_line(e),
            summary(got)
        )],
    }
}

/// A case where cairn differs on purpose: cairn's output against `cairn.json`.
fn check_pinned(
    case: &Path,
    why: &str,
    cairn: &Cairn,
    dvc: &Value,
    words: &[String],
) -> Vec<String> {
    let pinned: Value = match std::fs::read_to_string(case.join("cairn.json")) {
        Ok(t) => match serde_json::from_str(&t) {
            Ok(v) => v,
            Err(e) => return vec![format!("cairn.json is not JSON: {e}")],
        },
        Err(e) => return vec![format!("differs.md ({why}) needs a cairn.json: {e}")],
    };
    let mut problems = match (pinned.get("error"), cairn) {
        (Some(text), Cairn::Refused { code, stderr }) => {
            let mut words = words.to_vec();
            words.extend(text.as_str().map(String::from));
            check_refusal(*code, stderr, &words)
        }
        (Some(_), Cairn::Loaded(got)) => vec![format!(
            "cairn.json pins a refusal; cairn loads it: {}",
            summary(got)
        )],
        (None, Cairn::Loaded(got)) => diff_loaded(&pinned, got, "cairn.json"),
        (None, Cairn::Refused { stderr, .. }) => vec![format!(
            "cairn.json pins a pipeline; cairn refuses it: {}",
            one_line(stderr)
        )],
    };
    // A pinned difference that is gone must be noticed, or the pin outlives its reason.
    let agrees = match cairn {
        Cairn::Loaded(got) => dvc.get("error").is_none() && diff_loaded(dvc, got, "DVC").is_empty(),
        Cairn::Refused { .. } => dvc.get("error").is_some(),
    };
    if agrees {
        problems.push(format!(
            "cairn now agrees with DVC: remove differs.md ({why}) and cairn.json"
        ));
    }
    problems
}

#[test]
fn cairn_loads_every_case_as_dvc_does() {
    let cases = cases();
    let started = std::time::Instant::now();
    let dvc = dvc_results(&cases);
    let dvc_time = started.elapsed();
    let mut report = Vec::new();
    for (case, dvc) in cases.iter().zip(&dvc) {
        let mut problems = check_case(case, dvc);
        if problems.is_empty() {
            continue;
        }
        let more = problems.len().saturating_sub(MAX_LINES);
        problems.truncate(MAX_LINES);
        if more > 0 {
            problems.push(format!("… {more} more"));
        }
        report.push(format!("{}:\n    {}", name(case), problems.join("\n    ")));
    }
    assert!(
        report.is_empty(),
        "{} of {} cases differ from DVC (dump.py took {:.1}s):\n\n{}\n",
        report.len(),
        cases.len(),
        dvc_time.as_secs_f64(),
        report.join("\n")
    );
}
