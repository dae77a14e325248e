//! Experiments: a pipeline run with parameter overrides in a copy of the workspace (sharing its
//! cache and run-cache), recorded with what it produced, so that the user's files are never
//! touched and variants can be compared, applied, branched and shared.

mod copy;
mod overrides;
mod python_override;
mod record;

pub use copy::copy_workspace;
pub use overrides::{Override, apply_overrides, check_overrides};
pub use record::{
    ExpRecord, ExpSummary, Record, Status, check_name, exps_dir, list, list_summaries, read,
    remove, write,
};
