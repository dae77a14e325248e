//! What a DVC project needs after the rename: `.dvc` pointer files, deps outside the workspace
//! (DVC's external dependencies) and frozen stages whose outs are missing.

use std::path::Path;

use crate::support::Project;

/// Every file under `dir` whose bytes are `bytes`.
fn files_holding(dir: &Path, bytes: &[u8]) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| std::fs::read(e.path()).is_ok_and(|b| b == bytes))
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Sets a file's mtime well in the past, so that the state table would remember its digest.
fn age(path: &Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "2020-01-01 00:00:00"])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

#[test]
fn an_absolute_dep_outside_the_workspace_is_hashed_recorded_and_never_stored() {
    let p = Project::new();
    let outside = tempfile::tempdir().expect("tempdir");
    let shared = outside.path().join("shared.csv");
    let images = outside.path().join("images");
    std::fs::create_dir_all(images.join("sub")).expect("mkdir");
    std::fs::write(&shared, "1\n2\n").expect("write");
    std::fs::write(images.join("sub/a.txt"), "external image\n").expect("write");
    // Written with `//` and a trailing `/`: normalised like any path.
    p.write(
        "pipeline.yaml",
        format!(
            "stages:\n  count:\n    cmd: wc -l < {shared} > n.txt && ls {images}/sub > l.txt\n    deps: [{shared_loose}, {images}/]\n    outs: [n.txt, l.txt]\n",
            shared = shared.display(),
            shared_loose = shared.display().to_string().replacen('/', "//", 1),
            images = images.display(),
        ),
    );
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("n.txt").trim(), "2");
    let lock = p.read("pipeline.lock");
    assert!(
        lock.contains(&format!("path: {}\n", shared.display()))
            && lock.contains(&format!("path: {}\n", images.display())),
        "{lock}"
    );
    p.cairn(&["status", "--check"])
        .ok()
        .stdout_has(&["up to date"]);
    // Read, never stored, placed, pushed or collected.
    assert!(files_holding(&p.join(".cairn"), b"1\n2\n").is_empty());
    assert!(files_holding(&p.join(".cairn"), b"external image\n").is_empty());
    let remote = tempfile::tempdir().expect("tempdir");
    p.cairn(&[
        "remote",
        "add",
        "store",
        &remote.path().display().to_string(),
        "--default",
    ])
    .ok();
    p.cairn(&["push"]).ok();
    p.cairn(&["gc"]).ok();
    p.cairn(&["checkout"]).ok();
    assert!(files_holding(remote.path(), b"1\n2\n").is_empty());
    assert_eq!(std::fs::read_to_string(&shared).expect("read"), "1\n2\n");
    assert_eq!(
        std::fs::read_to_string(images.join("sub/a.txt")).expect("read"),
        "external image\n"
    );

    // A change outside makes the stage stale, and repro runs it again.
    std::fs::write(&shared, "1\n2\n3\n").expect("write");
    p.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&[&format!("dep {} changed", shared.display())]);
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("n.txt").trim(), "3");
    std::fs::write(images.join("sub/b.txt"), "another\n").expect("write");
    p.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&[&format!("dep {} changed", images.display())]);
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("l.txt"), "a.txt\nb.txt\n");

    // Gone: refused before anything runs, naming it.
    std::fs::remove_file(&shared).expect("rm");
    p.cairn(&["repro"]).code(2).stderr_has(&[
        &format!("dep '{}' does not exist", shared.display()),
        "outside the workspace",
    ]);
}

#[test]
fn deps_may_not_leave_the_workspace_by_dot_dot_and_outs_may_not_be_absolute() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cat ../x > y\n    deps: [../x]\n    outs: [y]\n",
    );
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["deps: '../x' leaves the workspace"]);
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cat /data/x > y\n    deps: [/data/../etc/x]\n    outs: [y]\n",
    );
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["deps: '/data/../etc/x' holds '..'"]);
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo > /tmp/y\n    outs: [/tmp/y]\n",
    );
    p.cairn(&["status"])
        .code(2)
        .stderr_has(&["outs: '/tmp/y' is absolute"]);
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo\n    params: [{/etc/params.yaml: [a]}]\n",
    );
    p.cairn(&["status"]).code(2).stderr_has(&["is absolute"]);
}

