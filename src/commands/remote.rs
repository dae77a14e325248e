//! `cairn remote add | list | remove | modify | default`.

use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;
use cairn_remote::config;

use crate::cli::RemoteCommand;

/// `cairn remote …`.
pub fn run(cmd: &RemoteCommand) -> Result<ExitCode> {
    let ws = Workspace::current()?;
    let _lock = ws.lock("remote")?;
    match cmd {
        RemoteCommand::Add {
            name,
            url,
            default,
            local,
        } => {
            config::add(&ws, name, url, *default, *local)?;
            println!(
                "added remote '{name}' ({url}){}",
                if *default { " as the default" } else { "" }
            );
        }
        RemoteCommand::List { json } => list(&ws, *json)?,
        RemoteCommand::Remove { name } => {
            config::remove(&ws, name)?;
            println!("removed remote '{name}'");
        }
        RemoteCommand::Modify {
            name,
            key,
            value,
            local,
        } => {
            let path = config::modify(&ws, name, key, value, *local)?;
            let shown = if config::SECRET_KEYS.contains(&key.as_str()) {
                "***"
            } else {
                value
            };
            println!(
                "remote '{name}': {key} = {shown} (in {})",
                path.strip_prefix(&ws.root).unwrap_or(&path).display()
            );
        }
        RemoteCommand::Default { name } => {
            config::set_default(&ws, name)?;
            println!("default remote: {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(ws: &Workspace, json: bool) -> Result<()> {
    let remotes = config::list(ws)?;
    if json {
        let items: Vec<serde_json::Value> = remotes
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "url": r.url,
                    "default": r.default,
                    "settings": r.settings.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(());
    }
    let width = remotes.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &remotes {
        let mark = if r.default { "*" } else { " " };
        let extra: Vec<String> = r.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let line = format!("{mark} {:width$}  {}  {}", r.name, r.url, extra.join(" "));
        println!("{}", line.trim_end());
    }
    Ok(())
}
