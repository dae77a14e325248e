//! Trust boundary: what a shared remote holds (objects, pack indexes, run-cache entries) and how remotes fail.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::remote::moto::Moto;
use crate::remote::{
    assert_same, clone, damage_packed, digest_in_pointer, remote_object, s3_cairn, s3_command,
    store, tracked_data, with_folder_remote, with_s3_remote,
};
use crate::support::{Output, Project};

/// Longest any command here may take before the test calls it a hang. Only a bound against
/// hanging: nothing here asserts how fast anything is.
const HANG: Duration = Duration::from_secs(60);

/// Runs `cmd` to completion, or kills it and fails the test once it ran for [`HANG`].
#[track_caller]
fn bounded(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(HANG) {
        Ok(out) => {
            let out = out.expect("wait");
            Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} still ran after {HANG:?}: it hangs");
        }
    }
}

/// Waits (at most [`HANG`]) until `path` exists.
#[track_caller]
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < HANG, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Flips the first byte of the file at `path` (made writable first: cairn stores objects
/// read-only).
fn flip_a_byte(path: &Path) {
    let mut perms = std::fs::metadata(path).expect("stat").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).expect("chmod");
    let mut bytes = std::fs::read(path).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(path, bytes).expect("write");
}

// ---------------------------------------------------------------- timeouts

#[test]
fn an_s3_endpoint_that_never_answers_fails_in_bounded_time_saying_what_it_waited_for() {
    // Connections to it complete (the kernel's backlog) but nothing ever answers.
    let blackhole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!(
        "http://127.0.0.1:{}",
        blackhole.local_addr().expect("addr").port()
    );
    let p = Project::new();
    p.write("data.csv", "a,b\n1,2\n");
    p.cairn(&["add", "data.csv"]).ok();
    p.cairn(&["remote", "add", "s3", "s3://silent/store", "--default"])
        .ok();
    p.cairn(&["remote", "modify", "s3", "endpoint_url", &endpoint])
        .ok();
    p.cairn(&["remote", "modify", "s3", "connect_timeout", "2"])
        .ok();
    p.cairn(&["remote", "modify", "s3", "read_timeout", "2"])
        .ok();

    // The push from the workspace, the fetch into a clone that lacks the data.
    let c = clone(&p);
    for (ws, command, listing) in [
        (&p, "push", "(listing v1/)"),
        (&c, "fetch", "(listing packs/v1/)"),
    ] {
        bounded(s3_command(ws, &[command])).code(1).stderr_has(&[
            // What it waited for, while it waited.
            &format!("cairn: waiting for s3://silent/store at {endpoint} {listing}"),
            // The failure: the remote, the endpoint, the request, the timeout, the fix.
            "remote 's3'",
            "listing s3://silent/store/",
            &format!("at {endpoint}: no answer within read_timeout = 2 s"),
            "gave up after 3 attempts",
            "cairn remote modify s3 read_timeout",
        ]);
    }
    drop(blackhole);
}

#[test]
fn nonsense_timeout_settings_are_refused_and_numbers_accepted() {
    let p = Project::new();
    p.write("data.csv", "a,b\n1,2\n");
    p.cairn(&["add", "data.csv"]).ok();
    let remote = tempfile::tempdir().expect("tmp");
    p.cairn(&["remote", "add", "s3", "s3://bucket/store"]).ok();
    for bad in ["abc", "0", "1e9", "inf", "30s"] {
        p.cairn(&["remote", "modify", "s3", "read_timeout", bad])
            .code(2)
            .stderr_has(&["read_timeout", bad]);
    }
    // Written by hand: plain YAML numbers are seconds; nonsense fails every command that
    // opens the remote, naming the remote and the setting.
    let config = format!(
        "core:\n  remote: store\nremotes:\n  store:\n    url: {}\n    connect_timeout: 5\n    read_timeout: 0.5\n",
        remote.path().display()
    );
    p.write(".cairn/config.yaml", &config);
    p.cairn(&["push"]).ok().stdout_has(&["pushed 1 objects"]);
    p.write(
        ".cairn/config.yaml",
        config.replace("read_timeout: 0.5", "read_timeout: -1"),
    );
    p.cairn(&["push"])
        .code(2)
        .stderr_has(&["remote 'store'", "read_timeout '-1'"]);
    p.write(
        ".cairn/config.yaml",
        config.replace("connect_timeout: 5", "connect_timeout: soon"),
    );
    p.cairn(&["fetch"])
        .code(2)
        .stderr_has(&["remote 'store'", "connect_timeout 'soon'"]);
}

// ---------------------------------------------------------------- the workspace lock

#[test]
fn fetch_beside_a_repro_waits_for_it_and_both_succeed() {
    let p = Project::new();
    tracked_data(&p, 20);
    let _remote = with_folder_remote(&p);
    p.cairn(&["push"]).ok();
    let c = clone(&p);
    let started = tempfile::tempdir().expect("tmp");
    let marker = started.path().join("started");
    c.write(
        "pipeline.yaml",
        format!(
            "stages:\n  slow:\n    cmd: touch {} && sleep 2 && echo done > slow.txt\n    outs: [slow.txt]\n",
            marker.display()
        ),
    );
    let mut repro = c.command(&["repro"]);
    repro.stdout(Stdio::piped()).stderr(Stdio::piped());
    let repro = repro.spawn().expect("spawn repro");
    // The repro holds the lock once its stage runs.
    wait_for(&marker);
    let fetch = bounded(c.command(&["fetch"]));
    let repro = repro.wait_with_output().expect("wait");
    assert!(
        repro.status.success(),
        "{}",
        String::from_utf8_lossy(&repro.stderr)
    );
    fetch.ok().stdout_has(&["fetched 23 objects"]).stderr_has(&[
        "waiting for another cairn process",
        "repro",
        "before fetch",
    ]);
    assert_eq!(c.read("slow.txt"), "done\n");
    c.cairn(&["checkout"]).ok();
    assert_same(&p, &c, "data");
}

