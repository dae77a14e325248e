use crate::support::Project;

#[test]
fn init_creates_the_workspace_and_is_idempotent() {
    let p = Project::bare();
    p.cairn(&["init"]).ok().stdout_has(&["initialised"]);
    assert!(p.exists(".cairn/config.yaml"));
    assert!(p.read(".cairn/.gitignore").contains("/cache/"));
    p.cairn(&["init"]).ok().stdout_has(&["already"]);
}

#[test]
fn commands_outside_a_workspace_say_so() {
    let p = Project::bare();
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["no cairn workspace", "cairn init"]);
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let p = Project::new();
    let mut stages = String::from("stages:\n");
    for i in 0..2000 {
        stages.push_str(&format!(
            "  s{i}:\n    cmd: echo {i} > o{i}\n    outs: [o{i}]\n"
        ));
    }
    p.write("pipeline.yaml", stages);
    let mut child = p
        .command(&["status", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read one line, then close the pipe, as `| head -1` does.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("read");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
