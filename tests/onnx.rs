//! `cairn serve` with ONNX models converted from scikit-learn by skl2onnx (the real converter,
//! from the venv scripts/clients-venv.sh makes): predictions equal scikit-learn's own on every
//! Iris row, names come from a sidecar, the model's metadata or the graph, the registry and the
//! other protocols serve them too, and what cannot be served is refused by name. The models are
//! made by tests/onnx/export.py.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::clients::clients_python;
use crate::serve::http::{get, post_json};
use crate::serve::server::Server;
use crate::support::Project;

const FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
/// f32 inside the runtime against f64 in scikit-learn.
const TOLERANCE: f64 = 1e-5;

/// The folder export.py wrote once for this test process, and its expected.json.
fn exported() -> Option<&'static (PathBuf, Value)> {
    static EXPORTED: OnceLock<Option<(PathBuf, Value)>> = OnceLock::new();
    EXPORTED
        .get_or_init(|| {
            let python = clients_python()?;
            let dir =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("onnx-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("models folder");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/export.py");
            let out = Command::new(python)
                .arg(script)
                .arg(&dir)
                .output()
                .expect("run export.py");
            assert!(
                out.status.success(),
                "export.py failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let expected =
                std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
            Some((
                dir,
                serde_json::from_str(&expected).expect("expected.json is JSON"),
            ))
        })
        .as_ref()
}

/// A project holding the exported `files`, and expected.json.
fn project_with(files: &[&str]) -> Option<(Project, &'static Value)> {
    let (dir, expected) = exported()?;
    let p = Project::new();
    for file in files {
        std::fs::copy(dir.join(file), p.join(file)).expect("copy model");
    }
    Some((p, expected))
}

/// The Iris rows as instances named by `features` (the first `features.len()` columns).
fn instances(expected: &Value, features: &[&str]) -> String {
    let rows = expected["rows"].as_array().expect("rows");
    let instances: Vec<Value> = rows
        .iter()
        .map(|row| {
            let named: serde_json::Map<String, Value> = features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.to_string(), row[i].clone()))
                .collect();
            Value::Object(named)
        })
        .collect();
    json!({ "instances": instances }).to_string()
}

#[track_caller]
fn assert_close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= TOLERANCE,
        "{what}: cairn says {got}, scikit-learn {want}"
    );
}

/// Serves `file` and checks its classes and probabilities on every Iris row against
/// scikit-learn's `predict` and `predict_proba`.
fn check_classifier(file: &str, extra: &[&str]) {
    let mut files = vec![file];
    files.extend_from_slice(extra);
    let Some((p, expected)) = project_with(&files) else {
        return;
    };
    let s = Server::start(&p, &["--model", file]);
    let reply = post_json(s.addr, "/predict", &instances(expected, &FEATURES)).expect(200);
    let predictions = reply["predictions"].as_array().expect("predictions");
    let name = file.trim_end_matches(".onnx");
    let want = &expected[name];
    assert_eq!(predictions.len(), 150);
    let classes = expected["classes"].as_array().expect("classes");
    for (row, prediction) in predictions.iter().enumerate() {
        assert_eq!(prediction["class"], want["class"][row], "{file}, row {row}");
        for (c, class) in classes.iter().enumerate() {
            let class = class.as_str().expect("class name");
            assert_close(
                prediction["probabilities"][class]
                    .as_f64()
                    .expect("probability"),
                want["probabilities"][row][c].as_f64().expect("probability"),
                &format!("{file}, row {row}, P({class})"),
            );
        }
    }
    let info = get(s.addr, "/model/info").expect(200);
    assert_eq!(info["format"], "onnx");
    assert_eq!(info["algorithm"], "onnx");
    assert_eq!(info["features"], json!(FEATURES));
    assert_eq!(
        info["classes"],
        json!(["setosa", "versicolor", "virginica"])
    );
    assert!(
        info["producer"]
            .as_str()
            .is_some_and(|p| p.starts_with("skl2onnx")),
        "{info}"
    );
}

/// Serves `file` and checks its value on every Iris row against `expected[name]`.
fn check_regressor(file: &str, features: &[&str]) {
    let Some((p, expected)) = project_with(&[file]) else {
        return;
    };
    let s = Server::start(&p, &["--model", file]);
    let reply = post_json(s.addr, "/predict", &instances(expected, features)).expect(200);
    let predictions = reply["predictions"].as_array().expect("predictions");
    let want = expected[file.trim_end_matches(".onnx")]
        .as_array()
        .expect("expected values");
    assert_eq!(predictions.len(), want.len());
    for (row, (got, want)) in predictions.iter().zip(want).enumerate() {
        assert_close(
            got["value"]
                .as_f64()
                .unwrap_or_else(|| panic!("no value: {got}")),
            want.as_f64().expect("value"),
            &format!("{file}, row {row}"),
        );
    }
    assert_eq!(
        get(s.addr, "/model/info").expect(200)["features"],
        json!(features)
    );
}

