//! A running `cairn serve` process on a free port of 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::Project;

/// The server process; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `cairn serve --port 0 ARGS` in `project` and waits for its "listening on" line.
    #[track_caller]
    pub fn start(project: &Project, args: &[&str]) -> Server {
        Server::start_with_env(project, args, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    #[track_caller]
    pub fn start_with_env(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve", "--port", "0"];
        all.extend_from_slice(args);
        let mut cmd = project.command(&all);
        cmd.env_remove("CAIRN_RELOAD_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stderr = std::fs::File::create(project.join("serve.stderr")).expect("stderr file");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn cairn serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let err = std::fs::read_to_string(project.join("serve.stderr")).unwrap_or_default();
                panic!("cairn serve did not start: stdout {line:?}\nstderr:\n{err}")
            });
        Server { child, addr }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (at most 30 s) for the process to end.
    #[track_caller]
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "cairn serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `bytes` to `path` the way a trainer should (temp file + rename).
pub fn replace_file(path: &Path, bytes: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}
