//! Black-box tests: the built `cairn` binary run in temporary workspaces.

mod support;

mod workspace;
mod remote;
