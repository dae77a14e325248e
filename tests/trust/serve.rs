//! Trust boundary: the model server against hostile clients and model files.
//!
//! Each test starts the real binary (`cairn serve --port 0`) and plays the hostile side itself:
//! clients that connect and stall, reloads that name files outside the workspace, model files
//! that do not hold together, tokens in another case, features at the edge of `f64`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::http::{self, get, post_json, request};
use crate::serve::models::{LOGISTIC, REGRESSION, SETOSA, TREE};
use crate::serve::server::Server;
use crate::serve::wait_until;
use crate::support::Project;

/// A random-forest classifier and regressor on two features, as `cairn train` writes them.
const FOREST: &str = r#"{
  "format": "cairn-model", "format_version": 1, "task": "classification", "algorithm": "forest",
  "hyperparameters": {}, "seed": 3, "features": ["a", "b"], "target": "y",
  "classes": ["no", "yes"], "scaler": {"kind": "minmax", "min": [-1.0, 0.0], "max": [1.0, 2.0]},
  "data_digest": "3333333333333333333333333333333333333333333333333333333333333333",
  "training_metrics": {},
  "predictor": {"kind": "forest", "trees": [
    {"nodes": [{"feature": 0, "threshold": 0.5, "left": 1, "right": 2},
               {"value": [0.75, 0.25]}, {"value": [0.0, 1.0]}]},
    {"nodes": [{"feature": 1, "threshold": 0.25, "left": 1, "right": 2},
               {"value": [1.0, 0.0]}, {"value": [0.5, 0.5]}]}
  ]}
}"#;

const FOREST_REGRESSION: &str = r#"{
  "format": "cairn-model", "format_version": 1, "task": "regression", "algorithm": "forest",
  "hyperparameters": {}, "seed": 3, "features": ["a", "b"], "target": "y", "classes": [],
  "scaler": {"kind": "standard", "mean": [-1e308, 1e308], "std": [0.5, 2.0]},
  "data_digest": "4444444444444444444444444444444444444444444444444444444444444444",
  "training_metrics": {},
  "predictor": {"kind": "forest", "trees": [
    {"nodes": [{"feature": 0, "threshold": 0.0, "left": 1, "right": 2},
               {"value": [1.5e308]}, {"value": [-1.5e308]}]},
    {"nodes": [{"value": [1.5e308]}]}
  ]}
}"#;

/// Reads until the server closes the connection; what it sent before.
#[track_caller]
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "the server did not close the connection ({e}); it sent {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// Descriptors the server process holds.
fn open_fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn metric(addr: SocketAddr, line_start: &str) -> u64 {
    get(addr, "/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn stalled_clients_are_closed_after_the_timeouts_and_the_limit_bounds_descriptors() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let limit = 40;
    let s = Server::start(
        &p,
        &[
            "--model",
            "model.json",
            "--header-timeout",
            "1s",
            "--body-timeout",
            "1s",
            "--idle-timeout",
            "1s",
            "--max-connections",
            &limit.to_string(),
        ],
    );
    let baseline = open_fds(&s);
    assert!(baseline > 0, "cannot count the server's descriptors");

    // A head sent in part, a body sent in part, and a kept-alive connection gone quiet.
    let mut half_head = TcpStream::connect(s.addr).expect("connect");
    half_head
        .write_all(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le")
        .expect("write");
    let len = SETOSA.len().to_string();
    let mut half_body = http::send(
        s.addr,
        "POST",
        "/predict",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &len),
        ],
        &SETOSA.as_bytes()[..10],
    );
    let mut kept_alive = TcpStream::connect(s.addr).expect("connect");
    kept_alive
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    // And 200 connections that never send a byte: five times the limit.
    let mut idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(s.addr).expect("connect"))
        .collect();

    // Each is closed in turn; meanwhile the server never holds more than the limit.
    let watcher = {
        let pid = s.pid();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut most = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let n = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
                most = most.max(n);
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        });
        (stop, handle)
    };
    let head_reply = read_to_close(&mut half_head);
    assert!(
        head_reply.is_empty() || String::from_utf8_lossy(&head_reply).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&head_reply)
    );
    let body_reply = http::receive(half_body.try_clone().expect("clone")).expect("a reply");
    let err = body_reply.expect(408);
    assert!(
        err["error"]
            .as_str()
            .unwrap_or("")
            .contains("--body-timeout"),
        "{err}"
    );
    let _ = read_to_close(&mut half_body);
    let answered = read_to_close(&mut kept_alive);
    let answered = String::from_utf8_lossy(&answered);
    assert!(
        answered.starts_with("HTTP/1.1 200") && answered.contains(r#"{"status":"ok"}"#),
        "the kept-alive request was answered before its connection closed: {answered}"
    );
    for stream in &mut idle {
        assert!(read_to_close(stream).is_empty());
    }
    watcher.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.1.join().expect("watcher");
    assert!(
        most <= baseline + limit + 4,
        "the server held {most} descriptors with a limit of {limit} connections (baseline {baseline})"
    );

    // Still serving, and it says why it closed them.
    assert_eq!(
        post_json(s.addr, "/predict", SETOSA).expect(200)["class"],
        "setosa"
    );
    let header = r#"cairn_http_connections_timed_out_total{timeout="header"} "#;
    let idle_line = r#"cairn_http_connections_timed_out_total{timeout="idle"} "#;
    assert!(metric(s.addr, header) >= 201, "header timeouts");
    assert!(metric(s.addr, idle_line) >= 1, "idle timeouts");
    wait_until("the connections to be counted closed", || {
        metric(s.addr, "cairn_http_connections_open ") == 1
    });
    wait_until("the descriptors to be released", || {
        open_fds(&s) <= baseline + 2
    });
}

