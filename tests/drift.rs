//! `cairn drift` and the server's drift gauges: a known shift is flagged and nothing else is,
//! the figures agree with SciPy and NumPy, `/metrics` agrees with `cairn drift` on the same
//! window, and the bad days (no profile, no rows, a constant feature).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::serve::http::{get, post_json};
use crate::serve::models::LOGISTIC;
use crate::serve::server::Server;
use crate::support::{Output, Project};

const IRIS: &str = include_str!("../data/iris.csv");

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// A deterministic sample of `n` values around `centre` (a triangle-ish spread).
fn sample(n: usize, centre: f64, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            let mut u = || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            centre + (u() + u() - 1.0) * 2.0
        })
        .collect()
}

/// A CSV of named columns.
fn csv(columns: &[(&str, Vec<f64>)]) -> String {
    let mut out = columns
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for i in 0..columns[0].1.len() {
        let row: Vec<String> = columns.iter().map(|(_, v)| format!("{}", v[i])).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[test]
fn a_known_shift_is_flagged_and_the_unshifted_features_are_not() {
    let p = Project::new();
    let reference = [
        ("a", sample(3000, 0.0, 1)),
        ("b", sample(3000, 5.0, 2)),
        ("c", sample(3000, -2.0, 3)),
    ];
    let current = [
        ("a", sample(2000, 0.0, 4)),
        ("b", sample(2000, 5.6, 5)),
        ("c", sample(2000, -2.0, 6)),
    ];
    p.write("reference.csv", csv(&reference))
        .write("current.csv", csv(&current));
    let out = p
        .cairn(&[
            "drift",
            "--reference",
            "reference.csv",
            "--current",
            "current.csv",
            "--json",
        ])
        .code(1);
    let report = json(&out);
    assert_eq!(report["drifted"], serde_json::json!(["b"]), "{report}");
    let by_name: BTreeMap<String, Value> = report["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| (f["feature"].as_str().unwrap_or("").to_string(), f.clone()))
        .collect();
    assert!(by_name["b"]["psi"].as_f64().is_some_and(|v| v >= 0.2));
    for steady in ["a", "c"] {
        assert_eq!(by_name[steady]["status"], "ok", "{}", by_name[steady]);
    }
    // The same data on both sides: no drift, exit 0, and a table for people.
    p.cairn(&[
        "drift",
        "--reference",
        "reference.csv",
        "--current",
        "reference.csv",
    ])
    .ok()
    .stdout_has(&["FEATURE", "no drift"]);
}

/// The python of the venv scripts/stats-venv.sh makes, when set.
fn stats_python() -> Option<String> {
    match std::env::var("CAIRN_STATS_PYTHON") {
        Ok(python) => Some(python),
        Err(_) => {
            assert!(
                std::env::var_os("CAIRN_REQUIRE_STATS").is_none(),
                "CAIRN_REQUIRE_STATS is set and CAIRN_STATS_PYTHON is not: run scripts/stats-venv.sh"
            );
            eprintln!(
                "skipping the SciPy comparison: CAIRN_STATS_PYTHON is not set (scripts/test.sh sets it)"
            );
            None
        }
    }
}

/// What SciPy and NumPy say: per column, PSI on NumPy's deciles of the reference (as cairn
/// bins), and ks_2samp's statistic and p-value (Bonferroni-corrected).
const SCIPY: &str = r#"
import csv, json, sys
import numpy as np
from scipy.stats import ks_2samp

def columns(path):
    rows = list(csv.DictReader(open(path)))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}

ref, cur = columns(sys.argv[1]), columns(sys.argv[2])
out = {}
for name, r in ref.items():
    c = cur[name]
    rs = np.sort(r)
    edges = []
    for e in np.quantile(rs, [i / 10 for i in range(1, 10)]):
        if not edges or edges[-1] != e:
            edges.append(float(e))
    if len(edges) > 1 and edges[-1] == rs[-1]:
        edges.pop()
    def counts(v):
        return np.bincount(np.searchsorted(np.array(edges), v, side="left"), minlength=len(edges) + 1)
    a = np.maximum(counts(r) / len(r), 1e-4)
    b = np.maximum(counts(c) / len(c), 1e-4)
    psi = float(np.sum((b - a) * np.log(b / a)))
    ks = ks_2samp(r, c)
    out[name] = {"psi": psi, "ks_statistic": float(ks.statistic), "ks_pvalue": min(1.0, float(ks.pvalue) * len(ref))}
print(json.dumps(out))
"#;

#[test]
fn psi_and_ks_agree_with_scipy_and_numpy_to_1e_9() {
    let Some(python) = stats_python() else { return };
    let p = Project::new();
    // Unequal sizes (the general lattice recursion), equal sizes (the square formula), ties.
    let ties: Vec<f64> = sample(150, 1.0, 9)
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect();
    let ties_now: Vec<f64> = sample(150, 1.3, 10)
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect();
    let reference = [
        ("x", sample(150, 0.0, 7)),
        ("y", sample(150, 3.0, 8)),
        ("t", ties),
    ];
    let current = [
        ("x", sample(150, 0.4, 11)),
        ("y", sample(150, 3.0, 12)),
        ("t", ties_now),
    ];
    p.write("ref.csv", csv(&reference))
        .write("cur.csv", csv(&current));
    let small = [
        ("x", sample(90, 0.2, 13)),
        ("y", sample(90, 3.5, 14)),
        ("t", sample(90, 1.0, 15)),
    ];
    p.write("small.csv", csv(&small));
    p.write("scipy_check.py", SCIPY);
    for current in ["cur.csv", "small.csv"] {
        let ours = json(&p.cairn(&[
            "drift",
            "--reference",
            "ref.csv",
            "--current",
            current,
            "--json",
        ]));
        let theirs = std::process::Command::new(&python)
            .args(["scipy_check.py", "ref.csv", current])
            .current_dir(p.path())
            .output()
            .expect("python");
        assert!(
            theirs.status.success(),
            "{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let theirs: Value = serde_json::from_slice(&theirs.stdout).expect("scipy json");
        for f in ours["features"].as_array().expect("features") {
            let name = f["feature"].as_str().unwrap_or("");
            for key in ["psi", "ks_statistic", "ks_pvalue"] {
                let (a, b) = (
                    f[key].as_f64().unwrap_or(f64::NAN),
                    theirs[name][key].as_f64().unwrap_or(f64::NAN),
                );
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{current} {name} {key}: cairn {a}, scipy {b}"
                );
            }
        }
    }
}

/// A project whose `model.json` cairn trained on Iris: it has a reference profile.
pub fn trained_iris() -> Project {
    let p = Project::new();
    p.write("iris.csv", IRIS);
    p.cairn(&["preprocess", "--input", "iris.csv", "--output", "prepared"])
        .ok();
    p.cairn(&["train", "--input", "prepared", "--output", "model.json"])
        .ok();
    p
}

#[test]
fn the_server_gauges_agree_with_cairn_drift_on_the_same_window() {
    let p = trained_iris();
    let s = Server::start(
        &p,
        &[
            "--model",
            "model.json",
            "--log-db",
            "log.sqlite",
            "--drift-window",
            "200",
        ],
    );
    // 250 requests, petal_length shifted up; the window holds the last 200.
    for i in 0..250 {
        let body = format!(
            r#"{{"sepal_length": {}, "sepal_width": {}, "petal_length": {}, "petal_width": {}}}"#,
            5.0 + f64::from(i % 20) * 0.1,
            3.0 + f64::from(i % 7) * 0.1,
            6.5 + f64::from(i % 5) * 0.1,
            1.0 + f64::from(i % 9) * 0.1,
        );
        post_json(s.addr, "/predict", &body).expect(200);
    }
    let metrics = get(s.addr, "/metrics").body;
    let gauge = |name: &str, feature: &str| -> f64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!("{name}{{")) && l.contains(&format!("feature=\"{feature}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} for {feature}:\n{metrics}"))
    };
    assert!(
        metrics.contains("cairn_drift_window_size{version="),
        "{metrics}"
    );
    crate::serve::wait_until("the log to hold every prediction", || {
        get(s.addr, "/predictions/history?limit=1000").json()["predictions"]
            .as_array()
            .map_or(0, Vec::len)
            >= 250
    });
    let report = json(
        &p.cairn(&[
            "drift",
            "--model",
            "model.json",
            "--log-db",
            "log.sqlite",
            "--window",
            "200",
            "--json",
        ])
        .code(1),
    );
    assert_eq!(report["rows"], 200);
    assert!(
        report["drifted"]
            .as_array()
            .is_some_and(|d| d.iter().any(|f| f == "petal_length")),
        "{report}"
    );
    for f in report["features"].as_array().expect("features") {
        let name = f["feature"].as_str().unwrap_or("");
        for (key, metric) in [
            ("psi", "cairn_feature_drift_psi"),
            ("ks_statistic", "cairn_feature_drift_ks_statistic"),
            ("ks_pvalue", "cairn_feature_drift_ks_pvalue"),
        ] {
            let (ours, served) = (f[key].as_f64().unwrap_or(f64::NAN), gauge(metric, name));
            assert!(
                (ours - served).abs() <= 1e-12 * ours.abs().max(1.0),
                "{name} {key}: drift {ours}, /metrics {served}"
            );
        }
    }
    assert!(report["class_mix"]["psi"].as_f64().is_some());
    // A window of what was not served: no rows, exit 2, no numbers made up.
    p.cairn(&[
        "drift",
        "--model",
        "model.json",
        "--log-db",
        "log.sqlite",
        "--since",
        "2999-01-01",
    ])
    .code(2)
    .stderr_has(&["holds no predictions"]);
}