#[test]
fn an_absolute_dep_inside_the_workspace_is_refused_naming_its_relative_path() {
    let p = Project::new();
    p.write("data/x.csv", "1\n");
    let root = std::fs::canonicalize(p.path()).expect("canonicalize");
    p.write(
        "pipeline.yaml",
        format!(
            "stages:\n  s:\n    cmd: cat data/x.csv > y\n    deps: [{}/data/x.csv]\n    outs: [y]\n",
            root.display()
        ),
    );
    for cmd in ["status", "repro"] {
        p.cairn(&[cmd]).code(2).stderr_has(&[
            "stage 's': deps:",
            "is inside the workspace; write it relative to the workspace root ('data/x.csv')",
        ]);
    }
}

#[test]
fn a_lock_naming_an_outside_path_never_makes_cairn_read_it() {
    let p = Project::new();
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "not yours\n").expect("write");
    age(&secret);
    let secret_text = secret.display().to_string();
    p.write("in.txt", "x\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    // Someone else's lock claims the stage read the outside file.
    let lock = p.read("pipeline.lock").replace(
        "    deps:\n",
        &format!(
            "    deps:\n    - path: {secret_text}\n      digest: {}\n      size: 10\n",
            "0".repeat(64)
        ),
    );
    assert!(lock.contains(&secret_text), "{lock}");
    p.write("pipeline.lock", &lock);
    p.cairn(&["status"])
        .ok()
        .stdout_has(&[&format!("deps changed: -{secret_text}")]);
    p.cairn(&["repro"]).ok();
    let state = std::fs::read_to_string(p.join(".cairn/state")).unwrap_or_default();
    assert!(!state.contains(&secret_text), "{state}");
    assert!(!p.read("pipeline.lock").contains(&secret_text));

    // The control: declared, it is read and remembered like any dep.
    p.write(
        "pipeline.yaml",
        format!(
            "stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt, {secret_text}]\n    outs: [out.txt]\n"
        ),
    );
    p.cairn(&["repro"]).ok();
    let state = std::fs::read_to_string(p.join(".cairn/state")).unwrap_or_default();
    assert!(state.contains(&secret_text), "{state}");
}

#[test]
fn a_frozen_stage_with_a_missing_out_is_not_up_to_date_and_repro_fails_naming_it() {
    let p = Project::new();
    p.write("in.txt", "x\n");
    let pipeline = |frozen: bool| {
        format!(
            "stages:\n  make:\n    cmd: cp in.txt made.txt\n    deps: [in.txt]\n    outs: [made.txt]\n    frozen: {frozen}\n  use:\n    cmd: cp made.txt used.txt\n    deps: [made.txt]\n    outs: [used.txt]\n"
        )
    };
    // Never run, frozen: its out is missing.
    p.write("pipeline.yaml", pipeline(true));
    let status = p.cairn(&["status"]).ok();
    status.stdout_has(&[
        "make:",
        "out made.txt missing and the stage is frozen",
        "unfreeze the stage",
        "use:",
        "upstream make stale",
    ]);
    p.cairn(&["status", "--check"]).code(1);
    let json = p.cairn(&["status", "--json"]).ok().stdout;
    assert!(
        json.contains("\"reason\": \"frozen_out_missing\"")
            && json.contains("\"up_to_date\": false"),
        "{json}"
    );
    p.cairn(&["repro", "--dry"])
        .ok()
        .stdout_has(&["stage 'make' would fail: out made.txt missing"]);
    p.cairn(&["repro"]).code(1).stderr_has(&[
        "stage 'make': the stage is frozen and its out 'made.txt' is missing",
        "`cairn checkout make`",
        "remove `frozen: true` from",
    ]);
    assert!(!p.exists("used.txt"), "nothing downstream ran");
    // --force does not run a frozen stage either.
    p.cairn(&["repro", "--force"]).code(1);

    // Unfrozen it runs; frozen again with its out deleted, checkout brings the out back.
    p.write("pipeline.yaml", pipeline(false));
    p.cairn(&["repro"]).ok();
    p.write("pipeline.yaml", pipeline(true));
    p.cairn(&["status", "--check"]).ok();
    std::fs::remove_file(p.join("made.txt")).expect("rm");
    p.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&["out made.txt missing and the stage is frozen"]);
    p.cairn(&["checkout", "make"]).ok();
    p.cairn(&["status", "--check"]).ok();
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["Stage 'make' is frozen, skipping"]);
}

