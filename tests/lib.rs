//! Black-box tests: the built `cairn` binary run in temporary workspaces.

mod support;

mod remote;
mod workspace;
