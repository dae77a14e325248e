//! `cairn add`, `remote`, `push`/`fetch`/`pull` and `gc`, against a folder remote and a real
//! S3-compatible server (moto) on 127.0.0.1.

pub(crate) mod moto;

use std::path::Path;

use cairn_core::cache::{LinkType, ObjectStore};
use cairn_core::digest::Digest;
use cairn_core::lock::{Lock, LockedPath};
use cairn_core::rel_path::RelPath;
use cairn_core::repro::run_cache::{RunCache, RunEntry};

use crate::support::{Output, Project, run};
use moto::Moto;

/// Deterministic bytes (xorshift), so files differ without a random crate.
pub(crate) fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A directory of `files` files (one of them nested) plus a single file, tracked with `cairn add`.
pub(crate) fn tracked_data(p: &Project, files: usize) {
    for i in 0..files {
        p.write(&format!("data/part-{i:04}.bin"), bytes(i as u64, 1000 + i));
    }
    p.write("data/nested/deep.txt", "deep\n");
    p.write("model.bin", bytes(7777, 300_000));
    p.cairn(&["add", "data", "model.bin"]).ok();
}

/// The committed part of `p` (what `git clone` would give) in a new folder: no cache, no
/// local config, nothing a .gitignore lists.
pub(crate) fn clone(p: &Project) -> Project {
    let c = Project::bare();
    for entry in walkdir::WalkDir::new(p.path())
        .into_iter()
        .filter_entry(|e| {
            let rel = e.path().strip_prefix(p.path()).unwrap_or(e.path());
            let rel = rel.to_string_lossy();
            if rel.starts_with(".cairn/") {
                return rel == ".cairn/config.yaml" || rel == ".cairn/.gitignore";
            }
            let ignored = e
                .path()
                .parent()
                .and_then(|dir| std::fs::read_to_string(dir.join(".gitignore")).ok())
                .is_some_and(|text| {
                    let line = format!("/{}", e.file_name().to_string_lossy());
                    text.lines().any(|l| l == line)
                });
            !ignored
        })
    {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(p.path()).expect("inside");
        if entry.file_type().is_file() {
            c.write(
                &rel.to_string_lossy(),
                std::fs::read(entry.path()).expect("read"),
            );
        }
    }
    std::fs::create_dir_all(c.join(".cairn")).expect("mkdir");
    c
}

/// Asserts that `rel` holds the same bytes in both projects (a file, or every file of a folder).
#[track_caller]
pub(crate) fn assert_same(a: &Project, b: &Project, rel: &str) {
    let root = a.join(rel);
    let mut n = 0;
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let inner = entry.path().strip_prefix(a.path()).expect("inside");
            let theirs = std::fs::read(b.path().join(inner))
                .unwrap_or_else(|e| panic!("{} missing in the clone: {e}", inner.display()));
            assert!(
                theirs == std::fs::read(entry.path()).expect("read"),
                "{} differs",
                inner.display()
            );
            n += 1;
        }
    }
    assert!(n > 0, "{rel} holds no files");
}

pub(crate) fn store(p: &Project) -> ObjectStore {
    ObjectStore::at(
        &p.join(".cairn/cache"),
        &p.join(".cairn/tmp"),
        vec![LinkType::Copy],
    )
}

/// Puts `rel` in the cache and returns its lock record (a file).
pub(crate) fn cache_file(p: &Project, rel: &str) -> LockedPath {
    let digest = cairn_core::hash::digest_file(&p.join(rel)).expect("digest");
    store(p).insert_file(&p.join(rel), &digest).expect("insert");
    LockedPath {
        path: RelPath::parse(rel).expect("a relative path"),
        digest,
        size: std::fs::metadata(p.join(rel)).expect("stat").len(),
        nfiles: None,
    }
}

/// A pipeline with one stage `train` run by `cairn repro`: a cached out folder `models` and an
/// uncached metrics file. Returns the lock record of `models`.
fn locked_stage(p: &Project) -> LockedPath {
    p.write(
        "pipeline.yaml",
        "stages:\n  train:\n    cmd: mkdir -p models && echo weights > models/m.json \
         && echo 0.9 > metrics.json\n    outs: [models]\n    metrics:\n      \
         - metrics.json: {cache: false}\n",
    );
    p.cairn(&["repro"]).ok();
    let lock = Lock::read(&p.join("pipeline.lock")).expect("lock");
    lock.stages["train"]
        .outs
        .iter()
        .find(|o| o.path == "models")
        .expect("models in the lock")
        .clone()
}

/// The object file of `digest` inside a folder remote.
pub(crate) fn remote_object(remote: &Path, digest: &str) -> std::path::PathBuf {
    remote.join("v1").join(&digest[..2]).join(&digest[2..])
}

