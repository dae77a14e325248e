//! `cairn serve` over real HTTP on 127.0.0.1: the built binary with `--port 0`.

pub(crate) mod http;
pub(crate) mod models;
pub(crate) mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Project;
use http::{get, post_instances, post_json, request};
use models::{LOGISTIC, REGRESSION, SETOSA, TREE, VIRGINICA};
use server::{Server, replace_file};

/// A project with the logistic model in `model.json`, served.
fn logistic() -> (Project, Server) {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json"]);
    (p, s)
}

fn version_of(text: &str) -> String {
    cairn_core::hash::digest_bytes(text.as_bytes()).to_string()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn predicts_one_instance_and_lists_with_class_names_probabilities_and_version() {
    let (_p, s) = logistic();
    let one = post_json(s.addr, "/predict", SETOSA).expect(200);
    assert_eq!(one["class"], "setosa");
    let probs = one["probabilities"]
        .as_object()
        .expect("probabilities by class");
    assert_eq!(
        probs.keys().collect::<Vec<_>>(),
        ["setosa", "versicolor", "virginica"]
    );
    let sum: f64 = probs.values().filter_map(Value::as_f64).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert_eq!(one["model_version"], version_of(LOGISTIC));
    assert!(one["processing_time_ms"].as_f64().is_some());

    // Objects by name and arrays in feature order, in /predict and /predict/batch.
    let body = format!(r#"{{"instances": [{SETOSA}, [6.7, 3.0, 5.2, 2.3]]}}"#);
    for route in ["/predict", "/predict/batch"] {
        let many = post_json(s.addr, route, &body).expect(200);
        let classes: Vec<&str> = many["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .filter_map(|p| p["class"].as_str())
            .collect();
        assert_eq!(classes, ["setosa", "virginica"], "{route}");
        assert_eq!(many["model_version"], version_of(LOGISTIC));
    }
}

#[test]
fn serves_trees_and_regression_models_by_their_own_features() {
    let p = Project::new();
    p.write("tree.json", TREE).write("price.json", REGRESSION);
    let tree = Server::start(&p, &["--model", "tree.json"]);
    let reply = post_json(tree.addr, "/predict", VIRGINICA).expect(200);
    assert_eq!(reply["class"], "virginica");
    assert!(close(&reply["probabilities"]["virginica"], 1.0));

    let price = Server::start(&p, &["--model", "price.json"]);
    let reply = post_json(price.addr, "/predict", r#"{"rooms": 3, "age": 10}"#).expect(200);
    assert!(close(&reply["value"], 28.0), "{reply}");
    assert!(reply.get("class").is_none());
    let err = post_json(price.addr, "/predict", SETOSA).expect(422);
    assert!(
        err["error"].as_str().unwrap_or("").contains("rooms, age"),
        "{err}"
    );
    let info = get(price.addr, "/model/info").expect(200);
    assert_eq!(info["task"], "regression");
    assert_eq!(info["features"], json!(["rooms", "age"]));
}

#[test]
fn health_ready_info_openapi_and_metrics() {
    let (_p, s) = logistic();
    assert_eq!(get(s.addr, "/health").expect(200)["status"], "ok");
    let ready = get(s.addr, "/ready").expect(200);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["model_version"], version_of(LOGISTIC));

    let info = get(s.addr, "/model/info").expect(200);
    assert_eq!(info["version"], version_of(LOGISTIC));
    assert_eq!(info["algorithm"], "logistic");
    assert_eq!(
        info["classes"],
        json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(info["hyperparameters"]["max_iterations"], 100);
    assert!(close(&info["training_metrics"]["accuracy"], 0.97));

    let doc = get(s.addr, "/openapi.json").expect(200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/predict"]["post"].is_object());
    assert_eq!(
        doc["components"]["schemas"]["Instance"]["required"],
        json!(["sepal_length", "sepal_width", "petal_length", "petal_width"])
    );

    post_json(s.addr, "/predict", SETOSA).expect(200);
    post_json(s.addr, "/predict", VIRGINICA).expect(200);
    post_json(s.addr, "/predict", "{").expect(400);
    let metrics = get(s.addr, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain")
    );
    let text = &metrics.body;
    let version = version_of(LOGISTIC);
    for line in [
        r#"cairn_http_requests_total{route="/predict",status="200"} 2"#,
        r#"cairn_http_requests_total{route="/predict",status="400"} 1"#,
        r#"cairn_http_errors_total{route="/predict"} 1"#,
        r#"cairn_http_request_duration_seconds_count{route="/predict"} 3"#,
        r#"cairn_http_request_duration_seconds_bucket{route="/predict",le="+Inf"} 3"#,
        &format!(r#"cairn_predictions_total{{version="{version}"}} 2"#),
        &format!(r#"cairn_predictions_by_class_total{{version="{version}",class="setosa"}} 1"#),
        &format!(r#"cairn_predictions_by_class_total{{version="{version}",class="virginica"}} 1"#),
        "cairn_http_requests_in_flight 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics lack {line:?}:\n{text}"
        );
    }
    let info_line = format!(r#"cairn_model_info{{version="{}""#, version_of(LOGISTIC));
    assert!(text.contains(&info_line), "{text}");
    promtool_check(text);
}

/// Validates the exposition with `promtool check metrics` when promtool is installed; CI
/// installs it and sets `CAIRN_REQUIRE_PROMTOOL=1`, so there the check cannot be skipped.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CAIRN_REQUIRE_PROMTOOL").is_none(),
            "CAIRN_REQUIRE_PROMTOOL is set but promtool cannot be started"
        );
        eprintln!("promtool not installed: metrics format not checked");
        return;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mlflow_scoring_protocol() {
    let (_p, s) = logistic();
    let bodies = [
        r#"{"dataframe_split": {"columns": ["petal_width", "petal_length", "sepal_width", "sepal_length"],
            "data": [[0.2, 1.4, 3.5, 5.1], [2.3, 5.2, 3.0, 6.7]]}}"#
            .to_string(),
        format!(r#"{{"dataframe_records": [{SETOSA}, {VIRGINICA}]}}"#),
        format!(r#"{{"instances": [{SETOSA}, [6.7, 3.0, 5.2, 2.3]]}}"#),
        r#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#.to_string(),
        r#"{"inputs": {"sepal_length": [5.1, 6.7], "sepal_width": [3.5, 3.0],
            "petal_length": [1.4, 5.2], "petal_width": [0.2, 2.3]}}"#
            .to_string(),
    ];
    for body in &bodies {
        let reply = post_json(s.addr, "/invocations", body).expect(200);
        assert_eq!(
            reply["predictions"],
            json!(["setosa", "virginica"]),
            "{body}"
        );
    }
    // Errors in MLflow's shape: 400, an error_code, a message naming what is wrong.
    let err = post_json(
        s.addr,
        "/invocations",
        r#"{"dataframe_records": [{"sepal_length": 1}]}"#,
    )
    .expect(400);
    assert_eq!(err["error_code"], "INVALID_PARAMETER_VALUE");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("sepal_width")),
        "{err}"
    );
    assert_eq!(
        post_json(s.addr, "/invocations", r#"{"rows": []}"#).expect(400)["error_code"],
        "BAD_REQUEST"
    );
    // Columns that are not features are ignored, as MLflow does.
    let wider = r#"{"dataframe_split": {"columns": ["id", "petal_width", "petal_length", "sepal_width", "sepal_length"],
        "data": [["a", 0.2, 1.4, 3.5, 5.1]]}}"#;
    assert_eq!(
        post_json(s.addr, "/invocations", wider).expect(200)["predictions"],
        json!(["setosa"])
    );
    let csv = |body: &str| {
        request(
            s.addr,
            "POST",
            "/invocations",
            &[("Content-Type", "text/csv")],
            body.as_bytes(),
        )
        .expect("POST")
    };
    let table =
        "petal_width,sepal_length,sepal_width,petal_length\n0.2,5.1,3.5,1.4\n2.3,6.7,3.0,5.2\n";
    assert_eq!(
        csv(table).expect(200)["predictions"],
        json!(["setosa", "virginica"])
    );
    // The index column DataFrame.to_csv() writes has no name: ignored like any other.
    let indexed = ",petal_width,sepal_length,sepal_width,petal_length\n0,0.2,5.1,3.5,1.4\n";
    assert_eq!(csv(indexed).expect(200)["predictions"], json!(["setosa"]));
    let err = csv(&table.replace("6.7", "tall")).expect(400);
    assert_eq!(err["error_code"], "BAD_REQUEST");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("sepal_length")),
        "{err}"
    );
    csv("petal_width,sepal_length\n0.2\n").expect(400);
    let plain = request(
        s.addr,
        "POST",
        "/invocations",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    let plain = plain.expect("POST");
    assert_eq!(plain.status, 415);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    for refused in [
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
    ] {
        let reply = request(
            s.addr,
            "POST",
            "/invocations",
            &[("Content-Type", refused)],
            bodies[1].as_bytes(),
        );
        assert_eq!(reply.expect("POST").status, 415, "{refused}");
    }
    assert_eq!(get(s.addr, "/ping").status, 200);
    let version = get(s.addr, "/version");
    assert_eq!(version.status, 200);
    assert!(!version.body.is_empty());
}

#[test]
fn open_inference_v2_protocol() {
    let (_p, s) = logistic();
    assert_eq!(get(s.addr, "/v2/health/live").expect(200)["live"], true);
    assert_eq!(get(s.addr, "/v2/health/ready").expect(200)["ready"], true);
    let meta = get(s.addr, "/v2/models/model").expect(200);
    assert_eq!(meta["name"], "model");
    assert_eq!(meta["versions"], json!([version_of(LOGISTIC)]));
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, 4]));
    assert_eq!(
        get(s.addr, "/v2/models/model/ready").expect(200)["ready"],
        true
    );
    get(s.addr, "/v2/models/other").expect(404);

    let flat = r#"{"id": "r1", "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
        "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]}"#;
    let nested = r#"{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
        "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]}"#;
    let by_feature = r#"{"inputs": [
        {"name": "sepal_length", "shape": [2], "datatype": "FP64", "data": [5.1, 6.7]},
        {"name": "sepal_width", "shape": [2], "datatype": "FP64", "data": [3.5, 3.0]},
        {"name": "petal_length", "shape": [2], "datatype": "FP64", "data": [1.4, 5.2]},
        {"name": "petal_width", "shape": [2], "datatype": "FP64", "data": [0.2, 2.3]}]}"#;
    for body in [flat, nested, by_feature] {
        let reply = post_json(s.addr, "/v2/models/model/infer", body).expect(200);
        assert_eq!(reply["model_name"], "model");
        assert_eq!(reply["model_version"], version_of(LOGISTIC));
        let outputs = reply["outputs"].as_array().expect("outputs");
        assert_eq!(outputs[0]["data"], json!(["setosa", "virginica"]), "{body}");
        assert_eq!(outputs[1]["shape"], json!([2, 3]));
        assert_eq!(outputs[1]["data"].as_array().map(Vec::len), Some(6));
    }
    assert_eq!(
        post_json(s.addr, "/v2/models/model/infer", flat).json()["id"],
        "r1"
    );
    let wrong_shape =
        r#"{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}"#;
    assert_eq!(
        post_json(s.addr, "/v2/models/model/infer", wrong_shape).expect(422)["field"],
        "shape"
    );
    let huge = r#"{"inputs": [{"name": "x", "shape": [1000000000000000, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}"#;
    assert_eq!(
        post_json(s.addr, "/v2/models/model/infer", huge).expect(422)["field"],
        "shape"
    );
    let text = r#"{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}"#;
    assert_eq!(
        post_json(s.addr, "/v2/models/model/infer", text).expect(422)["field"],
        "datatype"
    );
    post_json(s.addr, "/v2/models/other/infer", flat).expect(404);
}