#[test]
fn a_frozen_stage_whose_dep_is_gone_keeps_its_outs_as_in_dvc() {
    // DVC does not look at a frozen stage's deps (`Stage.changed_deps` returns False, `status`
    // leaves them out): its outs are what it stands for.
    let p = Project::new();
    p.write("in.txt", "x\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  make:\n    cmd: cp in.txt made.txt\n    deps: [in.txt]\n    outs: [made.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    p.write(
        "pipeline.yaml",
        "stages:\n  make:\n    cmd: cp in.txt made.txt\n    deps: [in.txt]\n    outs: [made.txt]\n    frozen: true\n",
    );
    std::fs::remove_file(p.join("in.txt")).expect("rm");
    p.cairn(&["status", "--check"])
        .ok()
        .stdout_has(&["up to date"]);
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["Stage 'make' is frozen, skipping"]);
    assert_eq!(p.read("made.txt"), "x\n");
}

/// `raw.csv` and `imgs/` with the `.dvc` files DVC 3.67 wrote for them (`dvc add data/raw.csv
/// data/imgs`), and a stage reading both.
const RAW_CSV: &str = "a,b\r\n1,2\r\n";
const RAW_DVC: &str =
    "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  size: 10\n  hash: md5\n  path: raw.csv\n";
/// What DVC 2 wrote for the same file: no `hash:`, an MD5 of the text with its CRLFs made LF.
const RAW_DVC2: &str =
    "outs:\n- md5: e5ebd4c02cefbe7955977c67ada242b7\n  size: 10\n  path: raw.csv\n";
const IMGS_DVC: &str = "outs:\n- md5: 1bcd3c4936f01e9ebd283b52d7a5f4bb.dir\n  size: 5\n  nfiles: 3\n  hash: md5\n  path: imgs\n";

fn dvc_project() -> Project {
    let p = Project::new();
    p.write("data/raw.csv", RAW_CSV);
    p.write("data/raw.csv.dvc", RAW_DVC);
    p.write("data/imgs/a.txt", "x");
    p.write("data/imgs/sub/b.bin", "yy\n");
    p.write("data/imgs/é n.txt", "z");
    p.write("data/imgs.dvc", IMGS_DVC);
    p.write("data/.gitignore", "/raw.csv\n/imgs\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  count:\n    cmd: cat data/raw.csv data/imgs/a.txt | wc -c > n.txt\n    deps: [data/raw.csv, data/imgs]\n    outs: [n.txt]\n  other:\n    cmd: echo > o.txt\n    outs: [o.txt]\n",
    );
    p
}

