//! pipeline.yaml and params.yaml: parse, template, validate, build the DAG.

mod definition;
mod expand;
mod graph;
pub mod params;
pub mod template;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

pub use expand::DEFAULT_PARAMS;
pub use graph::{Graph, overlaps};
pub use params::Params;

use crate::error::{Error, IoContext, Result};
use crate::workspace::Workspace;
use definition::{PipelineFile, VarsEntry};
use template::Context;

/// The validated pipeline: concrete stages in file order, their graph, and the params files they
/// read.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// `pipeline.yaml`.
    pub file: PathBuf,
    /// Concrete stages (foreach/matrix expanded), in file order.
    pub stages: Vec<Stage>,
    /// Which stage feeds which.
    pub graph: Graph,
    /// Params files the stages track, loaded.
    pub params: Params,
    /// The top-level `params`, `metrics`, `plots`, `artifacts` and `datasets` sections.
    pub top: TopLevel,
}

/// The top-level sections of a pipeline file (as in dvc.yaml), interpolated. Paths are
/// workspace-relative.
#[derive(Debug, Clone, Default)]
pub struct TopLevel {
    /// Params files shown by `params diff` beside those the stages track.
    pub params: Vec<String>,
    /// Metrics files shown by `metrics show/diff` beside the stages' metrics.
    pub metrics: Vec<String>,
    /// Plot definitions: a path, or a named plot with its properties, as written.
    pub plots: Vec<serde_norway::Value>,
    /// Named artifacts (`path`, `type`, `desc`, `labels`, `meta`), as written.
    pub artifacts: indexmap::IndexMap<String, serde_norway::Value>,
    /// Dataset entries (`name`, `url`, `type`, …), as written.
    pub datasets: Vec<serde_norway::Value>,
}

impl Pipeline {
    /// Reads, templates and validates `pipeline.yaml` of the workspace. Every problem is
    /// [`Error::Invalid`] naming the file, the stage and what is wrong.
    pub fn load(ws: &Workspace) -> Result<Pipeline> {
        let file = ws.pipeline_path();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::invalid(
                    &file,
                    "does not exist; write the stages there (see `cairn --help` and DESIGN.md)",
                ));
            }
            Err(e) => return Err(e).at(&file),
        };
        Pipeline::parse(ws, &file, &text)
    }

    /// Parses pipeline text as if read from `file` in the workspace.
    pub fn parse(ws: &Workspace, file: &Path, text: &str) -> Result<Pipeline> {
        let invalid = |m: String| Error::invalid(file, m);
        let def: PipelineFile = crate::yaml::from_str_unique(text).map_err(invalid)?;

        // Variables: params.yaml (as DVC loads it), then `vars:` entries in order.
        let mut params = Params::default();
        let mut ctx = Context::default();
        if let Some(vars) = params.load_shared(&ws.root, DEFAULT_PARAMS)? {
            ctx.extend_shared(vars);
        }
        add_vars(ws, &mut params, &mut ctx, &def.vars)
            .map_err(|m| invalid(format!("vars: {m}")))?;

        let mut stages = Vec::new();
        for (name, stage_def) in &def.stages {
            let mut stage_ctx = ctx.clone();
            add_vars(ws, &mut params, &mut stage_ctx, &stage_def.vars)
                .map_err(|m| invalid(format!("stage '{name}': vars: {m}")))?;
            let expanded =
                expand::expand(name, stage_def, &stage_ctx, stages.len()).map_err(invalid)?;
            stages.extend(expanded);
        }
        if stages.is_empty() {
            return Err(invalid("no stages under 'stages:'".into()));
        }
        // Written names are unique (a repeated key is refused) and expanded ones within their
        // definition; the names of different definitions cannot meet (`name@…` keeps the
        // definition's name, which has no `@`). Checked once more, as the lock is keyed by name.
        let mut names = std::collections::HashSet::with_capacity(stages.len());
        if let Some(twice) = stages.iter().find(|s| !names.insert(s.name.as_str())) {
            return Err(invalid(format!(
                "two stages are named '{}'; stage names must be unique",
                twice.name
            )));
        }

        // Every tracked param must exist.
        for stage in &stages {
            for p in &stage.params {
                if params.load(&ws.root, &p.file)?.is_none() {
                    return Err(invalid(format!(
                        "stage '{}': params file '{}' does not exist",
                        stage.name, p.file
                    )));
                }
                if params.get(&p.file, &p.key).is_none() {
                    return Err(invalid(format!(
                        "stage '{}': param '{}' is not in {}; add it there or remove it from the stage's params",
                        stage.name, p.key, p.file
                    )));
                }
            }
        }
        check_reserved(&stages, &params).map_err(invalid)?;
        let graph = Graph::build(&stages).map_err(invalid)?;
        Ok(Pipeline {
            file: file.to_path_buf(),
            stages,
            graph,
            params,
            top: TopLevel::default(),
        })
    }

    /// Index of the stage called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The stages to work on, in topological order: `targets` (stage names, or a foreach group's
    /// name for all its items) with their upstream unless `single`, and their downstream if asked.
    /// No targets means every stage.
    pub fn select(&self, targets: &[String], single: bool, downstream: bool) -> Result<Vec<usize>> {
        let mut chosen = vec![false; self.stages.len()];
        if targets.is_empty() {
            chosen.iter_mut().for_each(|c| *c = true);
        }
        for target in targets {
            let group = format!("{target}@");
            let hits: Vec<usize> = (0..self.stages.len())
                .filter(|&i| {
                    self.stages[i].name == *target || self.stages[i].name.starts_with(&group)
                })
                .collect();
            if hits.is_empty() {
                let names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "no stage '{target}' in {}; stages are: {}",
                    self.file.display(),
                    names.join(", ")
                )));
            }
            for i in hits {
                chosen[i] = true;
                if !single {
                    self.graph
                        .ancestors(i)
                        .into_iter()
                        .for_each(|a| chosen[a] = true);
                }
                if downstream {
                    self.graph
                        .descendants(i)
                        .into_iter()
                        .for_each(|d| chosen[d] = true);
                }
            }
        }
        Ok(self
            .graph
            .order()
            .iter()
            .copied()
            .filter(|&i| chosen[i])
            .collect())
    }

    /// The value of a tracked param now.
    pub fn param_value(&self, p: &ParamRef) -> Option<&serde_norway::Value> {
        self.params.get(&p.file, &p.key)
    }
}