#[test]
fn bad_input_gets_a_4xx_naming_the_field_and_the_server_keeps_answering() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(
        &p,
        &[
            "--model",
            "model.json",
            "--max-batch",
            "3",
            "--max-body",
            "2000",
            "--workers",
            "2",
        ],
    );
    let full = |extra: &str| {
        format!(
            r#"{{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2{extra}}}"#
        )
    };
    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        (
            "malformed JSON",
            "{\"sepal_length\": 5.1,".into(),
            400,
            None,
        ),
        ("trailing garbage", format!("{SETOSA} }}"), 400, None),
        (
            "missing feature",
            r#"{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}"#.into(),
            422,
            Some("petal_width"),
        ),
        (
            "extra feature",
            full(r#", "colour": 1"#),
            422,
            Some("colour"),
        ),
        (
            "string",
            SETOSA.replace("5.1", "\"5.1\""),
            422,
            Some("sepal_length"),
        ),
        (
            "null",
            SETOSA.replace("3.5", "null"),
            422,
            Some("sepal_width"),
        ),
        (
            "bool",
            SETOSA.replace("1.4", "true"),
            422,
            Some("petal_length"),
        ),
        (
            "non-finite",
            SETOSA.replace("0.2", "1e999"),
            422,
            Some("petal_width"),
        ),
        ("NaN literal", SETOSA.replace("0.2", "NaN"), 400, None),
        (
            "duplicate",
            full(r#", "sepal_length": 1"#),
            422,
            Some("sepal_length"),
        ),
        (
            "empty batch",
            r#"{"instances": []}"#.into(),
            422,
            Some("instances"),
        ),
        (
            "over-long batch",
            format!(r#"{{"instances": [{SETOSA}, {SETOSA}, {SETOSA}, {SETOSA}]}}"#),
            422,
            None,
        ),
        (
            "short array",
            r#"{"instances": [[1, 2, 3]]}"#.into(),
            422,
            None,
        ),
        ("not an object", "[1, 2, 3, 4]".into(), 422, None),
        ("empty body", String::new(), 400, None),
    ];
    for (what, body, status, field) in &cases {
        let reply = post_json(s.addr, "/predict", body);
        let err = reply.expect(*status);
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {err}"
        );
        assert_eq!(err["field"].as_str(), *field, "{what}: {err}");
    }
    // The instance at fault is named in a batch.
    let batch = format!(
        r#"{{"instances": [{SETOSA}, {}]}}"#,
        SETOSA.replace("5.1", "\"x\"")
    );
    let err = post_json(s.addr, "/predict", &batch).expect(422);
    assert_eq!(
        (err["field"].as_str(), err["instance"].as_u64()),
        (Some("sepal_length"), Some(1))
    );
    // /predict/batch wants a list.
    assert_eq!(
        post_json(s.addr, "/predict/batch", SETOSA).expect(422)["field"],
        "instances"
    );

    // Content type.
    let form = request(
        s.addr,
        "POST",
        "/predict",
        &[("Content-Type", "text/plain")],
        SETOSA.as_bytes(),
    )
    .expect("POST");
    assert_eq!(form.expect(415)["field"], "Content-Type");
    let none = request(s.addr, "POST", "/predict", &[], SETOSA.as_bytes()).expect("POST");
    assert_eq!(none.status, 415);
    let charset = request(
        s.addr,
        "POST",
        "/predict",
        &[("Content-Type", "application/json; charset=utf-8")],
        SETOSA.as_bytes(),
    );
    assert_eq!(charset.expect("POST").status, 200);

    // Size limit: by Content-Length and by what is actually sent.
    let big = format!(r#"{{"instances": [{}]}}"#, vec![SETOSA; 40].join(","));
    assert!(
        post_json(s.addr, "/predict", &big).expect(413)["error"]
            .as_str()
            .is_some()
    );
    // Wrong method and unknown route.
    assert!(
        get(s.addr, "/predict").expect(405)["error"]
            .as_str()
            .is_some()
    );
    assert!(
        get(s.addr, "/nowhere").expect(404)["error"]
            .as_str()
            .is_some()
    );

    // Never a 5xx, and still answering.
    assert_eq!(
        post_json(s.addr, "/predict", SETOSA).expect(200)["class"],
        "setosa"
    );
    let metrics = get(s.addr, "/metrics").body;
    assert!(!metrics.contains("status=\"5"), "{metrics}");
    let log = std::fs::read_to_string(p.join("serve.stderr")).unwrap_or_default();
    assert!(
        log.contains("missing feature 'petal_width'"),
        "refusals are logged:\n{log}"
    );
}

#[test]
fn reload_swaps_models_without_failing_a_request_and_refuses_a_broken_one() {
    let (p, s) = logistic();
    let model = p.join("model.json");
    let stop = Arc::new(AtomicBool::new(false));
    // Clients predicting throughout; every reply must be a 200 from one model or the other.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, addr) = (stop.clone(), s.addr);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = post_json(addr, "/predict", VIRGINICA);
                    assert_eq!(
                        reply.status, 200,
                        "a request failed during reload: {}",
                        reply.body
                    );
                    seen.push(
                        reply.json()["model_version"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    );
                }
                seen
            })
        })
        .collect();
    let predictions = || {
        get(s.addr, "/metrics")
            .body
            .lines()
            .filter_map(|l| {
                l.strip_prefix("cairn_predictions_total{")?
                    .rsplit(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum::<u64>()
    };
    let wait_for_requests = || {
        let before = predictions();
        wait_until("more predictions", || predictions() >= before + 20);
    };
    wait_for_requests();

    replace_file(&model, TREE);
    let reply = post_json(s.addr, "/reload", "").expect(200);
    assert_eq!(reply["model_version"], version_of(TREE));
    assert_eq!(reply["previous_version"], version_of(LOGISTIC));
    wait_for_requests();

    replace_file(
        &model,
        "{\"format\": \"cairn-model\", \"format_version\": 1, \"task\": \"classification\"}",
    );
    let refused = post_json(s.addr, "/reload", "").expect(422);
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("model.json"),
        "{refused}"
    );
    assert_eq!(refused["model_version"], version_of(TREE));
    wait_for_requests();

    // Another file, named in the body.
    p.write("other.json", LOGISTIC);
    let other = p.join("other.json");
    let body = json!({"model": other}).to_string();
    assert_eq!(
        post_json(s.addr, "/reload", &body).expect(200)["model_version"],
        version_of(LOGISTIC)
    );
    assert_eq!(
        post_json(s.addr, "/reload", r#"{"model": "missing.json"}"#).status,
        422
    );
    wait_for_requests();

    stop.store(true, Ordering::Relaxed);
    let mut versions: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 2, "both models answered: {versions:?}");
    assert_eq!(
        get(s.addr, "/model/info").expect(200)["version"],
        version_of(LOGISTIC)
    );
    let metrics = get(s.addr, "/metrics").body;
    assert!(
        metrics.contains("cairn_model_reloads_total{result=\"ok\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cairn_model_reloads_total{result=\"error\"} 2"),
        "{metrics}"
    );
}

#[test]
fn reload_needs_the_bearer_token_when_one_is_set() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start_with_env(
        &p,
        &["--model", "model.json"],
        &[("CAIRN_RELOAD_TOKEN", "s3cret")],
    );
    assert_eq!(
        post_json(s.addr, "/reload", "").expect(401)["field"],
        "Authorization"
    );
    let wrong = request(
        s.addr,
        "POST",
        "/reload",
        &[("Authorization", "Bearer nope")],
        b"",
    )
    .expect("POST");
    assert_eq!(wrong.status, 401);
    let right = request(
        s.addr,
        "POST",
        "/reload",
        &[("Authorization", "Bearer s3cret")],
        b"",
    )
    .expect("POST");
    assert_eq!(right.expect(200)["reloaded"], true);
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits() {
    let (p, mut s) = logistic();
    // A request whose body has only half arrived is in flight when the signal comes.
    let (head, tail) = SETOSA.split_at(20);
    let len = SETOSA.len().to_string();
    let mut stream = http::send(
        s.addr,
        "POST",
        "/predict",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &len),
        ],
        head.as_bytes(),
    );
    // In flight: this request and the /metrics request asking.
    wait_until("the request to be in flight", || {
        get(s.addr, "/metrics")
            .body
            .contains("cairn_http_requests_in_flight 2")
    });
    s.terminate();
    wait_until("the server to take the signal", || {
        std::fs::read_to_string(p.join("serve.stderr")).is_ok_and(|e| e.contains("shutting down"))
    });
    std::io::Write::write_all(&mut stream, tail.as_bytes()).expect("rest of the body");
    let reply = http::receive(stream).expect("reply after SIGTERM");
    assert_eq!(reply.expect(200)["class"], "setosa");
    let status = s.wait();
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "still listening after shutdown"
    );
}

