//! File formats: the model file (what `train` writes, `evaluate`, `select` and `serve` read).

pub mod model;