#[test]
fn reload_reads_only_workspace_files_and_needs_loopback_or_a_token() {
    let p = Project::new();
    p.write("model.json", LOGISTIC)
        .write("models/tree.json", TREE);
    // A valid model outside the workspace, reachable by an absolute path, by `..` and by a
    // symlink inside the workspace.
    let outside = tempfile::tempdir().expect("tempdir");
    let outside_model = outside.path().join("outside.json");
    std::fs::write(&outside_model, TREE).expect("write");
    std::os::unix::fs::symlink(&outside_model, p.join("models/link.json")).expect("symlink");
    let outside_name = outside
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");

    let s = Server::start(&p, &["--model", "model.json"]);
    let version = || get(s.addr, "/model/info").expect(200)["version"].clone();
    let logistic = version();
    let relative_escape = format!("../{outside_name}/outside.json");
    for path in [
        "/etc/passwd",
        "../outside.json",
        relative_escape.as_str(),
        "models/../../outside.json",
        outside_model.to_str().expect("utf-8"),
        "models/link.json",
    ] {
        let body = json!({ "model": path }).to_string();
        let refused = post_json(s.addr, "/reload", &body).expect(403);
        assert_eq!(refused["field"], "model", "{path}: {refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap_or("")
                .contains("workspace"),
            "{path}: {refused}"
        );
        assert_eq!(version(), logistic, "{path} was loaded");
    }
    // What it may read: the workspace's files, and the model it started with.
    let tree = post_json(s.addr, "/reload", r#"{"model": "models/tree.json"}"#).expect(200);
    assert_ne!(tree["model_version"], logistic);
    let abs = json!({ "model": p.join("model.json") }).to_string();
    assert_eq!(
        post_json(s.addr, "/reload", &abs).expect(200)["model_version"],
        logistic
    );
    assert_eq!(
        post_json(s.addr, "/reload", "").expect(200)["model_version"],
        logistic
    );

    // Listening beyond loopback without a token: no reloads at all.
    let exposed = Server::start(&p, &["--model", "model.json", "--host", "0.0.0.0"]);
    let addr = SocketAddr::from(([127, 0, 0, 1], exposed.addr.port()));
    let refused = post_json(addr, "/reload", "").expect(403);
    let message = refused["error"].as_str().unwrap_or("");
    assert!(
        message.contains("CAIRN_RELOAD_TOKEN") && message.contains("loopback"),
        "{refused}"
    );
    post_json(addr, "/predict", SETOSA).expect(200);
    // With a token, it may.
    let guarded = Server::start_with_env(
        &p,
        &["--model", "model.json", "--host", "0.0.0.0"],
        &[("CAIRN_RELOAD_TOKEN", "s3cret")],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], guarded.addr.port()));
    post_json(addr, "/reload", "").expect(401);
    let reply = request(
        addr,
        "POST",
        "/reload",
        &[("Authorization", "Bearer s3cret")],
        b"",
    )
    .expect("POST");
    assert_eq!(reply.expect(200)["reloaded"], true);
}