/// Polls `done` every 10 ms, for 20 s at most.
#[track_caller]
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "waited in vain for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last 100 logged predictions, newest first.
fn history(addr: std::net::SocketAddr) -> Vec<serde_json::Value> {
    get(addr, "/predictions/history?limit=100").expect(200)["predictions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_batch_is_logged_row_for_row_in_order() {
    // 70 rows: two multi-row INSERTs of 32 and six single ones in the SQLite writer.
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json", "--log-db", "log.sqlite"]);
    let rows: Vec<String> = (0..70)
        .map(|i| {
            format!(
                r#"{{"sepal_length": {}, "sepal_width": 3.0, "petal_length": 1.5, "petal_width": 0.2}}"#,
                f64::from(i) / 10.0
            )
        })
        .collect();
    post_instances(s.addr, &rows).expect(200);
    wait_until("70 logged rows", || history(s.addr).len() >= 70);
    let logged = history(s.addr);
    assert_eq!(logged.len(), 70);
    // Newest first: the last row sent is the first listed.
    for (k, row) in logged.iter().enumerate() {
        let sent = f64::from(69 - k as i32) / 10.0;
        assert!(close(&row["inputs"]["sepal_length"], sent), "{row}");
        assert!(row["probabilities"]["setosa"].as_f64().is_some(), "{row}");
    }
}

#[test]
fn requests_of_different_sizes_are_logged_each_row_with_its_own_answer() {
    // The writer reads rows back out of flat arrays: every request's rows must come out with
    // their own inputs and answers, for a regressor (no probabilities) as for a classifier.
    let p = Project::new();
    p.write("price.json", REGRESSION);
    let s = Server::start(&p, &["--model", "price.json", "--log-db", "log.sqlite"]);
    let mut sent = Vec::new();
    for size in [3, 1, 2, 5] {
        let rows: Vec<(f64, f64)> = (0..size)
            .map(|i| (f64::from(sent.len() as i32 + i), 10.0))
            .collect();
        let body: Vec<String> = rows
            .iter()
            .map(|(rooms, age)| format!(r#"{{"rooms": {rooms}, "age": {age}}}"#))
            .collect();
        let reply = if size == 1 {
            vec![post_json(s.addr, "/predict", &body[0]).expect(200)]
        } else {
            let many = post_instances(s.addr, &body).expect(200);
            many["predictions"].as_array().cloned().unwrap_or_default()
        };
        assert_eq!(reply.len(), rows.len());
        for (row, answer) in rows.into_iter().zip(reply) {
            sent.push((row, answer["value"].as_f64().unwrap_or(f64::NAN)));
        }
    }
    wait_until("11 logged rows", || history(s.addr).len() >= sent.len());
    let mut logged = history(s.addr);
    logged.reverse();
    assert_eq!(logged.len(), sent.len());
    for (row, ((rooms, age), value)) in logged.iter().zip(&sent) {
        assert!(close(&row["inputs"]["rooms"], *rooms), "{row}");
        assert!(close(&row["inputs"]["age"], *age), "{row}");
        assert!(close(&row["value"], *value), "{row}");
        assert!(
            row.get("class").is_none() && row.get("probabilities").is_none(),
            "{row}"
        );
    }
}

#[test]
fn root_links_and_the_docs_page_works_in_a_browser_with_no_network() {
    let (_p, s) = logistic();
    let root = get(s.addr, "/").expect(200);
    assert_eq!(root["name"], "cairn");
    assert_eq!(root["links"]["docs"], "/docs");
    assert_eq!(root["model_version"], version_of(LOGISTIC));
    let page = get(s.addr, "/docs");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let policy = page
        .header("content-security-policy")
        .unwrap_or("")
        .to_string();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"),
        "{policy}"
    );
    let script = get(s.addr, "/docs/docs.js");
    assert_eq!(script.status, 200);
    // Nothing the page loads comes from elsewhere: no absolute URL in the page or its script.
    for text in [&page.body, &script.body] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{text}"
        );
    }

    let profile = tempfile::tempdir().expect("tempdir");
    let Some(mut chromium) = crate::support::chromium(profile.path()) else {
        return;
    };
    // Every host but this server's unresolvable: the page must render from it alone.
    let out = chromium
        .args([
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("http://{}/docs", s.addr),
        ])
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-loaded="),
        "the routes did not load:\n{dom}"
    );
    for path in [
        ">/predict<",
        ">/health<",
        ">/invocations<",
        ">/v2/models/{name}/infer<",
    ] {
        assert!(dom.contains(path), "{path} not on the page:\n{dom}");
    }
}

