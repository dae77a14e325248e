//! The built-in ML stages (preprocess, train, evaluate, select), the model file format, and the
//! `params`/`metrics` reports.

mod evaluate;
mod forest;
mod hyper;
mod linear;
mod metrics;
pub mod model;
mod plots;
mod prepared;
mod preprocess;
mod rng;
mod select;
mod staged_dir;
mod table;
mod train;
mod trees;

use std::process::ExitCode;

use crate::cli::{MetricsCommand, ParamsCommand};
use crate::error::{Error, Result};

pub use evaluate::evaluate;
pub use preprocess::preprocess;
pub use select::select;
pub use train::train;

fn todo(what: &str) -> Result<ExitCode> {
    Err(Error::Failed(format!(
        "`cairn {what}` is not implemented yet"
    )))
}

/// `cairn params …`.
pub fn params_command(_cmd: &ParamsCommand) -> Result<ExitCode> {
    todo("params")
}
/// `cairn metrics …`.
pub fn metrics_command(_cmd: &MetricsCommand) -> Result<ExitCode> {
    todo("metrics")
}
