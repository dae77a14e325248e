//! The PostgreSQL prediction log against a real PostgreSQL (Debian's package, which
//! scripts/test.sh installs): `initdb` into a temporary folder, a free loopback port, stopped
//! when the test ends. Two replicas share one log; the database goes away mid-load and comes
//! back; it is unreachable at start; a log of schema 2 (a row per prediction) is migrated to
//! batches and read whole; a batch not written by cairn is refused by name.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::drift::trained_iris;
use crate::serve::http::{get, post_instances, post_json};
use crate::serve::models::{LOGISTIC, REGRESSION, SETOSA, TREE};
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
    let p = trained_iris();
    let url = pg.url();
    let mut a = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    let mut b = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    // The schema was made once, with its version (3: the table, its index dropped, batches).
    assert_eq!(
        pg.sql("SELECT version FROM cairn_schema").as_deref(),
        Some("3")
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
    assert_eq!(drift_rows(&p, &url, &[]), 1200);
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

/// The rows `cairn drift` read from the log at `url`, of `extra` arguments.
fn drift_rows(p: &Project, url: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["drift", "--model", "model.json", "--log-db", url, "--json"];
    args.extend_from_slice(extra);
    let drift = p.cairn(&args);
    let report: serde_json::Value =
        serde_json::from_str(&drift.stdout).unwrap_or_else(|e| panic!("{e}: {drift:?}"));
    report["rows"].clone()
}

/// An Iris flower whose sepal length tells the rows apart.
fn flower(sepal_length: u32) -> String {
    format!(
        r#"{{"sepal_length": {sepal_length}, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}"#
    )
}

#[test]
fn a_log_of_schema_2_is_migrated_and_its_rows_read_with_the_new_ones() {
    let Some(pg) = Postgres::start() else { return };
    let p = trained_iris();
    let version = {
        let s = Server::start(&p, &["--model", "model.json"]);
        let reply = post_json(s.addr, "/predict", SETOSA);
        reply
            .header("x-model-version")
            .expect("version")
            .to_string()
    };
    // What cairn 2 left: a row per prediction, sepal lengths 1, 2, 3 with ids 1, 2, 3.
    let schema_2 = format!(
        r#"CREATE TABLE cairn_schema (version INTEGER NOT NULL);
        INSERT INTO cairn_schema VALUES (2);
        CREATE TABLE predictions (id BIGSERIAL PRIMARY KEY, time DOUBLE PRECISION NOT NULL,
            model_version TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'primary', route TEXT NOT NULL,
            inputs TEXT NOT NULL, class TEXT, probabilities TEXT, value DOUBLE PRECISION NOT NULL,
            latency_us BIGINT NOT NULL);
        INSERT INTO predictions (time, model_version, route, inputs, class, value, latency_us)
            SELECT 1.7e9 + i, '{version}', '/predict', format('{{"sepal_length": %s, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}', i),
                   'setosa', 0, 100
            FROM generate_series(1, 3) AS i;"#
    );
    pg.sql(&schema_2).expect("schema 2");
    let url = pg.url();
    let s = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    assert_eq!(
        pg.sql("SELECT version FROM cairn_schema").as_deref(),
        Some("3")
    );
    for sepal_length in 11..=14 {
        post_json(s.addr, "/predict", &flower(sepal_length)).expect(200);
    }
    wait_until("the new rows logged", || pg.rows() == 7);
    // A replica still on cairn 2 inserts into `predictions`, as its COPY does: it still logs.
    pg.sql(&format!(
        r#"INSERT INTO predictions (time, model_version, role, route, inputs, class, value, latency_us)
           VALUES (1.9e9, '{version}', 'primary', '/predict', '{}', 'setosa', 0, 100)"#,
        flower(21)
    ))
    .expect("an old replica's insert");
    assert_eq!(pg.rows(), 8);
    // Newest first, across both tables, the old rows keeping their ids.
    let history = get(s.addr, "/predictions/history?limit=100").expect(200);
    let rows = history["predictions"].as_array().expect("rows");
    let lengths: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["inputs"]["sepal_length"].as_f64())
        .collect();
    assert_eq!(lengths, [21.0, 14.0, 13.0, 12.0, 11.0, 3.0, 2.0, 1.0]);
    let ids: Vec<i64> = rows.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(ids[5..], [3, 2, 1]);
    // The view numbers the rows as the history does.
    let view_ids = pg
        .sql("SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM predictions")
        .expect("ids");
    let shown: Vec<String> = ids.iter().map(i64::to_string).collect();
    assert_eq!(view_ids, shown.join(","));
    // Drift reads both, the window newest first.
    assert_eq!(drift_rows(&p, &url, &[]), 8);
    assert_eq!(drift_rows(&p, &url, &["--window", "6"]), 6);
    assert_eq!(drift_rows(&p, &url, &["--window", "20"]), 8);
    assert_eq!(drift_rows(&p, &url, &["--since", "2025-01-01"]), 5);
}

