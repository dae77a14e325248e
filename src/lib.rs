//! cairn: reproducible ML pipelines over a content-addressed cache, remotes, and a model server.
//!
//! Data flows one way: `pipeline` (what the user declared) → `repro` (what is stale, running it)
//! → `hash`, `cache`, `lock` (what was seen and kept) → `remote` (moving the cache). `ml` and
//! `serve` use the cache and the model format, never the reverse.

pub mod atomic;
pub mod cache;
pub mod cli;
pub mod confine;
pub mod digest;
pub mod error;
pub mod gitignore;
pub mod hash;
pub mod lock;
pub mod memory;
pub mod ml;
pub mod pipeline;
pub mod pointer;
pub mod progress;
pub mod rel_path;
pub mod remote;
pub mod repro;
pub mod serve;
pub mod workspace;

pub use error::{Error, Result};
