//! The built-in ML stages (preprocess, train, evaluate, select), the model file format, metrics
//! and plots. Each stage takes typed options and returns the one-line summary its command prints.

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

pub use evaluate::{EvaluateOptions, evaluate};
pub use preprocess::{MissingPolicy, PreprocessOptions, ScaleKind, TaskKind, preprocess};
pub use select::{SelectOptions, select};
pub use train::{TrainOptions, train};

/// Pretty JSON with a final newline: how every file these stages write looks.
fn pretty_json(value: &impl serde::Serialize) -> cairn_core::error::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| cairn_core::error::Error::Failed(format!("JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