#[test]
fn several_models_roles_and_tasks_keep_each_row_its_own_answer() {
    let Some(pg) = Postgres::start() else { return };
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    p.write("tree.json", TREE);
    p.write("regression.json", REGRESSION);
    let url = pg.url();
    let iris = Server::start(
        &p,
        &[
            "--model",
            "model.json",
            "--shadow",
            "tree.json",
            "--log-db",
            &url,
            "--require-log",
        ],
    );
    let prices = Server::start(
        &p,
        &[
            "--model",
            "regression.json",
            "--log-db",
            &url,
            "--require-log",
        ],
    );
    for _ in 0..3 {
        post_json(iris.addr, "/predict", SETOSA).expect(200);
    }
    post_instances(
        prices.addr,
        &[r#"{"rooms": 3, "age": 10}"#, r#"{"rooms": 1, "age": 0}"#],
    )
    .expect(200);
    wait_until("every row logged", || pg.rows() == 8);
    let history = get(iris.addr, "/predictions/history?limit=100").expect(200);
    let rows = history["predictions"].as_array().expect("rows");
    let of = |role: &str, class: bool| {
        rows.iter()
            .filter(|r| r["role"] == role && r.get("class").is_some() == class)
            .collect::<Vec<_>>()
    };
    let (primary, shadow, regression) = (
        of("primary", true),
        of("shadow", true),
        of("primary", false),
    );
    assert_eq!((primary.len(), shadow.len(), regression.len()), (3, 3, 2));
    // The tree's leaf for setosa is exactly [1, 0, 0]; the logistic model's is not.
    assert!(shadow.iter().all(|r| r["probabilities"]["setosa"] == 1.0));
    assert!(primary.iter().all(|r| r["probabilities"]["setosa"] != 1.0));
    let mut prices: Vec<f64> = regression
        .iter()
        .filter_map(|r| r["value"].as_f64())
        .collect();
    prices.sort_by(f64::total_cmp);
    assert_eq!(prices, [13.0, 28.0]);
    assert!(regression.iter().all(|r| r.get("probabilities").is_none()));
    assert_eq!(
        pg.sql("SELECT count(*) FROM predictions WHERE class IS NULL AND probabilities IS NULL")
            .as_deref(),
        Some("2")
    );
}

#[test]
fn a_batch_not_written_by_cairn_is_refused_by_name() {
    let Some(pg) = Postgres::start() else { return };
    let p = trained_iris();
    let url = pg.url();
    let s = Server::start(
        &p,
        &["--model", "model.json", "--log-db", &url, "--require-log"],
    );
    post_json(s.addr, "/predict", SETOSA).expect(200);
    wait_until("a logged row", || pg.rows() == 1);
    // Two times but one of everything else, once the table's own check is out of the way.
    pg.sql(
        "ALTER TABLE prediction_batches DROP CONSTRAINT same_rows_in_every_array;
         INSERT INTO prediction_batches (model_version, role, route, last_time, time, inputs,
                                         class, probabilities, value, latency_us)
         SELECT model_version, role, route, 2e9, ARRAY[2e9, 2e9], inputs, class, probabilities,
                value, latency_us FROM prediction_batches",
    )
    .expect("a bad batch");
    p.cairn(&["drift", "--model", "model.json", "--log-db", &url])
        .code(2)
        .stderr_has(&[
            "prediction_batches row",
            "[2, 1, 1]",
            "not written by cairn",
        ]);
    let history = get(s.addr, "/predictions/history");
    assert!(
        history.status >= 500 && history.body.contains("prediction_batches row"),
        "{history:?}"
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
