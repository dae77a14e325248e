//! Black-box tests: the built `cairn` binary run in temporary workspaces.

mod support;

mod clients;
mod crash;
mod delivery;
mod docs;
mod drift;
mod dvc;
mod dvc_project;
mod exp;
mod invalid;
mod layout;
mod ml;
mod models;
mod monitoring;
mod onnx;
mod pipeline;
mod pipeline_files;
mod plots;
mod postgres_log;
mod remote;
mod serve;
mod serve_registry;
mod trust;
mod workspace;
