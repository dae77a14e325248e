//! `cairn models register`.

use std::path::Path;
use std::process::ExitCode;

use cairn_core::Result;
use cairn_core::workspace::Workspace;
use cairn_registry::Registered;
use cairn_registry::register::{RegisterOptions, register};

/// `cairn models register PATH --name NAME`.
pub fn run(
    path: &Path,
    name: &str,
    metrics: Option<&Path>,
    message: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let (ws, cwd) = Workspace::current_with_cwd()?;
    let outcome = register(
        &ws,
        &RegisterOptions {
            path: path.to_path_buf(),
            cwd,
            name: name.to_string(),
            metrics: metrics.map(Path::to_path_buf),
            message: message.map(str::to_string),
        },
    )?;
    let (version, new) = match outcome.registered {
        Registered::New(v) => (v, true),
        Registered::Existing(v) => (v, false),
    };
    let label = cairn_registry::label(&outcome.name, version);
    if json {
        let value = serde_json::json!({
            "name": outcome.name,
            "version": version,
            "reference": label,
            "new": new,
            "digest": outcome.digest.to_string(),
            "stage": outcome.stage,
        });
        println!("{value}");
    } else if new {
        let from = outcome
            .stage
            .map(|s| format!(", made by stage '{s}'"))
            .unwrap_or_default();
        println!("registered {label} ({} metrics{from})", outcome.metrics);
    } else {
        println!("{label} already has these bytes; nothing registered");
    }
    Ok(ExitCode::SUCCESS)
}
