//! The PostgreSQL prediction log against a real PostgreSQL (Debian's package, which
//! scripts/test.sh installs): `initdb` into a temporary folder, a free loopback port, stopped
//! when the test ends. Two replicas share one log; the database goes away mid-load and comes
//! back; it is unreachable at start.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::serve::http::{get, post_instances, post_json};
use crate::serve::models::{LOGISTIC, SETOSA};
use crate::serve::server::Server;
use crate::serve::wait_until;
use crate::support::Project;

/// A PostgreSQL server of its own, on 127.0.0.1.
struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

/// PostgreSQL's programs, when installed (with CAIRN_REQUIRE_POSTGRES set, their absence fails).
fn postgres_bin() -> Option<PathBuf> {
    let from_env = std::env::var_os("CAIRN_POSTGRES_BIN").map(PathBuf::from);
    let found = from_env.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CAIRN_REQUIRE_POSTGRES").is_none(),
            "CAIRN_REQUIRE_POSTGRES is set and PostgreSQL is not installed: apt-get install postgresql"
        );
        eprintln!("skipping: PostgreSQL is not installed (scripts/test.sh installs it)");
    }
    found
}

/// `program args` as the user PostgreSQL runs as: itself, or `postgres` when the tests run as
/// root (initdb refuses root).
fn as_db_user(program: PathBuf, args: &[&str]) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).args(args);
        cmd
    } else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    }
}

impl Postgres {
    fn start() -> Option<Postgres> {
        let bin = postgres_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("cairn-pg-")
            .tempdir()
            .expect("tempdir");
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let out = as_db_user(
            bin.join("initdb"),
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-A",
                "trust",
                "-U",
                "cairn",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )
        .output()
        .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut pg = Postgres {
            bin,
            dir,
            port,
            child: None,
        };
        pg.run();
        Some(pg)
    }