pub(crate) fn digest_in_pointer(p: &Project, pointer: &str) -> Digest {
    let text = p.read(pointer);
    let digest = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .expect("digest line");
    Digest::parse(digest).expect("a digest")
}

// ---------------------------------------------------------------- add

#[test]
fn add_tracks_a_directory_and_a_file() {
    let p = Project::new();
    tracked_data(&p, 3);
    let pointer = p.read("data.cairn");
    assert!(
        pointer.contains("path: data") && pointer.contains("nfiles: 4"),
        "{pointer}"
    );
    assert!(p.read("model.bin.cairn").contains("size: 300000"));
    assert_eq!(p.read(".gitignore"), "/data\n/model.bin\n");
    // Adding again changes nothing in .gitignore; a nested path gets its own .gitignore.
    p.write("sub/x.csv", "a,b\n");
    p.cairn(&["add", "data", "sub/x.csv"]).ok();
    assert_eq!(p.read(".gitignore"), "/data\n/model.bin\n");
    assert_eq!(p.read("sub/.gitignore"), "/x.csv\n");
    assert!(p.read("sub/x.csv.cairn").contains("path: x.csv"));
    let digest = digest_in_pointer(&p, "model.bin.cairn");
    assert!(store(&p).contains(&digest));
}

#[test]
fn add_refuses_missing_outside_and_stage_outs() {
    let p = Project::new();
    p.cairn(&["add", "nope.csv"])
        .code(2)
        .stderr_has(&["nope.csv", "no such file"]);
    let outside = tempfile::NamedTempFile::new().expect("tmp");
    p.cairn(&["add", &outside.path().display().to_string()])
        .code(2)
        .stderr_has(&["outside the workspace"]);
    locked_stage(&p);
    p.cairn(&["add", "models"])
        .code(2)
        .stderr_has(&["models", "stage 'train'"]);
    p.cairn(&["add", "models/m.json"])
        .code(2)
        .stderr_has(&["an out of stage 'train'"]);
    assert!(!p.exists("models.cairn"));
}

// ---------------------------------------------------------------- remote config

#[test]
fn remote_config_commands_and_their_errors() {
    let p = Project::new();
    p.cairn(&["push"])
        .code(2)
        .stderr_has(&["no remote is configured", "cairn remote add"]);
    p.cairn(&["remote", "add", "store", "../elsewhere", "--default"])
        .ok();
    p.cairn(&["remote", "add", "store", "/x"])
        .code(2)
        .stderr_has(&["already exists"]);
    p.cairn(&["remote", "add", "web", "https://example.com/x"])
        .code(2)
        .stderr_has(&["not supported"]);
    p.cairn(&["remote", "add", "bad name", "/x"]).code(2);
    p.cairn(&["remote", "add", "s3", "s3://bucket/pre/fix"])
        .ok();
    p.cairn(&["remote", "modify", "s3", "colour", "blue"])
        .code(2)
        .stderr_has(&[
            "unknown remote setting 'colour'",
            "endpoint_url",
            "secret_access_key",
        ]);
    p.cairn(&["remote", "modify", "ghost", "region", "x"])
        .code(2)
        .stderr_has(&["no remote named 'ghost'"]);
    p.cairn(&["remote", "modify", "s3", "region", "eu-west-1"])
        .ok();
    p.cairn(&["remote", "modify", "s3", "secret_access_key", "TOPSECRET"])
        .ok();
    let list = p.cairn(&["remote", "list"]).ok();
    assert!(
        list.stdout.contains("* store") && list.stdout.contains("region=eu-west-1"),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains("TOPSECRET"));
    let json: serde_json::Value =
        serde_json::from_str(&p.cairn(&["remote", "list", "--json"]).ok().stdout).expect("json");
    assert_eq!(json[0]["name"], "s3");
    assert_eq!(json[0]["settings"]["secret_access_key"], "***");
    assert_eq!(json[1]["default"], true);
    p.cairn(&["remote", "default", "ghost"]).code(2);
    p.cairn(&["remote", "default", "s3"]).ok();
    p.cairn(&["remote", "remove", "s3"]).ok();
    p.cairn(&["remote", "remove", "s3"]).code(2);
    let committed = p.read(".cairn/config.yaml");
    assert!(
        !committed.contains("s3") && !committed.contains("remote: s3"),
        "{committed}"
    );
    assert!(!p.read(".cairn/config.local.yaml").contains("TOPSECRET"));
    // With the default gone and one remote left, that one is used.
    p.cairn(&["push"]).ok().stdout_has(&["remote 'store'"]);
}

// ---------------------------------------------------------------- folder remote