#[test]
fn a_stage_running_cairn_add_fails_at_once_naming_the_stage() {
    let p = Project::new();
    p.write("somefile", "tracked from a stage?\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  nested:\n    cmd: cairn status && cairn add somefile\n",
    );
    bounded(p.command(&["repro"])).code(1).stderr_has(&[
        "`cairn add` cannot run inside stage 'nested' while `cairn repro` holds the workspace lock",
        "declare the path as an out of the stage instead",
        "stage 'nested'",
        "exited with status 2",
    ]);
    assert!(!p.exists("somefile.cairn"));
    // Outside a stage the same command works.
    p.cairn(&["add", "somefile"]).ok();
}

// ---------------------------------------------------------------- repairing a remote

#[test]
fn push_force_repairs_a_damaged_and_a_deleted_object_on_a_folder_remote() {
    let p = Project::new();
    tracked_data(&p, 3);
    let remote = with_folder_remote(&p);
    p.cairn(&["push"]).ok().stdout_has(&["pushed 6 objects"]);
    let model = digest_in_pointer(&p, "model.bin.cairn");
    let data = cairn_core::hash::digest_file(&p.join("data/part-0001.bin")).expect("digest");
    flip_a_byte(&remote_object(remote.path(), &model));
    std::fs::remove_file(remote_object(remote.path(), &data)).expect("rm");

    let c = clone(&p);
    c.cairn(&["pull"]).code(1).stderr_has(&[
        &model,
        "model.bin",
        "corrupted on the remote",
        "cairn push --force",
    ]);
    assert!(!store(&c).contains(&model));
    // A plain push believes the listing: the damaged object is "already on the remote".
    p.cairn(&["push"])
        .ok()
        .stdout_has(&["pushed 1 objects", "5 already on remote"]);

    // A forced push whose own copy is damaged sends nothing of it.
    let own = store(&p).path(&model);
    let good = std::fs::read(&own).expect("read");
    flip_a_byte(&own);
    p.cairn(&["push", "--force", "model.bin.cairn"])
        .code(1)
        .stderr_has(&["damaged in this workspace's cache too", "not sent"]);
    std::fs::write(&own, good).expect("restore");

    p.cairn(&["push", "--force"])
        .ok()
        .stdout_has(&["pushed 6 objects", "(--force)"]);
    for digest in [&model, &data] {
        let object = remote_object(remote.path(), digest);
        assert_eq!(
            &cairn_core::hash::digest_file(&object).expect("digest"),
            digest
        );
    }
    c.cairn(&["pull"]).ok();
    assert_same(&p, &c, "model.bin");
    assert_same(&p, &c, "data");
    let fresh = clone(&p);
    fresh
        .cairn(&["pull"])
        .ok()
        .stdout_has(&["fetched 6 objects"]);
    assert_same(&p, &fresh, "model.bin");
    assert_same(&p, &fresh, "data");
}

#[test]
fn s3_push_force_repairs_an_object_damaged_inside_a_pack() {
    let moto = Moto::shared();
    let bucket = moto.bucket();
    let p = Project::new();
    tracked_data(&p, 2);
    with_s3_remote(&p, moto, &bucket);
    s3_cairn(&p, &["push"]).ok().stdout_has(&["in 1 pack"]);
    // Flip one byte of model.bin's part of the pack.
    let digest = digest_in_pointer(&p, "model.bin.cairn");
    let pack_key = damage_packed(moto, &bucket, &digest);

    let c = clone(&p);
    s3_cairn(&c, &["pull"]).code(1).stderr_has(&[
        &digest,
        "model.bin",
        "corrupted on the remote",
        "cairn push --force",
    ]);
    s3_cairn(&p, &["push"])
        .ok()
        .stdout_has(&["pushed 0 objects", "5 already on remote"]);
    s3_cairn(&p, &["push", "--force"])
        .ok()
        .stdout_has(&["pushed 5 objects", "(--force)"]);
    let loose = format!("team/store/v1/{}/{}", &digest[..2], &digest[2..]);
    assert!(
        moto.keys(&bucket).contains(&loose),
        "{loose} was sent loose"
    );

    s3_cairn(&c, &["pull"]).ok();
    assert_same(&p, &c, "model.bin");
    let fresh = clone(&p);
    s3_cairn(&fresh, &["pull"])
        .ok()
        .stdout_has(&["fetched 5 objects"]);
    assert_same(&p, &fresh, "model.bin");
    assert_same(&p, &fresh, "data");
    // A pack gone though its index lists it: the loose copies serve.
    let (status, _) = moto
        .request("DELETE", &format!("/{bucket}/{pack_key}"), b"")
        .expect("moto answers");
    assert_eq!(status, 204, "deleting {pack_key}");
    let again = clone(&p);
    s3_cairn(&again, &["pull"])
        .ok()
        .stdout_has(&["fetched 5 objects"]);
    assert_same(&p, &again, "data");
}
