//! `cairn serve`: the model over HTTP until SIGTERM.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use cairn_core::workspace::Workspace;
use cairn_core::{Error, Result};

use crate::cli::ServeArgs;
use crate::commands::models::resolve;

/// `cairn serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let workspace = Workspace::current().ok();
    let watch = match (&workspace, args.watch) {
        (Some(ws), true) => Some(ws.registry_path()),
        (None, true) => {
            return Err(Error::Usage(
                "--watch follows the workspace's registry, and there is no cairn workspace here; run from the project (or -C DIR)".into(),
            ));
        }
        (_, false) => None,
    };
    // The server reads registry references through this, at start and on every reload: the
    // registry and the cache as they are then, the default remote when the cache lacks bytes.
    let resolver: Option<cairn_serve::Resolver> = workspace.map(|ws| {
        let resolver: cairn_serve::Resolver = Arc::new(move |text: &str| {
            let reference = resolve::parse("--model", text)?;
            let resolved = resolve::resolve_bytes(&ws, &reference)?;
            Ok(cairn_serve::Sourced {
                bytes: resolved.bytes,
                path: resolved.path,
                label: resolved.label,
            })
        });
        resolver
    });
    cairn_serve::serve(&crate::settings::serve(args, watch, resolver), |bound| {
        // Tests and scripts read this line to find the port.
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
    })
}
