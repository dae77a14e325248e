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
