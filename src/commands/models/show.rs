//! `cairn models show REF`: one version, with what made it.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::cache::ObjectStore;
use cairn_core::workspace::Workspace;
use cairn_registry::{RegisteredModel, Registry, Version};

use crate::render::{emit, number, table};

/// `cairn models show REF [--json]`.
pub fn run(reference: &str, json: bool) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let reference = super::resolve::parse("models show", reference)?;
    let registry = Registry::read(&ws)?;
    let (name, version) = registry.data.resolve(&reference)?;
    let model = registry.data.model(name)?;
    // The producing stage's lock entry, when its object is at hand (it travels with push).
    let store = ObjectStore::open(&ws)?;
    let run: Option<serde_json::Value> = version.run.as_ref().and_then(|digest| {
        let bytes = std::fs::read(store.path(digest)).ok()?;
        (cairn_core::hash::digest_bytes(&bytes) == *digest).then_some(())?;
        serde_json::from_slice(&bytes).ok()
    });
    if json {
        let mut value = version_json(name, model, version);
        value["lock"] = run.unwrap_or(serde_json::Value::Null);
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        field("model", cairn_registry::label(name, version.version)),
        field("aliases", model.aliases_of(version.version).join(", ")),
        field("digest", version.digest.to_string()),
        field("size", format!("{} bytes", version.size)),
        field("format", format!("{:?}", version.format).to_lowercase()),
        field("task", version.task.clone().unwrap_or_default()),
        field("algorithm", version.algorithm.clone().unwrap_or_default()),
        field("source", version.source.clone()),
        field("stage", version.stage.clone().unwrap_or_default()),
        field("commit", version.commit.clone().unwrap_or_default()),
        field("registered", format!("{} by {}", version.at, version.by)),
        field("message", version.message.clone().unwrap_or_default()),
    ];
    rows.retain(|r| !r[1].is_empty());
    emit(&table(&rows));
    if !version.metrics.is_empty() {
        println!("\nmetrics");
        let rows: Vec<Vec<String>> = version
            .metrics
            .iter()
            .map(|(k, v)| vec![format!("  {k}"), number(*v)])
            .collect();
        emit(&table(&rows));
    }
    if !version.params.is_empty() {
        println!("\nparams");
        let rows: Vec<Vec<String>> = version
            .params
            .iter()
            .map(|(k, v)| vec![format!("  {k}"), v.to_string()])
            .collect();
        emit(&table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn field(name: &str, value: String) -> Vec<String> {
    vec![name.to_string(), value]
}

/// A version as JSON: its fields, its reference and the aliases pointing at it.
pub fn version_json(name: &str, model: &RegisteredModel, version: &Version) -> serde_json::Value {
    let mut value = serde_json::to_value(version).unwrap_or(serde_json::Value::Null);
    value["name"] = name.into();
    value["reference"] = cairn_registry::label(name, version.version).into();
    value["aliases"] = model.aliases_of(version.version).into();
    value
}
