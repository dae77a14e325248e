//! Trust boundary: paths, digests, symlinks and special files from files others wrote.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::remote::moto::Moto;
use crate::remote::{clone, s3_cairn, store, with_folder_remote, with_s3_remote};
use crate::support::{Output, Project};

/// A file outside every workspace, with bytes the tests look for.
struct Outside {
    dir: tempfile::TempDir,
}

const SECRET: &str = "the secret that must never leave this machine\n";

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::Builder::new()
            .prefix("cairn-outside-")
            .tempdir()
            .expect("tmp");
        std::fs::write(dir.path().join("secret.txt"), SECRET).expect("write");
        Outside { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn secret(&self) -> String {
        self.path().join("secret.txt").display().to_string()
    }

    /// Every file in the folder, as (relative path, bytes).
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        files_under(self.path())
    }
}

fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("inside");
            (
                rel.display().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

/// No file under `root` holds the secret.
#[track_caller]
fn holds_no_secret(root: &Path) {
    for (rel, bytes) in files_under(root) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET.trim()),
            "{rel} under {} holds the secret",
            root.display()
        );
    }
}

/// Runs `cmd`, killing it and failing the test if it takes longer than `limit` (a hang).
#[track_caller]
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// A workspace with one tracked file (`data.csv`, pushed nowhere yet) whose pointer the tests
/// rewrite.
fn with_tracked_file() -> Project {
    let p = Project::new();
    p.write("data.csv", "a,b\n1,2\n");
    p.cairn(&["add", "data.csv"]).ok();
    p
}

/// A digest field that walks from the cache folder to `target`.
fn digest_walking_to(target: &str) -> String {
    format!("ab/../../../../../../../../../../..{target}")
}

#[test]
fn a_pointer_digest_that_is_a_path_is_refused_and_nothing_is_pushed_to_a_folder() {
    let outside = Outside::new();
    let p = with_tracked_file();
    let remote = with_folder_remote(&p);
    for digest in [digest_walking_to(&outside.secret()), outside.secret()] {
        p.write(
            "data.csv.cairn",
            format!("outs:\n- path: data.csv\n  digest: '{digest}'\n  size: 47\n"),
        );
        p.cairn(&["push"])
            .code(2)
            .stderr_has(&["data.csv.cairn", "is not a digest"]);
        holds_no_secret(remote.path());
    }
}

#[test]
fn a_pointer_digest_that_is_a_path_is_refused_and_nothing_is_pushed_to_s3() {
    let outside = Outside::new();
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = with_tracked_file();
    with_s3_remote(&p, moto, &bucket);
    p.write(
        "data.csv.cairn",
        format!(
            "outs:\n- path: data.csv\n  digest: '{}'\n  size: 47\n",
            digest_walking_to(&outside.secret())
        ),
    );
    s3_cairn(&p, &["push"])
        .code(2)
        .stderr_has(&["data.csv.cairn", "is not a digest"]);
    for key in moto.keys(&bucket) {
        let body = moto.get(&bucket, &key);
        assert!(
            !String::from_utf8_lossy(&body).contains(SECRET.trim()),
            "{key} holds the secret"
        );
    }
}

#[test]
fn pointer_paths_outside_the_workspace_or_reserved_are_never_written() {
    let outside = Outside::new();
    let p = with_tracked_file();
    let good = p.read("data.csv.cairn");
    let victim = outside.path().join("victim.txt");
    for path in [
        "../evil.csv".to_string(),
        victim.display().to_string(),
        "a/../../evil.csv".to_string(),
    ] {
        p.write(
            "data.csv.cairn",
            good.replace("path: data.csv", &format!("path: '{path}'")),
        );
        p.cairn(&["checkout"])
            .code(2)
            .stderr_has(&["data.csv.cairn"]);
        assert!(!p.path().parent().expect("parent").join("evil.csv").exists());
        assert!(!victim.exists());
    }
    // Inside the workspace but reserved: a git hook, cairn's own files, the pipeline.
    std::fs::create_dir_all(p.join(".git/hooks")).expect("mkdir");
    for path in [
        ".git/hooks/pre-commit",
        ".cairn/config.yaml",
        "pipeline.yaml",
    ] {
        p.write(
            "data.csv.cairn",
            good.replace("path: data.csv", &format!("path: {path}")),
        );
        p.cairn(&["checkout"])
            .code(2)
            .stderr_has(&[path, "will not write"]);
    }
    assert!(!p.exists(".git/hooks/pre-commit"));
    assert!(!p.exists("pipeline.yaml"));
}