pub(crate) fn with_folder_remote(p: &Project) -> tempfile::TempDir {
    let remote = tempfile::Builder::new()
        .prefix("cairn-remote-")
        .tempdir()
        .expect("tmp");
    p.cairn(&[
        "remote",
        "add",
        "store",
        &remote.path().display().to_string(),
        "--default",
    ])
    .ok();
    remote
}

#[test]
fn folder_round_trip_into_a_fresh_clone() {
    let p = Project::new();
    tracked_data(&p, 40);
    locked_stage(&p);
    let _remote = with_folder_remote(&p);
    let first = p.cairn(&["push", "--json"]).ok();
    let summary: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
    // 41 data files + their listing + model + the stage's out folder (a listing and a file);
    // not metrics.json, which is `cache: false`.
    assert_eq!(summary["pushed"], 45, "{}", first.stdout);
    p.cairn(&["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "45 already on remote"]);

    let c = clone(&p);
    assert!(!c.exists("data") && !c.exists("models") && c.exists("data.cairn"));
    c.cairn(&["pull"])
        .ok()
        .stdout_has(&["fetched 45 objects", "placed 3 paths"]);
    assert_same(&p, &c, "data");
    assert_same(&p, &c, "model.bin");
    assert_same(&p, &c, "models");
    c.cairn(&["pull"])
        .ok()
        .stdout_has(&["fetched 0 objects", "placed 0 paths"]);
    // The clone is up to date: nothing is stale and nothing reruns.
    c.cairn(&["status", "--check"]).ok();
    c.cairn(&["repro"]).ok();
    assert_eq!(c.read("pipeline.lock"), p.read("pipeline.lock"));
    assert_same(&p, &c, "models");
    // A changed workspace file is put back.
    c.write("data/part-0001.bin", "edited");
    c.cairn(&["pull"]).ok().stdout_has(&["placed 1 paths"]);
    assert_same(&p, &c, "data");
}

/// Every file under a folder remote's objects hashes to the name it is stored under (and
/// nothing else is left there, such as a temporary file); returns how many there are.
#[track_caller]
fn remote_objects_are_whole(remote: &Path) -> usize {
    let mut n = 0;
    for entry in walkdir::WalkDir::new(remote.join("v1")).min_depth(2) {
        let entry = entry.expect("walk");
        if entry.file_type().is_dir() {
            continue;
        }
        let shard = entry
            .path()
            .parent()
            .and_then(|d| d.file_name())
            .expect("shard");
        let name = format!(
            "{}{}",
            shard.to_string_lossy(),
            entry.file_name().to_string_lossy()
        );
        let actual = cairn_core::hash::digest_file(entry.path()).expect("digest");
        assert_eq!(actual, name, "{} is not whole", entry.path().display());
        n += 1;
    }
    n
}

#[test]
fn push_killed_midway_leaves_only_whole_objects_and_a_rerun_completes() {
    let p = Project::new();
    tracked_data(&p, 3000);
    let remote = with_folder_remote(&p);
    let mut push = p.command(&["push", "--jobs", "1"]);
    let mut child = push.spawn().expect("spawn push");
    // Kill once some objects have arrived, not before.
    while walkdir::WalkDir::new(remote.path()).into_iter().count() < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let before = remote_objects_are_whole(remote.path());
    assert!(before < 3003, "the push finished before it was killed");
    p.cairn(&["push"]).ok().stdout_has(&[
        &format!("pushed {} objects", 3003 - before),
        &format!("{before} already on remote"),
    ]);
    assert_eq!(remote_objects_are_whole(remote.path()), 3003);
}

/// A second workspace holding the same tracked data as `p`, with its own cache.
fn twin(p: &Project) -> Project {
    let q = clone(p);
    for rel in ["data", "model.bin"] {
        let from = p.join(rel);
        let to = q.join(rel);
        run({
            let mut cp = std::process::Command::new("cp");
            cp.arg("-r").arg(&from).arg(&to);
            cp
        })
        .ok();
    }
    q.cairn(&["add", "data", "model.bin"]).ok();
    q
}

/// Starts both commands, then waits for both; each must succeed.
fn both_succeed(mut a: std::process::Command, mut b: std::process::Command) {
    let spawn = |cmd: &mut std::process::Command| {
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(&mut a), spawn(&mut b));
    for out in [a.wait_with_output(), b.wait_with_output()] {
        let out = out.expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn two_pushes_into_one_folder_at_once_both_succeed() {
    let p = Project::new();
    tracked_data(&p, 400);
    let remote = with_folder_remote(&p);
    // A second workspace with the same data pushes the same objects at the same time.
    let q = twin(&p);
    both_succeed(p.command(&["push"]), q.command(&["push"]));
    assert_eq!(remote_objects_are_whole(remote.path()), 403);
    let c = clone(&p);
    c.cairn(&["pull"]).ok();
    assert_same(&p, &c, "data");
}

#[test]
fn targets_narrow_what_moves() {
    let p = Project::new();
    tracked_data(&p, 2);
    let out = locked_stage(&p);
    let remote = with_folder_remote(&p);
    p.cairn(&["push", "train"])
        .ok()
        .stdout_has(&["pushed 2 objects"]);
    assert!(remote_object(remote.path(), &out.digest).is_file());
    p.cairn(&["push", "model.bin.cairn"])
        .ok()
        .stdout_has(&["pushed 1 objects"]);
    p.cairn(&["push", "data"])
        .ok()
        .stdout_has(&["pushed 4 objects"]);
    p.cairn(&["push", "nothing-here"])
        .code(2)
        .stderr_has(&["'nothing-here' is neither a stage"]);
    let c = clone(&p);
    c.cairn(&["pull", "model.bin"])
        .ok()
        .stdout_has(&["placed 1 paths"]);
    assert!(c.exists("model.bin") && !c.exists("data"));
}

#[test]
fn a_corrupted_remote_object_is_refused_and_nothing_is_placed() {
    let p = Project::new();
    tracked_data(&p, 3);
    let remote = with_folder_remote(&p);
    p.cairn(&["push"]).ok();
    let digest = digest_in_pointer(&p, "model.bin.cairn");
    let object = remote_object(remote.path(), &digest);
    std::fs::write(&object, b"not the model").expect("corrupt");

    let c = clone(&p);
    c.cairn(&["pull"])
        .code(1)
        .stderr_has(&[&digest, "model.bin", "corrupted on the remote"]);
    assert!(!c.exists("model.bin"));
    assert!(!store(&c).contains(&digest));
    // The objects that were fine are kept; repairing the remote lets the pull finish.
    p.cairn(&["gc"]).ok();
    std::fs::remove_file(&object).expect("rm");
    p.cairn(&["push"]).ok().stdout_has(&["pushed 1 objects"]);
    c.cairn(&["pull"]).ok();
    assert_same(&p, &c, "model.bin");
    assert_same(&p, &c, "data");
}

#[test]
fn an_object_missing_on_the_remote_fails_the_pull() {
    let p = Project::new();
    tracked_data(&p, 1);
    let remote = with_folder_remote(&p);
    p.cairn(&["push"]).ok();
    let digest = digest_in_pointer(&p, "model.bin.cairn");
    std::fs::remove_file(remote_object(remote.path(), &digest)).expect("rm");
    let c = clone(&p);
    c.cairn(&["fetch"])
        .code(1)
        .stderr_has(&["not on the remote", &digest, "cairn push"]);
}

#[test]
fn run_cache_entries_travel_with_run_cache() {
    let p = Project::new();
    p.write("out/result.txt", "from a run\n");
    p.write(".gitignore", "/out\n");
    let out = cache_file(&p, "out/result.txt");
    let key = Digest::parse(&"a".repeat(64)).expect("a digest");
    RunCache::at(&p.join(".cairn/runs"))
        .put(
            &key,
            &RunEntry {
                outs: vec![out.clone()],
            },
        )
        .expect("put");
    let remote = with_folder_remote(&p);
    p.cairn(&["push"]).ok().stdout_has(&["pushed 0 objects"]);
    p.cairn(&["push", "--run-cache"])
        .ok()
        .stdout_has(&["pushed 1 objects", "1 run-cache entries"]);
    assert!(remote.path().join("runs/v1").join(&key).is_file());

    let c = clone(&p);
    c.cairn(&["fetch", "--run-cache"])
        .ok()
        .stdout_has(&["fetched 1 objects", "1 run-cache entries"]);
    assert!(store(&c).contains(&out.digest));
    assert!(RunCache::at(&c.join(".cairn/runs")).get(&key).is_some());
    assert!(
        !c.exists("out/result.txt"),
        "run-cache outs are not placed in the workspace"
    );
}

// ---------------------------------------------------------------- gc

#[test]
fn gc_removes_only_unreferenced_objects() {
    let p = Project::new();
    tracked_data(&p, 3);
    let kept_model = digest_in_pointer(&p, "model.bin.cairn");
    let out = locked_stage(&p);
    p.write("model.bin", "a newer model");
    p.cairn(&["add", "model.bin"]).ok();
    let new_model = digest_in_pointer(&p, "model.bin.cairn");
    p.write("run/out.txt", "kept by the run-cache\n");
    let run_out = cache_file(&p, "run/out.txt");
    RunCache::at(&p.join(".cairn/runs"))
        .put(
            &Digest::parse(&"b".repeat(64)).expect("a digest"),
            &RunEntry {
                outs: vec![run_out.clone()],
            },
        )
        .expect("put");
    let s = store(&p);
    let before = s.all().expect("all").len();

    p.cairn(&["gc", "--dry"])
        .ok()
        .stdout_has(&["would remove 1 objects"]);
    assert_eq!(s.all().expect("all").len(), before);
    p.cairn(&["gc"]).ok().stdout_has(&["removed 1 objects"]);
    assert!(!s.contains(&kept_model), "the old model is unreferenced");
    for digest in [
        &new_model,
        &out.digest,
        &run_out.digest,
        &digest_in_pointer(&p, "data.cairn"),
    ] {
        assert!(s.contains(digest), "{digest} was referenced");
    }
    assert_eq!(
        s.all().expect("all").len(),
        before - 1,
        "every data file is kept"
    );
    p.cairn(&["gc", "--run-cache"])
        .ok()
        .stdout_has(&["removed 1 objects", "1 run-cache entries"]);
    assert!(!s.contains(&run_out.digest));
    assert!(s.contains(&new_model));
}

// ---------------------------------------------------------------- S3 (moto)

/// `cairn ARGS` with explicit test credentials and region, never the user's AWS files.
pub(crate) fn s3_cairn(p: &Project, args: &[&str]) -> Output {
    run(s3_command(p, args))
}

/// The command [`s3_cairn`] runs.
pub(crate) fn s3_command(p: &Project, args: &[&str]) -> std::process::Command {
    let mut cmd = p.command(args);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

pub(crate) fn with_s3_remote(p: &Project, moto: &Moto, bucket: &str) {
    p.cairn(&[
        "remote",
        "add",
        "s3",
        &format!("s3://{bucket}/team/store"),
        "--default",
    ])
    .ok();
    p.cairn(&["remote", "modify", "s3", "endpoint_url", &moto.endpoint()])
        .ok();
    p.cairn(&["remote", "modify", "s3", "region", "us-east-1"])
        .ok();
}

#[test]
fn s3_round_trip_with_multipart_and_a_no_op_second_push() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 30);
    // Above the multipart threshold (64 MiB): goes up in pieces.
    p.write("big.bin", bytes(42, 70 << 20));
    p.cairn(&["add", "big.bin"]).ok();
    // Above the in-memory limit (1 MiB), below multipart: streamed from the file in one request.
    p.write("mid.bin", bytes(43, 3 << 20));
    // Empty: a pack member of no bytes.
    p.write("empty.bin", "");
    p.cairn(&["add", "mid.bin", "empty.bin"]).ok();
    with_s3_remote(&p, moto, &bucket);
    // The 34 objects under 1 MiB travel in one pack; the two big files alone.
    s3_cairn(&p, &["push"]).ok().stdout_has(&[
        "pushed 36 objects",
        "34 of them in 1 pack",
        "0 already",
    ]);
    let mut keys = moto.keys(&bucket);
    keys.sort();
    let loose = |k: &&String| k.starts_with("team/store/v1/");
    assert_eq!(keys.iter().filter(loose).count(), 2, "{keys:?}");
    let packs: Vec<_> = keys.iter().filter(|k| !loose(k)).collect();
    assert_eq!(packs.len(), 2, "{keys:?}");
    assert!(packs[0].starts_with("team/store/packs/v1/"), "{keys:?}");
    assert_eq!(format!("{}.idx", packs[0]), *packs[1]);
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "36 already on remote 's3'"]);

    // An index that is not what its name says is ignored, with a warning.
    let bogus = format!("packs/v1/{}.idx", "ab".repeat(32));
    moto.put(&bucket, &format!("team/store/{bogus}"), b"cairn-pack v1\n");
    let c = clone(&p);
    s3_cairn(&c, &["pull", "--jobs", "3"])
        .ok()
        .stdout_has(&["fetched 36 objects", "placed 5 paths"])
        .stderr_has(&["damaged pack index", &bogus]);
    assert_eq!(c.read("empty.bin"), "");
    for rel in ["data", "model.bin", "big.bin", "mid.bin"] {
        assert_same(&p, &c, rel);
    }
    // Without its copies of the indexes, a workspace learns from the remote that nothing is
    // missing.
    std::fs::remove_dir_all(c.join(".cairn/cache/packs")).expect("indexes were kept");
    s3_cairn(&c, &["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "36 already"]);
}

#[test]
fn s3_pulling_one_target_reads_only_its_part_of_a_pack() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 200);
    p.write("other.bin", bytes(99, 2000));
    p.cairn(&["add", "other.bin"]).ok();
    with_s3_remote(&p, moto, &bucket);
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 204 objects", "in 1 pack"]);

    let c = clone(&p);
    s3_cairn(&c, &["pull", "model.bin.cairn", "other.bin.cairn"])
        .ok()
        .stdout_has(&["fetched 2 objects", "placed 2 paths"]);
    assert_same(&p, &c, "model.bin");
    assert_same(&p, &c, "other.bin");
    assert!(!c.exists("data"));
    s3_cairn(&c, &["pull"])
        .ok()
        .stdout_has(&["fetched 202 objects", "2 already in the cache"]);
    assert_same(&p, &c, "data");
}

#[test]
fn a_folder_copy_of_an_s3_remote_serves_a_pull_from_its_packs() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 20);
    with_s3_remote(&p, moto, &bucket);
    s3_cairn(&p, &["push"]).ok().stdout_has(&["in 1 pack"]);
    // What `aws s3 sync s3://BUCKET/team/store DIR` would make.
    let c = clone(&p);
    let copy = with_folder_remote(&c);
    for key in moto.keys(&bucket) {
        let rel = key.strip_prefix("team/store/").expect("under the prefix");
        let dest = copy.path().join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::write(dest, moto.get(&bucket, &key)).expect("write");
    }
    c.cairn(&["pull"]).ok().stdout_has(&["fetched 23 objects"]);
    assert_same(&p, &c, "data");
    assert_same(&p, &c, "model.bin");
}

