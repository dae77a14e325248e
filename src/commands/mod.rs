//! One file per command: each resolves its arguments, calls the library crates and prints
//! what they return.

pub mod add;
pub mod checkout;
pub mod compare;
pub mod dag;
pub mod docs;
pub mod drift;
pub mod exp;
pub mod fetch;
pub mod gc;
pub mod init;
pub mod models;
pub mod plots;
pub mod probe;
pub mod push;
pub mod remote;
pub mod report;
pub mod repro;
pub mod serve;
pub mod stages;
pub mod status;
