//! What cairn says about itself: completions, man pages, `--version`, the pipeline schema,
//! `cairn probe`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::clients::clients_python;
use crate::serve::models::LOGISTIC;
use crate::serve::server::Server;
use crate::support::{Project, run};

#[test]
fn completions_parse_and_man_pages_name_every_command() {
    let p = Project::new();
    // A reader that stops early is not an error.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{:?} completions bash | head -1",
            crate::support::cairn_bin()
        ))
        .output()
        .expect("sh");
    assert!(
        piped.status.success() && piped.stderr.is_empty(),
        "{piped:?}"
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = p.cairn(&["completions", shell]).ok().stdout;
        assert!(script.contains("repro") && script.len() > 1000, "{shell}");
    }
    p.write("cairn.bash", p.cairn(&["completions", "bash"]).ok().stdout);
    let parsed = Command::new("bash")
        .args(["-n", "cairn.bash"])
        .current_dir(p.path())
        .status()
        .expect("bash");
    assert!(parsed.success(), "bash -n refused the completion script");

    let page = p.cairn(&["man"]).ok().stdout;
    assert!(page.contains(".TH cairn 1"), "{page}");
    p.cairn(&["man", "--dir", "man"])
        .ok()
        .stdout_has(&["man pages"]);
    for name in [
        "cairn.1",
        "cairn-repro.1",
        "cairn-models-promote.1",
        "cairn-exp-show.1",
    ] {
        let text = p.read(&format!("man/{name}"));
        assert!(text.contains(".TH"), "{name}: {text}");
    }
}

#[test]
fn version_names_the_commit() {
    let p = Project::new();
    let out = p.cairn(&["--version"]).ok().stdout;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        // Built in a checkout: its commit (the binary is rebuilt when HEAD moves).
        Some(head) => {
            let named = out
                .split_once('(')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or_default();
            assert!(
                named.len() >= 7 && head.starts_with(named),
                "{out} does not name {head}"
            );
        }
        None => assert!(out.starts_with("cairn ")),
    }
}

#[test]
fn the_schema_accepts_every_pipeline_cairn_reads_and_refuses_broken_ones() {
    let Some(python) = clients_python() else {
        return;
    };
    let p = Project::new();
    p.write("schema.json", p.cairn(&["schema", "pipeline"]).ok().stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The reference pipeline and every DVC case cairn reads without complaint.
    let mut good = vec![root.join("pipeline.yaml")];
    let cases = root.join("tests/dvc/cases");
    let mut entries: Vec<_> = std::fs::read_dir(&cases)
        .expect("cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for case in entries {
        if !case.join("dvc.yaml").is_file() {
            continue;
        }
        // In a workspace of its own (its top-level files), so cairn reads this file alone.
        let w = Project::new();
        for file in std::fs::read_dir(&case)
            .expect("case")
            .filter_map(Result::ok)
        {
            if file.path().is_file() {
                let name = file.file_name().to_string_lossy().into_owned();
                w.write(&name, std::fs::read(file.path()).expect("read"));
            }
        }
        let read = w.command(&["dag"]).output().expect("cairn dag");
        let stderr = String::from_utf8_lossy(&read.stderr);
        if read.status.success() {
            good.push(case.join("dvc.yaml"));
        } else if stderr.contains("unknown field") {
            // What cairn refuses as an unknown key, the schema refuses too.
            let verdict = validate(
                &python,
                &p,
                &[case.join("dvc.yaml").to_string_lossy().as_ref()],
            );
            let errors = verdict.as_object().and_then(|o| o.values().next()).cloned();
            assert!(
                errors
                    .and_then(|e| e.as_array().map(|a| !a.is_empty()))
                    .unwrap_or(false),
                "{}: cairn refuses it ({stderr}) but the schema accepts it",
                case.display()
            );
        }
    }
    assert!(good.len() > 50, "only {} pipelines read", good.len());
    let paths: Vec<String> = good
        .iter()
        .map(|g| g.to_string_lossy().into_owned())
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let verdict = validate(&python, &p, &refs);
    for (file, errors) in verdict.as_object().expect("object") {
        assert_eq!(errors.as_array().map(Vec::len), Some(0), "{file}: {errors}");
    }

    for (name, text) in [
        (
            "unknown_stage_key.yaml",
            "stages:\n  a:\n    cmd: x\n    outz: [a]\n",
        ),
        ("cmd_number.yaml", "stages:\n  a:\n    cmd: 3\n"),
        (
            "out_flag.yaml",
            "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pkl: {cached: false}\n",
        ),
        ("top_level.yaml", "stagez: {}\n"),
        (
            "outs_templated.yaml",
            "vars:\n  - o: [m.pkl]\nstages:\n  a:\n    cmd: x\n    outs: ${o}\n",
        ),
    ] {
        p.write(name, text);
        // cairn refuses each, and so does the schema.
        p.write("pipeline.yaml", text);
        p.cairn(&["dag"]).code(2);
        let verdict = validate(&python, &p, &[p.join(name).to_string_lossy().as_ref()]);
        let errors = &verdict[p.join(name).to_string_lossy().as_ref()];
        assert!(
            errors.as_array().is_some_and(|a| !a.is_empty()),
            "{name} passed the schema"
        );
    }
}

fn validate(python: &str, p: &Project, files: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/docs/validate.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(p.join("schema.json")).args(files);
    let out = run(cmd).ok();
    serde_json::from_str(&out.stdout).expect("validate.py prints JSON")
}

#[test]
fn probe_exits_0_on_a_healthy_server_and_1_otherwise() {
    let p = Project::new();
    p.write("model.json", LOGISTIC);
    let s = Server::start(&p, &["--model", "model.json"]);
    let base = format!("http://{}", s.addr);
    p.cairn(&["probe", &format!("{base}/health")]).ok();
    p.cairn(&["probe", &format!("{base}/no-such-route")])
        .code(1)
        .stderr_has(&["answered 404"]);
    drop(s);
    p.cairn(&["probe", &format!("{base}/health")]).code(1);
    p.cairn(&["probe", "https://example.com/"])
        .code(2)
        .stderr_has(&["plain http://"]);
}