#[test]
fn a_scaler_and_logistic_regression_pipeline_predicts_as_scikit_learn_with_names_from_its_sidecar()
{
    check_classifier("logistic.onnx", &["logistic.onnx.json"]);
}

#[test]
fn a_random_forest_predicts_as_scikit_learn_with_names_from_its_metadata() {
    check_classifier("forest.onnx", &[]);
}

#[test]
fn a_linear_regression_predicts_as_scikit_learn_with_the_names_scikit_learn_gives_unnamed_columns()
{
    check_regressor("linear.onnx", &["x0", "x1", "x2"]);
}

#[test]
fn a_graph_of_standard_operators_takes_one_input_per_feature_by_its_name() {
    check_regressor("columns.onnx", &FEATURES);
}

#[test]
fn tree_regressors_averaged_or_boosted_predict_as_scikit_learn() {
    check_regressor("forest_regressor.onnx", &["x0", "x1", "x2"]);
    check_regressor("boosted_regressor.onnx", &["x0", "x1", "x2"]);
}

#[test]
fn operators_the_runtime_lacks_are_named_and_nothing_serves() {
    let Some((p, _)) = project_with(&["zipmap.onnx", "unknown.onnx"]) else {
        return;
    };
    p.cairn(&["serve", "--port", "0", "--model", "zipmap.onnx"])
        .code(2)
        .stderr_has(&[
            "zipmap.onnx",
            "does not implement: ZipMap (ai.onnx.ml)",
            "'zipmap': False",
        ]);
    p.cairn(&["serve", "--port", "0", "--model", "unknown.onnx"])
        .code(2)
        .stderr_has(&[
            "unknown.onnx",
            "does not implement: Frobnicate (com.example)",
        ]);
}

