//! `cairn plots show|diff`: the plots the pipeline declares (stage `plots` outs and the
//! top-level `plots:` section), drawn by cairn as SVG into one self-contained HTML page, for the
//! workspace or side by side with git revisions; `--json` gives the data instead.

mod data;
mod spec;
pub(crate) mod svg;

use std::collections::BTreeMap;
use std::process::ExitCode;

use base64::Engine;
use serde_json::{Value, json};

use cairn_core::pipeline::Pipeline;
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

use crate::cli::PlotsCommand;
use crate::commands::compare::{check_revision, expand_dirs, git_show};
use spec::PlotSpec;

/// The name of the workspace's current files among revisions.
const WORKSPACE: &str = "workspace";

/// `cairn plots …`.
pub fn run(command: &PlotsCommand) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let (targets, revisions, json, out) = match command {
        PlotsCommand::Show { targets, json, out } => (targets, Vec::new(), *json, out),
        PlotsCommand::Diff {
            revisions,
            targets,
            json,
            out,
        } => {
            let revisions = if revisions.is_empty() {
                vec!["HEAD".to_string()]
            } else {
                revisions.clone()
            };
            for rev in &revisions {
                check_revision(&ws, rev)?;
            }
            (targets, revisions, *json, out)
        }
    };
    let mut specs = spec::specs(&pipeline)
        .map_err(|e| Error::invalid(&pipeline.file, format!("plots: {e}")))?;
    if !targets.is_empty() {
        specs.retain(|s| {
            targets.iter().any(|t| {
                s.id == *t
                    || s.files
                        .iter()
                        .any(|(f, _)| f == t || f.starts_with(&format!("{t}/")))
            })
        });
        if specs.is_empty() {
            return Err(Error::Usage(format!(
                "no plot named {}; see `cairn plots show` for all",
                targets.join(", ")
            )));
        }
    }
    if specs.is_empty() {
        eprintln!("no stage declares `plots` and the pipeline has no top-level `plots:` section");
        return Ok(ExitCode::SUCCESS);
    }
    let mut all_revisions: Vec<&str> = revisions.iter().map(String::as_str).collect();
    all_revisions.push(WORKSPACE);
    let mut drawn = Vec::new();
    for spec in &specs {
        drawn.push(gather(&ws, spec, &all_revisions)?);
    }
    if json {
        let plots: Vec<Value> = drawn
            .iter()
            .map(|d| json!({"id": d.spec.id, "entries": d.entries}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "plots": plots })).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let page = html(&drawn, &all_revisions);
    std::fs::create_dir_all(out).map_err(|e| Error::Io {
        path: out.clone(),
        source: e,
    })?;
    let index = out.join("index.html");
    cairn_core::atomic::write(&index, page.as_bytes())?;
    println!("{} plots → {}", drawn.len(), index.display());
    Ok(ExitCode::SUCCESS)
}

/// One plot with what each revision's files hold.
struct Drawn<'a> {
    spec: &'a PlotSpec,
    /// One per (revision, file, field): its kind and data, as `--json` prints them.
    entries: Vec<Value>,
}

/// Reads every file of `spec` at every revision.
fn gather<'a>(ws: &Workspace, spec: &'a PlotSpec, revisions: &[&str]) -> Result<Drawn<'a>> {
    let mut entries = Vec::new();
    for rev in revisions {
        let at = (*rev != WORKSPACE).then_some(*rev);
        for (declared, fields) in &spec.files {
            for (file, bytes) in files(ws, at, declared)? {
                let named = |e: String| match at {
                    Some(rev) => Error::data(format!("{rev}:{file}"), e),
                    None => Error::data(&file, e),
                };
                if let Some(mime) = image_type(&file) {
                    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    entries.push(json!({"revision": rev, "file": file, "kind": "image", "src": format!("data:{mime};base64,{data}")}));
                    continue;
                }
                let rows = data::rows(&file, &bytes).map_err(named)?;
                entries.extend(describe(spec, rev, &file, fields, &rows).map_err(named)?);
            }
        }
    }
    Ok(Drawn { spec, entries })
}

