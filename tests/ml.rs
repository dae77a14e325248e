//! The built-in ML stages: preprocess, train, evaluate, select, on real CSV files, and the
//! reference Iris pipeline run by `cairn repro`.

use std::collections::BTreeMap;

use cairn_ml::model::Model;
use serde_json::Value;

use crate::support::{Output, Project};

const IRIS: &str = include_str!("../data/iris.csv");

fn iris() -> Project {
    let p = Project::new();
    p.write("iris.csv", IRIS);
    p
}

fn prepared() -> Project {
    let p = iris();
    p.cairn(&["preprocess", "--input", "iris.csv", "--output", "prep"])
        .ok();
    p
}

fn train(p: &Project, input: &str, output: &str, algorithm: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--input",
        input,
        "--output",
        output,
        "--algorithm",
        algorithm,
    ];
    args.extend(extra);
    p.cairn(&args)
}

fn evaluate(p: &Project, model: &str, input: &str, metrics: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "evaluate",
        "--model",
        model,
        "--input",
        input,
        "--metrics",
        metrics,
    ];
    args.extend(extra);
    p.cairn(&args)
}

fn json(p: &Project, rel: &str) -> Value {
    serde_json::from_str(&p.read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().to_string())
        .collect()
}

fn counts(values: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v.as_str()).or_default() += 1;
    }
    m
}

/// A regression data set: y = 3a - 2b + 5 plus a small deterministic wobble.
fn regression_csv(rows: usize) -> String {
    let mut s = String::from("a,b,y\n");
    for i in 0..rows {
        let a = (i % 17) as f64 * 0.5;
        let b = (i * 7 % 13) as f64 * 0.25;
        let wobble = ((i * 31 % 11) as f64 - 5.0) * 0.01;
        s.push_str(&format!("{a},{b},{}\n", 3.0 * a - 2.0 * b + 5.0 + wobble));
    }
    s
}

#[test]
fn preprocess_splits_stratified_and_fits_the_scaler_on_train_only() {
    let p = prepared();
    let train = p.read("prep/train.csv");
    let test = p.read("prep/test.csv");
    assert!(train.starts_with("sepal_length,sepal_width,petal_length,petal_width,species\n"));
    let test_classes = column(&test, "species");
    assert_eq!(test_classes.len(), 30);
    assert_eq!(
        counts(&test_classes).values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10]
    );
    assert_eq!(column(&train, "species").len(), 120);
    // Raw values are kept; each input row lands in exactly one split.
    let mut all: Vec<&str> = train.lines().skip(1).chain(test.lines().skip(1)).collect();
    let mut input: Vec<&str> = IRIS.lines().skip(1).collect();
    all.sort_unstable();
    input.sort_unstable();
    assert_eq!(all, input);

    let schema = json(&p, "prep/schema.json");
    assert_eq!(
        schema["classes"],
        serde_json::json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(schema["task"], "classification");
    let train_mean: f64 = column(&train, "petal_length")
        .iter()
        .map(|v| v.parse::<f64>().unwrap())
        .sum::<f64>()
        / 120.0;
    let mean = schema["scaler"]["mean"][2].as_f64().unwrap();
    assert!(
        (mean - train_mean).abs() < 1e-9,
        "scaler mean {mean} is not the train mean {train_mean}"
    );
}

#[test]
fn preprocess_is_deterministic_and_the_seed_changes_the_split() {
    let p = prepared();
    p.cairn(&["preprocess", "--input", "iris.csv", "--output", "again"])
        .ok();
    p.cairn(&[
        "preprocess",
        "--input",
        "iris.csv",
        "--output",
        "other",
        "--seed",
        "7",
    ])
    .ok();
    for f in ["train.csv", "test.csv", "schema.json"] {
        assert_eq!(
            p.read(&format!("prep/{f}")),
            p.read(&format!("again/{f}")),
            "{f}"
        );
    }
    assert_ne!(p.read("prep/test.csv"), p.read("other/test.csv"));
}