#[test]
fn a_model_file_that_does_not_hold_together_is_refused_at_start_and_on_reload() {
    let p = Project::new();
    let broken: [(&str, String, &str); 8] = [
        (
            "nonsense.json",
            LOGISTIC.replace(r#""algorithm": "logistic""#, r#""algorithm": "nonsense""#),
            "algorithm",
        ),
        (
            "rows.json",
            LOGISTIC.replace(
                "[0.5, -0.6, 2.2, 2.6]]",
                "[0.5, -0.6, 2.2, 2.6], [1, 1, 1, 1]]",
            ),
            "predictor.weights",
        ),
        (
            "columns.json",
            LOGISTIC.replace("[0.5, -0.6, -0.2, -0.7]", "[0.5, -0.6, -0.2]"),
            "predictor.weights[1]",
        ),
        (
            "scaler.json",
            LOGISTIC.replace("[0.8, 0.4, 1.7, 0.7]", "[0.8, 0.4, 1.7]"),
            "scaler.std",
        ),
        (
            "names.json",
            LOGISTIC.replace(r#""versicolor""#, r#""setosa""#),
            "classes[1]",
        ),
        (
            "task.json",
            LOGISTIC.replace(r#""task": "classification""#, r#""task": "ranking""#),
            "task",
        ),
        (
            "cycle.json",
            TREE.replace(r#""left": 3, "right": 4"#, r#""left": 0, "right": 4"#),
            "predictor.nodes[2].left",
        ),
        (
            "leaf.json",
            TREE.replace("[0.0, 0.9, 0.1]", "[0.0, 0.9]"),
            "predictor.nodes[3].value",
        ),
    ];
    for (file, text, field) in &broken {
        p.write(file, text);
        p.cairn(&["serve", "--model", file, "--port", "0"])
            .code(2)
            .stderr_has(&[file, field]);
    }

    // On reload: a 4xx naming the problem, and the old model serves on.
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json"]);
    let before = get(s.addr, "/model/info").expect(200)["version"].clone();
    for (file, _, field) in &broken {
        let body = json!({ "model": file }).to_string();
        let refused = post_json(s.addr, "/reload", &body);
        assert!(
            (400..500).contains(&refused.status),
            "{file}: {}",
            refused.body
        );
        let refused = refused.json();
        let error = refused["error"].as_str().unwrap_or("");
        assert!(error.contains(file) && error.contains(field), "{refused}");
        assert_eq!(refused["model_version"], before);
        assert_eq!(
            post_json(s.addr, "/predict", SETOSA).expect(200)["model_version"],
            before
        );
    }
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start_with_env(
        &p,
        &["--model", "model.json"],
        &[("CAIRN_RELOAD_TOKEN", "s3cret")],
    );
    let reload = |authorization: &str| {
        request(
            s.addr,
            "POST",
            "/reload",
            &[("Authorization", authorization)],
            b"",
        )
        .expect("POST")
        .status
    };
    for accepted in [
        "bearer s3cret",
        "BEARER s3cret",
        "Bearer s3cret",
        "bEaReR  s3cret",
    ] {
        assert_eq!(reload(accepted), 200, "{accepted}");
    }
    for refused in [
        "bearer s3cre",
        "bearer s3cret2",
        "Basic s3cret",
        "s3cret",
        "bearer",
    ] {
        assert_eq!(reload(refused), 401, "{refused}");
    }
}

/// Asserts that `probabilities` (a list, or an object by class) are finite and sum to 1.
#[track_caller]
fn probabilities_sum_to_one(probabilities: &Value, what: &str) {
    let values: Vec<&Value> = match probabilities {
        Value::Object(by_class) => by_class.values().collect(),
        Value::Array(list) => list.iter().collect(),
        other => panic!("{what}: no probabilities in {other}"),
    };
    let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
    assert_eq!(
        numbers.len(),
        values.len(),
        "{what}: not all numbers: {probabilities}"
    );
    assert!(
        numbers
            .iter()
            .all(|p| p.is_finite() && (0.0..=1.0).contains(p)),
        "{what}: {probabilities}"
    );
    let sum: f64 = numbers.iter().sum();
    assert!((sum - 1.0).abs() < 1e-9, "{what}: sum {sum}");
}

#[test]
fn extreme_features_give_finite_probabilities_on_every_protocol() {
    let p = Project::new();
    p.write("logistic.json", LOGISTIC)
        .write("tree.json", TREE)
        .write("forest.json", FOREST)
        .write("price.json", REGRESSION)
        .write("forest_price.json", FOREST_REGRESSION);
    let extremes = [
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
    ];
    for model in [
        "logistic.json",
        "tree.json",
        "forest.json",
        "price.json",
        "forest_price.json",
    ] {
        let s = Server::start(&p, &["--model", model]);
        let info = get(s.addr, "/model/info").expect(200);
        let features: Vec<String> = info["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        let classifier = info["task"] == "classification";
        let name = model.trim_end_matches(".json");
        // Every feature at each extreme, then the extremes mixed across features.
        let mut rows: Vec<Vec<&str>> = extremes.iter().map(|x| vec![*x; features.len()]).collect();
        for shift in 0..extremes.len() {
            rows.push(
                (0..features.len())
                    .map(|j| extremes[(j + shift) % extremes.len()])
                    .collect(),
            );
        }
        for row in &rows {
            let what = format!("{model} {row:?}");
            let object: String = features
                .iter()
                .zip(row)
                .map(|(f, x)| format!("\"{f}\": {x}"))
                .collect::<Vec<_>>()
                .join(", ");
            let array = format!("[{}]", row.join(", "));

            // Native.
            let native = post_json(s.addr, "/predict", &format!("{{{object}}}")).expect(200);
            if classifier {
                assert!(native["class"].is_string(), "{what}: {native}");
                probabilities_sum_to_one(&native["probabilities"], &what);
            } else {
                assert!(
                    native["value"].as_f64().is_some_and(f64::is_finite),
                    "{what}: {native}"
                );
            }

            // MLflow: class names, or numbers.
            let mlflow = post_json(
                s.addr,
                "/invocations",
                &format!(r#"{{"inputs": [{array}]}}"#),
            )
            .expect(200);
            let prediction = &mlflow["predictions"][0];
            if classifier {
                assert_eq!(prediction, &native["class"], "{what}: {mlflow}");
            } else {
                assert!(
                    prediction.as_f64().is_some_and(f64::is_finite),
                    "{what}: {mlflow}"
                );
            }

            // Open Inference v2: the probabilities tensor.
            let v2 = post_json(
                s.addr,
                &format!("/v2/models/{name}/infer"),
                &format!(
                    r#"{{"inputs": [{{"name": "x", "shape": [1, {}], "datatype": "FP64", "data": {array}}}]}}"#,
                    features.len()
                ),
            )
            .expect(200);
            if classifier {
                assert_eq!(v2["outputs"][0]["data"][0], native["class"], "{what}: {v2}");
                probabilities_sum_to_one(&v2["outputs"][1]["data"], &what);
            } else {
                assert!(
                    v2["outputs"][0]["data"][0]
                        .as_f64()
                        .is_some_and(f64::is_finite),
                    "{what}: {v2}"
                );
            }
        }
        // Past the largest finite number is not a number: refused, naming the feature.
        let overflow: String = features
            .iter()
            .map(|f| format!("\"{f}\": 1e309"))
            .collect::<Vec<_>>()
            .join(", ");
        let refused = post_json(s.addr, "/predict", &format!("{{{overflow}}}"));
        assert!(
            (400..500).contains(&refused.status),
            "{model}: {}",
            refused.body
        );
        assert_eq!(refused.json()["field"], features[0].as_str());
    }
}