#[test]
fn dvc_tracked_data_is_an_input_checked_against_its_dvc_file_with_dvcs_md5() {
    let p = dvc_project();
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("n.txt").trim(), "11");
    p.cairn(&["status", "--check"])
        .ok()
        .stdout_has(&["Pipeline is up to date."]);

    // Same size, other bytes: the MD5 tells.
    p.write("data/raw.csv", "a,b\r\n1,3\r\n");
    let out = p.cairn(&["status", "--check"]).code(1);
    out.stdout_has(&[
        "count:",
        "dep data/raw.csv changed",
        "data/raw.csv.dvc:",
        "data/raw.csv modified (MD5 ",
        "recorded b202f333fba4fd38d4b8e5e693077aab)",
        "run `cairn add data/raw.csv` to track it with cairn as it is (or `dvc add data/raw.csv`), or `dvc checkout data/raw.csv.dvc`",
    ]);
    let json = p.cairn(&["status", "--json"]).ok().stdout;
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["data"][0]["pointer"], "data/raw.csv.dvc");
    assert_eq!(doc["data"][0]["kind"], "dvc");
    assert_eq!(doc["data"][0]["state"], "modified");
    // Asked about a stage that does not read it, status leaves it out.
    p.cairn(&["status", "other", "--check"]).ok();
    p.write("data/raw.csv", RAW_CSV);
    p.cairn(&["repro"]).ok();

    // A DVC 2 file: no `hash:`, the MD5 of the text with CRLF made LF.
    p.write("data/raw.csv.dvc", RAW_DVC2);
    p.cairn(&["status", "--check"]).ok();

    // A folder: its listing's MD5, and a cheap count first.
    p.write("data/imgs/sub/new.txt", "");
    p.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&["data/imgs.dvc:", "data/imgs modified (4 files, recorded 3)"]);
    std::fs::remove_file(p.join("data/imgs/sub/new.txt")).expect("rm");
    p.write("data/imgs/a.txt", "y");
    p.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&["data/imgs modified (listing "]);
    p.write("data/imgs/a.txt", "x");
    p.cairn(&["status", "--check"]).ok();

    // cairn reads .dvc files and never writes them.
    assert_eq!(p.read("data/raw.csv.dvc"), RAW_DVC2);
    assert_eq!(p.read("data/imgs.dvc"), IMGS_DVC);
}

#[test]
fn missing_dvc_data_is_reported_missing_naming_the_dvc_file_not_an_invalid_pipeline() {
    let p = dvc_project();
    p.cairn(&["repro"]).ok();
    std::fs::remove_file(p.join("data/raw.csv")).expect("rm");
    let fix = "run `dvc pull data/raw.csv.dvc`, or put the data back and run `cairn add data/raw.csv` to track it with cairn";
    p.cairn(&["status"]).ok().stdout_has(&[
        "dep data/raw.csv missing (tracked by data/raw.csv.dvc)",
        "data/raw.csv.dvc:",
        &format!("data/raw.csv missing: {fix}"),
    ]);
    p.cairn(&["status", "--check"]).code(1);
    let json = p.cairn(&["status", "--json"]).ok().stdout;
    assert!(
        json.contains("\"tracked_by\": \"data/raw.csv.dvc\"")
            && json.contains("\"state\": \"missing\""),
        "{json}"
    );
    let out = p.cairn(&["repro"]).code(1).stderr_has(&[&format!(
        "stage 'count': dep 'data/raw.csv' is missing; it is tracked by data/raw.csv.dvc: {fix}"
    )]);
    assert!(!out.stderr.contains("no stage makes it"), "{}", out.stderr);

    // A dep inside a tracked folder is tracked by the folder's .dvc file.
    p.write("data/raw.csv", RAW_CSV);
    p.write(
        "pipeline.yaml",
        "stages:\n  one:\n    cmd: cat data/imgs/sub/b.bin > b.txt\n    deps: [data/imgs/sub/b.bin]\n    outs: [b.txt]\n",
    );
    std::fs::remove_dir_all(p.join("data/imgs")).expect("rm");
    p.cairn(&["repro"]).code(1).stderr_has(&[
        "dep 'data/imgs/sub/b.bin' is missing; it is tracked by data/imgs.dvc: run `dvc pull data/imgs.dvc`",
    ]);
    // A dep nothing tracks or makes is still an invalid pipeline.
    p.write(
        "pipeline.yaml",
        "stages:\n  one:\n    cmd: cat nowhere > b.txt\n    deps: [nowhere]\n    outs: [b.txt]\n",
    );
    p.cairn(&["repro"])
        .code(2)
        .stderr_has(&["dep 'nowhere' does not exist and no stage makes it"]);
}