#[test]
fn history_lists_logged_predictions_newest_first() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json", "--log-db", "log.sqlite"]);
    post_json(s.addr, "/predict", SETOSA).expect(200);
    post_json(
        s.addr,
        "/predict",
        &format!(r#"{{"instances": [{SETOSA}, {VIRGINICA}]}}"#),
    )
    .expect(200);
    post_json(
        s.addr,
        "/invocations",
        r#"{"inputs": [[6.7, 3.0, 5.2, 2.3]]}"#,
    )
    .expect(200);
    // Logging is asynchronous: wait until all four are written.
    let history = |limit: usize| {
        let reply = get(s.addr, &format!("/predictions/history?limit={limit}")).expect(200);
        reply["predictions"].as_array().cloned().unwrap_or_default()
    };
    wait_until("four logged predictions", || history(10).len() >= 4);
    let rows = history(10);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let newest = &rows[0];
    assert_eq!(newest["route"], "/invocations");
    assert_eq!(newest["class"], "virginica");
    assert_eq!(newest["model_version"], version_of(LOGISTIC));
    assert!(close(&newest["inputs"]["petal_width"], 2.3));
    assert!(newest["probabilities"]["virginica"].as_f64().is_some());
    assert!(newest["time"].as_f64().is_some() && newest["latency_ms"].as_f64().is_some());
    assert_eq!(rows[3]["class"], "setosa");
    assert!(rows[0]["id"].as_i64() > rows[3]["id"].as_i64());

    assert_eq!(history(2).len(), 2);
    assert_eq!(
        get(s.addr, "/predictions/history?limit=x").expect(400)["field"],
        "limit"
    );
    assert_eq!(
        get(s.addr, "/predictions/history?limit=0").expect(400)["field"],
        "limit"
    );
    assert!(p.exists("log.sqlite"));

    let (_q, plain) = logistic();
    let off = get(plain.addr, "/predictions/history").expect(404);
    assert!(
        off["error"].as_str().unwrap_or("").contains("--log-db"),
        "{off}"
    );
}

