//! `cairn serve` driven by the real clients of the protocols it speaks, from the venv that
//! scripts/clients-venv.sh makes: Triton's `tritonclient.http` (Open Inference v2, JSON and
//! binary tensors), MLflow's `ScoringServerClient` and pandas encodings, MLflow's own scoring
//! server for its error contract, and Schemathesis against `/openapi.json`. The Python
//! scripts are in tests/clients/.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::serve::http::post_json;
use crate::serve::models::{LOGISTIC, REGRESSION};
use crate::serve::server::Server;
use crate::support::Project;

const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

/// Iris rows of all three classes.
pub(crate) const ROWS: [[f64; 4]; 6] = [
    [5.1, 3.5, 1.4, 0.2],
    [4.9, 3.0, 1.4, 0.2],
    [5.9, 3.0, 4.2, 1.5],
    [6.1, 2.8, 4.7, 1.2],
    [6.7, 3.0, 5.2, 2.3],
    [6.3, 2.5, 5.0, 1.9],
];

/// The python of the venv scripts/clients-venv.sh makes, when set.
pub(crate) fn clients_python() -> Option<String> {
    match std::env::var("CAIRN_CLIENTS_PYTHON") {
        Ok(python) => Some(python),
        Err(_) => {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_CLIENTS").is_none(),
                "CAIRN_REQUIRE_CLIENTS is set and CAIRN_CLIENTS_PYTHON is not: run scripts/clients-venv.sh"
            );
            eprintln!(
                "skipping the real-client tests: CAIRN_CLIENTS_PYTHON is not set (scripts/test.sh sets it)"
            );
            None
        }
    }
}

/// Runs tests/clients/SCRIPT with ARGS; its stdout, which must be JSON.
#[track_caller]
pub(crate) fn run_script(python: &str, script: &str, args: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

fn logistic() -> (Project, Server) {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json"]);
    (p, s)
}

/// What the native `/predict` says of ROWS: class names and probabilities in class order.
pub(crate) fn native(s: &Server) -> (Vec<String>, Vec<Vec<f64>>) {
    let body = json!({"instances": ROWS}).to_string();
    let reply = post_json(s.addr, "/predict", &body).expect(200);
    let predictions = reply["predictions"]
        .as_array()
        .expect("predictions")
        .clone();
    let classes = predictions
        .iter()
        .map(|p| p["class"].as_str().expect("class").to_string())
        .collect();
    let probabilities = predictions
        .iter()
        .map(|p| {
            ["setosa", "versicolor", "virginica"]
                .iter()
                .map(|c| p["probabilities"][c].as_f64().expect("probability"))
                .collect()
        })
        .collect();
    (classes, probabilities)
}

#[track_caller]
pub(crate) fn assert_close(got: &Value, want: &[Vec<f64>], tolerance: f64, what: &str) {
    let got: Vec<Vec<f64>> = serde_json::from_value(got.clone())
        .unwrap_or_else(|e| panic!("{what}: probabilities are not rows of numbers ({e}): {got}"));
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{what}");
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= tolerance, "{what}: {a} vs {b}");
        }
    }
}

