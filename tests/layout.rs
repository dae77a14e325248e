//! The crate layout the compiler keeps one-way, and the reference pipeline's honesty about its
//! own staleness.

use std::process::Command;

use crate::support::Project;

/// The normal (non-dev) dependencies of `package`, every one, transitively, as crate names.
fn dependencies_of(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn refuses(package: &str, forbidden: &[&str]) {
    let deps = dependencies_of(package);
    assert!(deps.iter().any(|d| d == package), "{deps:?}");
    for dep in &deps {
        for f in forbidden {
            let hit = if f.ends_with('*') {
                dep.starts_with(f.trim_end_matches('*'))
            } else {
                dep == f
            };
            assert!(!hit, "{package} depends on {dep}: the layout forbids it");
        }
    }
}

#[test]
fn the_core_knows_no_command_line_network_http_or_ml() {
    refuses(
        "cairn-core",
        &[
            "clap",
            "tokio",
            "axum",
            "hyper",
            "aws-*",
            "cairn-remote",
            "cairn-ml",
            "cairn-onnx",
            "cairn-serve",
            "cairn-registry",
        ],
    );
}

#[test]
fn data_flows_one_way_between_the_library_crates() {
    refuses(
        "cairn-remote",
        &["clap", "axum", "cairn-ml", "cairn-serve", "cairn-registry"],
    );
    refuses(
        "cairn-ml",
        &[
            "clap",
            "tokio",
            "axum",
            "aws-*",
            "cairn-remote",
            "cairn-onnx",
            "cairn-serve",
            "cairn-registry",
        ],
    );
    // ONNX models are beside the ML crate: the server and the registry read them.
    refuses(
        "cairn-onnx",
        &[
            "clap",
            "tokio",
            "axum",
            "aws-*",
            "cairn-remote",
            "cairn-serve",
            "cairn-registry",
        ],
    );
    // The server follows the registry through a resolver the binary gives it: it knows
    // neither the registry file nor the remotes that bring a version's bytes.
    refuses(
        "cairn-serve",
        &["clap", "aws-*", "cairn-remote", "cairn-registry"],
    );
    refuses(
        "cairn-registry",
        &[
            "clap",
            "tokio",
            "axum",
            "aws-*",
            "cairn-remote",
            "cairn-serve",
        ],
    );
}

/// The reference project in a fresh workspace: its pipeline, params, data and the ML crate's
/// source, which its built-in stages depend on.
fn reference_project() -> Project {
    let p = Project::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in ["params.yaml", "pipeline.yaml", "data/iris.csv"] {
        p.write(rel, std::fs::read(root.join(rel)).expect("read"));
    }
    for entry in walkdir::WalkDir::new(root.join("crates/cairn-ml/src")) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).expect("inside");
            p.write(
                &rel.to_string_lossy(),
                std::fs::read(entry.path()).expect("read"),
            );
        }
    }
    p
}

#[test]
fn editing_any_ml_source_file_makes_training_stale() {
    let p = reference_project();
    p.cairn(&["repro"]).ok();
    p.cairn(&["status", "--check"]).ok();
    // Files training uses that the old hand-written deps missed, and one it does not use.
    for rel in [
        "formats/model.rs",
        "algorithms/hyper.rs",
        "algorithms/rng.rs",
        "data/prepared.rs",
        "data/table.rs",
        "algorithms/trees.rs",
    ] {
        let path = format!("crates/cairn-ml/src/{rel}");
        let text = p.read(&path);
        p.write(&path, format!("{text}\n// edited\n"));
        p.cairn(&["status", "--check"])
            .code(1)
            .stdout_has(&["train@logistic:", "dep crates/cairn-ml/src changed"]);
        p.write(&path, text);
    }
    p.cairn(&["status", "--check"]).ok();
}

#[test]
fn a_new_variant_in_params_is_trained_evaluated_and_selected_with_one_edit() {
    let p = reference_project();
    // One edit: a variant under `train:`, nothing else.
    let params = p.read("params.yaml").replace(
        "\nselect:",
        "  tiny_tree:\n    algorithm: tree\n    seed: 1\n    hyperparameters:\n      max_depth: 1\n\nselect:",
    );
    p.write("params.yaml", params);
    p.cairn(&["repro"])
        .ok()
        .stdout_has(&["train@tiny_tree", "evaluate@tiny_tree"]);
    let metrics = p.read("metrics.json");
    assert!(metrics.contains("\"tiny_tree\""), "{metrics}");
}