#[test]
fn two_pushes_to_one_s3_remote_at_once_both_succeed() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 400);
    with_s3_remote(&p, moto, &bucket);
    // The same objects in the same order make the same packs: both write the same keys.
    let q = twin(&p);
    both_succeed(s3_command(&p, &["push"]), s3_command(&q, &["push"]));
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "403 already"]);
    let c = clone(&p);
    s3_cairn(&c, &["pull"]).ok();
    assert_same(&p, &c, "data");
    assert_same(&p, &c, "model.bin");
}

#[test]
fn s3_push_killed_midway_leaves_every_index_with_its_pack_and_a_rerun_completes() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    // 40 MiB: about ten packs, one in flight.
    for i in 0..80 {
        p.write(&format!("data/{i:02}.bin"), bytes(7000 + i, 512 << 10));
    }
    p.cairn(&["add", "data"]).ok();
    with_s3_remote(&p, moto, &bucket);
    let mut child = s3_command(&p, &["push", "--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn push");
    while moto.keys(&bucket).is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let keys = moto.keys(&bucket);
    let indexes = keys.iter().filter(|k| k.ends_with(".idx")).count();
    assert!(
        indexes < 10,
        "the push finished before it was killed: {keys:?}"
    );
    for index in keys.iter().filter(|k| k.ends_with(".idx")) {
        assert!(keys.contains(&index.trim_end_matches(".idx").to_string()));
    }
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["already on remote"]);
    let c = clone(&p);
    s3_cairn(&c, &["pull"]).ok();
    assert_same(&p, &c, "data");
}