#[test]
fn a_sidecar_or_a_file_that_does_not_fit_is_refused_naming_it() {
    let Some((p, _)) = project_with(&["logistic.onnx", "forest.onnx", "outside.onnx"]) else {
        return;
    };
    let serve = |model: &str| p.cairn(&["serve", "--port", "0", "--model", model]);
    p.write("logistic.onnx.json", r#"{"features": ["a", "b", "c"]}"#);
    serve("logistic.onnx").code(2).stderr_has(&[
        "logistic.onnx",
        "3 feature names are given but the model's input takes 4",
    ]);
    p.write(
        "logistic.onnx.json",
        r#"{"features": ["a", "b", "c", "d"], "colour": 1}"#,
    );
    serve("logistic.onnx")
        .code(2)
        .stderr_has(&["logistic.onnx.json", "invalid sidecar", "colour"]);
    p.write(
        "logistic.onnx.json",
        r#"{"features": ["a", "b", "a", "d"]}"#,
    );
    serve("logistic.onnx")
        .code(2)
        .stderr_has(&["the feature name 'a' is given twice"]);
    p.write("logistic.onnx.json", r#"{"classes": ["one", "two"]}"#);
    serve("logistic.onnx")
        .code(2)
        .stderr_has(&["2 classes but no output of 2 probabilities per row"]);
    // Data in another file is not read, wherever it points.
    serve("outside.onnx").code(2).stderr_has(&[
        "outside.onnx",
        "the tensor 'w' keeps its data in another file",
    ]);
    // A file cut short is not a model.
    let bytes = std::fs::read(p.join("forest.onnx")).expect("read");
    p.write("cut.onnx", &bytes[..bytes.len() / 2]);
    serve("cut.onnx")
        .code(2)
        .stderr_has(&["cut.onnx", "not an ONNX model"]);
}

#[test]
fn a_registered_onnx_model_serves_by_reference_on_every_protocol() {
    let Some((p, expected)) = project_with(&["forest.onnx"]) else {
        return;
    };
    p.cairn(&["init"]).ok();
    p.cairn(&["models", "register", "forest.onnx", "--name", "iris-onnx"])
        .ok();
    let s = Server::start(
        &p,
        &["--model", "models:/iris-onnx/1", "--log-db", "log.sqlite"],
    );
    let want = &expected["forest"]["class"];

    let native = post_json(s.addr, "/predict", &instances(expected, &FEATURES)).expect(200);
    assert_eq!(native["model_version"], "models:/iris-onnx/1");
    assert_eq!(native["predictions"][0]["class"], want[0]);

    let rows = &expected["rows"];
    let split = json!({"dataframe_split": {"columns": FEATURES, "data": rows}}).to_string();
    let mlflow = post_json(s.addr, "/invocations", &split).expect(200);
    let classes: Vec<&Value> = mlflow["predictions"]
        .as_array()
        .expect("predictions")
        .iter()
        .collect();
    assert_eq!(classes.len(), 150);
    for (row, class) in classes.iter().enumerate() {
        assert_eq!(*class, &want[row], "row {row}");
    }

    let flat: Vec<f64> = rows
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_f64().expect("number"))
        })
        .collect();
    let v2 = json!({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [150, 4], "data": flat}]});
    let reply = post_json(s.addr, "/v2/models/iris-onnx/infer", &v2.to_string()).expect(200);
    let class = reply["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == "class")
        .unwrap_or_else(|| panic!("no class output: {reply}"));
    assert_eq!(&class["data"], want);

    // The log and the metrics see ONNX predictions as any other.
    let history = get(s.addr, "/predictions/history?limit=1").expect(200);
    let last = &history["predictions"][0];
    assert_eq!(last["model_version"], "models:/iris-onnx/1", "{history}");
    assert_eq!(last["class"], want[149]);
    assert_eq!(last["inputs"]["petal_width"], rows[149][3]);
    let metrics = get(s.addr, "/metrics").body;
    assert!(
        metrics.contains(r#"algorithm="onnx""#)
            && metrics.contains(r#"version="models:/iris-onnx/1""#),
        "{metrics}"
    );
}

#[test]
fn the_registry_checks_an_onnx_model_as_serve_will_and_refuses_a_sidecar_it_would_lose() {
    let Some((p, _)) = project_with(&["logistic.onnx", "logistic.onnx.json", "zipmap.onnx"]) else {
        return;
    };
    p.cairn(&["init"]).ok();
    p.cairn(&["models", "register", "zipmap.onnx", "--name", "iris"])
        .code(2)
        .stderr_has(&["zipmap.onnx", "ZipMap"]);
    p.cairn(&["models", "register", "logistic.onnx", "--name", "iris"])
        .code(2)
        .stderr_has(&["logistic.onnx.json", "metadata_props"]);
    assert!(!p.exists("cairn-registry.yaml") || !p.read("cairn-registry.yaml").contains("iris"));
    std::fs::remove_file(p.join("logistic.onnx.json")).expect("remove sidecar");
    p.cairn(&["models", "register", "logistic.onnx", "--name", "iris"])
        .ok();
    p.cairn(&["models", "show", "models:/iris/1", "--json"])
        .ok()
        .stdout_has(&["\"onnx\"", "classification"]);
}

#[test]
fn a_reload_swaps_one_onnx_model_for_another_and_keeps_the_old_one_on_a_bad_file() {
    let Some((p, expected)) = project_with(&[
        "logistic.onnx",
        "logistic.onnx.json",
        "forest.onnx",
        "zipmap.onnx",
    ]) else {
        return;
    };
    let s = Server::start(&p, &["--model", "logistic.onnx"]);
    let refused = post_json(s.addr, "/reload", r#"{"model": "zipmap.onnx"}"#);
    assert_eq!(refused.status, 422, "{}", refused.json());
    assert_eq!(
        get(s.addr, "/model/info").expect(200)["source"],
        "logistic.onnx"
    );
    post_json(s.addr, "/reload", r#"{"model": "forest.onnx"}"#).expect(200);
    let source = get(s.addr, "/model/info").expect(200)["source"].clone();
    assert!(
        source.as_str().is_some_and(|s| s.ends_with("/forest.onnx")),
        "{source}"
    );
    let reply = post_json(s.addr, "/predict", &instances(expected, &FEATURES)).expect(200);
    assert_eq!(
        reply["predictions"][100]["class"],
        expected["forest"]["class"][100]
    );
}

#[test]
fn tritonclient_infers_from_an_onnx_model_as_its_native_predict_does() {
    let Some((p, _)) = project_with(&["forest.onnx"]) else {
        return;
    };
    let Some(python) = clients_python() else {
        return;
    };
    let s = Server::start(&p, &["--model", "forest.onnx"]);
    let (classes, probabilities) = crate::clients::native(&s);
    let rows = json!(crate::clients::ROWS).to_string();
    let out = crate::clients::run_script(
        &python,
        "triton.py",
        &[&s.addr.to_string(), "forest", &rows],
    );
    assert_eq!(out["model_ready"], true);
    assert_eq!(out["metadata"]["parameters"]["features"], json!(FEATURES));
    for label in ["json", "binary", "binary_fp32"] {
        let run = &out["infer"][label];
        assert_eq!(run["outputs"]["class"], json!(classes), "{label}");
        crate::clients::assert_close(
            &run["outputs"]["probabilities"],
            &probabilities,
            1e-6,
            label,
        );
    }
}
