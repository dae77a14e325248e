//! pipeline.yaml and params.yaml: parse, template, validate, build the DAG.

/// A stage after templating and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `name`, or `name@item` for foreach/matrix stages.
    pub name: String,
    /// `desc`.
    pub desc: Option<String>,
    /// Commands run in order through `sh -c`.
    pub cmd: Vec<String>,
    /// Working directory, workspace-relative (`""` is the root).
    pub wdir: String,
    /// Dependencies, workspace-relative, normalised.
    pub deps: Vec<String>,
    /// Tracked params.
    pub params: Vec<ParamRef>,
    /// Outputs, metrics and plots.
    pub outs: Vec<Out>,
    /// Never stale, never run (unless forced by name).
    pub frozen: bool,
    /// Always stale.
    pub always_changed: bool,
}

/// A tracked parameter: a dotted key (or a whole section) of a params file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ParamRef {
    /// Workspace-relative params file (`params.yaml` by default).
    pub file: String,
    /// Dotted key, e.g. `train.c` or `preprocess`.
    pub key: String,
}

/// What kind of output a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// `outs`.
    Out,
    /// `metrics`.
    Metric,
    /// `plots`.
    Plot,
}

/// An output path of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    /// Workspace-relative, normalised.
    pub path: String,
    /// Stored in the cache (default true; false for metrics by convention is allowed).
    pub cache: bool,
    /// Not removed before the stage runs.
    pub persist: bool,
    /// outs, metrics or plots.
    pub kind: OutKind,
}