/// Flips one byte of object `digest` inside the (only) pack on `bucket`, as a damaged disk
/// would; returns the pack's key.
pub(crate) fn damage_packed(moto: &Moto, bucket: &str, digest: &Digest) -> String {
    let index_key = moto
        .keys(bucket)
        .into_iter()
        .find(|k| k.ends_with(".idx"))
        .expect("a pack index");
    let index = String::from_utf8(moto.get(bucket, &index_key)).expect("text");
    let offset: usize = index
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{digest} ")))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .expect("the object in the index");
    let pack_key = index_key.trim_end_matches(".idx");
    let mut pack = moto.get(bucket, pack_key);
    pack[offset + 1000] ^= 0xff;
    moto.put(bucket, pack_key, &pack);
    pack_key.to_string()
}

#[test]
fn s3_corrupted_object_is_refused_on_pull() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 2);
    with_s3_remote(&p, moto, &bucket);
    s3_cairn(&p, &["push"]).ok();
    // model.bin is packed with the rest: flip one byte of its part of the pack.
    let digest = digest_in_pointer(&p, "model.bin.cairn");
    damage_packed(moto, &bucket, &digest);

    let c = clone(&p);
    s3_cairn(&c, &["pull"])
        .code(1)
        .stderr_has(&[&digest, "model.bin", "corrupted on the remote"]);
    assert!(!c.exists("model.bin"));
    assert!(!store(&c).contains(&digest));
    // What else arrived with it was whole and is kept: the listing of `data`.
    assert!(store(&c).contains(&digest_in_pointer(&p, "data.cairn")));
}

