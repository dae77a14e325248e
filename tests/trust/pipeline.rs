//! Trust boundary: pipeline.yaml, params and pipeline.lock written by someone else.
//!
//! Each refused file exits 2 naming the file and what is wrong, and nothing runs and nothing is
//! written: the marker stage below would create `ran.txt`, and `pipeline.lock` keeps its bytes.

use crate::support::{Output, Project};

/// A stage that would create `ran.txt` if anything ran.
const MARKER: &str = "  marker:\n    cmd: touch ran.txt\n    outs: [ran.txt]\n";

/// Runs `cairn ARGS`, expects exit 2 with every part of `expect` and `file` on stderr, and checks
/// that nothing ran and `pipeline.lock` is as it was before.
#[track_caller]
fn refused(p: &Project, args: &[&str], file: &str, expect: &[&str]) -> Output {
    let lock_before = std::fs::read(p.join("pipeline.lock")).ok();
    let out = p.cairn(args).code(2).stderr_has(&[file]).stderr_has(expect);
    assert!(!p.exists("ran.txt"), "nothing may run: {}", out.stdout);
    assert_eq!(
        std::fs::read(p.join("pipeline.lock")).ok(),
        lock_before,
        "pipeline.lock must keep its bytes"
    );
    out
}

/// A workspace with a marker stage and `stage`, a stage definition written under `stages:`.
fn with_stage(stage: &str) -> Project {
    let p = Project::new();
    p.write("params.yaml", "lr: 1\n");
    p.write("pipeline.yaml", format!("stages:\n{MARKER}{stage}"));
    p
}

// --- 1. Reserved and escaping paths ------------------------------------------------------------

#[test]
fn outs_git_is_refused_at_load_and_git_is_left_intact() {
    let p = with_stage("  s:\n    cmd: echo\n    outs: [.git]\n");
    p.write(".git/HEAD", "ref: refs/heads/main\n");
    p.write(".git/objects/keep", "x");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stage 's'", "outs", "'.git'", "git's own folder"],
    );
    assert_eq!(p.read(".git/HEAD"), "ref: refs/heads/main\n");
    assert_eq!(p.read(".git/objects/keep"), "x");
    // The same for status and dag: the pipeline does not load.
    refused(&p, &["status"], "pipeline.yaml", &["'.git'"]);
    refused(&p, &["dag"], "pipeline.yaml", &["'.git'"]);
}

#[test]
fn paths_in_git_and_cairn_folders_are_refused_as_outs_metrics_and_plots() {
    for (field, path, why) in [
        ("outs", ".git/hooks/pre-commit", "git's own folder"),
        ("outs", ".GIT", "git's own folder"),
        ("outs", "sub/.git/config", "git's own folder"),
        ("outs", ".cairn", "cairn's own folder"),
        ("outs", ".cairn/cache", "cairn's own folder"),
        ("metrics", ".cairn/config.yaml", "cairn's own folder"),
        ("plots", ".git/x.csv", "git's own folder"),
        ("outs", "./.git/../.cairn/runs", "cairn's own folder"),
    ] {
        let p = with_stage(&format!("  s:\n    cmd: echo\n    {field}: ['{path}']\n"));
        p.write(".git/HEAD", "ref: refs/heads/main\n");
        refused(
            &p,
            &["repro"],
            "pipeline.yaml",
            &["stage 's'", &format!("{field}:"), why],
        );
        assert!(p.exists(".git/HEAD") && p.exists(".cairn/config.yaml"));
    }
}

#[test]
fn cairn_own_files_cannot_be_outs() {
    for path in ["pipeline.yaml", "params.yaml", "pipeline.lock"] {
        let p = with_stage(&format!("  s:\n    cmd: echo\n    outs: [{path}]\n"));
        p.write("pipeline.lock", "schema: cairn-lock/1\nstages: {}\n");
        refused(
            &p,
            &["repro"],
            "pipeline.yaml",
            &["stage 's'", &format!("outs: '{path}' is ")],
        );
        assert!(p.exists(path), "{path} is still there");
    }
}

