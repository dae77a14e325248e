//! `cairn serve`: the HTTP inference service.

use std::process::ExitCode;

use crate::cli::ServeArgs;
use crate::error::{Error, Result};

/// `cairn serve`.
pub fn serve(_args: &ServeArgs) -> Result<ExitCode> {
    Err(Error::Failed("`cairn serve` is not implemented yet".into()))
}