#[test]
fn s3_credentials_stay_in_the_local_config() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 1);
    with_s3_remote(&p, moto, &bucket);
    p.cairn(&["remote", "modify", "s3", "access_key_id", "AKIDLOCALONLY"])
        .ok();
    p.cairn(&[
        "remote",
        "modify",
        "s3",
        "secret_access_key",
        "SECRETLOCALONLY",
    ])
    .ok();
    let committed = p.read(".cairn/config.yaml");
    assert!(!committed.contains("LOCALONLY"), "{committed}");
    assert!(
        p.read(".cairn/config.local.yaml")
            .contains("SECRETLOCALONLY")
    );
    assert!(p.read(".cairn/.gitignore").contains("/config.local.yaml"));
    // The push works with only those credentials (none in the environment).
    let mut cmd = p.command(&["push"]);
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE");
    run(cmd).ok().stdout_has(&["pushed 4 objects"]);
    assert!(!p.read(".cairn/config.yaml").contains("LOCALONLY"));
}

#[test]
fn s3_server_stopped_mid_push_fails_clearly_and_a_rerun_completes() {
    let port = moto::free_port();
    let mut moto = Moto::start(port);
    let bucket = "cairn-interrupted";
    moto.create_bucket(bucket);
    let p = Project::new();
    tracked_data(&p, 1500);
    // 40 MiB more: about ten packs, two in flight.
    for i in 0..80 {
        p.write(&format!("blobs/{i:02}.bin"), bytes(5000 + i, 512 << 10));
    }
    p.cairn(&["add", "blobs"]).ok();
    with_s3_remote(&p, &moto, bucket);

    let mut push = p.command(&["push", "--jobs", "2"]);
    push.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = push.spawn().expect("spawn push");
    // Stop the server once a pack and its index have arrived, not before.
    while moto.keys(bucket).len() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    moto.kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("remote 's3'") && stderr.contains("pack uploads failed"),
        "{stderr}"
    );
    assert!(stderr.contains("run `cairn push` again"), "{stderr}");

    // moto keeps objects in memory: the restarted server is empty, and the rerun sends all.
    let moto = Moto::start(port);
    moto.create_bucket(bucket);
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 1584 objects"]);
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "1584 already on remote"]);
    let c = clone(&p);
    s3_cairn(&c, &["pull"]).ok();
    assert_same(&p, &c, "data");
    assert_same(&p, &c, "blobs");
}

