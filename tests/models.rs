//! `cairn models`: the registry file, versions, aliases and their history, compare, and the
//! bad days (hand-edited files, two writers, kill -9).

use serde_json::Value;

use crate::serve::models::{LOGISTIC, REGRESSION, TREE};
use crate::support::{Output, Project};

const IRIS: &str = include_str!("../data/iris.csv");
const REGISTRY: &str = "cairn-registry.yaml";

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// A workspace with the three hand-written models of the serve tests.
fn with_models() -> Project {
    let p = Project::new();
    p.write("logistic.json", LOGISTIC)
        .write("tree.json", TREE)
        .write("regression.json", REGRESSION);
    p
}

/// Iris prepared, and a logistic and a tree model trained on it.
fn trained() -> Project {
    let p = Project::new();
    p.write("iris.csv", IRIS);
    p.cairn(&[
        "preprocess",
        "--input",
        "iris.csv",
        "--output",
        "data/prepared",
    ])
    .ok();
    // A stump (one split) cannot tell three classes apart: it scores clearly below.
    for (algorithm, out, param) in [
        ("logistic", "logistic.json", "max_iterations=100"),
        ("tree", "tree.json", "max_depth=1"),
    ] {
        p.cairn(&[
            "train",
            "--input",
            "data/prepared",
            "--output",
            out,
            "--algorithm",
            algorithm,
            "--param",
            param,
        ])
        .ok();
    }
    p
}

#[test]
fn register_list_show_promote_rollback_and_history() {
    let p = with_models();
    p.cairn(&[
        "models",
        "register",
        "logistic.json",
        "--name",
        "iris",
        "-m",
        "first",
    ])
    .ok()
    .stdout_has(&["registered models:/iris/1"]);
    p.cairn(&["models", "register", "tree.json", "--name", "iris"])
        .ok()
        .stdout_has(&["registered models:/iris/2"]);
    // The same bytes again: nothing new, and the version that has them is named.
    p.cairn(&["models", "register", "logistic.json", "--name", "iris"])
        .ok()
        .stdout_has(&["models:/iris/1 already has these bytes"]);
    let before = p.read(REGISTRY);

    let list = json(&p.cairn(&["models", "list", "--json"]).ok());
    assert_eq!(list["models"][0]["name"], "iris");
    assert_eq!(list["models"][0]["versions"], 2);
    let versions = json(&p.cairn(&["models", "list", "iris", "--json"]).ok());
    assert_eq!(versions["versions"][0]["message"], "first");
    let digest = cairn_core::hash::digest_bytes(LOGISTIC.as_bytes()).to_string();
    assert_eq!(versions["versions"][0]["digest"], digest.as_str());
    // The bytes are in the cache, under their digest.
    assert!(p.exists(&format!(
        ".cairn/cache/v1/{}/{}",
        &digest[..2],
        &digest[2..]
    )));

    // Promote 1, 2, then 1 again; rollback walks back one step per call.
    for v in ["1", "2", "1"] {
        p.cairn(&[
            "models",
            "promote",
            &format!("models:/iris/{v}"),
            "--alias",
            "production",
        ])
        .ok();
    }
    let show = json(
        &p.cairn(&["models", "show", "models:/iris@production", "--json"])
            .ok(),
    );
    assert_eq!(show["version"], 1);
    assert_eq!(show["aliases"], serde_json::json!(["production"]));
    p.cairn(&["models", "rollback", "iris", "--alias", "production"])
        .ok()
        .stdout_has(&["version 1 → 2"]);
    p.cairn(&["models", "rollback", "iris", "--alias", "production"])
        .ok()
        .stdout_has(&["version 2 → 1"]);
    p.cairn(&["models", "rollback", "iris", "--alias", "production"])
        .code(2)
        .stderr_has(&[
            "no earlier version to roll back to",
            "promote another version",
        ]);

    let history = json(&p.cairn(&["models", "history", "iris", "--json"]).ok());
    let moves: Vec<(String, Value, Value)> = history["moves"]
        .as_array()
        .expect("moves")
        .iter()
        .map(|m| {
            (
                m["action"].as_str().unwrap_or("").to_string(),
                m["from"].clone(),
                m["to"].clone(),
            )
        })
        .collect();
    let step = |a: &str, f: Value, t: Value| (a.to_string(), f, t);
    assert_eq!(
        moves,
        [
            step("promote", Value::Null, 1.into()),
            step("promote", 1.into(), 2.into()),
            step("promote", 2.into(), 1.into()),
            step("rollback", 1.into(), 2.into()),
            step("rollback", 2.into(), 1.into()),
        ]
    );
    // Which version held it at a time: before anything, none; now, version 1.
    let at = |t: &str| {
        json(
            &p.cairn(&[
                "models",
                "history",
                "iris",
                "--alias",
                "production",
                "--at",
                t,
                "--json",
            ])
            .ok(),
        )["version"]
            .clone()
    };
    assert_eq!(at("2000-01-01T00:00:00Z"), Value::Null);
    assert_eq!(at("2999-01-01"), Value::from(1));

    // An alias removed is recorded too; the table lines up.
    p.cairn(&["models", "alias", "rm", "iris", "production"])
        .ok()
        .stdout_has(&["removed"]);
    let table = p.cairn(&["models", "history", "iris"]).ok().stdout;
    let header = table.lines().next().unwrap_or("");
    let alias_at = header.find("ALIAS").expect("ALIAS column");
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l[alias_at..].starts_with("production")),
        "{table}"
    );
    // The file only grew: what was there before is still there, in order.
    let after = p.read(REGISTRY);
    let kept: Vec<&str> = before
        .lines()
        .filter(|l| l.contains("\"version\""))
        .collect();
    assert!(kept.iter().all(|l| after.contains(l)));
}

