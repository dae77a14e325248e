//! `cairn plots show|diff`: stage plots and top-level `plots:`, as data (`--json`) and as a page
//! drawn by cairn, opened in headless Chromium.

use serde_json::Value;

use crate::support::{Output, Project, chromium, git};

const PIPELINE: &str = r#"stages:
  train:
    cmd: >-
      sh -c 'mkdir -p out && printf "step,loss,acc\n0,${scale},0.1\n1,0.5,0.6\n2,0.25,0.9\n" > out/loss.csv
      && printf "actual,predicted,count\na,a,5\na,b,1\nb,b,4\n" > out/confusion.csv'
    params: [scale]
    plots:
      - out
plots:
  - Accuracy:
      x: step
      y:
        out/loss.csv: acc
      title: Accuracy by step
  - out/loss.csv:
      y: loss
      template: scatter
"#;

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn project() -> Project {
    let p = Project::new();
    p.write("pipeline.yaml", PIPELINE)
        .write("params.yaml", "scale: 2\n");
    p.cairn(&["repro"]).ok();
    p
}

/// The entries of plot `id` in `plots show --json`.
fn entries(plots: &Value, id: &str) -> Vec<Value> {
    plots["plots"]
        .as_array()
        .expect("plots")
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no plot {id}: {plots}"))["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn stage_and_top_level_plots_are_read_with_their_properties() {
    let p = project();
    let plots = json(&p.cairn(&["plots", "show", "--json"]).ok());
    // The stage's folder: each file a plot; the CSV of labels and counts is a confusion matrix.
    let folder = entries(&plots, "out");
    let confusion = folder
        .iter()
        .find(|e| e["file"] == "out/confusion.csv")
        .expect("confusion");
    assert_eq!(confusion["kind"], "confusion");
    assert_eq!(
        confusion["cells"][1],
        serde_json::json!({"actual": "a", "predicted": "b", "count": 1.0})
    );
    // Defaults: x is the row number, y the last numeric column.
    let loss = folder
        .iter()
        .find(|e| e["file"] == "out/loss.csv")
        .expect("loss");
    assert_eq!(
        (loss["x"].as_str(), loss["y"].as_str()),
        (Some("step"), Some("acc"))
    );
    // A named top-level plot takes its fields; a path entry its template.
    let accuracy = entries(&plots, "Accuracy");
    assert_eq!(
        accuracy[0]["points"],
        serde_json::json!([[0.0, 0.1], [1.0, 0.6], [2.0, 0.9]])
    );
    let scatter = entries(&plots, "out/loss.csv");
    assert_eq!(scatter[0]["kind"], "scatter");
    assert_eq!(scatter[0]["points"][0], serde_json::json!([0.0, 2.0]));
    // Targets pick plots.
    let one = json(&p.cairn(&["plots", "show", "Accuracy", "--json"]).ok());
    assert_eq!(one["plots"].as_array().map(Vec::len), Some(1));
    p.cairn(&["plots", "show", "nope"])
        .code(2)
        .stderr_has(&["no plot named nope"]);
}

#[test]
fn diff_reads_a_revision_s_cached_outs_through_its_lock() {
    let p = project();
    git(&p, &["init", "-q"]);
    git(
        &p,
        &["add", "pipeline.yaml", "params.yaml", "pipeline.lock"],
    );
    git(&p, &["commit", "-qm", "first"]);
    p.write("params.yaml", "scale: 3\n");
    p.cairn(&["repro"]).ok();
    let plots = json(&p.cairn(&["plots", "diff", "HEAD", "--json"]).ok());
    let scatter = entries(&plots, "out/loss.csv");
    let first_point = |rev: &str| {
        scatter
            .iter()
            .find(|e| e["revision"] == rev)
            .unwrap_or_else(|| panic!("no {rev} in {scatter:?}"))["points"][0][1]
            .clone()
    };
    assert_eq!(first_point("HEAD"), 2.0);
    assert_eq!(first_point("workspace"), 3.0);
    p.cairn(&["plots", "diff", "no-such-rev"]).code(2);
}

#[test]
fn bad_plot_definitions_and_files_are_refused_naming_them() {
    let p = project();
    p.write(
        "pipeline.yaml",
        PIPELINE.replace("template: scatter", "colour: red"),
    );
    p.cairn(&["plots", "show"])
        .code(2)
        .stderr_has(&["colour", "template"]);
    p.write("pipeline.yaml", PIPELINE);
    p.write("out/loss.csv", "step,loss\n0,x\n");
    p.cairn(&["plots", "show", "out/loss.csv"])
        .code(2)
        .stderr_has(&["out/loss.csv", "no field"]);
    std::fs::remove_file(p.join("out/loss.csv")).expect("rm");
    std::os::unix::fs::symlink("/etc/passwd", p.join("out/loss.csv")).expect("link");
    p.cairn(&["plots", "show", "out/loss.csv"])
        .code(2)
        .stderr_has(&["out/loss.csv", "not a regular file"]);
}

#[test]
fn the_page_is_self_contained_and_chromium_draws_every_plot() {
    let p = project();
    p.write("out/picture.svg", r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#);
    p.cairn(&["plots", "show", "-o", "page"])
        .ok()
        .stdout_has(&["page/index.html"]);
    let html = p.read("page/index.html");
    // Nothing from the network; someone else's SVG only as an image, where it runs no script.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(!html.contains("<script"), "no script in the page");
    assert!(html.contains("data:image/svg+xml;base64,"));
    let profile = tempfile::tempdir().expect("profile");
    let Some(mut chromium) = chromium(profile.path()) else {
        return;
    };
    let page = format!("file://{}", p.join("page/index.html").display());
    let out = chromium
        .args(["--dump-dom", &page])
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Three plots: the folder (a chart, a confusion matrix, the picture), Accuracy, the scatter.
    assert_eq!(dom.matches("<section>").count(), 3, "{dom}");
    assert_eq!(dom.matches("<svg").count(), 4, "{dom}");
    assert!(dom.contains("<polyline") && dom.contains("<circle") && dom.contains(">predicted<"));
    assert!(dom.contains("Accuracy by step"));
}
