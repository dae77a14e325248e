//! `cairn exp show`: the workspace first (the baseline), then one row per experiment, grouped
//! under the commit it came from, every param and metric a column; aligned for a terminal, or
//! JSON, CSV, Markdown.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use cairn_core::Result;
use cairn_core::exp::{self, ExpSummary, Status};
use cairn_core::workspace::Workspace;
use cairn_registry::provenance;

use super::run::{Values, workspace_values};
use crate::commands::compare::show as shown;
use crate::render::{emit, markdown_table, table};

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

/// One row, borrowing from its record (a thousand records are not copied).
struct Row<'r> {
    name: &'r str,
    parent: String,
    status: String,
    created: &'r str,
    params: &'r Values,
    metrics: &'r Values,
}

/// `cairn exp show`.
pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let records = exp::list_summaries(&ws)?;
    let (ws_params, ws_metrics) = workspace_values(&ws)?;
    let head = provenance::commit(&ws.root);
    if args.format == Format::Json {
        let out = Shown {
            workspace: Baseline {
                commit: head.as_deref(),
                params: &ws_params,
                metrics: &ws_metrics,
            },
            experiments: records.iter().map(Summary::of).collect(),
        };
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = serde_json::to_writer(&mut stdout, &out).map(|()| writeln!(stdout));
        return Ok(ExitCode::SUCCESS);
    }
    let baseline = Row {
        name: "workspace",
        parent: head.as_deref().map_or("-".into(), short),
        status: "-".into(),
        created: "-",
        params: &ws_params,
        metrics: &ws_metrics,
    };
    let mut rows: Vec<Row> = records.iter().map(row).collect();
    if let Some(metric) = args.sort_by {
        sort(&mut rows, metric);
    }
    // Grouped under their commit, groups in the order they first appear.
    let mut parents: Vec<&str> = Vec::new();
    for r in &rows {
        if !parents.contains(&r.parent.as_str()) {
            parents.push(&r.parent);
        }
    }
    let ordered: Vec<&Row> = std::iter::once(&baseline)
        .chain(
            parents
                .iter()
                .flat_map(|p| rows.iter().filter(move |r| r.parent == *p)),
        )
        .collect();
    let mut param_keys = all_keys(ordered.iter().map(|r| r.params));
    let mut metric_keys = all_keys(ordered.iter().map(|r| r.metrics));
    if args.only_changed {
        // A column stays when some row differs from the first (the workspace).
        fn changed<'v>(mut values: impl Iterator<Item = Option<&'v Value>>) -> bool {
            let first = values.next().flatten();
            values.any(|v| v != first)
        }
        param_keys.retain(|k| changed(ordered.iter().map(|r| r.params.get(*k))));
        metric_keys.retain(|k| changed(ordered.iter().map(|r| r.metrics.get(*k))));
    }
    let mut header = vec![
        "Experiment".to_string(),
        "Parent".to_string(),
        "State".to_string(),
        "Created".to_string(),
    ];
    header.extend(metric_keys.iter().map(|k| k.to_string()));
    header.extend(param_keys.iter().map(|k| k.to_string()));
    let mut cells = vec![header];
    for r in &ordered {
        let mut line = vec![
            r.name.to_string(),
            r.parent.clone(),
            r.status.clone(),
            r.created.to_string(),
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
        Format::Markdown => emit(&markdown_table(&cells)),
        _ => {
            emit(&table(&cells));
            if records.is_empty() {
                println!("no experiments yet: `cairn exp run -S KEY=VALUE` runs one");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every key of `maps`. Most experiments share their keys: a map with the same keys as the one
/// before costs one comparison per key, not a set insertion.
fn all_keys<'r>(maps: impl Iterator<Item = &'r Values>) -> BTreeSet<&'r String> {
    let mut keys = BTreeSet::new();
    let mut last: Option<&Values> = None;
    for map in maps {
        if !last.is_some_and(|l| l.keys().eq(map.keys())) {
            keys.extend(map.keys());
        }
        last = Some(map);
    }
    keys
}

/// Best first by `metric` (`KEY` or `FILE:KEY`), rows without it last.
fn sort(rows: &mut [Row], metric: &str) {
    let key = |r: &Row| {
        r.metrics
            .iter()
            .find(|(k, _)| *k == metric || k.ends_with(&format!(":{metric}")))
            .and_then(|(_, v)| v.as_f64())
    };
    let lower = cairn_ml::lower_is_better(metric.rsplit(':').next().unwrap_or(metric));
    rows.sort_by(|a, b| match (key(a), key(b)) {
        (Some(a), Some(b)) if lower => a.total_cmp(&b),
        (Some(a), Some(b)) => b.total_cmp(&a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

fn short(commit: &str) -> String {
    commit.chars().take(7).collect()
}

fn row(r: &ExpSummary) -> Row<'_> {
    Row {
        name: &r.name,
        parent: r.parent.as_deref().map_or("-".into(), short),
        status: match r.status {
            Status::Failed => match &r.failed_stage {
                Some(stage) => format!("failed at {stage}"),
                None => "failed".into(),
            },
            s => format!("{s:?}").to_lowercase(),
        },
        created: &r.created,
        params: &r.params,
        metrics: &r.metrics,
    }
}

/// `--json`: serialized from the records in place, not copied into a `Value` first.
#[derive(serde::Serialize)]
struct Shown<'r> {
    workspace: Baseline<'r>,
    experiments: Vec<Summary<'r>>,
}

#[derive(serde::Serialize)]
struct Baseline<'r> {
    commit: Option<&'r str>,
    params: &'r Values,
    metrics: &'r Values,
}

/// A record without its kept files.
#[derive(serde::Serialize)]
struct Summary<'r> {
    name: &'r str,
    parent: &'r Option<String>,
    status: Status,
    overrides: &'r [exp::Override],
    failed_stage: &'r Option<String>,
    exit_code: Option<i32>,
    error: &'r Option<String>,
    created: &'r str,
    finished: &'r Option<String>,
    params: &'r Values,
    metrics: &'r Values,
}

impl<'r> Summary<'r> {
    fn of(r: &'r ExpSummary) -> Summary<'r> {
        Summary {
            name: &r.name,
            parent: &r.parent,
            status: r.status,
            overrides: &r.overrides,
            failed_stage: &r.failed_stage,
            exit_code: r.exit_code,
            error: &r.error,
            created: &r.created,
            finished: &r.finished,
            params: &r.params,
            metrics: &r.metrics,
        }
    }
}