#[test]
fn sigterm_flushes_the_prediction_log() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let mut s = Server::start(&p, &["--model", "model.json", "--log-db", "log.sqlite"]);
    for _ in 0..50 {
        post_json(s.addr, "/predict", SETOSA).expect(200);
    }
    s.terminate();
    assert!(s.wait().success());
    let conn = rusqlite::Connection::open(p.join("log.sqlite")).expect("open log");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM predictions", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 50);
}

#[test]
fn serves_the_workspace_model_by_default_and_says_what_to_do_without_one() {
    let p = Project::new();
    p.cairn(&["serve", "--port", "0"]).code(2).stderr_has(&[
        "models/model.json",
        "cairn repro",
        "--model",
    ]);
    Project::bare()
        .cairn(&["serve", "--port", "0"])
        .code(2)
        .stderr_has(&["--model", "workspace"]);

    p.write("models/model.json", LOGISTIC);
    p.write("sub/dir/.keep", "");
    let s = Server::start(&p, &["-C", "sub/dir"]);
    let info = get(s.addr, "/model/info").expect(200);
    assert!(
        info["path"]
            .as_str()
            .unwrap_or("")
            .ends_with("models/model.json"),
        "{info}"
    );
    assert_eq!(info["version"], version_of(LOGISTIC));
}