/// The files of the plot path `declared` (a file, or each file of a folder) with their bytes:
/// in the workspace, or at a revision from git, else, for a stage's cached out, from the cache
/// by the digests that revision's lock records (as DVC reads plots at a revision).
fn files(ws: &Workspace, at: Option<&str>, declared: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut found = Vec::new();
    for file in expand_dirs(ws, &[declared.to_string()], at) {
        match read(ws, at, &file)? {
            Some(bytes) => found.push((file, bytes)),
            None if at.is_none() => eprintln!("{file}: missing (run `cairn repro` to make it)"),
            None => {}
        }
    }
    if let (Some(rev), true) = (at, found.is_empty()) {
        found = from_lock(ws, rev, declared)?;
    }
    Ok(found)
}

/// The files of `declared` as the lock of `rev` recorded them, read from the cache.
fn from_lock(ws: &Workspace, rev: &str, declared: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(text) =
        git_show(ws, rev, cairn_core::workspace::LOCK_FILE).and_then(|b| String::from_utf8(b).ok())
    else {
        return Ok(Vec::new());
    };
    let lock = cairn_core::lock::Lock::parse(
        &text,
        std::path::Path::new(&format!("{rev}:{}", cairn_core::workspace::LOCK_FILE)),
    )?;
    let store = cairn_core::cache::ObjectStore::open(ws)?;
    // The out that is `declared`, or the folder out holding it.
    let holds = |out: &str| declared == out || declared.starts_with(&format!("{out}/"));
    let Some(out) = lock
        .stages
        .values()
        .flat_map(|s| &s.outs)
        .find(|o| holds(o.path.as_str()))
    else {
        return Ok(Vec::new());
    };
    let entries: Vec<(String, cairn_core::digest::Digest)> = if out.is_dir() {
        let manifest = match store.manifest(&out.digest) {
            Ok(m) => m,
            Err(Error::Missing { .. }) => {
                eprintln!("{rev}:{declared}: not in the cache (`cairn pull` brings it)");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        manifest
            .entries
            .into_iter()
            .map(|e| {
                (
                    format!("{}/{}", out.path.as_str(), e.path.as_str()),
                    e.digest,
                )
            })
            .filter(|(file, _)| file == declared || file.starts_with(&format!("{declared}/")))
            .collect()
    } else {
        vec![(declared.to_string(), out.digest.clone())]
    };
    let mut files = Vec::new();
    for (file, digest) in entries {
        let path = store.path(&digest);
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("{rev}:{file}: not in the cache (`cairn pull` brings it)");
            continue;
        };
        if cairn_core::hash::digest_bytes(&bytes) != digest {
            return Err(Error::Corrupt {
                actual: cairn_core::hash::digest_bytes(&bytes),
                digest,
                path,
            });
        }
        files.push((file, bytes));
    }
    Ok(files)
}

/// A file's bytes in the workspace (`at` none) or at a revision; none when it is not there.
fn read(ws: &Workspace, at: Option<&str>, file: &str) -> Result<Option<Vec<u8>>> {
    match at {
        Some(rev) => Ok(git_show(ws, rev, file)),
        None => {
            let path = ws.root.join(file);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() && m.len() as usize <= data::MAX_BYTES => std::fs::read(&path)
                    .map(Some)
                    .map_err(|e| Error::Io { path, source: e }),
                Ok(m) if m.is_file() => Err(Error::data(
                    &path,
                    format!("is {} bytes, more than a plot file may be", m.len()),
                )),
                Ok(_) => Err(Error::data(
                    &path,
                    "is not a regular file (a plot is read, not followed)",
                )),
                Err(_) => Ok(None),
            }
        }
    }
}

fn image_type(file: &str) -> Option<&'static str> {
    let lower = file.to_ascii_lowercase();
    [
        (".svg", "image/svg+xml"),
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".gif", "image/gif"),
    ]
    .into_iter()
    .find(|(ext, _)| lower.ends_with(ext))
    .map(|(_, mime)| mime)
}

