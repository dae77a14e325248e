//! `cairn report`: one self-contained HTML file a person opens — the pipeline's DAG, a metrics
//! table across variants and experiments with the best of each column marked, the plots (each
//! model's confusion matrix among them), the registry's versions and alias history, and drift
//! when a log is given. No script, no network: it opens from a laptop on a train. SVG drawn by
//! cairn; readable in light and dark mode, printable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use cairn_core::exp::{self, Status};
use cairn_core::pipeline::Pipeline;
use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};
use cairn_registry::Registry;

use crate::cli::ReportArgs;
use crate::commands::compare::{flatten_file, metrics_files};
use crate::commands::plots::svg::escape;
use crate::render::number;

/// `cairn report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    let name = ws
        .root
        .file_name()
        .map_or("workspace".into(), |n| n.to_string_lossy().into_owned());
    let commit =
        cairn_registry::provenance::commit(&ws.root).unwrap_or_else(|| "not in git".into());
    let mut body = String::new();
    let _ = write!(
        body,
        "<header><h1>{}</h1><p>cairn report · {} · commit {}</p>\
         <nav><a href=\"#pipeline\">Pipeline</a> · <a href=\"#metrics\">Metrics</a> · <a href=\"#plots\">Plots</a> · <a href=\"#registry\">Registry</a> · <a href=\"#drift\">Drift</a></nav></header>",
        escape(&name),
        escape(&cairn_registry::provenance::now()),
        escape(&commit)
    );
    let _ = write!(
        body,
        "<section id=\"pipeline\"><h2>Pipeline</h2>{}</section>",
        dag(&pipeline)
    );
    body.push_str(&metrics_section(&ws, &pipeline, &args.exps)?);
    body.push_str("<section id=\"plots\"><h2>Plots</h2>");
    match crate::commands::plots::workspace_sections(&ws, &pipeline, "h3")? {
        Some(plots) => body.push_str(&plots),
        None => body.push_str("<p class=\"empty\">The pipeline declares no plots.</p>"),
    }
    body.push_str("</section>");
    let registry = Registry::read(&ws)?;
    body.push_str(&registry_section(&registry.data));
    body.push_str(&drift_section(args, &registry.data)?);
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · cairn report</title><style>{}\n{REPORT_STYLE}</style></head><body>{body}</body></html>\n",
        escape(&name),
        crate::commands::plots::STYLE
    );
    cairn_core::atomic::write(&args.output, page.as_bytes())?;
    println!("report → {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

const REPORT_STYLE: &str = "table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid color-mix(in srgb, CanvasText 20%, transparent); padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: color-mix(in srgb, #59a14f 25%, transparent); }
td.drift { color: #e15759; font-weight: bold; }
.empty { opacity: 0.7; font-style: italic; }
nav a { color: inherit; }";

/// The stages in columns by depth, an arrow from each to what reads its outs.
fn dag(pipeline: &Pipeline) -> String {
    let stages = &pipeline.stages;
    if stages.is_empty() {
        return "<p class=\"empty\">No stages.</p>".into();
    }
    let mut depth = vec![0usize; stages.len()];
    for &i in pipeline.graph.order() {
        depth[i] = pipeline
            .graph
            .upstream(i)
            .iter()
            .map(|&u| depth[u] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut rows_at: BTreeMap<usize, usize> = BTreeMap::new();
    let mut place = vec![(0usize, 0usize); stages.len()];
    for &i in pipeline.graph.order() {
        let row = rows_at.entry(depth[i]).or_default();
        place[i] = (depth[i], *row);
        *row += 1;
    }
    let box_w = stages
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4) as f64
        * 7.5
        + 20.0;
    let (gap, box_h, row_h) = (60.0, 26.0, 38.0);
    let x = |col: usize| 10.0 + col as f64 * (box_w + gap);
    let y = |row: usize| 10.0 + row as f64 * row_h;
    let width = x(depth.iter().max().copied().unwrap_or(0)) + box_w + 10.0;
    let height = y(rows_at.values().max().copied().unwrap_or(1)) + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"stage graph\" font-family=\"sans-serif\" font-size=\"12\" fill=\"currentColor\" style=\"max-width: {width}px\">"
    );
    for (i, &(col, row)) in place.iter().enumerate() {
        for &d in pipeline.graph.downstream(i) {
            let (dc, dr) = place[d];
            let _ = write!(
                svg,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"currentColor\" stroke-opacity=\"0.5\"/>",
                x(col) + box_w,
                y(row) + box_h / 2.0,
                x(dc),
                y(dr) + box_h / 2.0
            );
        }
    }
    for (i, &(col, row)) in place.iter().enumerate() {
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"4\" fill=\"#4e79a7\" fill-opacity=\"0.15\" stroke=\"#4e79a7\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"stage\">{}</text>",
            x(col),
            y(row),
            x(col) + box_w / 2.0,
            y(row) + box_h / 2.0 + 4.0,
            escape(&stages[i].name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The top-level numbers of the workspace's metrics files, one row each, then one row per
/// experiment (the last metrics file of the pipeline: its final stage's), the best of each
/// column marked.
fn metrics_section(ws: &Workspace, pipeline: &Pipeline, chosen: &[String]) -> Result<String> {
    let mut rows: Vec<(String, BTreeMap<String, f64>)> = Vec::new();
    let files = metrics_files(pipeline);
    for file in &files {
        let Ok(bytes) = std::fs::read(ws.root.join(file)) else {
            continue;
        };
        rows.push((file.clone(), top_level(&flatten_file(file, file, &bytes)?)));
    }
    let last = files.last();
    for record in exp::list_summaries(ws)? {
        if record.status != Status::Succeeded
            || (!chosen.is_empty() && !chosen.contains(&record.name))
        {
            continue;
        }
        let values: BTreeMap<String, Value> = record
            .metrics
            .iter()
            .filter_map(|(k, v)| {
                let (file, key) = k.split_once(':')?;
                (Some(&file.to_string()) == last).then(|| (key.to_string(), v.clone()))
            })
            .collect();
        rows.push((format!("exp {}", record.name), top_level(&values)));
    }
    for name in chosen {
        if !rows.iter().any(|(r, _)| r == &format!("exp {name}")) {
            return Err(Error::Usage(format!(
                "--exp {name}: no succeeded experiment by that name (`cairn exp show`)"
            )));
        }
    }
    let mut out = String::from("<section id=\"metrics\"><h2>Metrics</h2>");
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No metrics yet: run <code>cairn repro</code> (or <code>cairn exp run</code>) and make the report again.</p></section>");
        return Ok(out);
    }
    let columns: BTreeSet<&String> = rows.iter().flat_map(|(_, v)| v.keys()).collect();
    let best: BTreeMap<&String, f64> = columns
        .iter()
        .filter_map(|c| {
            let values = rows.iter().filter_map(|(_, v)| v.get(*c).copied());
            let best = if cairn_ml::lower_is_better(c) {
                values.fold(f64::INFINITY, f64::min)
            } else {
                values.fold(f64::NEG_INFINITY, f64::max)
            };
            best.is_finite().then_some((*c, best))
        })
        .collect();
    out.push_str("<table id=\"metrics-table\"><thead><tr><th>variant</th>");
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    for (label, values) in &rows {
        let _ = write!(out, "<tr><td>{}</td>", escape(label));
        for c in &columns {
            match values.get(*c) {
                Some(v) => {
                    let class = if best.get(c) == Some(v) && rows.len() > 1 {
                        " class=\"best\""
                    } else {
                        ""
                    };
                    let _ = write!(
                        out,
                        "<td{class} data-row=\"{}\" data-metric=\"{}\" data-value=\"{v}\">{}</td>",
                        escape(label),
                        escape(c),
                        number(*v)
                    );
                }
                None => out.push_str("<td>-</td>"),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table><p>The best of each column is in bold (highest, or lowest for errors).</p></section>");
    Ok(out)
}

/// Numbers whose key has no dot (the file's own measures, not per-class breakdowns).
fn top_level(values: &BTreeMap<String, Value>) -> BTreeMap<String, f64> {
    values
        .iter()
        .filter(|(k, _)| !k.contains('.') && k.as_str() != "support")
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64().filter(|f| f.is_finite())?)))
        .collect()
}

fn registry_section(data: &cairn_registry::RegistryData) -> String {
    let mut out = String::from("<section id=\"registry\"><h2>Registry</h2>");
    if data.models.is_empty() {
        out.push_str("<p class=\"empty\">No models registered (<code>cairn models register</code>).</p></section>");
        return out;
    }
    for (name, model) in &data.models {
        let _ = write!(
            out,
            "<h3>{}</h3><table class=\"versions\"><thead><tr><th>version</th><th>aliases</th><th>algorithm</th><th>stage</th><th>f1_macro</th><th>registered</th><th>by</th></tr></thead><tbody>",
            escape(name)
        );
        for v in &model.versions {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                v.version,
                escape(&model.aliases_of(v.version).join(", ")),
                escape(v.algorithm.as_deref().unwrap_or("")),
                escape(v.stage.as_deref().unwrap_or("")),
                v.metrics.get("f1_macro").map_or("-".into(), |m| number(*m)),
                escape(&v.at),
                escape(&v.by)
            );
        }
        out.push_str("</tbody></table>");
        if !model.history.is_empty() {
            out.push_str("<table class=\"history\"><thead><tr><th>when</th><th>alias</th><th>action</th><th>from</th><th>to</th><th>by</th><th>why</th></tr></thead><tbody>");
            let shown = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
            for m in &model.history {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&m.at),
                    escape(&m.alias),
                    m.action.name(),
                    shown(m.from),
                    shown(m.to),
                    escape(&m.by),
                    escape(m.why.as_deref().unwrap_or(""))
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>");
    out
}

fn drift_section(args: &ReportArgs, data: &cairn_registry::RegistryData) -> Result<String> {
    let mut out = String::from("<section id=\"drift\"><h2>Drift</h2>");
    let Some(db) = &args.log_db else {
        out.push_str("<p class=\"empty\">No prediction log given (<code>cairn report --log-db FILE</code>).</p></section>");
        return Ok(out);
    };
    let model = match &args.model {
        Some(m) => m.clone(),
        None => match data
            .models
            .iter()
            .find(|(_, m)| m.aliases.contains_key("production"))
        {
            Some((name, _)) => format!("models:/{name}@production"),
            None => cairn_serve::DEFAULT_MODEL.to_string(),
        },
    };
    let (what, report) =
        crate::commands::drift::from_log(&model, db, None, None, Default::default())?;
    let _ = write!(
        out,
        "<p>{}</p><table id=\"drift-table\"><thead><tr><th>feature</th><th>PSI</th><th>KS</th><th>KS p (corrected)</th><th>status</th></tr></thead><tbody>",
        escape(&what)
    );
    for f in &report.features {
        let class = if f.status == "drift" {
            " class=\"drift\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3e}</td><td{class}>{}</td></tr>",
            escape(&f.feature),
            number(f.psi),
            number(f.ks_statistic),
            f.ks_pvalue,
            f.status
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(out)
}