#[test]
fn repro_pull_restores_from_the_remote_run_cache_instead_of_running() {
    let p = Project::new();
    // Only stages whose outs are all cached get run-cache entries.
    p.write(
        "pipeline.yaml",
        "stages:\n  train:\n    cmd: mkdir -p models && echo weights > models/m.json\n    outs: [models]\n",
    );
    p.cairn(&["repro"]).ok();
    let _remote = with_folder_remote(&p);
    p.cairn(&["push", "--run-cache"]).ok();
    let c = clone(&p);
    assert!(!c.exists("models"));
    let out = c.cairn(&["repro", "--pull"]).ok();
    assert!(!out.stdout.contains("Running stage"), "{}", out.stdout);
    assert_same(&p, &c, "models");
    assert_eq!(c.read("pipeline.lock"), p.read("pipeline.lock"));
}

// ---------------------------------------------------------------- per-out push and remote

/// A stage making three outs: `shared.bin` (default remote), `local.bin` (`push: false`) and
/// `archived.bin` (`remote: archive`), with a folder remote `store` (the default) and `archive`
/// (a folder, unless the caller adds it). Returns the digests of the three outs.
fn routed_stage(p: &Project, archive_size: usize) -> [Digest; 3] {
    p.write("src/a.bin", bytes(1, 5000));
    p.write("src/b.bin", bytes(2, 6000));
    p.write("src/c.bin", bytes(3, archive_size));
    p.write(
        "pipeline.yaml",
        "stages:\n  make:\n    cmd: cp src/a.bin shared.bin && cp src/b.bin local.bin \
         && cp src/c.bin archived.bin\n    deps: [src]\n    outs:\n      - shared.bin\n      \
         - local.bin: {push: false}\n      - archived.bin: {remote: archive}\n",
    );
    p.cairn(&["repro"]).ok();
    let lock = Lock::read(&p.join("pipeline.lock")).expect("lock");
    let digest = |path: &str| {
        lock.stages["make"]
            .outs
            .iter()
            .find(|o| o.path == path)
            .expect("locked out")
            .digest
            .clone()
    };
    [
        digest("shared.bin"),
        digest("local.bin"),
        digest("archived.bin"),
    ]
}

