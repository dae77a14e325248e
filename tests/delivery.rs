//! Review rules for the GitHub workflows (.github/workflows), checked on every test run:
//!
//! - every `uses:` is pinned to a full 40-hex commit SHA, with its version in a trailing comment;
//! - no `run:` puts a secret into the script text (`${{ secrets.X }}`), prints a variable that
//!   holds one, or traces commands (`set -x`) while one is in its environment;
//! - nothing a pull request triggers can write to the shared remote or run-cache (cache
//!   poisoning): `cairn push` and `pipeline-loop.sh publish` run only in a job or step guarded by
//!   `github.event_name == 'push'` and `github.ref == 'refs/heads/main'`, and only such a job
//!   holds the write key;
//! - `pull_request_target` never checks out the pull request's head;
//! - pipeline.yml calls `scripts/pipeline-loop.sh STEP` in the order of the script's own `STEPS=(…)`
//!   line, so the workflow and the local run in `.ci/run` cannot drift apart.
//!
//! Each rule is also run on a broken copy written to a temporary folder, which it must refuse.

use std::path::{Path, PathBuf};

use serde_norway::Value as Yaml;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workflows_dir() -> PathBuf {
    root().join(".github/workflows")
}

/// One workflow file: its name, text and parsed form.
struct Workflow {
    name: String,
    text: String,
    doc: Yaml,
}

fn load(dir: &Path) -> Vec<Workflow> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read workflow");
        let doc: Yaml = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push(Workflow { name, text, doc });
    }
    assert!(!out.is_empty(), "no workflows in {}", dir.display());
    out
}

fn str_of(v: Option<&Yaml>) -> &str {
    v.and_then(Yaml::as_str).unwrap_or("")
}

/// The jobs of a workflow, by name, in file order.
fn jobs(doc: &Yaml) -> Vec<(String, &Yaml)> {
    doc.get("jobs")
        .and_then(Yaml::as_mapping)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or("?").to_string(), v))
                .collect()
        })
        .unwrap_or_default()
}