#[test]
fn preprocess_options_target_scale_test_size() {
    let p = Project::new();
    // Target first, scaled into [0, 1].
    let csv: String = IRIS
        .lines()
        .map(|l| {
            let (features, target) = l.rsplit_once(',').unwrap();
            format!("{target},{features}\n")
        })
        .collect();
    p.write("t.csv", csv);
    p.cairn(&[
        "preprocess",
        "--input",
        "t.csv",
        "--output",
        "d",
        "--target",
        "species",
        "--scale",
        "minmax",
        "--test-size",
        "0.4",
    ])
    .ok();
    let schema = json(&p, "d/schema.json");
    assert_eq!(schema["target"], "species");
    assert_eq!(schema["scaler"]["kind"], "minmax");
    assert_eq!(schema["test_rows"], 60);
    assert!(
        p.read("d/train.csv")
            .starts_with("sepal_length,sepal_width,petal_length,petal_width,species\n")
    );
}

#[test]
fn every_classifier_trains_evaluates_and_agrees_with_model_predict() {
    let p = prepared();
    for algorithm in ["logistic", "tree", "forest"] {
        let model = format!("models/{algorithm}.json");
        let metrics = format!("metrics/{algorithm}.json");
        train(&p, "prep", &model, algorithm, &[]).ok();
        evaluate(&p, &model, "prep", &metrics, &[])
            .ok()
            .stdout_has(&["accuracy"]);
        let m = json(&p, &metrics);
        let accuracy = m["accuracy"].as_f64().unwrap();
        assert!(accuracy >= 0.9, "{algorithm}: accuracy {accuracy}");
        for key in [
            "precision_macro",
            "recall_macro",
            "f1_macro",
            "precision_weighted",
            "recall_weighted",
            "f1_weighted",
        ] {
            assert!(m[key].as_f64().is_some(), "{algorithm}: {key}");
        }
        assert_eq!(m["per_class"]["setosa"]["support"], 10);
        // The served model (Model::load + predict) gives exactly the evaluated accuracy.
        let loaded = Model::load(&p.join(&model)).unwrap();
        assert_eq!(loaded.algorithm, algorithm);
        let test = p.read("prep/test.csv");
        let mut right = 0;
        for line in test.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let x: Vec<f64> = fields[..4].iter().map(|v| v.parse().unwrap()).collect();
            let predicted = loaded.predict(&x).class.unwrap();
            right += usize::from(loaded.classes[predicted] == fields[4]);
        }
        assert_eq!(right as f64 / 30.0, accuracy, "{algorithm}");
        let matrix = &m["confusion_matrix"]["matrix"];
        let total: u64 = matrix
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(total, 30);
    }
}

#[test]
fn training_is_byte_identical_for_the_same_inputs_and_seed() {
    let p = prepared();
    for algorithm in ["logistic", "tree", "forest"] {
        let args = |out: &str, seed: &str| {
            train(&p, "prep", out, algorithm, &["--seed", seed]).ok();
            std::fs::read(p.join(out)).unwrap()
        };
        assert_eq!(args("a.json", "1"), args("b.json", "1"), "{algorithm}");
        if algorithm == "forest" {
            assert_ne!(
                args("a.json", "1"),
                args("c.json", "2"),
                "the seed drives the forest"
            );
        }
    }
}