#[test]
fn versions_record_the_producing_stage_its_params_metrics_and_lock_entry() {
    let p = Project::new();
    p.write("iris.csv", IRIS);
    p.write("params.yaml", "train:\n  algorithm: logistic\n");
    p.write(
        "pipeline.yaml",
        r#"stages:
  prepare:
    cmd: cairn preprocess --input iris.csv --output prepared
    deps: [iris.csv]
    outs: [prepared]
  train:
    cmd: cairn train --input prepared --output model.json --algorithm ${train.algorithm}
    deps: [prepared]
    params: [train.algorithm]
    outs: [model.json]
  evaluate:
    cmd: cairn evaluate --model model.json --input prepared --metrics metrics.json
    deps: [model.json, prepared]
    metrics: [metrics.json]
"#,
    );
    p.cairn(&["repro"]).ok();
    p.cairn(&["models", "register", "model.json", "--name", "iris"])
        .ok();
    let show = json(
        &p.cairn(&["models", "show", "models:/iris/latest", "--json"])
            .ok(),
    );
    assert_eq!(show["stage"], "train");
    assert_eq!(show["params"]["train.algorithm"], "logistic");
    assert!(
        show["metrics"]["accuracy"]
            .as_f64()
            .is_some_and(|a| a > 0.9),
        "{show}"
    );
    assert_eq!(
        show["lock"]["cmd"]
            .as_str()
            .map(|c| c.contains("cairn train")),
        Some(true),
        "{show}"
    );
    assert_eq!(show["task"], "classification");
    // --metrics names the file instead.
    p.write("m.yaml", "f1_macro: 0.5\nnote: text is left out\n");
    p.write("other.json", TREE);
    p.cairn(&[
        "models",
        "register",
        "other.json",
        "--name",
        "iris",
        "--metrics",
        "m.yaml",
    ])
    .ok();
    let show = json(
        &p.cairn(&["models", "show", "models:/iris/2", "--json"])
            .ok(),
    );
    assert_eq!(show["metrics"], serde_json::json!({"f1_macro": 0.5}));
    assert_eq!(show["stage"], Value::Null);
}