#[test]
fn params_and_vars_files_and_folders_holding_them_cannot_be_outs() {
    for out in ["conf/train.yaml", "conf", "vars.yaml"] {
        let p = with_stage(&format!(
            "  train:\n    cmd: echo ${{width}}\n    params: [{{conf/train.yaml: [lr]}}]\n    outs: [m]\n  s:\n    cmd: echo\n    metrics: [{out}]\n"
        ));
        p.write("conf/train.yaml", "lr: 2\n");
        p.write("vars.yaml", "width: 3\n");
        let text = p
            .read("pipeline.yaml")
            .replace("stages:", "vars: [vars.yaml]\nstages:");
        p.write("pipeline.yaml", text);
        refused(
            &p,
            &["repro"],
            "pipeline.yaml",
            &[
                "stage 's'",
                &format!("metrics: '{out}'"),
                "params or vars file",
            ],
        );
        assert_eq!(p.read("conf/train.yaml"), "lr: 2\n");
        assert_eq!(p.read("vars.yaml"), "width: 3\n");
    }
}

#[test]
fn pointer_files_cannot_be_outs() {
    let p = with_stage("  s:\n    cmd: echo\n    outs: [data/raw.csv.cairn]\n");
    p.write("data/raw.csv.cairn", "pointer\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stage 's'", "outs: 'data/raw.csv.cairn'", "pointer file"],
    );
    assert_eq!(p.read("data/raw.csv.cairn"), "pointer\n");
}

#[test]
fn reserved_paths_are_caught_after_templating_and_in_foreach_items() {
    let p = with_stage(
        "  s:\n    foreach: [a, .git]\n    do:\n      cmd: echo ${item}\n      outs: [\"${item}\"]\n",
    );
    p.write(".git/HEAD", "ref\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stage 's@.git'", "outs: '.git'"],
    );
    assert_eq!(p.read(".git/HEAD"), "ref\n");
}

#[test]
fn paths_leaving_the_workspace_are_refused_in_every_field_after_templating() {
    for (stage, expect) in [
        (
            "  s:\n    cmd: echo\n    outs: ['${up}/x']\n",
            "outs: '../x' leaves the workspace",
        ),
        (
            "  s:\n    cmd: echo\n    deps: [../x]\n",
            "deps: '../x' leaves",
        ),
        (
            "  s:\n    cmd: echo\n    metrics: [/tmp/m.json]\n",
            "metrics: '/tmp/m.json' is absolute",
        ),
        (
            "  s:\n    cmd: echo\n    plots: [{'${up}/p.csv': {cache: false}}]\n",
            "plots: '../p.csv' leaves",
        ),
        (
            "  s:\n    cmd: echo\n    wdir: sub\n    outs: [../../x]\n",
            "outs: 'sub/../../x' leaves",
        ),
        (
            "  s:\n    cmd: echo\n    wdir: ${up}\n",
            "wdir: '..' leaves",
        ),
        (
            "  s:\n    cmd: echo\n    params: [{../p.yaml: [a]}]\n",
            "params: '../p.yaml' leaves",
        ),
        (
            "  s:\n    foreach: [x, ../../y]\n    do:\n      cmd: echo\n      outs: [\"out/${item}\"]\n",
            "stage 's@../../y': outs: 'out/../../y' leaves",
        ),
    ] {
        let p = with_stage(stage);
        p.write("params.yaml", "up: ..\n");
        refused(&p, &["repro"], "pipeline.yaml", &[expect]);
    }
}

#[test]
fn overlapping_outs_are_refused_as_before_also_from_foreach() {
    let p = with_stage(
        "  all:\n    cmd: echo\n    outs: [models]\n  one:\n    foreach: [a, b]\n    do:\n      cmd: echo\n      outs: [\"models/${item}\"]\n",
    );
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["out 'models/a' of stage 'one@a' lies inside out 'models' of stage 'all'"],
    );
    let p =
        with_stage("  one:\n    foreach: [a, b]\n    do:\n      cmd: echo\n      outs: [same]\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stages 'one@a' and 'one@b' both write 'same'"],
    );
}

