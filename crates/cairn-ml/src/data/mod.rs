//! Data: reading CSV tables, the prepared (split and scaled) directory `preprocess` writes and
//! the stages after it read, and writing a directory all at once.

pub mod prepared;
pub mod staged_dir;
pub mod table;
