//! Trust boundary, fuzzed: generated inputs for every parser of someone else's file (pipeline,
//! params, lock, pointer files, DVC's `.dvc` files, directory manifests, pack indexes, run-cache
//! entries), mutated from valid documents the real binary wrote (DVC's, for `.dvc` files). Fails
//! on a panic, a hang, a memory explosion, a write outside the sandbox folder or a read of the
//! file outside it.
//!
//! Two layers, run side by side:
//! - in process: thousands of inputs per parser through the library, in a child process (this
//!   test binary, running the ignored `in_process_worker` test) so that a hang, a stack overflow
//!   or an alias bomb is a failure naming its input rather than the end of the test run;
//! - through the binary: a few hundred inputs written into a workspace inside a sandbox folder,
//!   then `cairn status`, `dag`, `checkout`, `pull`, `fetch --run-cache` and `repro` (of seed
//!   stages only: generated commands are never run), each with a time and memory limit.
//!
//! Deterministic: case `i` of a parser depends only on `i`, the base seed and the seed
//! documents. `CAIRN_FUZZ_CASES` (in-process inputs per parser, default 2000; the binary layer
//! runs a fiftieth of that per parser, plus batches of pack indexes and run-cache entries) and
//! `CAIRN_FUZZ_SEED` scale it up or vary it for deep local runs. The last few cases of each
//! parser are explosive (alias bombs, huge matrices and foreach lists): while one explodes,
//! the others of its shape are skipped, so a known explosion costs one time limit, not many.
//! Failing inputs are saved under the cargo target folder (`tmp/cairn-fuzz/`) and named in
//! the failure; `-- --nocapture` shows how many inputs each layer ran and how many parsed.

mod binary;
mod generate;
mod inprocess;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use generate::{Kind, Seeds};

