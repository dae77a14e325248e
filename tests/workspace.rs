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
