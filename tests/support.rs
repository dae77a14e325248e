//! A small builder around a temporary workspace and the built binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Path of the binary under test.
pub fn cairn_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cairn")
}

/// A temporary project folder.
pub struct Project {
    dir: tempfile::TempDir,
}

/// What a finished `cairn` process left.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Output {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Output {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stderr contains each of `parts`.
    #[track_caller]
    pub fn stderr_has(self, parts: &[&str]) -> Output {
        for p in parts {
            assert!(
                self.stderr.contains(p),
                "stderr lacks {p:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts that stdout contains each of `parts`.
    #[track_caller]
    pub fn stdout_has(self, parts: &[&str]) -> Output {
        for p in parts {
            assert!(
                self.stdout.contains(p),
                "stdout lacks {p:?}:\n{}",
                self.stdout
            );
        }
        self
    }
}

impl Project {
    /// An empty folder, not yet a workspace.
    pub fn bare() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("cairn-test-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// A folder with `cairn init` done.
    pub fn new() -> Project {
        let p = Project::bare();
        p.cairn(&["init"]).ok();
        p
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Absolute path of `rel`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `contents` to `rel`, creating folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Project {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write");
        self
    }

    /// Reads `rel` as text.
    #[track_caller]
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Whether `rel` exists.
    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    /// A `cairn` command ready to run in the project.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(cairn_bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `cairn ARGS` in the project and waits for it.
    pub fn cairn(&self, args: &[&str]) -> Output {
        run(self.command(args))
    }
}

/// Runs a command to completion and captures its output.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("spawn");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Headless Chromium with the flags a closed machine needs and a profile in `profile`, when
/// installed (scripts/test.sh installs it; with CAIRN_REQUIRE_CHROMIUM set its absence fails).
pub fn chromium(profile: &Path) -> Option<Command> {
    if !Path::new("/usr/bin/chromium").exists() {
        assert!(
            std::env::var_os("CAIRN_REQUIRE_CHROMIUM").is_none(),
            "CAIRN_REQUIRE_CHROMIUM is set and /usr/bin/chromium is missing"
        );
        return None;
    }
    let mut cmd = Command::new("/usr/bin/chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    Some(cmd)
}

/// `git ARGS` in the project, with an identity; its stdout.
#[track_caller]
pub fn git(p: &Project, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(p.path())
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
