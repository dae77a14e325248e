//! `cairn exp` and `cairn report`: overrides in a copy (the workspace untouched), the queue run
//! two at a time, failures, kill -9, apply/branch/remove, push/pull, diffs by name, and the
//! report opened in headless Chromium.

use serde_json::Value;

use crate::support::{Output, Project, chromium, git};

const PIPELINE: &str = r#"stages:
  make:
    cmd: sh make.sh ${a} ${b} ${pause}
    deps: [make.sh]
    params: [a, b, pause]
    metrics:
      - metrics.json:
          cache: false
"#;

/// Writes the metrics; fails for a = 13.
const SCRIPT: &str = r#"sleep "$3"
printf '{"score": %s, "loss": %s}\n' "$1" "$2" > metrics.json
test "$1" != 13
"#;

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn project() -> Project {
    let p = Project::new();
    p.write("pipeline.yaml", PIPELINE)
        .write("params.yaml", "a: 1\nb: 2\npause: 0\n");
    p.write("make.sh", SCRIPT)
        .write(".gitignore", "metrics.json\n");
    p.cairn(&["repro"]).ok();
    git(&p, &["init", "-q"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-qm", "base"]);
    p
}

fn experiments(p: &Project) -> Vec<Value> {
    json(&p.cairn(&["exp", "show", "--json"]).ok())["experiments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn metric(e: &Value, key: &str) -> f64 {
    e["metrics"][format!("metrics.json:{key}")]
        .as_f64()
        .unwrap_or(f64::NAN)
}

#[test]
fn an_experiment_runs_with_its_overrides_and_leaves_the_workspace_alone() {
    let p = project();
    let before = (
        p.read("params.yaml"),
        p.read("pipeline.lock"),
        p.read("metrics.json"),
    );
    p.cairn(&["exp", "run", "-S", "a=5", "-S", "b=0.25", "-n", "five"])
        .ok()
        .stdout_has(&["five: done"]);
    assert_eq!(
        before,
        (
            p.read("params.yaml"),
            p.read("pipeline.lock"),
            p.read("metrics.json")
        )
    );
    assert_eq!(git(&p, &["status", "--porcelain"]), "");
    let e = &experiments(&p)[0];
    assert_eq!(
        (e["name"].as_str(), e["status"].as_str()),
        (Some("five"), Some("succeeded"))
    );
    assert_eq!((metric(e, "score"), metric(e, "loss")), (5.0, 0.25));
    assert_eq!(e["params"]["a"], 5);
    assert_eq!(e["overrides"][0]["key"], "a");
    // A key that does not exist: exit 2, the nearest named, nothing recorded.
    p.cairn(&["exp", "run", "-S", "bb=1"])
        .code(2)
        .stderr_has(&["no key 'bb'", "'b'"]);
    assert_eq!(experiments(&p).len(), 1);
    // The diffs read experiments by name.
    let diff = json(&p.cairn(&["metrics", "diff", "five", "--json"]).ok());
    assert!(diff.to_string().contains("score"), "{diff}");
    p.cairn(&["params", "diff", "five"])
        .ok()
        .stdout_has(&["a", "5"]);
    // Tables: aligned, CSV, Markdown; sorted best first.
    p.cairn(&["exp", "run", "-S", "a=9", "-n", "nine"]).ok();
    let csv = p
        .cairn(&["exp", "show", "--csv", "--sort-by", "score"])
        .ok()
        .stdout;
    let order: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    // The workspace is the baseline row, first whatever the sort.
    assert_eq!(order, ["workspace", "nine", "five"]);
    let shown = json(&p.cairn(&["exp", "show", "--json"]).ok());
    let baseline = &shown["workspace"];
    assert_eq!(
        (baseline["params"]["a"].as_i64(), metric(baseline, "score")),
        (Some(1), 1.0),
        "{shown}"
    );
    assert_eq!(
        baseline["commit"].as_str().map(str::len),
        Some(40),
        "{shown}"
    );
    let loss_sorted = p
        .cairn(&["exp", "show", "--csv", "--sort-by", "loss"])
        .ok()
        .stdout;
    assert!(
        loss_sorted
            .lines()
            .nth(2)
            .is_some_and(|l| l.starts_with("five")),
        "lower loss first: {loss_sorted}"
    );
    // Only what differs from the workspace: a changed, pause never.
    let md = p
        .cairn(&["exp", "show", "--md", "--only-changed"])
        .ok()
        .stdout_has(&["| Experiment |", "| --- |", "| a |"])
        .stdout;
    assert!(!md.contains("pause"), "{md}");
}

#[test]
fn queued_experiments_run_two_at_a_time_as_they_would_one_by_one_and_failures_are_recorded() {
    let p = project();
    for a in [2, 3, 4, 13, 6, 7, 8, 9] {
        p.cairn(&[
            "exp",
            "run",
            "--queue",
            "-S",
            &format!("a={a}"),
            "-n",
            &format!("q{a}"),
        ])
        .ok();
    }
    // The one with a = 13 fails (its stage exits 1); the others go on.
    let out = p.cairn(&["exp", "run", "--run-all", "--jobs", "2"]).code(1);
    assert!(
        out.stdout.contains("q13: failed at stage 'make' (exit 1)"),
        "{}",
        out.stdout
    );
    let all = experiments(&p);
    assert_eq!(all.len(), 8);
    for e in &all {
        let name = e["name"].as_str().unwrap_or("");
        let a: f64 = name[1..].parse().unwrap_or(f64::NAN);
        if name == "q13" {
            assert_eq!(
                (
                    e["status"].as_str(),
                    e["failed_stage"].as_str(),
                    e["exit_code"].as_i64()
                ),
                (Some("failed"), Some("make"), Some(1))
            );
        } else {
            assert_eq!(e["status"], "succeeded", "{e}");
            assert_eq!(metric(e, "score"), a, "{e}");
        }
    }
    // One by one gives the same, and what was computed is restored from the shared run-cache.
    p.cairn(&["exp", "run", "-S", "a=6", "-n", "again"]).ok();
    let again = experiments(&p)
        .into_iter()
        .find(|e| e["name"] == "again")
        .expect("again");
    assert_eq!(metric(&again, "score"), 6.0);
    // Nothing left behind in the workspace.
    assert_eq!(git(&p, &["status", "--porcelain"]), "");
    p.cairn(&["exp", "run", "--run-all"])
        .ok()
        .stdout_has(&["no queued experiments"]);
}

#[test]
fn kill_9_during_run_all_keeps_what_finished_and_the_next_run_all_does_the_rest() {
    let p = project();
    for a in 2..=5 {
        p.cairn(&[
            "exp",
            "run",
            "--queue",
            "-S",
            &format!("a={a}"),
            "-S",
            "pause=0.4",
            "-n",
            &format!("k{a}"),
        ])
        .ok();
    }
    let mut child = p
        .command(&["exp", "run", "--run-all"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    crate::serve::wait_until("one experiment to finish", || {
        experiments(&p).iter().any(|e| e["status"] == "succeeded")
    });
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let done: Vec<String> = experiments(&p)
        .iter()
        .filter(|e| e["status"] == "succeeded")
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    assert!(!done.is_empty() && done.len() < 4, "{done:?}");
    assert_eq!(
        git(&p, &["status", "--porcelain"]),
        "",
        "the workspace is untouched"
    );
    p.cairn(&["exp", "run", "--run-all"]).ok();
    assert!(experiments(&p).iter().all(|e| e["status"] == "succeeded"));
}

#[test]
fn apply_branch_remove_and_share_through_a_remote() {
    let p = project();
    p.cairn(&["exp", "run", "-S", "a=7", "-n", "seven"]).ok();
    p.cairn(&["exp", "branch", "seven", "try-seven"]).ok();
    assert!(git(&p, &["show", "try-seven:params.yaml"]).contains("a: 7"));
    assert_eq!(
        git(&p, &["status", "--porcelain"]),
        "",
        "branch leaves the workspace alone"
    );
    // Push to a folder remote; a fresh clone pulls and applies it.
    let store = tempfile::tempdir().expect("store");
    p.cairn(&[
        "remote",
        "add",
        "store",
        store.path().to_str().expect("utf-8"),
        "--default",
    ])
    .ok();
    p.cairn(&["exp", "push"])
        .ok()
        .stdout_has(&["pushed 1 experiments"]);
    let clone = Project::new();
    for f in [
        "pipeline.yaml",
        "params.yaml",
        "make.sh",
        "pipeline.lock",
        ".cairn/config.yaml",
    ] {
        clone.write(f, p.read(f));
    }
    clone
        .cairn(&["exp", "pull"])
        .ok()
        .stdout_has(&["pulled 1 experiments"]);
    clone.cairn(&["exp", "apply", "seven"]).ok();
    assert!(clone.read("params.yaml").contains("a: 7"));
    assert!(
        clone.read("metrics.json").contains("\"score\": 7"),
        "{}",
        clone.read("metrics.json")
    );
    clone.cairn(&["status", "--check"]).ok();
    // Remove, and the bad days of names.
    p.cairn(&["exp", "remove", "seven"]).ok();
    p.cairn(&["exp", "apply", "seven"])
        .code(2)
        .stderr_has(&["no experiment 'seven'"]);
    p.cairn(&["exp", "run", "-n", "../up"])
        .code(2)
        .stderr_has(&["not an experiment name"]);
}

#[test]
fn the_report_opens_in_chromium_with_no_errors_no_requests_and_the_right_numbers() {
    // No metrics yet: a report that says so.
    let empty = Project::new();
    empty
        .write("pipeline.yaml", PIPELINE)
        .write("params.yaml", "a: 1\nb: 2\npause: 0\n");
    empty.write("make.sh", SCRIPT);
    empty.cairn(&["report", "-o", "r.html"]).ok();
    assert!(empty.read("r.html").contains("No metrics yet"));

    let p = project();
    p.cairn(&["exp", "run", "-S", "a=4", "-n", "four"]).ok();
    p.cairn(&["report", "-o", "report.html"])
        .ok()
        .stdout_has(&["report.html"]);
    let html = p.read("report.html");
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    let profile = tempfile::tempdir().expect("profile");
    let Some(mut cmd) = chromium(profile.path()) else {
        return;
    };
    let netlog = profile.path().join("net.json");
    let out = cmd
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", p.join("report.html").display()))
        .output()
        .expect("chromium");
    assert!(out.status.success());
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    // Chromium itself asks Google's hosts for updates and accounts whatever the page; any other
    // host in the net log would be the page's.
    let net = std::fs::read_to_string(&netlog).unwrap_or_default();
    let own = ["google.com", "googleapis.com", "gstatic.com"];
    for url in net
        .split('"')
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
    {
        let host = url
            .split('/')
            .nth(2)
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("");
        assert!(
            own.iter()
                .any(|h| host == *h || host.ends_with(&format!(".{h}"))),
            "the page requested {url}"
        );
    }
    // The workspace's score is 1, the experiment's 4: both there, the best marked.
    assert!(
        dom.contains(r#"class="best" data-row="exp four" data-metric="score" data-value="4""#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"data-row="metrics.json" data-metric="score" data-value="1""#),
        "{dom}"
    );
    assert!(
        dom.contains("<svg") && dom.contains(">make<"),
        "the DAG is drawn"
    );
}