#[test]
fn bad_days_are_clear_and_make_up_no_numbers() {
    let p = Project::new();
    // A model file from before profiles.
    p.write("old.json", LOGISTIC);
    p.write("log.sqlite", "");
    p.cairn(&["drift", "--model", "old.json", "--log-db", "log.sqlite"])
        .code(2)
        .stderr_has(&["old.json", "no reference profile", "train it again"]);
    // A constant feature: finite figures, a changed constant is drift, the same one is not.
    let constant = vec![2.0; 200];
    p.write(
        "ref.csv",
        csv(&[("k", constant.clone()), ("v", sample(200, 0.0, 1))]),
    );
    p.write(
        "same.csv",
        csv(&[("k", constant), ("v", sample(200, 0.0, 2))]),
    );
    p.write(
        "moved.csv",
        csv(&[("k", vec![3.0; 200]), ("v", sample(200, 0.0, 3))]),
    );
    let same = json(
        &p.cairn(&[
            "drift",
            "--reference",
            "ref.csv",
            "--current",
            "same.csv",
            "--json",
        ])
        .ok(),
    );
    assert_eq!(same["features"][0]["psi"], 0.0);
    let moved = json(
        &p.cairn(&[
            "drift",
            "--reference",
            "ref.csv",
            "--current",
            "moved.csv",
            "--json",
        ])
        .code(1),
    );
    assert_eq!(moved["drifted"], serde_json::json!(["k"]));
    assert!(
        moved["features"][0]["psi"]
            .as_f64()
            .is_some_and(f64::is_finite)
    );
    // Nothing in common; nothing asked.
    p.write("other.csv", "name\nx\n");
    p.cairn(&["drift", "--reference", "ref.csv", "--current", "other.csv"])
        .code(2)
        .stderr_has(&["no numeric column"]);
    p.cairn(&["drift"]).code(2);
}
