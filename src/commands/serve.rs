//! `cairn serve`: the model over HTTP until SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use cairn_core::Result;

use crate::cli::ServeArgs;

/// `cairn serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    cairn_serve::serve(&crate::settings::serve(args), |bound| {
        // Tests and scripts read this line to find the port.
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
    })
}