#[test]
fn push_false_outs_stay_local_and_an_out_with_its_own_remote_travels_there() {
    let p = Project::new();
    let [shared, local, archived] = routed_stage(&p, 7000);
    let store_dir = with_folder_remote(&p);
    // The out names a remote nobody configured: nothing moves, and the error says what to do.
    p.cairn(&["push"]).code(2).stderr_has(&[
        "pipeline.yaml",
        "stage 'make': out 'archived.bin'",
        "remote 'archive' is not configured (configured: store)",
        "cairn remote add archive",
    ]);
    assert!(!remote_object(store_dir.path(), shared.as_str()).exists());
    c_fails_the_same(&p);
    let archive_dir = tempfile::tempdir().expect("tmp");
    let archive_url = archive_dir.path().display().to_string();
    p.cairn(&["remote", "add", "archive", &archive_url]).ok();

    let out = p
        .cairn(&["push"])
        .ok()
        .stderr_has(&["note: not pushed: stage 'make': out 'local.bin' has push: false"]);
    assert!(
        out.stdout
            .contains("pushed 1 objects (0.0 MiB), 0 already on remote 'store'")
            && out
                .stdout
                .contains("pushed 1 objects (0.0 MiB), 0 already on remote 'archive'"),
        "{}",
        out.stdout
    );
    let on = |dir: &tempfile::TempDir, d: &Digest| remote_object(dir.path(), d.as_str()).is_file();
    assert!(on(&store_dir, &shared) && !on(&archive_dir, &shared));
    assert!(on(&archive_dir, &archived) && !on(&store_dir, &archived));
    assert!(!on(&store_dir, &local) && !on(&archive_dir, &local));
    assert_eq!(remote_objects_are_whole(store_dir.path()), 1);
    assert_eq!(remote_objects_are_whole(archive_dir.path()), 1);
    let json: serde_json::Value =
        serde_json::from_str(&p.cairn(&["push", "--json"]).ok().stdout).expect("json");
    assert_eq!(json["already_on_remote"], 2, "{json}");
    assert_eq!(json["remotes"][1]["remote"], "archive", "{json}");
    assert_eq!(
        json["not_pushed"][0],
        "stage 'make': out 'local.bin' has push: false"
    );

    // With --remote, outs bound to another remote stay where they are, as with `dvc push -r`.
    p.cairn(&["push", "--remote", "store"]).ok().stderr_has(&[
        "not pushed: stage 'make': out 'archived.bin' goes to remote 'archive', not 'store'",
    ]);
    assert!(!on(&store_dir, &archived));

    // A fresh clone pulls each out from its remote; the push: false out is on none, which the
    // pull says instead of failing.
    let c = clone(&p);
    let pulled = c.cairn(&["pull"]).ok().stderr_has(&[
        "note: not fetched: stage 'make': out 'local.bin' has push: false, so no remote has it",
        "note: not placed",
        "local.bin",
    ]);
    assert!(
        pulled
            .stdout
            .contains("fetched 2 objects (0.0 MiB) from remotes 'store', 'archive'"),
        "{}",
        pulled.stdout
    );
    assert_same(&p, &c, "shared.bin");
    assert_same(&p, &c, "archived.bin");
    assert!(!c.exists("local.bin"));
    // Asked for by name, the same.
    c.cairn(&["pull", "make"])
        .ok()
        .stderr_has(&["not fetched: stage 'make': out 'local.bin' has push: false"]);
    c.cairn(&["status", "--check"])
        .code(1)
        .stdout_has(&["local.bin"]);
    // Once made locally, the clone has everything.
    c.cairn(&["repro"]).ok();
    assert_same(&p, &c, "local.bin");
    c.cairn(&["status", "--check"]).ok();
}

/// A clone of `p` whose pull fails on the unconfigured remote the same way its push does.
fn c_fails_the_same(p: &Project) {
    let c = clone(p);
    c.cairn(&["pull"]).code(2).stderr_has(&[
        "stage 'make': out 'archived.bin'",
        "remote 'archive' is not configured",
    ]);
}

#[test]
fn s3_an_out_with_its_own_remote_goes_to_the_bucket_only() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    // Above the pack limit: the object goes up loose, under its own key.
    let [shared, local, archived] = routed_stage(&p, 1 << 20);
    let store_dir = with_folder_remote(&p);
    p.cairn(&["remote", "add", "archive", &format!("s3://{bucket}/arch")])
        .ok();
    p.cairn(&[
        "remote",
        "modify",
        "archive",
        "endpoint_url",
        &moto.endpoint(),
    ])
    .ok();
    p.cairn(&["remote", "modify", "archive", "region", "us-east-1"])
        .ok();
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["already on remote 'store'", "already on remote 'archive'"]);
    let keys = moto.keys(&bucket);
    let key = |d: &Digest| format!("arch/v1/{}/{}", &d.as_str()[..2], &d.as_str()[2..]);
    assert_eq!(keys, [key(&archived)], "{keys:?}");
    assert!(remote_object(store_dir.path(), shared.as_str()).is_file());
    assert!(!remote_object(store_dir.path(), archived.as_str()).exists());
    assert!(!remote_object(store_dir.path(), local.as_str()).exists());

    let c = clone(&p);
    s3_cairn(&c, &["pull"]).ok();
    assert_same(&p, &c, "archived.bin");
    assert_same(&p, &c, "shared.bin");
    assert!(!c.exists("local.bin"));
}