/// Writes a directory manifest listing `path` for the bytes "evil\n", and that file's object,
/// into the folder remote; returns the manifest's digest.
fn hostile_manifest_on(remote: &Path, path: &str) -> String {
    let evil = b"evil\n";
    let file_digest = cairn_core::hash::digest_bytes(evil);
    let manifest = format!(r#"[{{"path":"{path}","digest":"{file_digest}","size":5}}]"#);
    let manifest_digest = cairn_core::hash::digest_bytes(manifest.as_bytes());
    for (digest, bytes) in [
        (file_digest.to_string(), evil.to_vec()),
        (manifest_digest.to_string(), manifest.into_bytes()),
    ] {
        let object = crate::remote::remote_object(remote, &digest);
        std::fs::create_dir_all(object.parent().expect("shard")).expect("mkdir");
        std::fs::write(object, bytes).expect("write");
    }
    manifest_digest.to_string()
}

#[test]
fn a_manifest_listing_paths_outside_its_folder_is_refused_on_pull() {
    let outside = Outside::new();
    let p = Project::new();
    let remote = with_folder_remote(&p);
    let victim = outside.path().join("victim.txt");
    for path in [
        "../../evil.txt".to_string(),
        victim.display().to_string(),
        "a/../../evil.txt".to_string(),
    ] {
        let digest = hostile_manifest_on(remote.path(), &path);
        p.write(
            "data.cairn",
            format!("outs:\n- path: data\n  digest: {digest}\n  size: 5\n  nfiles: 1\n"),
        );
        p.cairn(&["pull"])
            .code(2)
            .stderr_has(&["not a directory manifest"]);
        assert!(!victim.exists());
        assert!(!p.path().parent().expect("parent").join("evil.txt").exists());
        assert!(!p.join("evil.txt").exists());
    }
}

#[test]
fn a_symlinked_out_folder_or_parent_is_never_written_through() {
    let outside = Outside::new();
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  make:\n    cmd: mkdir -p out sub && echo 1 > out/a.txt && echo 2 > sub/b.txt\n    outs: [out, sub/b.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    let before = outside.files();

    // The out folder replaced by a link to elsewhere.
    std::fs::remove_dir_all(p.join("out")).expect("rm");
    symlink(outside.path(), p.join("out"));
    p.cairn(&["checkout"])
        .code(2)
        .stderr_has(&["out", "symbolic link"]);
    assert_eq!(
        outside.files(),
        before,
        "nothing written or deleted outside"
    );
    p.cairn(&["repro"]).code(2).stderr_has(&["symbolic link"]);
    assert_eq!(outside.files(), before);
    std::fs::remove_file(p.join("out")).expect("rm link");

    // A parent of an out replaced by a link.
    std::fs::remove_dir_all(p.join("sub")).expect("rm");
    symlink(outside.path(), p.join("sub"));
    p.cairn(&["checkout"])
        .code(2)
        .stderr_has(&["sub", "symbolic link"]);
    assert_eq!(outside.files(), before);
    assert!(!outside.path().join("b.txt").exists());
}

#[test]
fn cairns_own_folders_as_symlinks_are_refused() {
    for part in [".cairn/tmp", ".cairn/cache", ".cairn/runs"] {
        let outside = Outside::new();
        let p = Project::new();
        p.write(
            "pipeline.yaml",
            "stages:\n  s:\n    cmd: echo x > o.txt\n    outs: [o.txt]\n",
        );
        let _ = std::fs::remove_dir_all(p.join(part));
        symlink(outside.path(), p.join(part));
        let before = outside.files();
        p.cairn(&["repro"])
            .code(2)
            .stderr_has(&[part, "symbolic link"]);
        p.cairn(&["status"]).code(2);
        assert_eq!(
            outside.files(),
            before,
            "{part}: the link's target is untouched"
        );
        assert!(!p.exists("o.txt"), "{part}: nothing ran");
    }
}

#[test]
fn add_refuses_links_out_of_the_workspace() {
    let outside = Outside::new();
    let p = Project::new();
    // A folder holding a link to a file outside.
    p.write("data/ok.txt", "ok\n");
    symlink(outside.secret(), p.join("data/leak.txt"));
    p.cairn(&["add", "data"])
        .code(2)
        .stderr_has(&["leak.txt", "outside the workspace"]);
    assert!(!p.exists("data.cairn"));
    holds_no_secret(&p.join(".cairn"));
    // An added folder that is itself a link to elsewhere.
    symlink(outside.path(), p.join("linked"));
    p.cairn(&["add", "linked"])
        .code(2)
        .stderr_has(&["outside the workspace"]);
    assert!(!p.exists("linked.cairn"));
    holds_no_secret(&p.join(".cairn"));
    // A link inside the workspace is fine.
    std::fs::remove_file(p.join("data/leak.txt")).expect("rm");
    symlink(p.join("data/ok.txt"), p.join("data/same.txt"));
    p.cairn(&["add", "data"]).ok();
}

#[test]
fn special_files_are_refused_instead_of_hanging() {
    let p = Project::new();
    symlink("/dev/zero", p.join("zero"));
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: echo x > o.txt\n    deps: [zero]\n    outs: [o.txt]\n",
    );
    bounded(p.command(&["status"]), Duration::from_secs(60))
        .code(2)
        .stderr_has(&["zero", "device"]);
    bounded(p.command(&["repro"]), Duration::from_secs(60)).code(2);

    p.write("data/ok.txt", "ok\n");
    let made = Command::new("mkfifo")
        .arg(p.join("data/pipe"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    bounded(p.command(&["add", "data"]), Duration::from_secs(60))
        .code(2)
        .stderr_has(&["pipe", "FIFO"]);
    assert!(!p.exists("data.cairn"));
}

#[test]
fn a_persistent_out_never_edits_the_cached_object_with_link_caches() {
    for link in ["hardlink", "symlink"] {
        let p = Project::new();
        p.write(".cairn/config.yaml", format!("cache:\n  type: [{link}]\n"));
        p.write(
            "pipeline.yaml",
            "stages:\n  log:\n    cmd: echo run >> log.txt\n    always_changed: true\n    outs:\n      - log.txt: {persist: true}\n",
        );
        p.cairn(&["repro"]).ok();
        let first = cairn_core::hash::digest_file(&p.join("log.txt")).expect("digest");
        assert_eq!(p.read("log.txt"), "run\n");
        p.cairn(&["repro"]).ok();
        assert_eq!(
            p.read("log.txt"),
            "run\nrun\n",
            "{link}: the command appended"
        );
        let object = store(&p).path(&first);
        let kept = cairn_core::hash::digest_file(&object).expect("digest");
        assert_eq!(kept, first, "{link}: the first version's object is intact");
    }
}

#[test]
fn run_cache_entries_from_a_remote_never_place_other_paths() {
    let outside = Outside::new();
    let p = Project::new();
    p.write("in.txt", "input\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n",
    );
    p.cairn(&["repro"]).ok();
    let remote = with_folder_remote(&p);
    p.cairn(&["push", "--run-cache"]).ok();
    let entries: Vec<_> = std::fs::read_dir(remote.path().join("runs/v1"))
        .expect("runs")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    let honest = std::fs::read_to_string(entry).expect("read");
    // The object the hostile entry points at: on the remote and whole.
    let evil = cairn_core::hash::digest_bytes(b"stages: {}\n");
    let object = crate::remote::remote_object(remote.path(), &evil);
    std::fs::create_dir_all(object.parent().expect("shard")).expect("mkdir");
    std::fs::write(&object, "stages: {}\n").expect("write");
    let digest_line = honest
        .lines()
        .find(|l| l.contains("digest:"))
        .expect("digest line")
        .to_string();
    let victim = outside.path().join("x");
    for path in [
        "pipeline.yaml".to_string(),
        "../x".to_string(),
        victim.display().to_string(),
    ] {
        let hostile = honest
            .replace("path: out.txt", &format!("path: '{path}'"))
            .replace(&digest_line, &format!("  digest: {evil}"));
        std::fs::write(entry, &hostile).expect("write");
        let c = clone(&p);
        // Without a lock entry to restore from, only the run-cache could skip the run.
        std::fs::remove_file(c.join("pipeline.lock")).expect("rm lock");
        c.cairn(&["repro", "--pull"])
            .ok()
            .stdout_has(&["Running stage 's'"]);
        assert_eq!(c.read("out.txt"), "input\n");
        assert!(c.read("pipeline.yaml").contains("cp in.txt out.txt"));
        assert!(!victim.exists());
        assert!(!c.path().parent().expect("parent").join("x").exists());
        assert!(!c.read("pipeline.lock").contains(&path));
    }
}

#[test]
fn a_run_cache_entry_with_a_path_for_a_digest_is_refused_and_never_pushed() {
    let outside = Outside::new();
    let p = Project::new();
    let remote = with_folder_remote(&p);
    let key = "c".repeat(64);
    std::fs::create_dir_all(remote.path().join("runs/v1")).expect("mkdir");
    std::fs::write(
        remote.path().join("runs/v1").join(&key),
        format!(
            "outs:\n- path: out.txt\n  digest: '{}'\n  size: 10\n",
            digest_walking_to(&outside.secret())
        ),
    )
    .expect("write");
    p.cairn(&["fetch", "--run-cache"]).ok().stderr_has(&[
        "run-cache entry",
        "refused",
        "is not a digest",
    ]);
    assert!(!p.exists(&format!(".cairn/runs/v1/{key}")));
    // Pushing the run-cache elsewhere sends nothing of it.
    let other = tempfile::tempdir().expect("tmp");
    p.cairn(&[
        "remote",
        "add",
        "other",
        &other.path().display().to_string(),
    ])
    .ok();
    p.cairn(&["push", "--run-cache", "--remote", "other"]).ok();
    holds_no_secret(other.path());
}

#[test]
fn leftovers_of_killed_processes_are_removed_by_the_next_command() {
    let p = Project::new();
    p.write(
        "pipeline.yaml",
        "stages:\n  s:\n    cmd: mkdir -p sub/d && echo 1 > sub/d/x\n    outs: [sub/d]\n",
    );
    // Pids on Linux stay below 2^22, so this writer is certainly gone; the test's own pid is
    // alive and its files must stay.
    let dead = i32::MAX;
    let alive = std::process::id();
    let leftovers = [
        format!(".cairn/tmp/obj-{dead}-x1"),
        format!(".cairn/tmp/place-{dead}-7"),
        format!(".cairn/.cairn-tmp-{dead}-state"),
        format!(".cairn/cache/packs/v1/.cairn-tmp-{dead}-idx"),
        format!(".cairn/runs/v1/.cairn-tmp-{dead}-run"),
        format!(".cairn-tmp-{dead}-lock"),
    ];
    for rel in &leftovers {
        p.write(rel, "half");
    }
    let live = format!(".cairn/tmp/obj-{alive}-x2");
    p.write(&live, "in use");
    p.cairn(&["status"]).ok();
    for rel in &leftovers {
        assert!(!p.exists(rel), "{rel} was left");
    }
    assert!(p.exists(&live), "a live process's file is kept");

    // Beside an out, what a killed stage left is removed when the stage runs again.
    p.write(&format!("sub/.cairn-tmp-{dead}-abc/partial"), "half");
    p.cairn(&["repro"]).ok();
    assert!(!p.exists(&format!("sub/.cairn-tmp-{dead}-abc")));
}
