//! `cairn models list [NAME]`: the models, or the versions of one.

use std::io::Write;
use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;
use cairn_registry::{RegisteredModel, Registry};

use crate::render::{emit, table};

/// `cairn models list [NAME] [--json]`.
pub fn run(name: Option<&str>, json: bool) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let registry = Registry::read(&ws)?;
    let data = &registry.data;
    match name {
        None if json => {
            let models: Vec<serde_json::Value> = data
                .models
                .iter()
                .map(|(name, model)| {
                    serde_json::json!({
                        "name": name,
                        "versions": model.versions.len(),
                        "latest": model.latest().map(|v| v.version),
                        "aliases": model.aliases,
                    })
                })
                .collect();
            println!("{}", serde_json::json!({ "models": models }));
        }
        None if data.models.is_empty() => {
            println!(
                "no models registered; register one with `cairn models register PATH --name NAME`"
            );
        }
        None => {
            let mut rows = vec![head(&[
                "NAME",
                "VERSIONS",
                "LATEST",
                "ALIASES",
                "REGISTERED",
            ])];
            for (name, model) in &data.models {
                rows.push(vec![
                    name.clone(),
                    model.versions.len().to_string(),
                    model
                        .latest()
                        .map(|v| v.version.to_string())
                        .unwrap_or_default(),
                    aliases(model),
                    model.latest().map(|v| v.at.clone()).unwrap_or_default(),
                ]);
            }
            emit(&table(&rows));
        }
        Some(name) => {
            let model = data.model(name)?;
            if json {
                // Straight to a buffered stdout: a tree of 10,000 versions cost more than
                // reading the registry did.
                let versions: Vec<Listed> = model
                    .versions
                    .iter()
                    .map(|v| Listed {
                        name,
                        reference: cairn_registry::label(name, v.version),
                        aliases: model.aliases_of(v.version),
                        version: v,
                    })
                    .collect();
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let _ = serde_json::to_writer(&mut out, &Versions { name, versions });
                let _ = writeln!(out);
            } else {
                let mut rows = vec![head(&[
                    "VERSION",
                    "ALIASES",
                    "STAGE",
                    "REGISTERED",
                    "BY",
                    "MESSAGE",
                ])];
                for v in &model.versions {
                    rows.push(vec![
                        v.version.to_string(),
                        model.aliases_of(v.version).join(", "),
                        v.stage.clone().unwrap_or_default(),
                        v.at.clone(),
                        v.by.clone(),
                        v.message.clone().unwrap_or_default(),
                    ]);
                }
                emit(&table(&rows));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A version as `list --json` prints it: its fields, its reference and its aliases.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    reference: String,
    aliases: Vec<&'a str>,
    #[serde(flatten)]
    version: &'a cairn_registry::Version,
}

#[derive(serde::Serialize)]
struct Versions<'a> {
    name: &'a str,
    versions: Vec<Listed<'a>>,
}

fn head(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `production=3, staging=4`.
fn aliases(model: &RegisteredModel) -> String {
    model
        .aliases
        .iter()
        .map(|(a, v)| format!("{a}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
