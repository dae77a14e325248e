//! cairn's core: the workspace and what it records. No command line, no network, no HTTP, no ML.
//!
//! Data flows one way: `pipeline` (what the user declared) → `repro` (what is stale, running it)
//! → `hash`, `cache`, `lock` (what was seen and kept). The remote, ML and serving crates build on
//! this one and never the reverse; the `cairn` binary alone parses arguments and prints.

pub mod add;
pub mod atomic;
pub mod cache;
pub mod confine;
pub mod dep_path;
pub mod digest;
pub mod dvc_file;
pub mod error;
pub mod exp;
pub mod gc;
pub mod gitignore;
pub mod hash;
pub mod ignore_file;
pub mod lock;
pub mod memory;
pub mod pipeline;
pub mod pointer;
pub mod refs;
pub mod rel_path;
pub mod report;
pub mod repro;
pub mod tracked;
pub mod workspace;
pub mod yaml;

pub use error::{Error, Result};