/// In-process inputs per parser.
fn cases_per_parser() -> usize {
    std::env::var("CAIRN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// The base seed of every case.
fn base_seed() -> u64 {
    std::env::var("CAIRN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6361_6972_6e66_757a)
}

/// Text that only the file outside the sandbox holds: seeing it in any output is a read outside.
const MARKER: &str = "marker-7f3a-outside-the-sandbox";

/// A folder with the sandbox (workspaces, remotes, HOME and TMPDIR of every process) and,
/// beside it, a folder outside the sandbox holding a file that must never be read or written.
pub struct Lab {
    root: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        // In memory where there is such a folder: a case copies a workspace, and on a disk that
        // costs more than the commands it runs.
        let shm = Path::new("/dev/shm");
        let mut builder = tempfile::Builder::new();
        builder.prefix("cairn-fuzz-");
        let root = if shm.is_dir() {
            builder.tempdir_in(shm).or_else(|_| builder.tempdir())
        } else {
            builder.tempdir()
        }
        .expect("tempdir");
        let lab = Lab { root };
        for dir in ["sandbox/home", "sandbox/tmp", "sandbox/out", "outside"] {
            std::fs::create_dir_all(lab.root.path().join(dir)).expect("mkdir");
        }
        std::fs::write(lab.secret(), format!("{MARKER}: 1\nsecret: {MARKER}\n")).expect("write");
        lab
    }

    /// The lab's folder: `sandbox/` and `outside/`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where every process works.
    pub fn sandbox(&self) -> PathBuf {
        self.root().join("sandbox")
    }

    /// The folder outside the sandbox.
    pub fn outside(&self) -> PathBuf {
        self.root().join("outside")
    }

    /// The file outside the sandbox.
    pub fn secret(&self) -> PathBuf {
        self.outside().join("secret.txt")
    }

    /// A `cairn` command run in `dir`, with HOME and TMPDIR inside the sandbox.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::support::cairn_bin());
        cmd.args(args)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0")
            .env("HOME", self.sandbox().join("home"))
            .env("TMPDIR", self.sandbox().join("tmp"));
        cmd
    }

    /// Runs `cairn ARGS` in `dir` for setting up; it must succeed.
    #[track_caller]
    pub fn setup(&self, dir: &Path, args: &[&str]) -> Ran {
        let ran = run_bounded(
            self.command(dir, args),
            Duration::from_secs(60),
            &self.sandbox().join("out"),
            None,
            || 0,
        );
        assert!(
            ran.code == Some(0),
            "setup `cairn {}` failed: {}\n{}",
            args.join(" "),
            ran.stdout,
            ran.stderr
        );
        ran
    }
}

/// How a bounded process ended.
#[derive(Debug, Default)]
pub struct Ran {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal, if one ended it.
    pub signal: Option<i32>,
    /// Killed for taking too long without progress.
    pub hung: bool,
    /// Killed for using too much memory.
    pub memory: bool,
    /// Peak resident memory, KiB.
    pub max_rss_kib: i64,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    /// What is wrong with how it ended, if anything: a hang, a crash, a panic, an exit code
    /// other than 0, 1 or 2, too much memory, or the marker of the file outside in its output.
    pub fn problem(&self, rss_limit_kib: i64) -> Option<String> {
        if self.hung {
            return Some(format!("hangs (killed after {:?})", self.elapsed));
        }
        if self.memory || self.max_rss_kib > rss_limit_kib {
            return Some(format!("uses {} MiB of memory", self.max_rss_kib / 1024));
        }
        if let Some(signal) = self.signal {
            return Some(format!("killed by signal {signal}: {}", tail(&self.stderr)));
        }
        if self.code == Some(101) || self.stderr.contains("panicked at") {
            return Some(format!("panics: {}", tail(&self.stderr)));
        }
        if !matches!(self.code, Some(0..=2)) {
            return Some(format!("exit code {:?}: {}", self.code, tail(&self.stderr)));
        }
        if self.stdout.contains(MARKER) || self.stderr.contains(MARKER) {
            return Some("shows the contents of the file outside the sandbox".into());
        }
        None
    }
}

fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(600);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

/// The largest address space a child may take: an allocation past it fails (and aborts), so a
/// memory explosion ends as a signal instead of taking the machine.
const ADDRESS_SPACE_LIMIT: u64 = 6 << 30;

/// Runs `cmd` with stdout and stderr in files under `out_dir`, killing it once `progress()` has
/// not changed for `limit` (a hang) or its resident memory passes `rss_limit_kib`.
pub fn run_bounded(
    mut cmd: Command,
    limit: Duration,
    out_dir: &Path,
    rss_limit_kib: Option<i64>,
    progress: impl Fn() -> u64,
) -> Ran {
    use std::os::unix::process::CommandExt;

    let out_path = out_dir.join("stdout");
    let err_path = out_dir.join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE_LIMIT,
                rlim_max: ADDRESS_SPACE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut ran = Ran::default();
    let mut last_progress = (progress(), Instant::now());
    let mut nap = Duration::from_micros(500);
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child only; status and usage are valid for writes.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        assert!(done == 0, "wait4: {}", std::io::Error::last_os_error());
        let now = progress();
        if now != last_progress.0 {
            last_progress = (now, Instant::now());
        }
        let over_memory =
            rss_limit_kib.is_some_and(|max| resident_kib(pid).is_some_and(|rss| rss > max));
        if last_progress.1.elapsed() > limit || over_memory {
            ran.hung = !over_memory;
            ran.memory = over_memory;
            // SAFETY: `pid` is our child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
    drop(child);
    ran.elapsed = started.elapsed();
    ran.max_rss_kib = usage.ru_maxrss;
    if libc::WIFEXITED(status) {
        ran.code = Some(libc::WEXITSTATUS(status));
    } else if libc::WIFSIGNALED(status) && !ran.hung && !ran.memory {
        ran.signal = Some(libc::WTERMSIG(status));
    }
    ran.stdout = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into();
    ran.stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default()).into();
    ran
}

/// Resident memory of process `pid`, KiB.
fn resident_kib(pid: libc::pid_t) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One failing input.
#[derive(Debug)]
pub struct Failure {
    pub layer: &'static str,
    pub kind: Kind,
    /// The case number, or a batch's first and last case.
    pub case: String,
    pub what: String,
    pub input: Vec<u8>,
}

/// Where failing inputs are saved.
fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cairn-fuzz")
}

