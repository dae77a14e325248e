//! `cairn dag`: the stage graph as aligned text, Graphviz dot or a Mermaid flowchart.

use std::fmt::Write;
use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::pipeline::Pipeline;
use cairn_core::workspace::Workspace;

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