// --- 2. Params keys and values -----------------------------------------------------------------

/// A pipeline tracking param `p`, run once so that `pipeline.lock` exists.
fn ran_once() -> Project {
    let p = Project::new();
    p.write("params.yaml", "p: {a: 1}\n");
    p.write(
        "pipeline.yaml",
        format!("stages:\n{MARKER}  s:\n    cmd: cat params.yaml > out.txt\n    params: [p]\n    outs: [out.txt]\n"),
    );
    p.cairn(&["repro"]).ok();
    std::fs::remove_file(p.join("ran.txt")).unwrap();
    assert!(p.read("pipeline.lock").contains("a: 1"));
    p
}

#[test]
fn null_list_mapping_and_tagged_param_keys_are_refused_and_the_lock_kept() {
    for (params, expect) in [
        ("p: {{a: 1}: x}\n", "at key 'p': a key is a mapping"),
        ("p: {[1]: x}\n", "at key 'p': a key is a list"),
        ("p: {~: x}\n", "at key 'p': a key is null"),
        (
            "p:\n  !tag k: x\n",
            "at key 'p': a key is a tagged value (!tag)",
        ),
        ("p: {a: {b: {null: x}}}\n", "at key 'p.a.b': a key is null"),
        (
            "p: {a: 1}\nother: [{[x]: 1}]\n",
            "at key 'other.0': a key is a list",
        ),
    ] {
        let p = ran_once();
        p.write("params.yaml", params);
        refused(&p, &["repro"], "params.yaml", &[expect]);
        refused(&p, &["status", "--check"], "params.yaml", &[expect]);
        assert_eq!(p.read("params.yaml"), params);
    }
}

#[test]
fn tagged_param_values_are_refused() {
    let p = ran_once();
    p.write("params.yaml", "p: {a: !secret 1}\n");
    refused(
        &p,
        &["repro"],
        "params.yaml",
        &["at key 'p.a'", "YAML tags such as !secret"],
    );
}

#[test]
fn number_and_bool_keys_are_keys_written_as_text() {
    let p = ran_once();
    p.write("params.yaml", "p: {1: one, true: two}\n");
    p.cairn(&["repro", "s"])
        .ok()
        .stdout_has(&["Running stage 's'"]);
    let lock = p.read("pipeline.lock");
    assert!(
        lock.contains("'1': one") && lock.contains("'true': two"),
        "{lock}"
    );
    p.cairn(&["status", "--check", "s"]).ok();
    // Two keys that are one as text are refused.
    p.write("params.yaml", "p: {1: one, '1': uno}\n");
    refused(&p, &["repro"], "params.yaml", &["two keys are both '1'"]);
}

#[test]
fn a_lock_whose_params_have_odd_keys_is_refused_not_emptied() {
    let p = ran_once();
    let lock = p
        .read("pipeline.lock")
        .replace("a: 1", "? [1]\n          : x");
    p.write("pipeline.lock", &lock);
    refused(
        &p,
        &["repro"],
        "pipeline.lock",
        &["stage 's'", "params", "a key is a list"],
    );
    refused(&p, &["status"], "pipeline.lock", &["a key is a list"]);
    assert_eq!(p.read("pipeline.lock"), lock);
}

#[test]
fn infinities_and_nan_do_not_share_a_run_cache_key() {
    // serde_json writes .inf, -.inf and .nan as null: without care, all four below would be one
    // run-cache key and the second repro would restore the first one's out.
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cat params.yaml > out.txt\n    params: [p]\n    outs: [out.txt]\n",
    );
    for value in [".inf", "-.inf", ".nan", "null"] {
        p.write("params.yaml", format!("p: [{value}]\n"));
        p.cairn(&["repro"]).ok().stdout_has(&["Running stage 's'"]);
        assert_eq!(p.read("out.txt"), format!("p: [{value}]\n"));
        p.cairn(&["status", "--check"]).ok();
    }
    // A value seen before is restored, with its own out.
    p.write("params.yaml", "p: [-.inf]\n");
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["restored from run-cache"]);
    assert_eq!(p.read("out.txt"), "p: [-.inf]\n");
}