    /// Starts the server on its data folder and waits until it answers.
    fn run(&mut self) {
        let data = self.dir.path().join("data");
        let child = as_db_user(
            self.bin.join("postgres"),
            &[
                "-D",
                data.to_str().expect("utf-8"),
                "-p",
                &self.port.to_string(),
                "-k",
                self.dir.path().to_str().expect("utf-8"),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
        self.child = Some(child);
        wait_until("PostgreSQL to accept connections", || {
            self.sql("SELECT 1").is_some()
        });
    }

    /// Stops the server (fast shutdown: connections are cut) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let data = self.dir.path().join("data");
            let _ = as_db_user(
                self.bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().expect("utf-8"),
                    "stop",
                    "-m",
                    "fast",
                    "-w",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
            let _ = child.kill();
            let _ = child.wait();
            wait_until("PostgreSQL to stop", || self.sql("SELECT 1").is_none());
        }
    }

    fn url(&self) -> String {
        format!("postgres://cairn@127.0.0.1:{}/postgres", self.port)
    }

    /// One value from `query`, through psql; none when the server does not answer.
    fn sql(&self, query: &str) -> Option<String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "cairn",
                "-d",
                "postgres",
                "-Atc",
                query,
            ])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn rows(&self) -> usize {
        self.sql("SELECT count(*) FROM predictions")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    get(addr, "/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.parse().ok())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn two_replicas_share_one_log_and_lose_nothing() {
    let Some(pg) = Postgres::start() else { return };
    let p = Project::new();
    p.write("iris.csv", include_str!("../data/iris.csv"));
    p.cairn(&["preprocess", "--input", "iris.csv", "--output", "prepared"])
        .ok();
    p.cairn(&["train", "--input", "prepared", "--output", "model.json"])
        .ok();
    let url = pg.url();
    let mut a = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    let mut b = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    // The schema was made once, with its version (2: the table, then its index dropped).
    assert_eq!(
        pg.sql("SELECT version FROM cairn_schema").as_deref(),
        Some("2")
    );
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            std::thread::spawn(move || {
                for _ in 0..300 {
                    post_json(addr, "/predict", SETOSA).expect(200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    wait_until("every prediction to be logged", || pg.rows() == 1200);
    // Either replica's history reads both.
    let history = get(a.addr, "/predictions/history?limit=2000").expect(200);
    assert_eq!(history["predictions"].as_array().map(Vec::len), Some(1200));
    // Nothing dropped; SIGTERM finishes cleanly.
    assert_eq!(metric(a.addr, "cairn_prediction_log_dropped_total"), 0.0);
    a.terminate();
    b.terminate();
    assert!(a.wait().success() && b.wait().success());
    assert_eq!(pg.rows(), 1200);
    // cairn drift reads the shared log: both replicas' rows.
    let drift = p.cairn(&["drift", "--model", "model.json", "--log-db", &url, "--json"]);
    let report: serde_json::Value =
        serde_json::from_str(&drift.stdout).unwrap_or_else(|e| panic!("{e}: {drift:?}"));
    assert_eq!(report["rows"], 1200);
}

#[test]
fn a_batch_larger_than_one_copy_piece_is_logged_whole_and_in_order() {
    // 8,000 rows are about 2.5 MB of COPY data, which the writer sends 1 MiB at a time.
    let Some(pg) = Postgres::start() else { return };
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let url = pg.url();
    let s = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    let rows: Vec<String> = (0..8000)
        .map(|i| format!(r#"[{}, 3.0, 1.5, 0.2]"#, f64::from(i) / 1000.0))
        .collect();
    post_instances(s.addr, &rows).expect(200);
    wait_until("8,000 logged rows", || pg.rows() == 8000);
    // In order: the ids follow the rows sent.
    let sent_in_order = pg.sql(
        "SELECT count(*) FROM (SELECT (inputs::json->>'sepal_length')::float8 AS x,
                lag((inputs::json->>'sepal_length')::float8) OVER (ORDER BY id) AS before
         FROM predictions) AS t WHERE before IS NULL OR x > before",
    );
    assert_eq!(sent_in_order.as_deref(), Some("8000"));
    assert_eq!(
        pg.sql("SELECT max((inputs::json->>'sepal_length')::float8) FROM predictions")
            .as_deref(),
        Some("7.999")
    );
}

#[test]
fn the_database_going_away_fails_no_prediction_and_the_backlog_drains() {
    let Some(mut pg) = Postgres::start() else {
        return;
    };
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json", "--log-db", &pg.url()]);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let client = {
        let (stop, sent, addr) = (stop.clone(), sent.clone(), s.addr);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let reply = post_json(addr, "/predict", SETOSA);
                assert_eq!(reply.status, 200, "a prediction failed: {}", reply.body);
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    wait_until("some predictions", || sent.load(Ordering::Relaxed) > 100);
    pg.stop();
    let during = sent.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sent.load(Ordering::Relaxed) > during + 50,
        "predictions went on while the log was away"
    );
    assert!(metric(s.addr, "cairn_prediction_log_backlog") > 0.0);
    pg.run();
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client");
    let total = sent.load(Ordering::Relaxed);
    wait_until("the backlog to drain", || {
        metric(s.addr, "cairn_prediction_log_backlog") == 0.0
    });
    let dropped = metric(s.addr, "cairn_prediction_log_dropped_total") as usize;
    assert_eq!(
        pg.rows() + dropped,
        total,
        "every prediction is logged or counted as dropped"
    );
    assert!(metric(s.addr, "cairn_prediction_log_failures_total") >= 1.0);
    let log = std::fs::read_to_string(p.join("serve.stderr")).unwrap_or_default();
    assert!(
        log.contains("writing the prediction log failed") && log.contains("is back"),
        "{log}"
    );
}

#[test]
fn an_unreachable_database_at_start_is_loud_and_fatal_only_when_required() {
    let Some(pg) = Postgres::start() else { return };
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let nowhere = format!("postgres://cairn:secret@127.0.0.1:{port}/postgres");
    let s = Server::start(&p, &["--model", "model.json", "--log-db", &nowhere]);
    post_json(s.addr, "/predict", SETOSA).expect(200);
    let log = std::fs::read_to_string(p.join("serve.stderr")).unwrap_or_default();
    assert!(
        log.contains("serving anyway") && !log.contains("secret"),
        "{log}"
    );
    drop(s);
    p.cairn(&[
        "serve",
        "--port",
        "0",
        "--model",
        "model.json",
        "--log-db",
        &nowhere,
        "--require-log",
    ])
    .code(1)
    .stderr_has(&["--require-log", "cairn:***@"]);
    drop(pg);
}
