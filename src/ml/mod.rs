//! The built-in ML stages (preprocess, train, evaluate) and the model file format.

pub mod model;

use std::process::ExitCode;

use crate::cli::{
    EvaluateArgs, MetricsCommand, ParamsCommand, PreprocessArgs, SelectArgs, TrainArgs,
};
use crate::error::{Error, Result};

fn todo(what: &str) -> Result<ExitCode> {
    Err(Error::Failed(format!(
        "`cairn {what}` is not implemented yet"
    )))
}

/// `cairn preprocess`.
pub fn preprocess(_args: &PreprocessArgs) -> Result<ExitCode> {
    todo("preprocess")
}
/// `cairn train`.
pub fn train(_args: &TrainArgs) -> Result<ExitCode> {
    todo("train")
}
/// `cairn evaluate`.
pub fn evaluate(_args: &EvaluateArgs) -> Result<ExitCode> {
    todo("evaluate")
}
/// `cairn select`.
pub fn select(_args: &SelectArgs) -> Result<ExitCode> {
    todo("select")
}
/// `cairn params …`.
pub fn params_command(_cmd: &ParamsCommand) -> Result<ExitCode> {
    todo("params")
}
/// `cairn metrics …`.
pub fn metrics_command(_cmd: &MetricsCommand) -> Result<ExitCode> {
    todo("metrics")
}