/// Refuses outs (and metrics and plots) that are files cairn or git need: `repro` deletes an out
/// before its stage runs, so an out `.git` would delete the repository. Reserved are `.git/` and
/// `.cairn/` (anywhere, in any case), `pipeline.yaml`, `pipeline.lock`, every params and vars
/// file the pipeline reads (`params.yaml` always), pointer files (`*.cairn`), and any folder
/// holding one of these.
fn check_reserved(stages: &[Stage], params: &Params) -> std::result::Result<(), String> {
    let mut files: BTreeSet<&str> = ["pipeline.yaml", "pipeline.lock", DEFAULT_PARAMS].into();
    files.extend(params.files());
    files.extend(
        stages
            .iter()
            .flat_map(|s| s.params.iter().map(|p| p.file.as_str())),
    );
    for stage in stages {
        for out in &stage.outs {
            let field = match out.kind {
                OutKind::Out => "outs",
                OutKind::Metric => "metrics",
                OutKind::Plot => "plots",
            };
            let why = reserved_reason(&out.path, &files);
            if let Some(why) = why {
                return Err(format!(
                    "stage '{}': {field}: '{}' {why}; an out is deleted before its stage runs, so it may not be or hold .git/, .cairn/, pipeline.yaml, pipeline.lock, a params or vars file, or a pointer file (*.cairn)",
                    stage.name, out.path
                ));
            }
        }
    }
    Ok(())
}

/// Why the normalised workspace-relative `path` may not be an out, if it may not.
fn reserved_reason(path: &str, files: &BTreeSet<&str>) -> Option<String> {
    if let Some(why) = crate::confine::reserved(path) {
        return Some(why.trim_start_matches("it ").to_string());
    }
    if files.contains(path) {
        return Some(format!("is {}", describe(path)));
    }
    // A file inside the out: the first file at or after `path/` (sorted, so this finds one if
    // any); or the out inside a file.
    let prefix = format!("{path}/");
    let inner = files
        .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
        .next()
        .copied()
        .filter(|f| f.starts_with(&prefix));
    let outer = path
        .match_indices('/')
        .map(|(i, _)| &path[..i])
        .find(|a| files.contains(a));
    inner
        .or(outer)
        .map(|file| format!("overlaps {file}, {}", describe(file)))
}

fn describe(file: &str) -> &'static str {
    match file {
        "pipeline.yaml" => "the pipeline's definition",
        "pipeline.lock" => "the pipeline's lock",
        _ => "a params or vars file the pipeline reads",
    }
}

/// Adds `vars:` entries to the context: files (whole, or `file:key1,key2`) or inline mappings.
fn add_vars(
    ws: &Workspace,
    params: &mut Params,
    ctx: &mut Context,
    vars: &[VarsEntry],
) -> std::result::Result<(), String> {
    for entry in vars {
        match entry {
            VarsEntry::Inline(m) => ctx.extend(m),
            VarsEntry::File(spec) => {
                let (file, keys) = match spec.split_once(':') {
                    Some((f, k)) => (f, Some(k)),
                    None => (spec.as_str(), None),
                };
                let rel = crate::workspace::normalize_relative(file)?;
                let value = params
                    .load_shared(&ws.root, &rel)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("file '{rel}' does not exist"))?;
                let serde_norway::Value::Mapping(m) = &*value else {
                    return Err(format!("'{rel}' is not a mapping"));
                };
                match keys {
                    None => ctx.extend_shared(value.clone()),
                    Some(keys) => {
                        for key in keys.split(',').map(str::trim) {
                            let v = m
                                .get(key)
                                .ok_or_else(|| format!("'{key}' is not in '{rel}'"))?;
                            ctx.set(key, v.clone());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

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
    /// Sent to remotes by `push` (`push: false` keeps it local, as in DVC).
    pub push: bool,
    /// The remote this out goes to and comes from, instead of the default one (`remote:`).
    pub remote: Option<String>,
}