/// Saves every failing input of `layer` (removing those of its earlier runs) and fails the
/// test naming each.
#[track_caller]
pub fn report(layer: &str, failures: &[Failure]) {
    let dir = failures_dir();
    for (name, path) in walk_files(&dir) {
        if name.starts_with(&format!("{layer}-")) {
            let _ = std::fs::remove_file(path);
        }
    }
    if failures.is_empty() {
        return;
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut message = format!("{} generated inputs failed:\n", failures.len());
    for f in failures {
        let file = dir.join(format!("{}-{}-{}.input", f.layer, f.kind.name(), f.case));
        std::fs::write(&file, &f.input).expect("save input");
        let head: String = String::from_utf8_lossy(&f.input)
            .chars()
            .take(300)
            .flat_map(char::escape_debug)
            .collect();
        message.push_str(&format!(
            "\n[{} {} case {}] {}\n  input ({} bytes, saved in {}): \"{head}\"\n",
            f.layer,
            f.kind.name(),
            f.case,
            f.what,
            f.input.len(),
            file.display()
        ));
    }
    panic!("{message}");
}

/// A workspace made by the real binary with every kind of file the parsers read: a pipeline
/// with vars, foreach, matrix, wdir and params files, run by `cairn repro`; a file and a folder
/// tracked by `cairn add`; all pushed with the run-cache to a folder remote. Returns the seeds
/// and the pack (index text, pack bytes) of every object of its cache.
pub fn build_seed_workspace(lab: &Lab, ws: &Path, remote: &Path) -> (Seeds, (String, Vec<u8>)) {
    std::fs::create_dir_all(ws).expect("mkdir");
    lab.setup(ws, &["init"]);
    let files: &[(&str, &str)] = &[
        ("params.yaml", SEED_PARAMS),
        ("pipeline.yaml", SEED_PIPELINE),
        ("vars.yaml", "greeting: hello\n"),
        ("data.csv", SEED_DATA),
        ("sub/seed.txt", "7\n"),
        ("sub/extra.yaml", "threshold: 0.5\n"),
        ("sub/tracked/a.txt", "a\n"),
        ("sub/tracked/nested/b.txt", "b\n"),
        // DVC-tracked data, as `dvc add` leaves it (DVC 3 and DVC 2 pointers below).
        ("sub/raw.csv", "a,b\r\n1,2\r\n"),
    ];
    for (rel, text) in files {
        let path = ws.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    lab.setup(ws, &["add", "data.csv", "sub/tracked"]);
    lab.setup(ws, &["repro"]);
    let remote_arg = remote.display().to_string();
    lab.setup(ws, &["remote", "add", "store", &remote_arg, "--default"]);
    lab.setup(ws, &["push", "--run-cache"]);

    let read = |rel: &str| std::fs::read(ws.join(rel)).expect("read seed");
    let objects = cache_objects(&ws.join(".cairn/cache"));
    let lock = cairn_core::lock::Lock::read(&ws.join("pipeline.lock")).expect("seed lock");
    let prepared = &lock.stages["prep"].outs[0];
    assert!(prepared.is_dir(), "prep's out is a folder");
    let tracked =
        cairn_core::pointer::Pointer::read(&ws.join("sub/tracked.cairn")).expect("pointer");
    let object = |digest: &str| {
        objects
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, bytes)| bytes.clone())
            .expect("object in the seed cache")
    };
    let mut entries: Vec<(String, Vec<u8>)> = walk_files(&ws.join(".cairn/runs/v1"))
        .into_iter()
        .map(|(_, path)| {
            let text = std::fs::read(&path).expect("read entry");
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            )
        })
        .collect();
    entries.sort();
    // One entry with a folder out (prep's), one with a file out.
    let dir_entry = entries
        .iter()
        .find(|(_, t)| String::from_utf8_lossy(t).contains("path: prepared"))
        .expect("prep's run-cache entry")
        .1
        .clone();
    let file_entry = entries
        .iter()
        .find(|(_, t)| !String::from_utf8_lossy(t).contains("nfiles"))
        .expect("a file entry")
        .1
        .clone();

    let mut index = String::from("cairn-pack v1\n");
    let mut pack = Vec::new();
    for (digest, bytes) in &objects {
        index.push_str(&format!("{digest} {} {}\n", pack.len(), bytes.len()));
        pack.extend_from_slice(bytes);
    }
    let repo = |rel: &str| {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("repo file")
    };
    let docs = Kind::ALL
        .iter()
        .map(|kind| match kind {
            Kind::Pipeline => vec![read("pipeline.yaml"), repo("pipeline.yaml")],
            Kind::Params => vec![read("params.yaml"), repo("params.yaml")],
            Kind::Lock => vec![read("pipeline.lock")],
            Kind::Pointer => vec![read("data.csv.cairn"), read("sub/tracked.cairn")],
            Kind::Manifest => vec![object(&prepared.digest), object(&tracked.outs[0].digest)],
            Kind::PackIndex => vec![index.clone().into_bytes()],
            Kind::RunEntry => vec![dir_entry.clone(), file_entry.clone()],
            Kind::DvcFile => vec![
                b"outs:\n- md5: b202f333fba4fd38d4b8e5e693077aab\n  size: 10\n  hash: md5\n  path: raw.csv\n".to_vec(),
                b"outs:\n- md5: e5ebd4c02cefbe7955977c67ada242b7\n  size: 10\n  path: raw.csv\n".to_vec(),
            ],
        })
        .collect();
    let seeds = Seeds {
        docs,
        digests: objects.iter().map(|(d, _)| d.clone()).collect(),
        secret: lab.secret().display().to_string(),
        outside: lab.outside().display().to_string(),
    };
    (seeds, (index, pack))
}