#[test]
fn data_of_cairn_pointers_is_reported_the_same_way() {
    let p = Project::new();
    p.write("data/x.csv", "1\n");
    p.cairn(&["add", "data/x.csv"]).ok();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cp data/x.csv y\n    deps: [data/x.csv]\n    outs: [y]\n",
    );
    p.cairn(&["repro"]).ok();
    p.cairn(&["status", "--check"]).ok();
    std::fs::remove_file(p.join("data/x.csv")).expect("rm");
    let fix = "run `cairn checkout data/x.csv.cairn` (`cairn pull data/x.csv.cairn` if the cache lacks it)";
    p.cairn(&["status", "--check"]).code(1).stdout_has(&[
        "dep data/x.csv missing (tracked by data/x.csv.cairn)",
        &format!("data/x.csv missing: {fix}"),
    ]);
    p.cairn(&["repro"])
        .code(1)
        .stderr_has(&[&format!("it is tracked by data/x.csv.cairn: {fix}")]);
    p.cairn(&["checkout"]).ok();
    p.cairn(&["status", "--check"]).ok();
    p.write("data/x.csv", "2\n");
    p.cairn(&["status", "--check"]).code(1).stdout_has(&[
        "data/x.csv.cairn:",
        "data/x.csv modified (BLAKE3 ",
        "run `cairn add data/x.csv` to record it as it is, or `cairn checkout data/x.csv.cairn`",
    ]);
}

#[test]
fn cairn_add_takes_over_a_path_dvc_tracked_and_then_removes_its_dvc_file() {
    let p = dvc_project();
    let out = p.cairn(&["add", "data/raw.csv", "data/imgs"]).ok();
    out.stdout_has(&[
        "added data/raw.csv",
        "removed data/raw.csv.dvc: cairn tracks data/raw.csv now, with data/raw.csv.cairn",
        "removed data/imgs.dvc: cairn tracks data/imgs now, with data/imgs.cairn",
    ]);
    assert!(!p.exists("data/raw.csv.dvc") && !p.exists("data/imgs.dvc"));
    assert!(p.exists("data/raw.csv.cairn") && p.exists("data/imgs.cairn"));
    assert_eq!(p.read("data/.gitignore"), "/raw.csv\n/imgs\n");
    p.cairn(&["repro"]).ok();
    p.cairn(&["status", "--check"]).ok();
    // Now cairn's: deleted, it comes back from cairn's cache.
    std::fs::remove_dir_all(p.join("data/imgs")).expect("rm");
    p.cairn(&["checkout"]).ok();
    assert_eq!(p.read("data/imgs/é n.txt"), "z");

    // A .dvc file tracking something else is left alone, and nothing is added.
    p.write("data/other.csv", "o\n");
    p.write(
        "data/other.csv.dvc",
        "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  hash: md5\n  path: raw.csv\n",
    );
    p.cairn(&["add", "data/other.csv"])
        .code(2)
        .stderr_has(&["data/other.csv.dvc tracks 'data/raw.csv', not 'data/other.csv' alone"]);
    assert!(p.exists("data/other.csv.dvc") && !p.exists("data/other.csv.cairn"));
}

#[test]
fn hostile_dvc_files_are_refused_naming_them() {
    for (text, says) in [
        (
            "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  path: ../../outside\n",
            "leaves the workspace",
        ),
        (
            "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  path: /etc/passwd\n",
            "is absolute",
        ),
        ("outs:\n- md5: ../../x\n  path: raw.csv\n", "is not an MD5"),
        (
            "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  path: raw.csv\n  surprise: 1\n",
            "unknown field `surprise`",
        ),
        (
            "outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  path: ../.cairn/cache\n",
            ".cairn/",
        ),
    ] {
        let p = dvc_project();
        p.write("data/raw.csv.dvc", text);
        p.cairn(&["status"])
            .code(2)
            .stderr_has(&["data/raw.csv.dvc", says, "restore it from git"]);
        assert_eq!(p.read("data/raw.csv.dvc"), text);
    }
    // A link named like a .dvc file is not read as one.
    let p = dvc_project();
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("x.dvc");
    std::fs::write(&target, "outs:\n- path: x\n").expect("write");
    std::os::unix::fs::symlink(&target, p.join("data/link.dvc")).expect("symlink");
    p.cairn(&["repro"]).ok();
    p.cairn(&["status", "--check"]).ok();
}
