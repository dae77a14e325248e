//! `cairn dag`: the stage graph as aligned text, Graphviz dot, a Mermaid flowchart or JSON.

use std::fmt::Write;
use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::pipeline::{OutKind, Pipeline};
use cairn_core::workspace::Workspace;
use serde::Serialize;

use crate::cli::{DagArgs, DagFormat};

/// `cairn dag`.
pub fn run(args: &DagArgs) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let pipeline = Pipeline::load(&ws)?;
    print!("{}", render(&pipeline, args.format));
    Ok(ExitCode::SUCCESS)
}

/// Renders the pipeline's graph.
pub fn render(pipeline: &Pipeline, format: DagFormat) -> String {
    let stages = &pipeline.stages;
    let order = pipeline.graph.order();
    let mut out = String::new();
    match format {
        DagFormat::Text => {
            let width = stages
                .iter()
                .map(|s| s.name.chars().count())
                .max()
                .unwrap_or(0);
            for &i in order {
                let ups: Vec<&str> = pipeline
                    .graph
                    .upstream(i)
                    .iter()
                    .map(|&u| stages[u].name.as_str())
                    .collect();
                if ups.is_empty() {
                    let _ = writeln!(out, "{}", stages[i].name);
                } else {
                    let _ = writeln!(out, "{:width$}  <- {}", stages[i].name, ups.join(", "));
                }
            }
        }
        DagFormat::Dot => {
            out.push_str("digraph pipeline {\n    rankdir=LR;\n");
            for &i in order {
                let _ = writeln!(out, "    \"{}\";", stages[i].name);
            }
            for &i in order {
                for &d in pipeline.graph.downstream(i) {
                    let _ = writeln!(out, "    \"{}\" -> \"{}\";", stages[i].name, stages[d].name);
                }
            }
            out.push_str("}\n");
        }
        DagFormat::Json => {
            out = json(pipeline);
            out.push('\n');
        }
        DagFormat::Mermaid => {
            out.push_str("flowchart TD\n");
            for &i in order {
                let _ = writeln!(out, "    s{i}[\"{}\"]", stages[i].name);
            }
            for &i in order {
                for &d in pipeline.graph.downstream(i) {
                    let _ = writeln!(out, "    s{i} --> s{d}");
                }
            }
        }
    }
    out
}

/// `--format json`: the whole loaded pipeline, stages in file order.
#[derive(Serialize)]
struct JsonDag<'a> {
    stages: Vec<JsonStage<'a>>,
    /// `[upstream, downstream]` pairs, sorted.
    edges: Vec<[&'a str; 2]>,
}

#[derive(Serialize)]
struct JsonStage<'a> {
    name: &'a str,
    cmd: &'a [String],
    wdir: &'a str,
    deps: &'a [String],
    params: Vec<JsonParam<'a>>,
    outs: Vec<JsonOut<'a>>,
    frozen: bool,
    always_changed: bool,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct JsonParam<'a> {
    file: &'a str,
    /// `""` for a whole params file.
    key: &'a str,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    path: &'a str,
    kind: &'static str,
    cache: bool,
    persist: bool,
}

fn json(pipeline: &Pipeline) -> String {
    let stages = &pipeline.stages;
    let json_stages = stages
        .iter()
        .map(|s| {
            let mut params: Vec<JsonParam> = s
                .params
                .iter()
                .map(|p| JsonParam {
                    file: &p.file,
                    key: &p.key,
                })
                .collect();
            // Sorted here too, so the output does not lean on the loader's order.
            params.sort();
            JsonStage {
                name: &s.name,
                cmd: &s.cmd,
                wdir: &s.wdir,
                deps: &s.deps,
                params,
                outs: s
                    .outs
                    .iter()
                    .map(|o| JsonOut {
                        path: &o.path,
                        kind: match o.kind {
                            OutKind::Out => "out",
                            OutKind::Metric => "metric",
                            OutKind::Plot => "plot",
                        },
                        cache: o.cache,
                        persist: o.persist,
                    })
                    .collect(),
                frozen: s.frozen,
                always_changed: s.always_changed,
            }
        })
        .collect();
    let mut edges: Vec<[&str; 2]> = (0..stages.len())
        .flat_map(|i| {
            pipeline
                .graph
                .downstream(i)
                .iter()
                .map(move |&d| [stages[i].name.as_str(), stages[d].name.as_str()])
        })
        .collect();
    edges.sort_unstable();
    edges.dedup();
    let dag = JsonDag {
        stages: json_stages,
        edges,
    };
    // Only strings, bools and sequences: serialising cannot fail.
    serde_json::to_string(&dag).unwrap_or_default()
}