#[test]
fn compare_decides_by_the_rule_and_promotes_only_a_winner() {
    let p = trained();
    p.cairn(&["models", "register", "logistic.json", "--name", "iris"])
        .ok();
    p.cairn(&["models", "register", "tree.json", "--name", "iris"])
        .ok();
    // Nothing holds production yet: the candidate wins by default and is promoted.
    p.cairn(&[
        "models",
        "compare",
        "models:/iris/1",
        "--against",
        "models:/iris@production",
        "--promote",
        "production",
    ])
    .ok()
    .stdout_has(&["no version holds", "iris@production → version 1"]);
    let c = json(&p.cairn(&[
        "models",
        "compare",
        "models:/iris/2",
        "--against",
        "models:/iris@production",
        "--json",
    ]));
    let (f1_tree, f1_logistic) = {
        let row = c["comparison"]["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|r| r["name"] == "f1_macro")
            .expect("f1_macro")
            .clone();
        (
            row["candidate"].as_f64().unwrap_or(f64::NAN),
            row["against"].as_f64().unwrap_or(f64::NAN),
        )
    };
    assert!(f1_tree.is_finite() && f1_logistic.is_finite());
    let tree_wins = f1_tree > f1_logistic;
    let (winner, loser) = if tree_wins {
        ("models:/iris/2", "models:/iris/1")
    } else {
        ("models:/iris/1", "models:/iris/2")
    };
    let margin = (f1_tree - f1_logistic).abs();
    assert!(margin > 0.0, "the two models score the same; pick others");
    // The loser loses (exit 1) and nothing moves, even with --promote.
    let before = p.read(REGISTRY);
    p.cairn(&[
        "models",
        "compare",
        loser,
        "--against",
        winner,
        "--promote",
        "staging",
    ])
    .code(1)
    .stdout_has(&["does not win"]);
    assert_eq!(p.read(REGISTRY), before);
    // A tie is not a win; nor is winning by less than --min-delta.
    p.cairn(&["models", "compare", winner, "--against", winner])
        .code(1);
    let big = format!("{}", margin * 2.0);
    p.cairn(&[
        "models",
        "compare",
        winner,
        "--against",
        loser,
        "--min-delta",
        &big,
    ])
    .code(1);
    // The winner wins, and --promote moves the alias, recording why.
    p.cairn(&[
        "models",
        "compare",
        winner,
        "--against",
        loser,
        "--promote",
        "staging",
    ])
    .ok()
    .stdout_has(&["wins", "f1_macro *"]);
    let history = json(
        &p.cairn(&["models", "history", "iris", "--alias", "staging", "--json"])
            .ok(),
    );
    assert!(
        history["moves"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("f1_macro")),
        "{history}"
    );
    // Paths work as references; an unknown metric is named with the ones there are.
    p.cairn(&[
        "models",
        "compare",
        "logistic.json",
        "--against",
        "tree.json",
        "--metric",
        "nope",
    ])
    .code(2)
    .stderr_has(&["no metric 'nope'", "accuracy"]);
}

#[test]
fn compare_regression_knows_lower_errors_are_better() {
    let p = Project::new();
    let mut csv = String::from("a,b,y\n");
    for i in 0..200 {
        let a = (i % 17) as f64 * 0.5;
        let b = (i * 7 % 13) as f64 * 0.25;
        let wobble = ((i * 31 % 11) as f64 - 5.0) * 0.01;
        csv.push_str(&format!("{a},{b},{}\n", 3.0 * a - 2.0 * b + 5.0 + wobble));
    }
    p.write("r.csv", csv);
    p.cairn(&[
        "preprocess",
        "--input",
        "r.csv",
        "--output",
        "data/prepared",
    ])
    .ok();
    for algorithm in ["linear", "tree"] {
        let out = format!("{algorithm}.json");
        p.cairn(&[
            "train",
            "--input",
            "data/prepared",
            "--output",
            &out,
            "--algorithm",
            algorithm,
        ])
        .ok();
    }
    // The exact linear model has the lower RMSE: it wins, the tree does not.
    let win = json(
        &p.cairn(&[
            "models",
            "compare",
            "linear.json",
            "--against",
            "tree.json",
            "--json",
        ])
        .ok(),
    );
    assert_eq!(win["comparison"]["metric"], "rmse");
    assert_eq!(win["comparison"]["lower_is_better"], true);
    assert!(
        win["comparison"]["improvement"]
            .as_f64()
            .is_some_and(|i| i > 0.0)
    );
    p.cairn(&["models", "compare", "tree.json", "--against", "linear.json"])
        .code(1);
    // r2 is higher-is-better.
    p.cairn(&[
        "models",
        "compare",
        "linear.json",
        "--against",
        "tree.json",
        "--metric",
        "r2",
    ])
    .ok();
    // A classifier and a regressor are not versions of one model.
    p.write("logistic.json", LOGISTIC);
    p.cairn(&[
        "models",
        "compare",
        "linear.json",
        "--against",
        "logistic.json",
    ])
    .code(2)
    .stderr_has(&["same kind of thing"]);
}

#[test]
fn unknown_names_versions_and_aliases_exit_2_listing_what_exists() {
    let p = with_models();
    p.cairn(&["models", "show", "models:/iris/1"])
        .code(2)
        .stderr_has(&["registry is empty", "cairn models register"]);
    p.cairn(&["models", "register", "logistic.json", "--name", "iris"])
        .ok();
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/1",
        "--alias",
        "production",
    ])
    .ok();
    p.cairn(&["models", "show", "models:/wine/1"])
        .code(2)
        .stderr_has(&["no model named 'wine'", "iris"]);
    p.cairn(&["models", "show", "models:/iris/7"])
        .code(2)
        .stderr_has(&["no version 7", "1"]);
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/7",
        "--alias",
        "production",
    ])
    .code(2)
    .stderr_has(&["no version 7"]);
    p.cairn(&["models", "show", "models:/iris@staging"])
        .code(2)
        .stderr_has(&["staging", "production"]);
    p.cairn(&["models", "rollback", "iris", "--alias", "staging"])
        .code(2);
    p.cairn(&["models", "show", "iris"])
        .code(2)
        .stderr_has(&["models:/"]);
    p.cairn(&["models", "register", "logistic.json", "--name", "../x"])
        .code(2)
        .stderr_has(&["../x"]);
    p.cairn(&["models", "promote", "models:/iris/1", "--alias", "v2"])
        .code(2)
        .stderr_has(&["v2"]);
    p.write("notes.txt", "not a model");
    p.cairn(&["models", "register", "notes.txt", "--name", "iris"])
        .code(2)
        .stderr_has(&["notes.txt", "neither a cairn model"]);
}

