//! The built-in ML stages `cairn preprocess | train | evaluate | select`: each prints the
//! one-line summary its stage returns.

use std::process::ExitCode;

use cairn_core::Result;

/// Prints a stage's summary.
pub fn done(summary: String) -> Result<ExitCode> {
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
