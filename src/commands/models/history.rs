//! `cairn models history NAME`: every alias move, oldest first, and which version held an
//! alias at a given time.

use std::process::ExitCode;

use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};
use cairn_registry::Registry;
use cairn_registry::provenance::parse_time;

use crate::render::{emit, table};

/// `cairn models history NAME [--alias A] [--at T] [--json]`.
pub fn run(name: &str, alias: Option<&str>, at: Option<&str>, json: bool) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let registry = Registry::read(&ws)?;
    let model = registry.data.model(name)?;
    if let (Some(alias), Some(at)) = (alias, at) {
        let until = parse_time(at).map_err(|e| Error::Usage(format!("--at {at}: {e}")))?;
        let holder = model.holder_at(alias, until);
        if json {
            let value =
                serde_json::json!({ "name": name, "alias": alias, "at": at, "version": holder });
            println!("{value}");
        } else {
            match holder {
                Some(v) => println!(
                    "{name}@{alias} at {at}: version {v} ({})",
                    cairn_registry::label(name, v)
                ),
                None => println!("{name}@{alias} at {at}: no version held it"),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let moves: Vec<_> = model
        .history
        .iter()
        .filter(|m| alias.is_none_or(|a| m.alias == a))
        .collect();
    if json {
        println!("{}", serde_json::json!({ "name": name, "moves": moves }));
        return Ok(ExitCode::SUCCESS);
    }
    if moves.is_empty() {
        println!("no alias of {name} has moved yet");
        return Ok(ExitCode::SUCCESS);
    }
    let version = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    let mut rows = vec![
        ["WHEN", "ALIAS", "ACTION", "FROM", "TO", "BY", "WHY"]
            .map(String::from)
            .to_vec(),
    ];
    for m in moves {
        rows.push(vec![
            m.at.clone(),
            m.alias.clone(),
            m.action.name().to_string(),
            version(m.from),
            version(m.to),
            m.by.clone(),
            m.why.clone().unwrap_or_default(),
        ]);
    }
    emit(&table(&rows));
    Ok(ExitCode::SUCCESS)
}