/// What to draw from `table`: a confusion matrix (two label columns and an optional count, or
/// the `confusion` template), else one numeric series per field along x.
fn describe(
    spec: &PlotSpec,
    rev: &str,
    file: &str,
    fields: &[String],
    table: &data::Table,
) -> Result<Vec<Value>, String> {
    let (columns, rows) = (&table.columns, &table.rows);
    let is_text = |c: &str| {
        rows.first()
            .and_then(|r| r.get(c))
            .is_some_and(Value::is_string)
    };
    let template = spec.template.as_deref().unwrap_or("");
    let labels: Vec<&String> = columns.iter().filter(|c| is_text(c)).collect();
    if template.starts_with("confusion")
        || (template.is_empty() && labels.len() >= 2 && spec.x.is_none())
    {
        let actual = spec
            .x
            .clone()
            .or_else(|| labels.first().map(|c| c.to_string()))
            .unwrap_or_default();
        let predicted = fields
            .first()
            .cloned()
            .or_else(|| labels.get(1).map(|c| c.to_string()))
            .unwrap_or_default();
        let mut cells: BTreeMap<(String, String), f64> = BTreeMap::new();
        for row in rows {
            let text = |c: &str| {
                row.get(c)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            };
            let (Some(a), Some(p)) = (text(&actual), text(&predicted)) else {
                return Err(format!("a row lacks `{actual}` or `{predicted}`"));
            };
            let count = row.get("count").and_then(Value::as_f64).unwrap_or(1.0);
            *cells.entry((a, p)).or_default() += count;
        }
        let cells: Vec<Value> = cells
            .into_iter()
            .map(|((a, p), n)| json!({"actual": a, "predicted": p, "count": n}))
            .collect();
        return Ok(vec![
            json!({"revision": rev, "file": file, "kind": "confusion", "x": actual, "y": predicted, "cells": cells}),
        ]);
    }
    let numeric = |c: &str| {
        rows.first()
            .and_then(|r| r.get(c))
            .is_some_and(Value::is_number)
    };
    // A file of exactly two numeric columns (a curve: fpr,tpr; recall,precision; actual,predicted)
    // is the second against the first, unless the plot says otherwise.
    let pair = columns.len() == 2 && columns.iter().all(|c| numeric(c));
    let x = spec
        .x
        .clone()
        .or_else(|| (pair && fields.is_empty()).then(|| columns[0].clone()));
    if let Some(x) = &x
        && !columns.contains(x)
    {
        return Err(format!(
            "has no field `{x}` for x; it has {}",
            columns.join(", ")
        ));
    }
    let ys: Vec<String> = if fields.is_empty() {
        columns
            .iter()
            .rev()
            .find(|c| numeric(c) && Some(*c) != x.as_ref())
            .cloned()
            .into_iter()
            .collect()
    } else {
        fields.to_vec()
    };
    if ys.is_empty() {
        return Err("has no numeric field to plot".into());
    }
    // Points whose x goes back and forth (actual against predicted) are a scatter, not a line.
    let monotone = x.as_ref().is_none_or(|x| {
        let xs: Vec<f64> = rows.iter().filter_map(|r| r.get(x)?.as_f64()).collect();
        xs.windows(2).all(|w| w[0] <= w[1])
    });
    let kind = if template == "scatter" || (template.is_empty() && !monotone) {
        "scatter"
    } else {
        "line"
    };
    let mut out = Vec::new();
    for y in ys {
        if !columns.contains(&y) {
            return Err(format!("has no field `{y}`; it has {}", columns.join(", ")));
        }
        let points: Vec<[f64; 2]> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let xv = match &x {
                    Some(x) => row.get(x)?.as_f64()?,
                    None => i as f64,
                };
                Some([xv, row.get(&y)?.as_f64()?])
            })
            .collect();
        out.push(json!({"revision": rev, "file": file, "kind": kind, "x": x.clone().unwrap_or_else(|| "step".into()), "y": y, "points": points}));
    }
    Ok(out)
}

/// The page: every plot, its revisions side by side.
fn html(drawn: &[Drawn], revisions: &[&str]) -> String {
    let body = sections(drawn, revisions, "h2");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>cairn plots</title>
<style>
{STYLE}
</style></head>
<body><h1>Plots</h1><p>{}</p>
{body}</body></html>
"#,
        svg::escape(&revisions.join(" · "))
    )
}

