//! Several pipeline files in one workspace, `dvc.yaml` read as it is, and DVC's targets.

use crate::support::Project;

/// A root `dvc.yaml` and a `sub/dvc.yaml` whose stage reads the root stage's out.
fn two_files() -> Project {
    let p = Project::new();
    p.write("params.yaml", "x: 1\n");
    p.write("sub/params.yaml", "y: sub\n");
    p.write(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: echo ${x} > a.txt\n    outs: [a.txt]\n",
    );
    p.write(
        "sub/dvc.yaml",
        "stages:\n  b:\n    cmd: cat ../a.txt > b.txt && echo ${y} >> b.txt\n    deps: [../a.txt]\n    params: [y]\n    outs: [b.txt]\n",
    );
    p
}

#[test]
fn dvc_yaml_files_are_read_where_they_are() {
    let p = two_files();
    p.cairn(&["dag"])
        .stdout_has(&["a\n", "sub/dvc.yaml:b  <- a"]);
    p.cairn(&["repro"]).ok();
    // Paths, params and variables of sub/dvc.yaml are relative to sub/.
    assert_eq!(p.read("sub/b.txt"), "1\nsub\n");
    assert!(p.read("pipeline.lock").contains("sub/params.yaml"));
    p.cairn(&["status"]).stdout_has(&["up to date"]);
    p.write("sub/params.yaml", "y: 2\n");
    p.cairn(&["status"])
        .stdout_has(&["sub/dvc.yaml:b", "param sub/params.yaml:y sub → 2"]);
}

#[test]
fn targets_name_a_file_or_a_stage_of_a_file() {
    let p = two_files();
    p.cairn(&["repro", "dvc.yaml:a"]).ok();
    assert!(p.exists("a.txt") && !p.exists("sub/b.txt"));
    p.cairn(&["repro", "sub/dvc.yaml"]).ok();
    assert!(p.exists("sub/b.txt"));
    p.write("params.yaml", "x: 2\n");
    p.cairn(&["status", "sub/dvc.yaml:b"])
        .stdout_has(&["a:", "sub/dvc.yaml:b"]);
    p.cairn(&["repro", "-s", "./dvc.yaml:a"]).ok();
    assert_eq!(p.read("a.txt"), "2\n");
    p.cairn(&["repro", "sub/dvc.yaml:nope"])
        .code(2)
        .stderr_has(&["no stage 'sub/dvc.yaml:nope'", "sub/dvc.yaml:b"]);
}

#[test]
fn pipeline_yaml_wins_over_dvc_yaml_in_its_folder() {
    let p = Project::new();
    p.write("dvc.yaml", "stages:\n  old:\n    cmd: echo old\n");
    p.write("pipeline.yaml", "stages:\n  new:\n    cmd: echo new\n");
    let out = p.cairn(&["dag"]).ok();
    assert_eq!(out.stdout, "new\n");
}

#[test]
fn a_pipeline_file_is_not_an_out() {
    let p = two_files();
    p.write(
        "dvc.yaml",
        "stages:\n  a:\n    cmd: echo > sub/dvc.yaml\n    outs: [sub/dvc.yaml]\n",
    );
    p.cairn(&["repro"])
        .code(2)
        .stderr_has(&["'sub/dvc.yaml' is a pipeline's definition"]);
}

#[test]
fn a_stage_name_may_not_hold_a_colon() {
    let p = Project::new();
    p.write("pipeline.yaml", "stages:\n  a:b:\n    cmd: echo\n");
    p.cairn(&["dag"])
        .code(2)
        .stderr_has(&["stage name 'a:b' may not", "':'"]);
}
