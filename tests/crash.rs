//! Bad days: kill -9 in the middle of a run, two cairn processes at once, a damaged cache.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Project;

fn wait_for(p: &Project, rel: &str) {
    let start = Instant::now();
    while !p.exists(rel) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{rel} never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `first` finishes at once; `slow` writes half its out, signals, then waits to be killed.
fn interruptible() -> Project {
    let p = Project::new();
    p.write("in.txt", "data\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  first:\n    cmd: cp in.txt first.txt\n    deps: [in.txt]\n    outs: [first.txt]\n  slow:\n    cmd: echo partial > slow.txt && touch started && sleep 30 && echo done >> slow.txt\n    deps: [first.txt]\n    outs: [slow.txt]\n",
    );
    p
}

#[test]
fn kill_9_mid_run_leaves_a_consistent_lock_and_the_next_repro_reruns_what_was_interrupted() {
    let p = interruptible();
    let mut child = p
        .command(&["repro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&p, "started");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The lock is whole and records only the stage that finished.
    let lock = p.read("pipeline.lock");
    assert!(lock.contains("first:") && !lock.contains("slow:"), "{lock}");
    let status = p.cairn(&["status"]).ok();
    assert!(
        status.stdout.contains("slow:") && !status.stdout.contains("first:"),
        "{}",
        status.stdout
    );
    // The shell the killed cairn started may still be sleeping; it does not hold the lock.
    std::fs::remove_file(p.join("started")).unwrap();
    p.write(
        "pipeline.yaml",
        p.read("pipeline.yaml").replace("sleep 30", "true"),
    );
    let out = p.cairn(&["repro"]).ok();
    assert!(
        out.stdout.contains("Running stage 'slow'")
            && !out.stdout.contains("Running stage 'first'")
    );
    assert_eq!(p.read("slow.txt"), "partial\ndone\n");
    p.cairn(&["status", "--check"]).ok();
    // Nothing half-written was left in the cache's staging area.
    assert_eq!(std::fs::read_dir(p.join(".cairn/tmp")).unwrap().count(), 0);
}

#[test]
fn a_second_repro_waits_for_the_first_and_says_why() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: touch started && sleep 1 && echo one > out.txt\n    outs: [out.txt]\n",
    );
    let first = p
        .command(&["repro"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p, "started");
    let second = p.cairn(&["repro"]).ok();
    assert!(
        second.stderr.contains("waiting for another cairn process"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("repro"),
        "says what it waits for: {}",
        second.stderr
    );
    assert!(
        second.stdout.contains("didn't change"),
        "the second sees the first's result: {}",
        second.stdout
    );
    assert!(first.wait_with_output().unwrap().status.success());
    assert_eq!(p.read("out.txt"), "one\n");
    p.cairn(&["status", "--check"]).ok();
}

#[test]
fn checkout_refuses_a_damaged_cache_object() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo precious > out.txt\n    outs: [out.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    let lock = p.read("pipeline.lock");
    let digest = lock.split("digest: ").nth(1).unwrap()[..64].to_string();
    let object = p.join(&format!(
        ".cairn/cache/v1/{}/{}",
        &digest[..2],
        &digest[2..]
    ));
    let mut perms = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&object, perms).unwrap();
    std::fs::write(&object, "garbage\n").unwrap();
    std::fs::remove_file(p.join("out.txt")).unwrap();
    p.cairn(&["checkout"])
        .code(1)
        .stderr_has(&["corrupted object", &digest, &digest[2..]]);
    assert!(!p.exists("out.txt"), "no damaged bytes are placed");
    // A repro does not restore from it either: the stage runs again.
    p.cairn(&["repro"]).ok();
    assert_eq!(p.read("out.txt"), "precious\n");
}

#[test]
fn checkout_restores_modified_outs_and_directories() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: mkdir -p d/sub && echo a > d/a && echo b > d/sub/b && echo f > f.txt\n    outs: [d, f.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    p.write("d/a", "changed\n")
        .write("d/extra", "x\n")
        .write("f.txt", "changed\n");
    std::fs::remove_file(p.join("d/sub/b")).unwrap();
    let out = p.cairn(&["checkout"]).ok();
    assert!(
        out.stdout.contains("d\n") && out.stdout.contains("f.txt"),
        "{}",
        out.stdout
    );
    assert_eq!(p.read("d/a"), "a\n");
    assert_eq!(p.read("d/sub/b"), "b\n");
    assert!(!p.exists("d/extra"));
    assert_eq!(p.read("f.txt"), "f\n");
    p.cairn(&["checkout"])
        .ok()
        .stdout_has(&["nothing to check out"]);
    p.cairn(&["status", "--check"]).ok();
}

#[test]
fn hardlink_mode_links_outs_to_read_only_cache_objects() {
    use std::os::unix::fs::MetadataExt;
    let p = Project::new();
    p.write(".cairn/config.yaml", "cache:\n  type: [hardlink, copy]\n");
    p.write("pipeline.yaml", "stages:\n  s:\n    cmd: mkdir -p d && echo a > d/a && echo f > f.txt\n    outs: [d, f.txt]\n");
    p.cairn(&["repro"]).ok();
    for rel in ["f.txt", "d/a"] {
        let meta = std::fs::metadata(p.join(rel)).unwrap();
        assert_eq!(meta.nlink(), 2, "{rel} is a hard link to the cache");
        assert!(
            meta.permissions().readonly(),
            "{rel} cannot be edited in place by accident"
        );
    }
    p.cairn(&["status", "--check"]).ok();
    std::fs::remove_file(p.join("f.txt")).unwrap();
    p.cairn(&["checkout"]).ok();
    assert_eq!(std::fs::metadata(p.join("f.txt")).unwrap().nlink(), 2);
}

#[test]
fn an_invalid_config_is_named() {
    let p = Project::new();
    p.write(".cairn/config.yaml", "cache:\n  type: [teleport]\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo > f.txt\n    outs: [f.txt]\n",
    );
    p.cairn(&["repro"])
        .code(2)
        .stderr_has(&["config.yaml", "teleport"]);
}