#[test]
fn refuses_to_start_with_a_broken_or_missing_model() {
    let p = Project::new();
    p.write(
        "broken.json",
        LOGISTIC.replace("\"intercepts\": [0.2, 1.0, -1.2]", "\"intercepts\": [0.2]"),
    );
    p.cairn(&["serve", "--model", "broken.json", "--port", "0"])
        .code(2)
        .stderr_has(&["broken.json", "invalid cairn model"]);
    p.cairn(&["serve", "--model", "absent.json", "--port", "0"])
        .code(2)
        .stderr_has(&["absent.json", "not found"]);
    p.write("notes.json", "{\"hello\": 1}");
    p.cairn(&["serve", "--model", "notes.json", "--port", "0"])
        .code(2)
        .stderr_has(&["notes.json", "not a cairn model"]);
}

/// Reads one reply from a kept-alive connection: the head, then `Content-Length` bytes of body.
/// `None` when the server closed the connection instead.
fn read_reply(stream: &mut std::net::TcpStream) -> Option<(u16, String, String)> {
    use std::io::Read;
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&raw).to_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((status, head, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn a_reply_given_before_the_body_is_read_does_not_break_the_next_request_on_the_connection() {
    use std::io::Write;
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json", "--max-body", "1000"]);
    let next = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let body = SETOSA.repeat(3);
    let big = "x".repeat(5000);
    let post = |path: &str, content_type: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        (
            "404",
            post("/no-such-route", "application/json", &body),
            404,
        ),
        (
            "405",
            format!(
                "GET /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            405,
        ),
        ("413", post("/predict", "application/json", &big), 413),
        ("415", post("/predict", "text/plain", &body), 415),
        (
            "415 invocations",
            post("/invocations", "text/plain", &body),
            415,
        ),
        (
            "415 v2",
            post("/v2/models/model/infer", "text/plain", &body),
            415,
        ),
    ];
    // The body sent whole with its head, or only the head first and the body once the reply
    // is in (a slow client, or one that waits for an early answer): either way the client's
    // next request on the connection must be served, or the reply must say the server closes.
    // (A body over --max-body is read up to the limit before the 413, so it is sent whole.)
    let variants = cases.iter().flat_map(|c| [(c, false), (c, c.2 != 413)]);
    for ((what, first, status), split) in variants {
        let (head, body) = first.split_at(first.find("\r\n\r\n").expect("head") + 4);
        let mut stream = std::net::TcpStream::connect(s.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let what = format!("{what}{}", if split { ", body late" } else { "" });
        // The server may stop reading after its reply: the rest of a large body may not go out.
        let _ = stream.write_all(if split { head } else { first }.as_bytes());
        let (got, reply_head, _) =
            read_reply(&mut stream).unwrap_or_else(|| panic!("{what}: no reply"));
        assert_eq!(got, *status, "{what}");
        if reply_head.contains("connection: close") {
            // Said, and done: the client knows to open a new connection.
            assert!(
                read_reply(&mut stream).is_none(),
                "{what}: said close, kept open"
            );
        } else {
            // Then the connection must serve the client's next request, as a client expects.
            if split {
                let _ = stream.write_all(body.as_bytes());
            }
            let _ = stream.write_all(next.as_bytes());
            let second = read_reply(&mut stream).map(|r| r.0);
            assert_eq!(
                second,
                Some(200),
                "{what}: the next request on the connection failed"
            );
        }
    }
    // A request whose body was read keeps the connection: both replies arrive on it.
    let mut stream = std::net::TcpStream::connect(s.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let first = post("/predict", "application/json", SETOSA);
    stream
        .write_all(format!("{first}{next}").as_bytes())
        .expect("write");
    let (one, head, _) = read_reply(&mut stream).expect("first reply");
    assert_eq!(one, 200);
    assert!(!head.contains("connection: close"), "{head}");
    assert_eq!(read_reply(&mut stream).expect("second reply").0, 200);
}

#[test]
fn a_top_level_key_given_twice_is_refused_on_every_route() {
    let (_p, s) = logistic();
    let records = format!("[{SETOSA}]");
    let tensor =
        r#"[{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]"#;
    let cases = [
        (
            "/predict",
            format!(r#"{{"instances": {records}, "instances": {records}}}"#),
            422,
        ),
        (
            "/predict/batch",
            format!(r#"{{"instances": {records}, "instances": {records}}}"#),
            422,
        ),
        (
            "/invocations",
            format!(r#"{{"dataframe_records": {records}, "dataframe_records": {records}}}"#),
            400,
        ),
        (
            "/v2/models/model/infer",
            format!(r#"{{"inputs": {tensor}, "inputs": {tensor}}}"#),
            400,
        ),
        (
            "/reload",
            r#"{"model": "model.json", "model": "model.json"}"#.to_string(),
            422,
        ),
    ];
    for (route, body, status) in &cases {
        let reply = post_json(s.addr, route, body);
        assert_eq!(reply.status, *status, "{route}: {}", reply.body);
        assert!(
            reply.body.contains("twice") || reply.body.contains("duplicate"),
            "{route}: {}",
            reply.body
        );
    }
}

#[test]
fn open_inference_v2_binary_tensors_and_output_selection_by_hand() {
    let (_p, s) = logistic();
    let infer = "/v2/models/model/infer";
    // No Content-Type (as tritonclient sends): read as JSON.
    let plain = r#"{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}"#;
    let reply = request(s.addr, "POST", infer, &[], plain.as_bytes()).expect("POST");
    assert_eq!(reply.expect(200)["outputs"][0]["data"], json!(["setosa"]));
    // Binary in, binary out: a JSON header of the stated length, then little-endian values.
    let header = r#"{"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}],
        "outputs": [{"name": "class", "parameters": {"binary_data": true}}]}"#;
    let mut body = header.as_bytes().to_vec();
    for x in [5.1f32, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3] {
        body.extend_from_slice(&x.to_le_bytes());
    }
    let length = header.len().to_string();
    let mut stream = http::send(
        s.addr,
        "POST",
        infer,
        &[("Inference-Header-Content-Length", &length)],
        &body,
    );
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    let json_length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("inference-header-content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Inference-Header-Content-Length in the reply");
    let rest = &raw[split..];
    let reply: Value = serde_json::from_slice(&rest[..json_length]).expect("JSON header");
    let outputs = reply["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 1, "only the output asked for: {reply}");
    assert_eq!(outputs[0]["name"], "class");
    // BYTES: a 4-byte little-endian length before each element.
    let expected: Vec<u8> = ["setosa", "virginica"]
        .iter()
        .flat_map(|c| {
            let mut v = (c.len() as u32).to_le_bytes().to_vec();
            v.extend_from_slice(c.as_bytes());
            v
        })
        .collect();
    assert_eq!(outputs[0]["parameters"]["binary_data_size"], expected.len());
    assert_eq!(&rest[json_length..], &expected[..]);
    // Framing that does not add up, and an unknown output, are 400s naming the field.
    let short = request(
        s.addr,
        "POST",
        infer,
        &[("Inference-Header-Content-Length", &length)],
        &body[..body.len() - 4],
    )
    .expect("POST");
    assert_eq!(short.expect(400)["field"], "binary_data_size");
    let unknown = plain.replace("}]}", r#"}], "outputs": [{"name": "colour"}]}"#);
    let err = post_json(s.addr, infer, &unknown).expect(400);
    assert!(
        err["error"].as_str().is_some_and(|e| e.contains("colour")),
        "{err}"
    );
    // Versioned routes answer for the served version only.
    let v = version_of(LOGISTIC);
    assert_eq!(
        get(s.addr, &format!("/v2/models/model/versions/{v}")).expect(200)["name"],
        "model"
    );
    assert_eq!(
        get(s.addr, &format!("/v2/models/model/versions/{v}/ready")).expect(200)["ready"],
        true
    );
    post_json(
        s.addr,
        &format!("/v2/models/model/versions/{v}/infer"),
        plain,
    )
    .expect(200);
    get(s.addr, "/v2/models/model/versions/7/ready").expect(404);
    post_json(s.addr, "/v2/models/model/versions/7/infer", plain).expect(404);
    assert_eq!(
        get(s.addr, "/v2").expect(200)["extensions"],
        json!(["binary_tensor_data"])
    );
}

#[test]
fn the_openapi_document_lists_every_route_with_its_statuses_and_limits() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json", "--max-batch", "7"]);
    let doc = get(s.addr, "/openapi.json").expect(200);
    let paths = doc["paths"].as_object().expect("paths");
    let routes = [
        ("/predict", "post"),
        ("/predict/batch", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/model/info", "get"),
        ("/reload", "post"),
        ("/openapi.json", "get"),
        ("/predictions/history", "get"),
        ("/invocations", "post"),
        ("/ping", "get"),
        ("/version", "get"),
        ("/v2", "get"),
        ("/v2/health/live", "get"),
        ("/v2/health/ready", "get"),
        ("/v2/models/{name}", "get"),
        ("/v2/models/{name}/ready", "get"),
        ("/v2/models/{name}/infer", "post"),
        ("/v2/models/{name}/versions/{version}", "get"),
        ("/v2/models/{name}/versions/{version}/ready", "get"),
        ("/v2/models/{name}/versions/{version}/infer", "post"),
        ("/", "get"),
        ("/docs", "get"),
        ("/docs/docs.js", "get"),
    ];
    for (path, method) in routes {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method];
        assert!(op["responses"]["200"].is_object(), "{path}: no 200");
        if method == "post" && path != "/reload" {
            for status in ["400", "413", "415"] {
                assert!(op["responses"][status].is_object(), "{path}: no {status}");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Batch"]["properties"]["instances"]["maxItems"], 7);
    assert_eq!(schemas["Batch"]["required"], json!(["instances"]));
    assert_eq!(
        schemas["Predictions"]["required"],
        json!(["predictions", "model_version", "processing_time_ms"])
    );
    assert_eq!(schemas["Row"]["minItems"], 4);
    let limit = &paths["/predictions/history"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(10_000))
    );
    let invocations = &paths["/invocations"]["post"];
    assert!(invocations["requestBody"]["content"]["text/csv"].is_object());
    assert!(invocations["responses"]["415"]["content"]["text/plain"].is_object());
    assert_eq!(
        schemas["MlflowError"]["required"],
        json!(["error_code", "message"])
    );
}