#[test]
fn a_registry_edited_into_something_invalid_is_refused_naming_the_line_and_left_alone() {
    let p = with_models();
    p.cairn(&["models", "register", "logistic.json", "--name", "iris"])
        .ok();
    p.cairn(&["models", "register", "tree.json", "--name", "iris"])
        .ok();
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/2",
        "--alias",
        "production",
    ])
    .ok();
    let good = p.read(REGISTRY);
    let line_of = |text: &str, needle: &str| {
        // The last: a repeated version is at fault where it repeats.
        let lines: Vec<&str> = text.lines().collect();
        lines
            .iter()
            .rposition(|l| l.contains(needle))
            .map(|i| i + 1)
            .expect(needle)
    };
    let cases = [
        // An alias pointing at a version that does not exist.
        ("production: 2", "production: 9", "production"),
        // A version number repeated.
        ("{\"version\": 2,", "{\"version\": 1,", "version"),
        // Broken syntax.
        ("    versions:", "    versions: [", ""),
    ];
    for (from, to, word) in cases {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good, "{from}");
        p.write(REGISTRY, &bad);
        let line = line_of(&bad, to);
        let out = p
            .cairn(&["models", "promote", "models:/iris/1", "--alias", "staging"])
            .code(2)
            .stderr_has(&[REGISTRY, word]);
        if !word.is_empty() {
            assert!(
                out.stderr.contains(&format!("line {line}")),
                "{to}: line {line}:\n{}",
                out.stderr
            );
        }
        assert_eq!(p.read(REGISTRY), bad, "{to}: nothing is written");
        p.cairn(&["models", "list"]).code(2);
    }
    // A link where the registry should be is not followed.
    std::fs::remove_file(p.join(REGISTRY)).expect("rm");
    std::os::unix::fs::symlink("/etc/passwd", p.join(REGISTRY)).expect("symlink");
    p.cairn(&["models", "list"]).code(2).stderr_has(&[REGISTRY]);
}

#[test]
fn two_registers_at_once_never_lose_a_version() {
    let p = Project::new();
    // Eight different models (the logistic with another seed each), registered at once.
    let files: Vec<String> = (0..8)
        .map(|i| {
            let name = format!("m{i}.json");
            p.write(
                &name,
                LOGISTIC.replace("\"seed\": 42", &format!("\"seed\": {}", 100 + i)),
            );
            name
        })
        .collect();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            p.command(&["models", "register", f, "--name", "iris"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let versions = json(&p.cairn(&["models", "list", "iris", "--json"]).ok());
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, (1..=8).collect::<Vec<u64>>());
}

#[test]
fn kill_9_during_promote_leaves_the_old_file_or_the_new_one() {
    let p = Project::new();
    // A registry large enough that writing it takes a while: 3,000 versions.
    let mut text = String::from("format: 1\nmodels:\n  iris:\n    versions:\n");
    for v in 1..=3000u32 {
        let digest = cairn_core::hash::digest_bytes(&v.to_le_bytes()).to_string();
        text.push_str(&format!(
            "      - {{\"version\": {v}, \"digest\": \"{digest}\", \"size\": 10, \"format\": \"cairn\", \"source\": \"m.json\", \"by\": \"t\", \"at\": \"2026-01-01T00:00:00Z\"}}\n"
        ));
    }
    p.write(REGISTRY, &text);
    p.cairn(&["models", "list"]).ok();
    for i in 0..20u64 {
        let version = format!("models:/iris/{}", i + 1);
        let mut child = p
            .command(&["models", "promote", &version, "--alias", "production"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_micros(500 + i * 700));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever the moment, the registry reads, and holds every version.
        let list = json(&p.cairn(&["models", "list", "--json"]).ok());
        assert_eq!(list["models"][0]["versions"], 3000, "after kill {i}");
    }
    // No partial file is left behind beside it.
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(REGISTRY) && n != REGISTRY)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
