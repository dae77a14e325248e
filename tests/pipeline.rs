//! pipeline.yaml → status → repro → pipeline.lock, and every way it can go wrong.

use crate::support::Project;

/// A two-stage pipeline: `prep` doubles numbers, `count` counts the lines of prep's out.
fn two_stages() -> Project {
    let p = Project::new();
    p.write("data/in.txt", "1\n2\n3\n");
    p.write(
        "params.yaml",
        "prep:\n  factor: 2\n  scale: 1.0\n  unused: x\ncount:\n  label: n\n",
    );
    p.write(
        "pipeline.yaml",
        r#"stages:
  prep:
    cmd: awk '{print $1*${prep.factor}}' data/in.txt > out/prep.txt
    deps: [data/in.txt]
    params: [prep.factor, prep.scale]
    outs: [out/prep.txt]
  count:
    cmd: echo "${count.label} $(wc -l < out/prep.txt)" > out/count.txt
    deps: [out/prep.txt]
    params: [count]
    outs:
      - out/count.txt
"#,
    );
    p
}

#[test]
fn repro_runs_stages_in_order_and_writes_the_lock() {
    let p = two_stages();
    let out = p.cairn(&["repro"]).ok();
    let prep_at = out.stdout.find("Running stage 'prep'").expect("prep ran");
    let count_at = out.stdout.find("Running stage 'count'").expect("count ran");
    assert!(prep_at < count_at, "{}", out.stdout);
    assert_eq!(p.read("out/prep.txt"), "2\n4\n6\n");
    assert_eq!(p.read("out/count.txt"), "n 3\n");
    let lock = p.read("pipeline.lock");
    assert!(lock.starts_with("schema: cairn-lock/1\n"), "{lock}");
    assert!(
        lock.contains("prep.factor: 2") && lock.contains("path: out/count.txt"),
        "{lock}"
    );
    assert!(
        !lock.contains("unused"),
        "untracked params stay out of the lock: {lock}"
    );
    // Cached outs are git-ignored beside themselves.
    assert!(p.read("out/.gitignore").contains("/prep.txt"));
    p.cairn(&["status", "--check"])
        .ok()
        .stdout_has(&["up to date"]);
}

