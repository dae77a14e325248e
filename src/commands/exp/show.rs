//! `cairn exp show`: one row per experiment, grouped under the commit it came from (the
//! workspace first), every param and metric a column; aligned for a terminal, or JSON, CSV,
//! Markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use serde_json::Value;

use cairn_core::Result;
use cairn_core::exp::{self, ExpRecord, Status};
use cairn_core::workspace::Workspace;

use crate::commands::compare::show as shown;
use crate::render::{emit, table};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

/// What `exp show` was asked.
pub struct ShowArgs<'a> {
    pub sort_by: Option<&'a str>,
    pub only_changed: bool,
    pub format: Format,
}

/// One row.
struct Row {
    name: String,
    parent: String,
    status: String,
    created: String,
    params: BTreeMap<String, Value>,
    metrics: BTreeMap<String, Value>,
}

/// `cairn exp show`.
pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let records = exp::list(&ws)?;
    if args.format == Format::Json {
        let rows: Vec<Value> = records.iter().map(summary).collect();
        println!("{}", serde_json::json!({ "experiments": rows }));
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<Row> = records.iter().map(row).collect();
    if let Some(metric) = args.sort_by {
        let key = |r: &Row| {
            r.metrics
                .iter()
                .find(|(k, _)| *k == metric || k.ends_with(&format!(":{metric}")))
                .and_then(|(_, v)| v.as_f64())
        };
        let lower = cairn_ml::lower_is_better(metric.rsplit(':').next().unwrap_or(metric));
        rows.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            match (a, b) {
                (Some(a), Some(b)) => {
                    if lower {
                        a.total_cmp(&b)
                    } else {
                        b.total_cmp(&a)
                    }
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }
    // Grouped under their commit, groups in the order they first appear.
    let mut parents: Vec<String> = Vec::new();
    for r in &rows {
        if !parents.contains(&r.parent) {
            parents.push(r.parent.clone());
        }
    }
    let ordered: Vec<&Row> = parents
        .iter()
        .flat_map(|p| rows.iter().filter(move |r| &r.parent == p))
        .collect();
    let mut param_keys: BTreeSet<&String> = ordered.iter().flat_map(|r| r.params.keys()).collect();
    let mut metric_keys: BTreeSet<&String> =
        ordered.iter().flat_map(|r| r.metrics.keys()).collect();
    if args.only_changed {
        let changed = |pick: &dyn Fn(&Row) -> Option<Value>| {
            let values: BTreeSet<String> = ordered
                .iter()
                .map(|r| pick(r).map(|v| v.to_string()).unwrap_or_default())
                .collect();
            values.len() > 1
        };
        param_keys.retain(|k| changed(&|r| r.params.get(*k).cloned()));
        metric_keys.retain(|k| changed(&|r| r.metrics.get(*k).cloned()));
    }
    let mut head = vec![
        "Experiment".to_string(),
        "Parent".to_string(),
        "State".to_string(),
        "Created".to_string(),
    ];
    head.extend(metric_keys.iter().map(|k| k.to_string()));
    head.extend(param_keys.iter().map(|k| k.to_string()));
    let mut cells = vec![head];
    for r in &ordered {
        let mut line = vec![
            r.name.clone(),
            r.parent.clone(),
            r.status.clone(),
            r.created.clone(),
        ];
        line.extend(
            metric_keys
                .iter()
                .map(|k| r.metrics.get(*k).map_or("-".into(), shown)),
        );
        line.extend(
            param_keys
                .iter()
                .map(|k| r.params.get(*k).map_or("-".into(), shown)),
        );
        cells.push(line);
    }
    match args.format {
        Format::Csv => {
            let mut out = csv::Writer::from_writer(Vec::new());
            for line in &cells {
                let _ = out.write_record(line);
            }
            emit(&String::from_utf8_lossy(
                &out.into_inner().unwrap_or_default(),
            ));
        }
        Format::Markdown => {
            let mut out = String::new();
            for (i, line) in cells.iter().enumerate() {
                let escaped: Vec<String> = line.iter().map(|c| c.replace('|', "\\|")).collect();
                out.push_str(&format!("| {} |\n", escaped.join(" | ")));
                if i == 0 {
                    out.push_str(&format!("|{}\n", " --- |".repeat(line.len())));
                }
            }
            emit(&out);
        }
        _ => {
            if records.is_empty() {
                println!("no experiments yet: `cairn exp run -S KEY=VALUE` runs one");
                return Ok(ExitCode::SUCCESS);
            }
            emit(&table(&cells));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(r: &ExpRecord) -> Row {
    Row {
        name: r.name.clone(),
        parent: r
            .parent
            .as_deref()
            .map_or("-".into(), |p| p.chars().take(7).collect()),
        status: match r.status {
            Status::Failed => match &r.failed_stage {
                Some(stage) => format!("failed at {stage}"),
                None => "failed".into(),
            },
            s => format!("{s:?}").to_lowercase(),
        },
        created: r.created.clone(),
        params: r.params.clone(),
        metrics: r.metrics.clone(),
    }
}

/// A record without its kept files, for `--json`.
fn summary(r: &ExpRecord) -> Value {
    serde_json::json!({
        "name": r.name,
        "parent": r.parent,
        "status": r.status,
        "overrides": r.overrides,
        "failed_stage": r.failed_stage,
        "exit_code": r.exit_code,
        "error": r.error,
        "created": r.created,
        "finished": r.finished,
        "params": r.params,
        "metrics": r.metrics,
    })
}
