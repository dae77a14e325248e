//! Invalid pipelines exit 2, say what and where, and run and write nothing.

use crate::support::Project;

/// Writes `pipeline` (and a marker stage that would create `ran.txt`), runs `repro`, and checks
/// exit 2, that stderr has every part of `expect`, and that nothing ran or was written.
#[track_caller]
fn refused(pipeline: &str, expect: &[&str]) {
    let p = Project::new();
    p.write("params.yaml", "train: {c: 1}\n");
    p.write("pipeline.yaml", pipeline);
    let out = p.cairn(&["repro"]).code(2);
    for part in expect {
        assert!(
            out.stderr.contains(part),
            "stderr lacks {part:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("pipeline.yaml"),
        "names the file: {}",
        out.stderr
    );
    assert!(!p.exists("ran.txt"), "nothing may run");
    assert!(!p.exists("pipeline.lock"), "nothing may be written");
}

const MARKER: &str = "  marker:\n    cmd: touch ran.txt\n    outs: [ran.txt]\n";

#[test]
fn yaml_syntax_errors_give_the_line() {
    refused(&format!("stages:\n{MARKER}  bad: [unclosed\n"), &["line 5"]);
}

#[test]
fn unknown_fields_are_named_with_the_line() {
    refused(
        &format!("stages:\n{MARKER}  s:\n    cmd: echo\n    dep: [x]\n"),
        &["unknown field `dep`", "line 7"],
    );
}

#[test]
fn a_stage_without_cmd() {
    refused(
        &format!("stages:\n{MARKER}  s:\n    outs: [x]\n"),
        &["stage 's'", "missing 'cmd'"],
    );
}

#[test]
fn a_cycle_names_its_stages() {
    refused(
        &format!(
            "stages:\n{MARKER}  a:\n    cmd: cp c a\n    deps: [c]\n    outs: [a]\n  b:\n    cmd: cp a b\n    deps: [a]\n    outs: [b]\n  c:\n    cmd: cp b c\n    deps: [b]\n    outs: [c]\n"
        ),
        &["cycle", "a → ", "b", "c"],
    );
}

#[test]
fn two_stages_writing_one_path() {
    refused(
        &format!(
            "stages:\n{MARKER}  a:\n    cmd: echo\n    outs: [x]\n  b:\n    cmd: echo\n    outs: [x]\n"
        ),
        &["stages 'a' and 'b' both write 'x'"],
    );
}

#[test]
fn an_out_inside_another() {
    refused(
        &format!(
            "stages:\n{MARKER}  a:\n    cmd: echo\n    outs: [d]\n  b:\n    cmd: echo\n    outs: [d/x]\n"
        ),
        &["'d/x' of stage 'b' lies inside out 'd' of stage 'a'"],
    );
}

#[test]
fn absolute_and_escaping_paths() {
    // A dep may be absolute (an external dependency, as in DVC), an out may not.
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    outs: [/etc/passwd]\n"),
        &["stage 'a'", "'/etc/passwd' is absolute"],
    );
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    deps: [/data/../etc/passwd]\n"),
        &["stage 'a'", "'/data/../etc/passwd' holds '..'"],
    );
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    deps: [../x]\n"),
        &["stage 'a'", "'../x' leaves the workspace"],
    );
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    outs: [../x]\n"),
        &["stage 'a'", "'../x' leaves the workspace"],
    );
}

#[test]
fn a_param_that_does_not_exist() {
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    params: [train.gamma]\n"),
        &["stage 'a'", "param 'train.gamma' is not in params.yaml"],
    );
}

#[test]
fn an_unknown_template_variable() {
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo ${{train.gamma}}\n"),
        &["stage 'a'", "unknown variable '${train.gamma}'"],
    );
}

#[test]
fn a_dep_nobody_makes() {
    refused(
        &format!("stages:\n{MARKER}  a:\n    cmd: echo\n    deps: [nowhere.csv]\n"),
        &[
            "stage 'a'",
            "dep 'nowhere.csv' does not exist and no stage makes it",
        ],
    );
}

#[test]
fn status_refuses_an_invalid_pipeline_too() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  a:\n    cmd: echo\n    outs: [../x]\n",
    );
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["pipeline.yaml", "leaves the workspace"]);
}

#[test]
fn a_missing_pipeline_file() {
    let p = Project::new();
    p.cairn(&["repro"])
        .code(2)
        .stderr_has(&["pipeline.yaml", "does not exist"]);
}

#[test]
fn an_invalid_lock_file_is_named() {
    let p = Project::new();
    p.write("pipeline.yaml", "stages:\n  a:\n    cmd: echo\n");
    p.write("pipeline.lock", "stages: [oops\n");
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["pipeline.lock", "restore it from git"]);
}

#[test]
fn an_unknown_out_field_is_named() {
    refused(
        &format!(
            "stages:\n{MARKER}  s:\n    cmd: echo\n    outs:\n      - x.txt:\n          cach: false\n"
        ),
        &["out 'x.txt'", "unknown field `cach`"],
    );
    refused(
        &format!("stages:\n{MARKER}  s:\n    cmd: echo\n    outs:\n      - [x.txt]\n"),
        &["an out is a path"],
    );
}

#[test]
fn a_wrong_cmd_or_params_entry_says_what_it_should_be() {
    refused(
        &format!("stages:\n{MARKER}  s:\n    cmd: {{a: 1}}\n"),
        &[
            "stage 's'",
            "'cmd': a command, or a list of commands run in order",
        ],
    );
    refused(
        &format!("stages:\n{MARKER}  s:\n    cmd: echo\n    params: [{{p.yaml: 3}}]\n"),
        &[
            "stage 's'",
            "'params': a list of keys (`- train.lr`) or files with keys",
        ],
    );
    refused(
        &format!("stages:\n{MARKER}  s:\n    cmd: echo\n    frozen: ${{x}}\n"),
        &["stages.s.frozen", "expected a boolean", "line 7"],
    );
}