#[test]
fn a_no_op_repro_leaves_the_lock_byte_identical() {
    let p = two_stages();
    p.cairn(&["repro"]).ok();
    let before = std::fs::read(p.join("pipeline.lock")).unwrap();
    let mtime = std::fs::metadata(p.join("pipeline.lock"))
        .unwrap()
        .modified()
        .unwrap();
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["Nothing to reproduce"]);
    assert_eq!(std::fs::read(p.join("pipeline.lock")).unwrap(), before);
    assert_eq!(
        std::fs::metadata(p.join("pipeline.lock"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
}

#[test]
fn params_compare_by_value_not_by_text() {
    let p = two_stages();
    p.cairn(&["repro"]).ok();
    // Reformatted, reordered, an untracked value changed, 1.0 written as 1: nothing is stale.
    p.write(
        "params.yaml",
        "count: {label: n}\nprep: {unused: y, scale: 1, factor: 2}\n",
    );
    p.cairn(&["status", "--check"]).ok();
    p.write(
        "params.yaml",
        "count: {label: lines}\nprep: {unused: y, scale: 1, factor: 3}\n",
    );
    let out = p.cairn(&["status", "--check"]).code(1);
    assert!(
        out.stdout.contains("param prep.factor 2 → 3"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("param count.label n → lines"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("upstream prep stale"), "{}", out.stdout);
}

#[test]
fn status_names_every_reason_and_json_lists_them() {
    let p = two_stages();
    let out = p.cairn(&["status", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["up_to_date"], false);
    assert_eq!(doc["stages"][0]["name"], "prep");
    assert_eq!(doc["stages"][0]["reasons"][0]["reason"], "never_run");
    p.cairn(&["repro"]).ok();

    p.write("data/in.txt", "1\n2\n3\n4\n");
    p.write("out/count.txt", "tampered\n");
    p.write(
        "pipeline.yaml",
        p.read("pipeline.yaml")
            .replace("> out/count.txt", "| tee out/count.txt"),
    );
    let out = p.cairn(&["status"]).ok();
    for reason in [
        "dep data/in.txt changed",
        "out out/count.txt modified",
        "cmd changed",
        "upstream prep stale",
    ] {
        assert!(
            out.stdout.contains(reason),
            "missing {reason:?} in\n{}",
            out.stdout
        );
    }
    std::fs::remove_file(p.join("out/prep.txt")).unwrap();
    p.cairn(&["status"])
        .ok()
        .stdout_has(&["out out/prep.txt missing"]);
}

#[test]
fn a_stage_whose_upstream_made_identical_outs_does_not_rerun() {
    let p = two_stages();
    p.cairn(&["repro"]).ok();
    // A trailing newline more changes prep's dep but not what prep writes.
    p.write("data/in.txt", "1\n2\n3\n\n");
    p.write(
        "pipeline.yaml",
        p.read("pipeline.yaml")
            .replace("awk '{print", "awk 'NF {print"),
    );
    let out = p.cairn(&["repro"]).ok();
    assert!(
        out.stdout.contains("Running stage 'prep'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Stage 'count' didn't change"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_failing_stage_exits_1_and_keeps_the_lock_of_stages_that_succeeded() {
    let p = two_stages();
    p.write(
        "pipeline.yaml",
        p.read("pipeline.yaml")
            .replace("echo \"${count.label}", "exit 3; echo \"${count.label}"),
    );
    p.cairn(&["repro"])
        .code(1)
        .stderr_has(&["stage 'count'", "exited with status 3"]);
    let lock = p.read("pipeline.lock");
    assert!(lock.contains("prep:") && !lock.contains("count:"), "{lock}");
    // The failed stage is still stale; prep is not.
    let out = p.cairn(&["status"]).ok();
    assert!(
        out.stdout.contains("count:") && !out.stdout.contains("prep:"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_command_list_stops_at_the_first_failure() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd:\n      - echo one > one.txt\n      - 'false'\n      - echo three > three.txt\n    outs: [one.txt]\n",
    );
    p.cairn(&["repro"])
        .code(1)
        .stderr_has(&["stage 's'", "`false`"]);
    assert!(p.exists("one.txt") && !p.exists("three.txt"));
}

#[test]
fn keep_going_runs_independent_stages_after_a_failure() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  bad:\n    cmd: 'false'\n    outs: [bad.txt]\n  after_bad:\n    cmd: cp bad.txt after.txt\n    deps: [bad.txt]\n    outs: [after.txt]\n  good:\n    cmd: echo ok > good.txt\n    outs: [good.txt]\n",
    );
    p.cairn(&["repro"]).code(1);
    assert!(
        !p.exists("good.txt"),
        "without --keep-going nothing starts after a failure"
    );
    let out = p.cairn(&["repro", "--keep-going"]).code(1);
    assert!(p.exists("good.txt"));
    assert!(
        out.stderr.contains("skipped stage 'after_bad'"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_declared_out_the_command_did_not_produce_fails_the_stage() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo hi\n    outs: [missing.txt]\n",
    );
    p.cairn(&["repro"])
        .code(1)
        .stderr_has(&["stage 's'", "did not produce 'missing.txt'"]);
    assert!(!p.exists("pipeline.lock") || !p.read("pipeline.lock").contains("s:"));
}

#[test]
fn a_dep_edited_while_the_stage_runs_is_not_recorded() {
    let p = Project::new();
    p.write("in.txt", "a\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cp in.txt out.txt && echo b >> in.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    p.cairn(&["repro"])
        .code(1)
        .stderr_has(&["dep 'in.txt' changed while the stage ran"]);
    assert!(!p.exists("pipeline.lock") || !p.read("pipeline.lock").contains("s:"));
}

#[test]
fn outs_are_removed_before_a_run_unless_persist() {
    let p = Project::new();
    p.write("log.txt", "old\n").write("fresh.txt", "old\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo new >> log.txt && echo new >> fresh.txt\n    outs:\n      - log.txt: {persist: true}\n      - fresh.txt\n",
    );
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("log.txt"), "old\nnew\n");
    assert_eq!(p.read("fresh.txt"), "new\n");
}

#[test]
fn the_run_cache_restores_a_run_seen_before() {
    let p = two_stages();
    p.cairn(&["repro"]).ok();
    p.write(
        "params.yaml",
        "prep:\n  factor: 5\n  scale: 1\ncount:\n  label: n\n",
    );
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("out/prep.txt"), "5\n10\n15\n");
    p.write(
        "params.yaml",
        "prep:\n  factor: 2\n  scale: 1\ncount:\n  label: n\n",
    );
    let out = p.cairn(&["repro"]).ok();
    assert!(
        out.stdout.contains("Stage 'prep' restored from run-cache"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Running stage"), "{}", out.stdout);
    assert_eq!(p.read("out/prep.txt"), "2\n4\n6\n");
    p.cairn(&["status", "--check"]).ok();
    // --no-run-cache runs the command instead.
    p.write(
        "params.yaml",
        "prep:\n  factor: 5\n  scale: 1\ncount:\n  label: n\n",
    );
    p.cairn(&["repro", "--no-run-cache"])
        .ok()
        .stdout_has(&["Running stage 'prep'"]);
}

#[test]
fn deleted_outs_come_back_from_the_cache_without_running() {
    let p = two_stages();
    p.cairn(&["repro"]).ok();
    std::fs::remove_file(p.join("out/count.txt")).unwrap();
    let out = p.cairn(&["repro"]).ok();
    assert!(
        out.stdout.contains("Stage 'count' restored"),
        "{}",
        out.stdout
    );
    assert_eq!(p.read("out/count.txt"), "n 3\n");
}

#[test]
fn force_dry_single_item_and_downstream() {
    let p = two_stages();
    let dry = p.cairn(&["repro", "--dry"]).ok();
    assert!(
        dry.stdout.contains("would run stage 'prep'")
            && dry.stdout.contains("would run stage 'count'")
    );
    assert!(
        !p.exists("out/prep.txt") && !p.exists("pipeline.lock"),
        "--dry runs and writes nothing"
    );

    p.cairn(&["repro", "prep"]).ok();
    assert!(
        p.exists("out/prep.txt") && !p.exists("out/count.txt"),
        "a target runs with its upstream only"
    );
    let out = p
        .cairn(&["repro", "count", "--single-item", "--force"])
        .ok();
    assert!(!out.stdout.contains("stage 'prep'"), "{}", out.stdout);
    let out = p.cairn(&["repro", "prep", "--downstream", "--force"]).ok();
    assert!(
        out.stdout.contains("Running stage 'prep'") && out.stdout.contains("stage 'count'"),
        "{}",
        out.stdout
    );
    p.cairn(&["repro", "nope"])
        .code(2)
        .stderr_has(&["no stage 'nope'", "prep, count"]);
}

#[test]
fn foreach_matrix_vars_and_wdir() {
    let p = Project::new();
    p.write(
        "params.yaml",
        "models: {small: {depth: 2}, big: {depth: 8}}\n",
    );
    p.write("sub/seed.txt", "7\n");
    p.write(
        "pipeline.yaml",
        r#"vars:
  - greeting: hello
stages:
  train:
    foreach: ${models}
    do:
      cmd: echo "${greeting} ${key} ${item.depth}" > model-${key}.txt
      params:
        - models.${key}.depth
      outs:
        - model-${key}.txt
  grid:
    matrix:
      lr: [0.1, 1]
      opt: [sgd]
    cmd: echo ${item.lr} ${item.opt} > grid-${item.lr}-${item.opt}.txt
    outs:
      - grid-${item.lr}-${item.opt}.txt
  sub:
    wdir: sub
    cmd: cp seed.txt copy.txt
    deps: [seed.txt]
    outs: [copy.txt]
"#,
    );
    let out = p.cairn(&["repro"]).ok();
    for name in [
        "train@small",
        "train@big",
        "grid@0.1-sgd",
        "grid@1-sgd",
        "sub",
    ] {
        assert!(
            out.stdout.contains(&format!("Running stage '{name}'")),
            "{name}: {}",
            out.stdout
        );
    }
    assert_eq!(p.read("model-big.txt"), "hello big 8\n");
    assert_eq!(p.read("grid-1-sgd.txt"), "1 sgd\n");
    assert_eq!(p.read("sub/copy.txt"), "7\n");
    assert!(p.read("pipeline.lock").contains("path: sub/copy.txt"));
    // A foreach group's name selects all its items.
    let out = p.cairn(&["repro", "train", "--force"]).ok();
    assert!(
        out.stdout.contains("train@small") && !out.stdout.contains("grid@"),
        "{}",
        out.stdout
    );
}

#[test]
fn frozen_and_always_changed() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  frozen:\n    cmd: echo f > f.txt\n    outs: [f.txt]\n    frozen: true\n  always:\n    cmd: date +%N > a.txt\n    outs: [a.txt]\n    always_changed: true\n",
    );
    // A frozen stage's out is taken as it is (here written by hand); the stage never runs.
    p.write("f.txt", "given\n");
    let out = p.cairn(&["repro"]).ok();
    assert_eq!(p.read("f.txt"), "given\n", "a frozen stage does not run");
    assert!(out.stdout.contains("Running stage 'always'"));
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["Running stage 'always'"]);
    p.cairn(&["status"]).ok().stdout_has(&["always changed"]);
}

#[test]
fn stages_call_the_same_cairn_binary() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  v:\n    cmd: cairn --version > v.txt\n    outs: [v.txt]\n",
    );
    let mut cmd = p.command(&["repro"]);
    cmd.env("PATH", "/usr/bin:/bin");
    crate::support::run(cmd).ok();
    assert!(p.read("v.txt").starts_with("cairn "));
}

#[test]
fn jobs_run_independent_stages_at_the_same_time_with_prefixed_output() {
    // Each stage waits (up to ~10 s) for the other to have started: only possible side by side.
    let wait = |me: &str, other: &str| {
        format!(
            "touch {me}.started; for i in $(seq 100); do [ -f {other}.started ] && break; sleep 0.1; done; test -f {other}.started && echo {me} saw {other} && echo done > {me}.txt"
        )
    };
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        format!(
            "stages:\n  a:\n    cmd: {}\n    outs: [a.txt]\n  b:\n    cmd: {}\n    outs: [b.txt]\n",
            serde_json::to_string(&wait("a", "b")).unwrap(),
            serde_json::to_string(&wait("b", "a")).unwrap()
        ),
    );
    let out = p.cairn(&["repro", "--jobs", "2"]).ok();
    assert!(
        out.stdout.contains("[a] a saw b") && out.stdout.contains("[b] b saw a"),
        "{}",
        out.stdout
    );
}

#[test]
fn dag_prints_text_dot_and_mermaid() {
    let p = two_stages();
    p.cairn(&["dag"])
        .ok()
        .stdout_has(&["prep\n", "count  <- prep"]);
    p.cairn(&["dag", "--format", "dot"])
        .ok()
        .stdout_has(&["\"prep\" -> \"count\";"]);
    p.cairn(&["dag", "--format", "mermaid"])
        .ok()
        .stdout_has(&["flowchart TD", "s0 --> s1"]);
    let out = p.cairn(&["dag", "--format", "json"]).ok();
    let dag: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        dag,
        serde_json::json!({
            "stages": [
                {
                    "name": "prep",
                    "cmd": ["awk '{print $1*2}' data/in.txt > out/prep.txt"],
                    "wdir": "",
                    "deps": ["data/in.txt"],
                    "params": [
                        {"file": "params.yaml", "key": "prep.factor"},
                        {"file": "params.yaml", "key": "prep.scale"}
                    ],
                    "outs": [{"path": "out/prep.txt", "kind": "out", "cache": true, "persist": false}],
                    "frozen": false,
                    "always_changed": false
                },
                {
                    "name": "count",
                    "cmd": ["echo \"n $(wc -l < out/prep.txt)\" > out/count.txt"],
                    "wdir": "",
                    "deps": ["out/prep.txt"],
                    "params": [{"file": "params.yaml", "key": "count"}],
                    "outs": [{"path": "out/count.txt", "kind": "out", "cache": true, "persist": false}],
                    "frozen": false,
                    "always_changed": false
                }
            ],
            "edges": [["prep", "count"]]
        })
    );
}

#[test]
fn dag_json_fails_like_every_command_on_an_invalid_pipeline() {
    let p = Project::new();
    p.write("pipeline.yaml", "stages:\n  a:\n    cmd: echo ${missing}\n");
    p.cairn(&["dag", "--format", "json"])
        .code(2)
        .stderr_has(&["missing"]);
}

#[test]
fn commands_work_from_a_subdirectory() {
    let p = two_stages();
    std::fs::create_dir_all(p.join("deep/er")).unwrap();
    let mut cmd = p.command(&["repro"]);
    cmd.current_dir(p.join("deep/er"));
    crate::support::run(cmd).ok();
    assert!(p.exists("out/count.txt"));
}

#[test]
fn params_and_vars_in_json_toml_and_python_files_as_dvc_reads_them() {
    let p = Project::new();
    p.write(
        "config.py",
        "import os\nSEED = 42\nHOME = os.getenv('HOME')\n\nclass Train:\n    lr = 0.1\n    \
         def __init__(self):\n        self.epochs = 3\n",
    );
    p.write("params.json", r#"{"prep": {"factor": 2, "unused": true}}"#);
    p.write("model.toml", "[model]\nname = \"tree\"\ndepth = 4\n");
    p.write(
        "pipeline.yaml",
        r#"vars: [model.toml, config.py]
stages:
  fit:
    cmd: echo ${model.name} ${Train.epochs} ${prep.factor} > out.txt
    params:
      - config.py: [SEED, Train]
      - params.json: [prep.factor]
      - model.toml: [model.depth]
    outs: [out.txt]
"#,
    );
    // prep.factor comes from params.json only as a tracked param, not as a variable.
    p.cairn(&["repro"]).code(2).stderr_has(&["prep.factor"]);
    p.write(
        "pipeline.yaml",
        r#"vars: [model.toml, config.py, params.json]
stages:
  fit:
    cmd: echo ${model.name} ${Train.epochs} ${prep.factor} > out.txt
    params:
      - config.py: [SEED, Train]
      - params.json: [prep.factor]
      - model.toml: [model.depth]
    outs: [out.txt]
"#,
    );
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("out.txt"), "tree 3 2\n");
    let lock = p.read("pipeline.lock");
    for line in [
        "SEED: 42",
        "prep.factor: 2",
        "model.depth: 4",
        "epochs: 3",
        "lr: 0.1",
    ] {
        assert!(lock.contains(line), "{line}:\n{lock}");
    }
    assert!(!lock.contains("HOME") && !lock.contains("unused"), "{lock}");

    // Rewritten but the same values: nothing is stale.
    p.write(
        "config.py",
        "# settings\nimport os\nHOME = os.getenv('HOME')\nSEED = 42  # the seed\n\n\
         class Train:\n    def __init__(self):\n        self.epochs = 3\n    lr = 0.10\n",
    );
    p.write(
        "params.json",
        "{\n  \"prep\": {\"unused\": false, \"factor\": 2}\n}\n",
    );
    p.write("model.toml", "[model]\ndepth = 4\nname = 'tree'\n");
    p.cairn(&["status", "--check"]).ok();

    p.write(
        "config.py",
        "SEED = 42\nclass Train:\n    lr = 0.1\n    def __init__(self):\n        self.epochs = 5\n",
    );
    p.write("model.toml", "[model]\ndepth = 6\nname = 'tree'\n");
    p.cairn(&["status", "--check"]).code(1).stdout_has(&[
        "param config.py:Train.epochs 3 → 5",
        "param model.toml:model.depth 4 → 6",
    ]);
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("out.txt"), "tree 5 2\n");

    // A broken file names itself and the line.
    p.write("config.py", "SEED = 42\nNAME = 'open\n");
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["config.py", "line 2: unterminated string literal"]);
    p.write("config.py", "SEED = {1, 2}\nclass Train:\n    lr = 1\n");
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["config.py", "line 1: 'SEED' is a set"]);
    p.write("model.toml", "[model]\ndepth = = 6\n");
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["model.toml", "not valid TOML at line 2"]);
}