fn steps(job: &Yaml) -> Vec<&Yaml> {
    job.get("steps")
        .and_then(Yaml::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// The events that trigger a workflow (`on:` as a string, a list or a mapping).
fn triggers(doc: &Yaml) -> Vec<String> {
    match doc.get("on") {
        Some(Yaml::String(s)) => vec![s.clone()],
        Some(Yaml::Sequence(s)) => s
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Yaml::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Names of the env variables (workflow, job or step level) whose value comes from a secret.
fn secret_env(levels: &[&Yaml]) -> Vec<String> {
    let mut names = Vec::new();
    for level in levels {
        if let Some(env) = level.get("env").and_then(Yaml::as_mapping) {
            for (k, v) in env {
                if holds_secret(str_of(Some(v))) {
                    names.push(k.as_str().unwrap_or("?").to_string());
                }
            }
        }
    }
    names
}

fn holds_secret(expr: &str) -> bool {
    expr.contains("secrets.") || expr.contains("github.token")
}

/// `x == 'y'` with the spacing and quotes normalised.
fn normalise(cond: &str) -> String {
    cond.replace('"', "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `cond` admits only a push to main: both tests present, no `||` or negation (`!`,
/// though `!=` may narrow it further) to open it up again.
fn push_to_main_only(cond: &str) -> bool {
    let c = normalise(cond);
    c.contains("github.event_name == 'push'")
        && c.contains("github.ref == 'refs/heads/main'")
        && !c.contains("||")
        && !c.replace("!=", "").contains('!')
}

/// True when a `run:` writes to the shared remote or run-cache.
fn writes_remote(run: &str) -> bool {
    let words: Vec<&str> = run.split_whitespace().collect();
    words.windows(2).any(|w| {
        (w[0].ends_with("cairn") && w[1] == "push")
            || (w[0].ends_with("pipeline-loop.sh") && w[1] == "publish")
    }) || words
        .windows(3)
        .any(|w| w[0].ends_with("cairn") && w[1] == "exp" && w[2] == "push")
}

/// Rule 1: every `uses:` pinned to a commit SHA with the version in a comment.
fn check_pinned(workflows: &[Workflow]) -> Vec<String> {
    let mut problems = Vec::new();
    for wf in workflows {
        for (n, line) in wf.text.lines().enumerate() {
            let t = line.trim_start().trim_start_matches("- ");
            let Some(rest) = t.strip_prefix("uses:") else {
                continue;
            };
            let (target, comment) = match rest.split_once('#') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (rest.trim(), ""),
            };
            let target = target.trim_matches(|c| c == '"' || c == '\'');
            if target.starts_with("./") {
                continue; // an action of this repository, pinned by the checkout itself
            }
            let sha = target.rsplit_once('@').map(|(_, r)| r).unwrap_or("");
            let pinned = sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit());
            if !pinned {
                problems.push(format!(
                    "{}:{}: `uses: {target}` is not pinned to a 40-hex commit SHA",
                    wf.name,
                    n + 1
                ));
            } else if !comment.starts_with('v') {
                problems.push(format!(
                    "{}:{}: `uses: {target}` has no `# vX.Y.Z` comment naming its version",
                    wf.name,
                    n + 1
                ));
            }
        }
    }
    problems
}

/// Rule 2: no secret in a script's text, printed, or traced.
fn check_secrets(workflows: &[Workflow]) -> Vec<String> {
    let mut problems = Vec::new();
    for wf in workflows {
        for (job_name, job) in jobs(&wf.doc) {
            for (i, step) in steps(job).iter().enumerate() {
                let run = str_of(step.get("run"));
                if run.is_empty() {
                    continue;
                }
                let at = format!("{} job {job_name} step {}", wf.name, i + 1);
                if holds_secret(run) && run.contains("${{") {
                    problems.push(format!(
                        "{at}: a secret expression in `run:` (pass it through `env:`)"
                    ));
                }
                let env = secret_env(&[&wf.doc, job, step]);
                if env.is_empty() {
                    continue;
                }
                for line in run.lines() {
                    let l = line.trim();
                    let traces = l.starts_with("set -")
                        && l.split_whitespace()
                            .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('x'))
                        || l.contains("set -o xtrace")
                        || l.starts_with("bash -x")
                        || l.starts_with("sh -x");
                    if traces {
                        problems.push(format!(
                            "{at}: traces commands (`{l}`) while {} hold secrets",
                            env.join(", ")
                        ));
                    }
                    let prints = [
                        "echo",
                        "printf",
                        "cat",
                        "tee",
                        "env",
                        "printenv",
                        "export -p",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p) || l.contains(&format!("| {p}")));
                    if prints {
                        for name in &env {
                            if l.contains(&format!("${name}"))
                                || l.contains(&format!("${{{name}}}"))
                                || l == "env"
                                || l.starts_with("printenv")
                            {
                                problems.push(format!("{at}: prints the secret in {name}"));
                            }
                        }
                    }
                }
            }
        }
    }
    problems
}

/// True when an `env:` mapping takes a secret whose name says it may write (`…WRITE…`).
fn write_key(env: Option<&Yaml>) -> bool {
    env.and_then(Yaml::as_mapping).is_some_and(|m| {
        m.values().any(|v| {
            let v = str_of(Some(v));
            holds_secret(v) && v.contains("WRITE")
        })
    })
}

/// Rule 3: a pull request never reaches a write to the shared remote, nor its write key.
fn check_pull_requests_read_only(workflows: &[Workflow]) -> Vec<String> {
    let mut problems = Vec::new();
    for wf in workflows {
        let on = triggers(&wf.doc);
        if !on
            .iter()
            .any(|t| t == "pull_request" || t == "pull_request_target")
        {
            continue;
        }
        if write_key(wf.doc.get("env")) {
            problems.push(format!(
                "{}: a write key in the workflow-level env reaches pull requests",
                wf.name
            ));
        }
        for (job_name, job) in jobs(&wf.doc) {
            let job_if = str_of(job.get("if"));
            let job_trusted = push_to_main_only(job_if);
            if !job_trusted && write_key(job.get("env")) {
                problems.push(format!(
                    "{} job {job_name}: holds a write key but runs on pull requests too (guard it with `if: github.event_name == 'push' && github.ref == 'refs/heads/main'`)",
                    wf.name
                ));
            }
            for (i, step) in steps(job).iter().enumerate() {
                let run = str_of(step.get("run"));
                let step_trusted = job_trusted || push_to_main_only(str_of(step.get("if")));
                if writes_remote(run) && !step_trusted {
                    problems.push(format!(
                        "{} job {job_name} step {}: writes to the shared remote (`{}`) and a pull request can reach it (guard with `github.event_name == 'push' && github.ref == 'refs/heads/main'`)",
                        wf.name,
                        i + 1,
                        run.trim()
                    ));
                }
            }
        }
    }
    problems
}

/// Rule 4: `pull_request_target` runs with the base repository's secrets, so it must never
/// check out (and so run) the pull request's code.
fn check_pull_request_target(workflows: &[Workflow]) -> Vec<String> {
    let mut problems = Vec::new();
    for wf in workflows {
        if !triggers(&wf.doc).iter().any(|t| t == "pull_request_target") {
            continue;
        }
        for (job_name, job) in jobs(&wf.doc) {
            for step in steps(job) {
                if !str_of(step.get("uses")).starts_with("actions/checkout@") {
                    continue;
                }
                let with = step.get("with");
                let r#ref = str_of(with.and_then(|w| w.get("ref")));
                let repo = str_of(with.and_then(|w| w.get("repository")));
                if r#ref.contains("pull_request.head")
                    || r#ref.contains("refs/pull/")
                    || r#ref.contains("github.head_ref")
                    || repo.contains("pull_request.head")
                {
                    problems.push(format!(
                        "{} job {job_name}: pull_request_target checks out the pull request's head ({})",
                        wf.name,
                        if r#ref.is_empty() { repo } else { r#ref }
                    ));
                }
            }
        }
    }
    problems
}

/// The `STEPS=(…)` line of scripts/pipeline-loop.sh.
fn script_steps(script: &str) -> Vec<String> {
    let line = script
        .lines()
        .find(|l| l.starts_with("STEPS=("))
        .expect("scripts/pipeline-loop.sh has a STEPS=(…) line");
    line.trim_start_matches("STEPS=(")
        .trim_end_matches(')')
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Rule 5: each job of pipeline.yml calls the script's steps in the script's order, and every
/// step is called by some job.
fn check_step_order(pipeline: &Workflow, order: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut called = Vec::new();
    for (job_name, job) in jobs(&pipeline.doc) {
        let mut last: Option<usize> = None;
        for step in steps(job) {
            let run = str_of(step.get("run"));
            let words: Vec<&str> = run.split_whitespace().collect();
            for w in words.windows(2) {
                if !w[0].ends_with("scripts/pipeline-loop.sh") {
                    continue;
                }
                let Some(at) = order.iter().position(|s| s == w[1]) else {
                    problems.push(format!(
                        "{} job {job_name}: `pipeline-loop.sh {}` is not a step of the script ({})",
                        pipeline.name,
                        w[1],
                        order.join(" ")
                    ));
                    continue;
                };
                if last.is_some_and(|l| at <= l) {
                    problems.push(format!(
                        "{} job {job_name}: `{}` comes after `{}`, against the script's order ({})",
                        pipeline.name,
                        w[1],
                        order[last.unwrap()],
                        order.join(" ")
                    ));
                }
                last = Some(at);
                called.push(w[1].to_string());
            }
        }
    }
    for s in order {
        if !called.contains(s) {
            problems.push(format!(
                "{}: no step calls `scripts/pipeline-loop.sh {s}`",
                pipeline.name
            ));
        }
    }
    problems
}

fn all_rules(dir: &Path) -> Vec<String> {
    let workflows = load(dir);
    let mut problems = check_pinned(&workflows);
    problems.extend(check_secrets(&workflows));
    problems.extend(check_pull_requests_read_only(&workflows));
    problems.extend(check_pull_request_target(&workflows));
    problems
}

fn pipeline_order_problems(dir: &Path, script: &str) -> Vec<String> {
    let workflows = load(dir);
    let pipeline = workflows
        .iter()
        .find(|w| w.name == "pipeline.yml")
        .expect("pipeline.yml");
    check_step_order(pipeline, &script_steps(script))
}

fn script() -> String {
    std::fs::read_to_string(root().join("scripts/pipeline-loop.sh")).expect("pipeline-loop.sh")
}

#[test]
fn the_workflows_keep_the_review_rules() {
    let problems = all_rules(&workflows_dir());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn pipeline_yml_runs_the_loop_steps_in_the_scripts_order() {
    let problems = pipeline_order_problems(&workflows_dir(), &script());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------- broken copies must be refused

/// The workflows copied into a temporary folder, `edit` applied to `file`'s text.
fn broken(file: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(workflows_dir()).expect("workflows") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("read");
        let text = if name == file {
            let edited = edit(&text);
            assert_ne!(edited, text, "the edit of {file} changed nothing");
            edited
        } else {
            text
        };
        std::fs::write(dir.path().join(&name), text).expect("write");
    }
    dir
}

#[track_caller]
fn refused(dir: &tempfile::TempDir, expect: &str) {
    let problems = all_rules(dir.path());
    assert!(
        problems.iter().any(|p| p.contains(expect)),
        "expected a problem containing {expect:?}, got {problems:#?}"
    );
}

#[test]
fn an_action_pinned_to_a_tag_is_refused() {
    let dir = broken("ci.yml", |t| {
        t.replacen(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
            "actions/checkout@v7",
            1,
        )
    });
    refused(&dir, "`uses: actions/checkout@v7` is not pinned");
    let dir = broken("ci.yml", |t| {
        t.replacen(
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
            1,
        )
    });
    refused(&dir, "has no `# vX.Y.Z` comment");
}

#[test]
fn a_secret_in_a_script_printed_or_traced_is_refused() {
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "run: scripts/pipeline-loop.sh pull",
            "run: echo \"${{ secrets.CAIRN_S3_READ_SECRET_ACCESS_KEY }}\"",
            1,
        )
    });
    refused(&dir, "a secret expression in `run:`");
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "run: scripts/pipeline-loop.sh pull",
            "run: |\n          set -x\n          scripts/pipeline-loop.sh pull",
            1,
        )
    });
    refused(&dir, "traces commands (`set -x`) while");
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "run: scripts/pipeline-loop.sh pull",
            "run: |\n          set -eux\n          scripts/pipeline-loop.sh pull",
            1,
        )
    });
    refused(&dir, "traces commands (`set -eux`)");
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "run: scripts/pipeline-loop.sh pull",
            "run: echo \"key=$AWS_SECRET_ACCESS_KEY\"",
            1,
        )
    });
    refused(&dir, "prints the secret in AWS_SECRET_ACCESS_KEY");
}