#[test]
fn hyperparameters_are_validated_and_recorded_in_the_model() {
    let p = prepared();
    train(
        &p,
        "prep",
        "f.json",
        "forest",
        &[
            "--param",
            "n_estimators=7",
            "--param",
            "criterion=entropy",
            "--max_depth",
            "3",
            "--bootstrap",
            "false",
        ],
    )
    .ok();
    let model = json(&p, "f.json");
    let h = &model["hyperparameters"];
    assert_eq!(h["n_estimators"], 7);
    assert_eq!(h["criterion"], "entropy");
    assert_eq!(h["max_depth"], 3);
    assert_eq!(h["bootstrap"], false);
    assert_eq!(h["min_samples_split"], 2, "defaults are recorded too");
    assert_eq!(model["predictor"]["trees"].as_array().unwrap().len(), 7);

    train(&p, "prep", "x.json", "tree", &["--param", "depth=3"])
        .code(2)
        .stderr_has(&[
            "unknown --param 'depth'",
            "max_depth",
            "min_samples_split",
            "criterion",
        ]);
    train(
        &p,
        "prep",
        "x.json",
        "forest",
        &["--param", "feature_fraction=2"],
    )
    .code(2)
    .stderr_has(&["feature_fraction=2", "<= 1"]);
    train(&p, "prep", "x.json", "svm", &[])
        .code(2)
        .stderr_has(&["unknown --algorithm 'svm'", "logistic, tree, forest"]);
    assert!(!p.exists("x.json"));
}

