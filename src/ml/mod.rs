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
mod report;
mod rng;
mod select;
mod staged_dir;
mod table;
mod train;
mod trees;

pub use evaluate::evaluate;
pub use preprocess::preprocess;
pub use report::{metrics_command, params_command};
pub use select::select;
pub use train::train;

/// Pretty JSON with a final newline: how every file these stages write looks.
fn pretty_json(value: &impl serde::Serialize) -> crate::error::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| crate::error::Error::Failed(format!("JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}