/// The data file the seed workspace tracks with `cairn add`, a dep of stage `prep`.
const SEED_DATA: &str = "a,b\n1,2\n";

const SEED_PARAMS: &str = "train:
  seed: 42
  lr: 0.1
models:
  small: {depth: 2, flags: {verbose: true}}
  big: {depth: 8, flags: {verbose: false}}
lrs: [0.1, 1]
";

const SEED_PIPELINE: &str = "vars:
  - vars.yaml
  - suffix: txt
stages:
  prep:
    cmd: mkdir -p prepared && echo ${greeting} > prepared/a.txt && echo ${train.seed} > prepared/b.txt
    deps: [data.csv]
    params: [train.seed, train.lr]
    outs: [prepared]
  train:
    foreach: ${models}
    do:
      cmd: echo ${key} ${item.depth} ${item.flags} > model-${key}.${suffix}
      deps: [prepared]
      params:
        - models.${key}.depth
      outs:
        - model-${key}.${suffix}
  grid:
    matrix:
      lr: ${lrs}
      opt: [sgd, adam]
    cmd: echo ${item.lr} ${item.opt} > grid-${item.lr}-${item.opt}.txt
    outs:
      - grid-${item.lr}-${item.opt}.txt:
          cache: true
  sub:
    wdir: sub
    cmd:
      - cp seed.txt copy.txt
      - echo 1 > metrics.json
    deps: [seed.txt]
    params:
      - extra.yaml:
          - threshold
    outs: [copy.txt]
    metrics:
      - metrics.json:
          cache: false
    desc: a stage in a folder
    meta: {owner: someone}
";

/// Every object of a cache folder (`<cache>/v1/ab/cdef…`), as (digest, bytes), sorted.
fn cache_objects(cache: &Path) -> Vec<(String, Vec<u8>)> {
    let mut objects: Vec<(String, Vec<u8>)> = walk_files(&cache.join("v1"))
        .into_iter()
        .map(|(rel, path)| {
            (
                rel.replace('/', ""),
                std::fs::read(path).expect("read object"),
            )
        })
        .filter(|(digest, _)| cairn_core::digest::is_digest(digest))
        .collect();
    objects.sort();
    objects
}

/// Every file under `root`, as (relative path, absolute path), sorted.
fn walk_files(root: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("inside");
            (rel.display().to_string(), e.path().to_path_buf())
        })
        .collect();
    files.sort();
    files
}

/// Copies the folder `from` to `to` (which must not exist); symbolic links are copied as links.
fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("inside"));
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Removes `path` (a folder, a file or a link) if it exists, never following links.
fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            // A case may leave a folder without write permission.
            for entry in walkdir::WalkDir::new(path)
                .into_iter()
                .filter_map(Result::ok)
            {
                if entry.file_type().is_dir() {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(
                        entry.path(),
                        std::fs::Permissions::from_mode(0o755),
                    );
                }
            }
            std::fs::remove_dir_all(path).expect("remove folder")
        }
        Ok(_) => std::fs::remove_file(path).expect("remove file"),
        Err(_) => {}
    }
}

#[test]
fn parsers_survive_generated_inputs_in_process() {
    inprocess::run_in_child();
}

#[test]
fn commands_survive_generated_files_in_a_sandbox() {
    binary::run();
}

/// Runs the in-process cases; started by [`parsers_survive_generated_inputs_in_process`] as a
/// child process (see [`inprocess`]), or by hand with `--ignored`.
#[test]
#[ignore = "run in a child process by parsers_survive_generated_inputs_in_process"]
fn in_process_worker() {
    inprocess::worker();
}