#[test]
fn tritonclient_infers_with_json_and_binary_tensors_as_native_predict_does() {
    let Some(python) = clients_python() else {
        return;
    };
    let (_p, s) = logistic();
    let (classes, probabilities) = native(&s);
    let rows = json!(ROWS).to_string();
    let out = run_script(&python, "triton.py", &[&s.addr.to_string(), "model", &rows]);
    assert_eq!(out["live"], true);
    assert_eq!(out["ready"], true);
    assert_eq!(out["server"]["extensions"], json!(["binary_tensor_data"]));
    assert_eq!(out["model_ready"], true);
    assert_eq!(out["other_ready"], false);
    assert_eq!(out["version_ready"], true);
    assert_eq!(out["wrong_version_ready"], false);
    assert_eq!(out["version_metadata"], out["metadata"]);
    // The metadata alone told the client how to build every request below.
    assert_eq!(
        out["metadata"]["inputs"],
        json!([{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}])
    );
    assert_eq!(out["metadata"]["parameters"]["features"], json!(FEATURES));
    let tolerance = [
        ("json", 1e-12),
        ("binary", 1e-12),
        ("binary_fp32", 1e-5),
        ("binary_fp16_json_out", 1e-2),
        ("default", 1e-12),
        ("versioned", 1e-12),
    ];
    for (label, tolerance) in tolerance {
        let run = &out["infer"][label];
        assert_eq!(run["id"], label, "{label}: the request id comes back");
        assert_eq!(run["outputs"]["class"], json!(classes), "{label}");
        assert_close(
            &run["outputs"]["probabilities"],
            &probabilities,
            tolerance,
            label,
        );
    }
    // FP64 in and out, JSON or binary: the very same numbers.
    assert_eq!(
        out["infer"]["json"]["outputs"],
        out["infer"]["binary"]["outputs"]
    );
    // Only the output asked for comes back.
    let only = &out["infer"]["only_last"]["outputs"];
    assert_eq!(only["class"], Value::Null);
    assert_close(&only["probabilities"], &probabilities, 1e-12, "only_last");
    let errors = &out["errors"];
    assert_eq!(errors["unknown_output"]["status"], "400");
    assert!(
        errors["unknown_output"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no_such_output")),
        "{errors}"
    );
    assert_eq!(errors["wrong_version"]["status"], "404");
    assert_eq!(errors["wrong_model"]["status"], "404");
}

#[test]
fn mlflow_client_and_pandas_encodings_predict_as_native_predict_does() {
    let Some(python) = clients_python() else {
        return;
    };
    let (_p, s) = logistic();
    let (classes, _) = native(&s);
    let out = run_script(
        &python,
        "mlflow_client.py",
        &[
            &s.addr.ip().to_string(),
            &s.addr.port().to_string(),
            &json!(ROWS).to_string(),
            &json!(FEATURES).to_string(),
        ],
    );
    assert!(out["version"].as_str().is_some_and(|v| !v.is_empty()));
    for label in ["client_frame", "client_wider_frame", "client_array"] {
        assert_eq!(out[label], json!(classes), "{label}");
    }
    for label in ["split", "records", "csv_with_index", "csv_without_index"] {
        assert_eq!(out[label]["status"], 200, "{label}: {}", out[label]);
        assert_eq!(out[label]["body"]["predictions"], json!(classes), "{label}");
    }
}

/// Each case of tests/clients/mlflow_cases.json goes to MLflow's own scoring server and to
/// cairn: the status, error_code and content type must agree, except in the cases that say
/// what cairn answers instead and why (and there MLflow must still answer otherwise, so the
/// list of differences stays true).
#[test]
fn the_mlflow_error_contract_matches_mlflows_scoring_server() {
    let Some(python) = clients_python() else {
        return;
    };
    let (_p, s) = logistic();
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("clients/mlflow_cases.json")).expect("cases");
    let sent: Vec<Value> = cases
        .iter()
        .map(|c| json!([c["name"], c["content_type"], c["body"]]))
        .collect();
    let out = run_script(
        &python,
        "mlflow_errors.py",
        &[
            &format!("http://{}", s.addr),
            &json!(FEATURES).to_string(),
            &Value::from(sent).to_string(),
        ],
    );
    let results = out.as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    let mut wrong = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let name = &case["name"];
        let (mlflow, cairn) = (&result["mlflow"], &result["cairn"]);
        let answer = |r: &Value| (r["status"].clone(), r["error_code"].clone());
        match case.get("cairn") {
            None => {
                if answer(mlflow) != answer(cairn)
                    || mlflow["content_type"] != cairn["content_type"]
                {
                    wrong.push(format!("{name}: MLflow {mlflow}, cairn {cairn}"));
                }
            }
            Some(expected) => {
                if answer(cairn) != answer(expected) {
                    wrong.push(format!("{name}: expected cairn {expected}, got {cairn}"));
                }
                if answer(mlflow) == answer(expected) {
                    wrong.push(format!(
                        "{name}: listed as a difference ({}) but MLflow answers the same: {mlflow}",
                        case["why"]
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Schemathesis generates requests from `/openapi.json` for every operation and checks the
/// replies against the document with all its checks; it must find nothing.
#[test]
fn schemathesis_finds_the_server_and_its_openapi_document_agree() {
    let Some(python) = clients_python() else {
        return;
    };
    let p = Project::new();
    p.write("model.json", LOGISTIC)
        .write("price.json", REGRESSION);
    for (model, extra) in [
        ("model.json", &[][..]),
        ("price.json", &["--max-batch", "5"][..]),
    ] {
        let mut args = vec!["--model", model];
        args.extend_from_slice(extra);
        let s = Server::start(&p, &args);
        let schemathesis = Path::new(&python).with_file_name("schemathesis");
        let report = p.join("schemathesis.txt");
        let out = Command::new(&schemathesis)
            .args([
                "run",
                &format!("http://{}/openapi.json", s.addr),
                "--checks",
                "all",
                // Bounded and repeatable: a fixed seed, one worker, no example database.
                "--max-examples",
                "60",
                "--seed",
                "1",
                "--workers",
                "1",
                "--request-timeout",
                "10",
                "--generation-database",
                "none",
                "--no-color",
            ])
            .current_dir(p.path())
            .output()
            .expect("run schemathesis");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&report, &text).expect("report");
        assert!(
            out.status.success() && text.contains("passed") && !text.contains("failed"),
            "schemathesis found problems with {model}:\n{text}"
        );
    }
}