#[test]
fn publishing_from_a_pull_request_is_refused() {
    // The publish job without its guard: a pull request would run it.
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "    if: github.event_name == 'push' && github.ref == 'refs/heads/main' && vars.CAIRN_REMOTE_URL != ''\n",
            "",
            1,
        )
    });
    refused(
        &dir,
        "writes to the shared remote (`scripts/pipeline-loop.sh publish`)",
    );
    refused(&dir, "holds a write key but runs on pull requests too");
    // A guard that lets pull requests in again.
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "    if: github.event_name == 'push' && github.ref == 'refs/heads/main' && vars.CAIRN_REMOTE_URL != ''\n",
            "    if: github.event_name == 'push' && github.ref == 'refs/heads/main' || github.event_name == 'pull_request'\n",
            1,
        )
    });
    refused(&dir, "writes to the shared remote");
    // A `cairn push` slipped into the read-only job.
    let dir = broken("pipeline.yml", |t| {
        t.replacen(
            "run: scripts/pipeline-loop.sh check",
            "run: scripts/pipeline-loop.sh check && cairn push --run-cache",
            1,
        )
    });
    refused(
        &dir,
        "writes to the shared remote (`scripts/pipeline-loop.sh check && cairn push",
    );
}

#[test]
fn pull_request_target_checking_out_the_head_is_refused() {
    let dir = broken("pipeline.yml", |t| {
        t.replacen("  pull_request:\n", "  pull_request_target:\n", 1)
            .replacen(
                "          fetch-depth: 0 # the base revision the report diffs against\n",
                "          fetch-depth: 0\n          ref: ${{ github.event.pull_request.head.sha }}\n",
                1,
            )
    });
    refused(
        &dir,
        "pull_request_target checks out the pull request's head",
    );
}

#[test]
fn a_pipeline_step_out_of_the_scripts_order_is_refused() {
    let dir = broken("pipeline.yml", |t| {
        // Swap repro and check in the first job.
        t.replacen("pipeline-loop.sh repro", "pipeline-loop.sh @@", 1)
            .replacen("pipeline-loop.sh check", "pipeline-loop.sh repro", 1)
            .replacen("pipeline-loop.sh @@", "pipeline-loop.sh check", 1)
    });
    let problems = pipeline_order_problems(dir.path(), &script());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`repro` comes after `check`")),
        "{problems:#?}"
    );
    // A step the script does not have, and a step of the script no job runs.
    let script = script().replacen(
        "STEPS=(pull repro check report publish)",
        "STEPS=(pull repro check report publish notify)",
        1,
    );
    let problems = pipeline_order_problems(&workflows_dir(), &script);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no step calls `scripts/pipeline-loop.sh notify`")),
        "{problems:#?}"
    );
    let script = self::script().replacen(
        "STEPS=(pull repro check report publish)",
        "STEPS=(pull repro report publish)",
        1,
    );
    let problems = pipeline_order_problems(&workflows_dir(), &script);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`pipeline-loop.sh check` is not a step of the script")),
        "{problems:#?}"
    );
}
