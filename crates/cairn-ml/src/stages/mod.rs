//! The built-in stages: each takes typed options, reads and writes files, and returns the
//! one-line summary its command prints.

pub mod evaluate;
pub mod preprocess;
pub mod select;
pub mod train;