// --- 3. Expansion limits and speed -------------------------------------------------------------

#[test]
fn an_8_axis_matrix_of_10_values_is_refused_before_expanding() {
    let axes: String = (0..8)
        .map(|a| format!("        a{a}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"))
        .collect();
    let p = with_stage(&format!(
        "  big:\n    matrix:\n{axes}    cmd: echo\n    outs: [\"out/${{item.a0}}\"]\n"
    ));
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &[
            "stage 'big'",
            "matrix gives 100,000,000 stages",
            "at most 50,000",
        ],
    );
    // Axes so long their product overflows are refused just the same.
    let axes: String = (0..40)
        .map(|a| format!("        a{a}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"))
        .collect();
    let p = with_stage(&format!(
        "  big:\n    matrix:\n{axes}    cmd: echo\n    outs: [\"out/${{item.a0}}\"]\n"
    ));
    refused(
        &p,
        &["dag"],
        "pipeline.yaml",
        &["stage 'big'", "matrix gives more than"],
    );
}

#[test]
fn a_foreach_over_more_items_than_the_limit_is_refused() {
    let items: Vec<String> = (0..50_001).map(|i| format!("i{i}")).collect();
    let p = with_stage(
        "  many:\n    foreach: ${items}\n    do:\n      cmd: echo ${item}\n      outs: [\"out/${item}\"]\n",
    );
    p.write("params.yaml", format!("items: [{}]\n", items.join(", ")));
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &[
            "stage 'many'",
            "foreach gives 50,001 stages",
            "at most 50,000",
        ],
    );
}

#[test]
fn a_30k_item_foreach_from_a_vars_file_loads() {
    let items: Vec<String> = (0..30_000).map(|i| format!("  - i{i}\n")).collect();
    let p = Project::new();
    p.write("items.yaml", format!("items:\n{}", items.concat()));
    p.write(
        "pipeline.yaml",
        "vars: [items.yaml]\nstages:\n  s:\n    foreach: ${items}\n    do:\n      cmd: echo ${item} > out/${item}\n      outs: [\"out/${item}\"]\n  all:\n    cmd: ls out > all.txt\n    deps: [out]\n    outs: [all.txt]\n",
    );
    let out = p.cairn(&["dag"]).ok();
    assert_eq!(out.stdout.lines().count(), 30_001);
    assert!(out.stdout.contains("s@i29999"), "{}", &out.stdout[..200]);
    let all = out.stdout.lines().last().unwrap_or_default();
    assert!(
        all.starts_with("all") && all.contains("s@i0, s@i1,"),
        "{all:.200}"
    );
    p.cairn(&["status"])
        .ok()
        .stdout_has(&["s@i29999:", "never run"]);
}

// --- 4. Repeats --------------------------------------------------------------------------------

#[test]
fn two_stages_with_one_name_are_refused_with_their_lines() {
    let p = with_stage("  train:\n    cmd: echo a\n  train:\n    cmd: echo b\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stages: repeated key \"train\" on lines 5, 7 in the mapping at line 2"],
    );
}

#[test]
fn repeated_keys_anywhere_in_pipeline_yaml_are_refused() {
    for stage in [
        "  s:\n    cmd: echo\n    cmd: echo again\n",
        "  s:\n    matrix:\n      a: [1]\n      a: [2]\n    cmd: echo\n",
        "  s:\n    cmd: echo\n    params: [{p.yaml: [a], p.yaml: [b]}]\n",
        "  s:\n    cmd: echo\n    outs: [{o: {cache: false, cache: true}}]\n",
    ] {
        let p = with_stage(stage);
        refused(&p, &["repro"], "pipeline.yaml", &["repeated key"]);
    }
}

