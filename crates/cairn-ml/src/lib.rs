//! The built-in ML stages (preprocess, train, evaluate, select), the model file format, metrics
//! and plots. Each stage takes typed options and returns the one-line summary its command prints.

pub mod algorithms;
pub mod data;
pub mod drift;
pub mod formats;
mod metrics;
mod plots;
pub mod stages;

// Short paths inside the crate and for its users.
use algorithms::{forest, hyper, linear, rng, trees};
use data::{prepared, staged_dir, table};
pub use formats::model;
use stages::evaluate;

pub use metrics::lower_is_better;
pub use stages::evaluate::{EvaluateOptions, Report, evaluate, score_test_split};
pub use stages::preprocess::{MissingPolicy, PreprocessOptions, ScaleKind, TaskKind, preprocess};
pub use stages::select::{SelectOptions, select};
pub use stages::train::{TrainOptions, train};

/// Pretty JSON with a final newline: how every file these stages write looks.
fn pretty_json(value: &impl serde::Serialize) -> cairn_core::error::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| cairn_core::error::Error::Failed(format!("JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