#[test]
fn evaluate_plots_write_a_confusion_matrix_csv_and_svg() {
    let p = prepared();
    train(&p, "prep", "m.json", "tree", &[]).ok();
    evaluate(
        &p,
        "m.json",
        "prep",
        "m/metrics.json",
        &["--plots", "plots"],
    )
    .ok();
    let csv = p.read("plots/confusion_matrix.csv");
    assert!(csv.starts_with("actual,predicted,count\n"));
    assert_eq!(csv.lines().count(), 10);
    let total: usize = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(total, 30);
    let svg = p.read("plots/confusion_matrix.svg");
    assert!(svg.starts_with("<svg") && svg.contains("Predicted") && svg.contains("Actual"));
    for class in ["setosa", "versicolor", "virginica"] {
        assert!(svg.contains(&format!(">{class}<")), "{class}");
    }
    // One-vs-rest ROC and precision-recall curves per class: from (0,0) to (1,1), rates
    // only rising, and recall reaching 1.
    for (k, class) in ["setosa", "versicolor", "virginica"].iter().enumerate() {
        let roc = p.read(&format!("plots/roc_{k}_{class}.csv"));
        let points: Vec<(f64, f64)> = roc
            .lines()
            .skip(1)
            .map(|l| {
                let (a, b) = l.split_once(',').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        assert_eq!(roc.lines().next(), Some("fpr,tpr"));
        assert_eq!(
            (points[0], *points.last().unwrap()),
            ((0.0, 0.0), (1.0, 1.0)),
            "{class}: {roc}"
        );
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
            "{class}: {roc}"
        );
        let pr = p.read(&format!("plots/pr_{k}_{class}.csv"));
        assert!(
            pr.starts_with("recall,precision\n0,1\n")
                && pr.lines().last().unwrap().starts_with("1,"),
            "{pr}"
        );
    }
}

#[test]
fn regression_trains_linear_tree_and_forest() {
    let p = Project::new();
    p.write("r.csv", regression_csv(200));
    p.cairn(&["preprocess", "--input", "r.csv", "--output", "prep"])
        .ok()
        .stdout_has(&["regression"]);
    assert_eq!(json(&p, "prep/schema.json")["task"], "regression");
    for algorithm in ["linear", "tree", "forest"] {
        let model = format!("{algorithm}.json");
        train(&p, "prep", &model, algorithm, &[]).ok();
        evaluate(&p, &model, "prep", "m.json", &["--plots", "plots"]).ok();
        let m = json(&p, "m.json");
        let (rmse, mae, r2) = (
            m["rmse"].as_f64().unwrap(),
            m["mae"].as_f64().unwrap(),
            m["r2"].as_f64().unwrap(),
        );
        assert!(
            r2 > 0.8 && mae <= rmse,
            "{algorithm}: rmse {rmse} mae {mae} r2 {r2}"
        );
        if algorithm == "linear" {
            assert!(r2 > 0.999 && rmse < 0.05, "linear: rmse {rmse} r2 {r2}");
        }
        // Residuals against fitted values: actual − predicted on every row.
        let predictions = p.read("plots/predictions.csv");
        let residuals = p.read("plots/residuals.csv");
        assert!(predictions.starts_with("actual,predicted\n"));
        assert!(residuals.starts_with("predicted,residual\n"));
        let rows = |text: &str| -> Vec<(f64, f64)> {
            text.lines()
                .skip(1)
                .map(|l| {
                    let (a, b) = l.split_once(',').expect("two fields");
                    (a.parse().expect("number"), b.parse().expect("number"))
                })
                .collect()
        };
        let (predictions, residuals) = (rows(&predictions), rows(&residuals));
        assert_eq!(predictions.len(), residuals.len());
        assert!(!residuals.is_empty());
        for ((actual, predicted), (fitted, residual)) in predictions.iter().zip(&residuals) {
            assert_eq!(predicted, fitted);
            assert!((actual - predicted - residual).abs() < 1e-9);
        }
    }
    // Default algorithm for regression is linear; the task can be forced.
    p.cairn(&["train", "--input", "prep", "--output", "d.json"])
        .ok();
    assert_eq!(json(&p, "d.json")["algorithm"], "linear");
    train(&p, "prep", "x.json", "logistic", &[])
        .code(2)
        .stderr_has(&["linear, tree, forest"]);
    p.write("c.csv", "a,y\n1,0\n2,0\n3,1\n4,1\n5,2\n6,2\n");
    p.cairn(&[
        "preprocess",
        "--input",
        "c.csv",
        "--output",
        "c",
        "--task",
        "regression",
    ])
    .ok();
    assert_eq!(json(&p, "c/schema.json")["task"], "regression");
}

#[test]
fn select_copies_the_best_model_and_minimises_errors() {
    let p = prepared();
    for algorithm in ["logistic", "tree"] {
        train(&p, "prep", &format!("{algorithm}.json"), algorithm, &[]).ok();
    }
    p.write("a.json", r#"{"accuracy": 0.9, "rmse": 2.0}"#);
    p.write("b.json", r#"{"accuracy": 0.95, "rmse": 1.0}"#);
    p.write("c.json", r#"{"accuracy": 0.95, "rmse": 3.0}"#);
    let select = |by: &str, candidates: &[&str]| {
        let mut args = vec![
            "select",
            "--by",
            by,
            "--output",
            "best/model.json",
            "--metrics",
            "best/metrics.json",
        ];
        for c in candidates {
            args.extend(["--candidate", c]);
        }
        p.cairn(&args)
    };
    select("accuracy", &["logistic.json=a.json", "tree.json=b.json"])
        .ok()
        .stdout_has(&["tree"]);
    assert_eq!(p.read("best/model.json"), p.read("tree.json"));
    let m = json(&p, "best/metrics.json");
    assert_eq!(m["selected"], "tree");
    assert_eq!(m["accuracy"], 0.95);
    assert_eq!(m["scores"]["logistic"], 0.9);
    // rmse is minimised.
    select("rmse", &["logistic.json=a.json", "tree.json=b.json"]).ok();
    assert_eq!(json(&p, "best/metrics.json")["selected"], "tree");
    select("rmse", &["tree.json=b.json", "logistic.json=a.json"]).ok();
    assert_eq!(json(&p, "best/metrics.json")["selected"], "tree");
    // Ties go to the first candidate.
    train(&p, "prep", "forest.json", "forest", &[]).ok();
    select("accuracy", &["forest.json=c.json", "tree.json=b.json"]).ok();
    assert_eq!(json(&p, "best/metrics.json")["selected"], "forest");

    select("f2", &["tree.json=b.json"]).code(2).stderr_has(&[
        "b.json",
        "no numeric metric 'f2'",
        "accuracy, rmse",
    ]);
    p.write("fake.json", r#"{"hello": 1}"#);
    select("accuracy", &["fake.json=b.json"])
        .code(2)
        .stderr_has(&["fake.json", "not a cairn model"]);
}

#[test]
fn bad_data_exits_2_naming_file_line_and_column() {
    let p = Project::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "a,b,c\n1,2,x\n1,oops,y\n",
            "bad.csv",
            &[
                "bad.csv",
                "line 3, column 2 ('b')",
                "'oops' is not a number",
            ],
        ),
        (
            "a,b,c\n1,2,x\n1,2\n",
            "short.csv",
            &["short.csv", "line 3", "column 3 ('c') is missing"],
        ),
        ("", "empty.csv", &["empty.csv", "empty file"]),
        ("a,b,c\n", "header.csv", &["header.csv", "no data rows"]),
        (
            "a,c\n1,x\n2,x\n3,y\n",
            "lonely.csv",
            &[
                "lonely.csv",
                "line 4, column 2 ('c')",
                "class 'y' has 1 row",
                "too few",
            ],
        ),
        (
            "a,c\n1,x\n2,x\n",
            "oneclass.csv",
            &["oneclass.csv", "column 2 ('c')", "at least two classes"],
        ),
        ("a,y\n1,0.5\n", "one.csv", &["one.csv", "too few to split"]),
        (
            "a,b,c\n1,,x\n",
            "missing.csv",
            &[
                "missing.csv",
                "line 2, column 2 ('b')",
                "missing value",
                "--missing drop",
            ],
        ),
    ];
    for (contents, name, expected) in cases {
        p.write(name, contents);
        p.cairn(&["preprocess", "--input", name, "--output", "out"])
            .code(2)
            .stderr_has(expected);
        assert!(!p.exists("out"), "{name}: nothing partial is left");
    }
    p.write("ok.csv", "a,b,c\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n");
    p.cairn(&[
        "preprocess",
        "--input",
        "ok.csv",
        "--output",
        "out",
        "--target",
        "species",
    ])
    .code(2)
    .stderr_has(&["ok.csv", "line 1", "no column 'species'", "a, b, c"]);
    p.cairn(&[
        "preprocess",
        "--input",
        "ok.csv",
        "--output",
        "out",
        "--test-size",
        "1.5",
    ])
    .code(2)
    .stderr_has(&["--test-size"]);
    // An output directory holding other files is never replaced.
    p.write("keep/notes.txt", "mine");
    p.cairn(&["preprocess", "--input", "ok.csv", "--output", "keep"])
        .code(2)
        .stderr_has(&["keep", "notes.txt", "new or empty directory"]);
    assert_eq!(p.read("keep/notes.txt"), "mine");
    // A failed run leaves the previous output as it was.
    p.cairn(&["preprocess", "--input", "ok.csv", "--output", "out"])
        .ok();
    let before = p.read("out/train.csv");
    p.cairn(&["preprocess", "--input", "bad.csv", "--output", "out"])
        .code(2);
    assert_eq!(p.read("out/train.csv"), before);
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".cairn-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary directories left behind");
}

#[test]
fn missing_values_can_be_dropped() {
    let p = Project::new();
    p.write("m.csv", "a,c\n1,x\nNA,x\n3,x\n4,y\n5,y\n6,y\n");
    p.cairn(&[
        "preprocess",
        "--input",
        "m.csv",
        "--output",
        "d",
        "--missing",
        "drop",
    ])
    .ok();
    let schema = json(&p, "d/schema.json");
    assert_eq!(
        schema["train_rows"].as_u64().unwrap() + schema["test_rows"].as_u64().unwrap(),
        5
    );
}

#[test]
fn evaluate_refuses_what_is_not_a_cairn_model_or_not_its_data() {
    let p = prepared();
    p.write("not-a-model.json", r#"{"weights": [1, 2]}"#);
    evaluate(&p, "not-a-model.json", "prep", "m.json", &[])
        .code(2)
        .stderr_has(&["not-a-model.json", "not a cairn model"]);
    p.write("garbage.json", "\u{1}\u{2}");
    evaluate(&p, "garbage.json", "prep", "m.json", &[])
        .code(2)
        .stderr_has(&["garbage.json", "not a cairn model"]);
    p.cairn(&["train", "--input", "nowhere", "--output", "m.json"])
        .code(2)
        .stderr_has(&["nowhere", "cairn preprocess"]);
    // A model trained on other columns does not fit this data.
    p.write("r.csv", regression_csv(40));
    p.cairn(&["preprocess", "--input", "r.csv", "--output", "rprep"])
        .ok();
    p.cairn(&["train", "--input", "rprep", "--output", "r.json"])
        .ok();
    evaluate(&p, "r.json", "prep", "m.json", &[])
        .code(2)
        .stderr_has(&["r.json", "expects features"]);
    // A damaged split names its line and column.
    let test = p.read("prep/test.csv").replacen("5.0,3.6", "5.0,abc", 1);
    p.write("prep/test.csv", test);
    p.cairn(&["train", "--input", "prep", "--output", "m2.json"])
        .ok();
    evaluate(&p, "m2.json", "prep", "m.json", &[])
        .code(2)
        .stderr_has(&["test.csv", "line 2, column 2 ('sepal_width')", "'abc'"]);
    assert!(!p.exists("m.json"));
}

#[test]
fn the_reference_pipeline_reproduces_and_selects_a_model_above_093() {
    let p = Project::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in ["params.yaml", "pipeline.yaml", "data/iris.csv"] {
        p.write(rel, std::fs::read(root.join(rel)).unwrap());
    }
    for entry in walkdir::WalkDir::new(root.join("crates/cairn-ml/src")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).unwrap();
            p.write(&rel.to_string_lossy(), std::fs::read(entry.path()).unwrap());
        }
    }
    p.cairn(&["repro"]).ok();
    let m = json(&p, "metrics.json");
    let best = m["accuracy"].as_f64().unwrap();
    assert!(best >= 0.93, "best accuracy {best}");
    let scores = m["scores"].as_object().unwrap();
    assert_eq!(scores.len(), 5);
    Model::load(&p.join("models/model.json")).unwrap();
    p.cairn(&["status", "--check"]).ok();
    // Changing one variant's params reruns only that variant (and select).
    let params = p
        .read("params.yaml")
        .replace("n_estimators: 20", "n_estimators: 25");
    p.write("params.yaml", params);
    let out = p.cairn(&["repro"]).ok();
    assert!(
        out.stdout.contains("train@conservative")
            && !out.stdout.contains("Running stage 'train@logistic'"),
        "{}",
        out.stdout
    );
}

fn git(p: &Project, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=cairn",
            "-c",
            "user.email=cairn@example.com",
        ])
        .args(args)
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_show_and_diff_and_params_diff_against_git() {
    let p = Project::new();
    p.write("params.yaml", "fit:\n  rate: 0.5\n  name: base\nother: 1\n");
    p.write(
        "pipeline.yaml",
        "stages:\n  fit:\n    cmd: cp next.json m.json\n    deps: [next.json]\n    params: [fit]\n    metrics:\n      - m.json: {cache: false}\n",
    );
    p.write(
        "next.json",
        r#"{"accuracy": 0.9, "nested": {"f1": 0.8}, "matrix": [[1, 2]]}"#,
    );
    p.cairn(&["repro"]).ok();
    git(&p, &["init", "-q", "."]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-qm", "base"]);

    let out = p.cairn(&["metrics", "show"]).ok();
    let header = out.stdout.lines().next().unwrap().to_string();
    assert!(header.starts_with("Path") && header.contains("Key") && header.contains("Value"));
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("nested.f1"))
        .unwrap();
    assert_eq!(
        row.find("nested.f1"),
        header.find("Key"),
        "columns line up:\n{}",
        out.stdout
    );
    assert!(!out.stdout.contains("matrix"));
    let shown: Value =
        serde_json::from_str(&p.cairn(&["metrics", "show", "--json"]).ok().stdout).unwrap();
    assert_eq!(shown["m.json"]["accuracy"], 0.9);

    p.cairn(&["metrics", "diff"])
        .ok()
        .stdout_has(&["no changes since HEAD"]);
    p.write("next.json", r#"{"accuracy": 0.95, "nested": {"f1": 0.8}}"#);
    p.write(
        "params.yaml",
        "fit:\n  rate: 0.25\n  name: base\nother: 2\n",
    );
    p.cairn(&["repro"]).ok();
    let out = p.cairn(&["metrics", "diff"]).ok();
    let line = out.stdout.lines().find(|l| l.contains("accuracy")).unwrap();
    assert!(
        line.contains("0.9") && line.contains("0.95") && line.contains("+0.05"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("nested.f1"),
        "unchanged values are left out:\n{}",
        out.stdout
    );
    let diff: Value =
        serde_json::from_str(&p.cairn(&["metrics", "diff", "HEAD", "--json"]).ok().stdout).unwrap();
    assert_eq!(diff["m.json"]["accuracy"]["old"], 0.9);
    assert_eq!(diff["m.json"]["accuracy"]["new"], 0.95);

    let out = p.cairn(&["params", "diff"]).ok();
    let line = out.stdout.lines().find(|l| l.contains("fit.rate")).unwrap();
    assert!(
        line.contains("params.yaml")
            && line.contains("0.5")
            && line.contains("0.25")
            && line.contains("-0.25"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("other"),
        "untracked params are not shown:\n{}",
        out.stdout
    );
    assert!(
        p.cairn(&["params", "diff", "--all"])
            .ok()
            .stdout
            .contains("fit.name")
    );
    let diff: Value =
        serde_json::from_str(&p.cairn(&["params", "diff", "--json"]).ok().stdout).unwrap();
    assert_eq!(diff["params.yaml"]["fit.rate"]["new"], 0.25);

    // --md: a GitHub table, for a job summary or a pull-request comment.
    let md = p.cairn(&["params", "diff", "--md"]).ok().stdout;
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "| Path | Key | Old | New | Change |", "{md}");
    assert_eq!(lines[1], "| --- | --- | --- | --- | --- |", "{md}");
    assert_eq!(
        lines[2], "| params.yaml | fit.rate | 0.5 | 0.25 | -0.25 |",
        "{md}"
    );
    let md = p.cairn(&["metrics", "diff", "--md"]).ok().stdout;
    assert!(
        md.contains("| m.json | accuracy | 0.9 | 0.95 | +0.05 |"),
        "{md}"
    );

    p.cairn(&["params", "diff", "no-such-rev"])
        .code(2)
        .stderr_has(&["'no-such-rev' is neither an experiment nor a git revision"]);
}

#[test]
fn top_level_metrics_and_params_are_shown_and_diffed_beside_the_stages() {
    let p = Project::new();
    p.write("params.yaml", "fit:\n  rate: 0.5\n  name: base\n");
    p.write("config.toml", "[opt]\nlr = 0.1\n");
    p.write("extra.json", r#"{"seed": 1}"#);
    p.write("summary.json", r#"{"auc": 0.7}"#);
    p.write("reports/a.json", r#"{"f1": 0.5}"#);
    p.write("reports/sub/b.yaml", "recall: 0.4\n");
    p.write("next.json", r#"{"accuracy": 0.9}"#);
    p.write(
        "pipeline.yaml",
        r#"params:
  - config.toml
  - extra.json
metrics:
  - summary.json
  - m.json
  - reports
stages:
  fit:
    cmd: cp next.json m.json
    deps: [next.json]
    params: [fit.rate]
    metrics:
      - m.json: {cache: false}
"#,
    );
    p.cairn(&["repro"]).ok();
    git(&p, &["init", "-q", "."]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-qm", "base"]);

    // A file both the stage and the top level name is shown once; a folder is its files.
    let shown: Value =
        serde_json::from_str(&p.cairn(&["metrics", "show", "--json"]).ok().stdout).unwrap();
    assert_eq!(shown["m.json"]["accuracy"], 0.9, "{shown}");
    assert_eq!(shown["summary.json"]["auc"], 0.7, "{shown}");
    assert_eq!(shown["reports/a.json"]["f1"], 0.5, "{shown}");
    assert_eq!(shown["reports/sub/b.yaml"]["recall"], 0.4, "{shown}");
    assert_eq!(shown.as_object().unwrap().len(), 4, "{shown}");
    let text = p.cairn(&["metrics", "show"]).ok().stdout;
    assert_eq!(text.matches("accuracy").count(), 1, "{text}");

    p.write("summary.json", r#"{"auc": 0.75}"#);
    p.write("reports/a.json", r#"{"f1": 0.6}"#);
    p.write("reports/c.json", r#"{"new": 1}"#);
    std::fs::remove_file(p.join("reports/sub/b.yaml")).unwrap();
    let diff: Value =
        serde_json::from_str(&p.cairn(&["metrics", "diff", "--json"]).ok().stdout).unwrap();
    assert_eq!(diff["summary.json"]["auc"]["old"], 0.7, "{diff}");
    assert_eq!(diff["summary.json"]["auc"]["new"], 0.75, "{diff}");
    assert_eq!(diff["reports/a.json"]["f1"]["new"], 0.6, "{diff}");
    assert_eq!(diff["reports/c.json"]["new"]["new"], 1, "{diff}");
    assert_eq!(diff["reports/sub/b.yaml"]["recall"]["old"], 0.4, "{diff}");
    assert!(
        diff["reports/sub/b.yaml"]["recall"]["new"].is_null(),
        "{diff}"
    );
    assert!(diff.get("m.json").is_none(), "unchanged: {diff}");

    // Top-level params files are shown whole, beside the keys the stages track.
    p.write("config.toml", "[opt]\nlr = 0.2\n");
    p.write("extra.json", r#"{"seed": 2, "added": true}"#);
    p.write("params.yaml", "fit:\n  rate: 0.25\n  name: changed\n");
    let out = p.cairn(&["params", "diff"]).ok();
    for (file, key, change) in [
        ("config.toml", "opt.lr", "+0.1"),
        ("extra.json", "seed", "+1"),
        ("params.yaml", "fit.rate", "-0.25"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(file) && l.contains(key))
            .unwrap_or_else(|| panic!("{file} {key}:\n{}", out.stdout));
        assert!(line.ends_with(change), "{line}");
    }
    assert!(
        out.stdout.contains("added") && !out.stdout.contains("fit.name"),
        "{}",
        out.stdout
    );
    let diff: Value =
        serde_json::from_str(&p.cairn(&["params", "diff", "--json"]).ok().stdout).unwrap();
    assert_eq!(diff["config.toml"]["opt.lr"]["old"], 0.1, "{diff}");
    assert_eq!(diff["extra.json"]["added"]["new"], true, "{diff}");
    git(&p, &["commit", "-qam", "next"]);
    p.cairn(&["params", "diff"])
        .ok()
        .stdout_has(&["no changes since HEAD"]);
    // A top-level params file gone since: its values are old only.
    std::fs::remove_file(p.join("extra.json")).unwrap();
    let diff: Value =
        serde_json::from_str(&p.cairn(&["params", "diff", "--json"]).ok().stdout).unwrap();
    assert_eq!(diff["extra.json"]["seed"]["old"], 2, "{diff}");
}