#[test]
fn repeated_foreach_items_are_refused() {
    for (foreach, expect) in [
        (
            "[x, y, x]",
            "items 0 and 2 (counting from 0) both give the name 's@x'",
        ),
        // 1.0 is named as Python writes it.
        ("[1.0, '1.0']", "both give the name 's@1.0'"),
        ("[1, '1']", "both give the name 's@1'"),
    ] {
        let p = with_stage(&format!(
            "  s:\n    foreach: {foreach}\n    do:\n      cmd: echo\n"
        ));
        refused(&p, &["repro"], "pipeline.yaml", &["stage 's'", expect]);
    }
    // A mapping's keys 1 and '1' give one name too.
    let p = with_stage("  s:\n    foreach: {1: a, '1': b}\n    do:\n      cmd: echo\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["both give the name 's@1'"],
    );
}

#[test]
fn repeated_matrix_values_and_combinations_are_refused() {
    let p = with_stage("  m:\n    matrix:\n      a: [1, 2, 1]\n    cmd: echo\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stage 'm': matrix.a values 0 and 2", "'1'"],
    );
    let p = with_stage("  m:\n    matrix:\n      a: [x-y, x]\n      b: [z, y-z]\n    cmd: echo\n");
    refused(
        &p,
        &["repro"],
        "pipeline.yaml",
        &["stage 'm': matrix combinations", "'m@x-y-z'"],
    );
}

#[test]
fn repeated_keys_in_the_lock_are_refused() {
    let p = ran_once();
    let lock = p.read("pipeline.lock");
    let entry = &lock[lock.find("  s:\n").unwrap()..];
    let doubled = format!("{lock}{entry}");
    p.write("pipeline.lock", &doubled);
    refused(
        &p,
        &["repro"],
        "pipeline.lock",
        &["stages: repeated key \"s\" on lines "],
    );
    refused(&p, &["status"], "pipeline.lock", &["repeated key \"s\""]);
    // A param recorded twice in one entry.
    let twice = lock.replace("        p:\n", "        p: 1\n        p:\n");
    assert_ne!(twice, lock);
    p.write("pipeline.lock", &twice);
    refused(&p, &["repro"], "pipeline.lock", &["repeated key \"p\""]);
    refused(&p, &["checkout"], "pipeline.lock", &["repeated key \"p\""]);
}

#[test]
fn a_lock_recording_paths_outside_the_workspace_or_odd_digests_is_refused() {
    let p = ran_once();
    let lock = p.read("pipeline.lock");
    for (from, to, expect) in [
        (
            "path: out.txt",
            "path: ../out.txt",
            "'../out.txt' leaves the workspace",
        ),
        ("path: out.txt", "path: ./out.txt", "is not in normal form"),
        (
            "path: out.txt",
            "path: .git/hooks/post-checkout",
            "lies in .git/",
        ),
        ("digest: ", "digest: ../../x", "is not a digest"),
    ] {
        let bad = lock.replacen(from, to, 1);
        p.write("pipeline.lock", &bad);
        refused(&p, &["repro"], "pipeline.lock", &[expect]);
        refused(&p, &["checkout"], "pipeline.lock", &[expect]);
    }
}

#[test]
fn repeated_keys_in_params_and_vars_files_are_refused() {
    let p = ran_once();
    p.write("params.yaml", "p:\n  a: 1\n  a: 2\n");
    refused(
        &p,
        &["repro"],
        "params.yaml",
        &["p: repeated key \"a\" on lines 2, 3"],
    );
    p.write("params.yaml", "p: {a: 1}\np: {a: 2}\n");
    refused(
        &p,
        &["status"],
        "params.yaml",
        &["repeated key \"p\" on lines 1, 2"],
    );

    let p = with_stage("  s:\n    cmd: echo ${w}\n");
    let text = p
        .read("pipeline.yaml")
        .replace("stages:", "vars: [v.yaml]\nstages:");
    p.write("pipeline.yaml", text);
    p.write("v.yaml", "w: 1\nw: 2\n");
    refused(&p, &["repro"], "v.yaml", &["repeated key \"w\""]);
}