/// The page's look, light and dark, printable.
pub(crate) const STYLE: &str = ":root { color-scheme: light dark; }
body { font-family: sans-serif; margin: 2rem; background: Canvas; color: CanvasText; }
svg { max-width: 640px; width: 100%; height: auto; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; max-width: 420px; } figure img { max-width: 100%; background: white; }
figcaption { font-size: 0.85rem; opacity: 0.8; }
section { break-inside: avoid; margin-bottom: 2rem; }
@media print { body { margin: 0; } a { color: inherit; } }";

/// The workspace's plots as HTML sections headed by `heading` (`h2`, `h3`), or none when the
/// pipeline declares no plots.
pub(crate) fn workspace_sections(
    ws: &Workspace,
    pipeline: &Pipeline,
    heading: &str,
) -> Result<Option<String>> {
    let specs =
        spec::specs(pipeline).map_err(|e| Error::invalid(&pipeline.file, format!("plots: {e}")))?;
    if specs.is_empty() {
        return Ok(None);
    }
    let mut drawn = Vec::new();
    for spec in &specs {
        drawn.push(gather(ws, spec, &[WORKSPACE])?);
    }
    Ok(Some(sections(&drawn, &[WORKSPACE], heading)))
}

/// Every plot as a `<section>`.
fn sections(drawn: &[Drawn], revisions: &[&str], heading: &str) -> String {
    let mut body = String::new();
    for d in drawn {
        let title = d.spec.title.clone().unwrap_or_else(|| d.spec.id.clone());
        body.push_str(&format!(
            "<section><{heading}>{}</{heading}>\n",
            svg::escape(&title)
        ));
        let lines: Vec<&Value> = d
            .entries
            .iter()
            .filter(|e| e["kind"] == "line" || e["kind"] == "scatter")
            .collect();
        if !lines.is_empty() {
            let series: Vec<svg::Series> = lines
                .iter()
                .map(|e| svg::Series {
                    label: label(e, revisions.len() > 1),
                    points: e["points"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect();
            let x_label = d
                .spec
                .x_label
                .clone()
                .unwrap_or_else(|| lines[0]["x"].as_str().unwrap_or("").to_string());
            let y_label = d
                .spec
                .y_label
                .clone()
                .unwrap_or_else(|| lines[0]["y"].as_str().unwrap_or("").to_string());
            body.push_str(&svg::chart(
                &title,
                &x_label,
                &y_label,
                &series,
                lines[0]["kind"] == "scatter",
            ));
        }
        body.push_str("<div class=\"row\">");
        for e in &d.entries {
            let caption = svg::escape(&label(e, true));
            if e["kind"] == "confusion" {
                let cells: BTreeMap<(String, String), f64> = e["cells"]
                    .as_array()
                    .map(|cs| {
                        cs.iter()
                            .map(|c| {
                                (
                                    (
                                        c["actual"].as_str().unwrap_or("").to_string(),
                                        c["predicted"].as_str().unwrap_or("").to_string(),
                                    ),
                                    c["count"].as_f64().unwrap_or(0.0),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                body.push_str(&format!(
                    "<figure>{}<figcaption>{caption}</figcaption></figure>",
                    svg::confusion(&title, &cells)
                ));
            } else if e["kind"] == "image" {
                // As an <img>: an SVG someone else wrote runs no script there.
                body.push_str(&format!("<figure><img alt=\"{caption}\" src=\"{}\"><figcaption>{caption}</figcaption></figure>", e["src"].as_str().unwrap_or("")));
            }
        }
        body.push_str("</div></section>\n");
    }
    body
}

/// `file: field (revision)`.
fn label(entry: &Value, with_revision: bool) -> String {
    let mut label = entry["file"].as_str().unwrap_or("").to_string();
    if let Some(y) = entry["y"].as_str()
        && entry["kind"] != "confusion"
    {
        label = format!("{label}: {y}");
    }
    if with_revision {
        label = format!("{label} ({})", entry["revision"].as_str().unwrap_or(""));
    }
    label
}
