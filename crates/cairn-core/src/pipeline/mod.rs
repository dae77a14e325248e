//! pipeline.yaml and params.yaml: parse, template, validate, build the DAG.

mod context;
mod definition;
pub mod discover;
mod expand;
mod graph;
mod interpolate;
pub mod params;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

pub use expand::DEFAULT_PARAMS;
pub use graph::{Graph, overlaps};
pub use params::Params;

use crate::error::{Error, IoContext, Result};
use crate::workspace::Workspace;
use context::Context;
use definition::PipelineFile;
use interpolate::{Scope, has_interpolation, resolve, resolve_str};

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
    /// Reads, templates and validates the pipeline files of the workspace (see
    /// [`discover::files`]); stages of a file below the root are named `sub/pipeline.yaml:name`,
    /// as DVC addresses them. Every problem is [`Error::Invalid`] naming the file, the stage and
    /// what is wrong.
    pub fn load(ws: &Workspace) -> Result<Pipeline> {
        let files = discover::files(&ws.root)?;
        let Some(first) = files.first() else {
            return Err(Error::invalid(
                ws.pipeline_path(),
                "does not exist; write the stages there, or keep a DVC project's dvc.yaml (see `cairn --help` and DESIGN.md)",
            ));
        };
        let mut parts = Parts::default();
        for rel in &files {
            let path = ws.root.join(rel);
            let text = std::fs::read_to_string(&path).at(&path)?;
            parts.add(ws, &path, &text)?;
        }
        parts.finish(ws, &ws.root.join(first))
    }

    /// Whether the workspace has any pipeline file.
    pub fn exists(ws: &Workspace) -> Result<bool> {
        Ok(!discover::files(&ws.root)?.is_empty())
    }

    /// Parses pipeline text as if read from `file` in the workspace.
    pub fn parse(ws: &Workspace, file: &Path, text: &str) -> Result<Pipeline> {
        let mut parts = Parts::default();
        parts.add(ws, file, text)?;
        parts.finish(ws, file)
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
            let parsed = discover::Target::parse(target);
            let hits: Vec<usize> = (0..self.stages.len())
                .filter(|&i| parsed.selects(&self.stages[i].name))
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

/// Stages and sections read from one or more pipeline files, not yet checked as a whole.
#[derive(Default)]
struct Parts {
    stages: Vec<Stage>,
    top: TopLevel,
    params: Params,
    /// The pipeline files read, workspace-relative.
    files: Vec<String>,
}

impl Parts {
    /// Reads one pipeline file's text (`file` is where it lives in the workspace).
    fn add(&mut self, ws: &Workspace, file: &Path, text: &str) -> Result<()> {
        let invalid = |m: String| Error::invalid(file, m);
        let def = read_file(text).map_err(invalid)?;
        let rel = file
            .strip_prefix(&ws.root)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| "pipeline.yaml".into());
        // Paths in the file are relative to its folder; its stages' names carry its path
        // unless it is at the root.
        let (base, prefix) = match rel.rsplit_once('/') {
            Some((dir, _)) => (dir.to_string(), format!("{rel}:")),
            None => (String::new(), String::new()),
        };

        // Variables, as DVC loads them: the folder's params.yaml, then `vars:` entries in order,
        // deep-merged.
        let params = &mut self.params;
        let mut vars = Context::default();
        if let Some(v) = def.vars.iter().find(|v| has_interpolation(v)) {
            return Err(invalid(format!(
                "vars: '{}' holds '${{…}}'; vars are not interpolated, write the value",
                serde_norway::to_string(v).unwrap_or_default().trim()
            )));
        }
        let default_params = join(&base, DEFAULT_PARAMS);
        if params.load(&ws.root, &default_params)?.is_some() {
            vars.merge_file(DEFAULT_PARAMS, &base, &ws.root, params, &[])
                .map_err(|m| invalid(format!("{default_params}: {m}")))?;
        }
        for (i, entry) in def.vars.iter().enumerate() {
            vars.merge_entry(entry, &format!("vars[{i}]"), &base, &ws.root, params, &[])
                .map_err(|m| invalid(format!("vars: {m}")))?;
        }

        let mut loader = expand::Loader {
            root: &ws.root,
            base: &base,
            params,
        };
        for (name, shape) in &def.stages {
            let mut expanded = expand::expand(name, shape, &vars, &mut loader, self.stages.len())
                .map_err(invalid)?;
            if !prefix.is_empty() {
                expanded
                    .iter_mut()
                    .for_each(|s| s.name.insert_str(0, &prefix));
            }
            self.stages.extend(expanded);
        }
        let top = top_level(&def, &vars, &base).map_err(invalid)?;
        self.top.params.extend(top.params);
        self.top.metrics.extend(top.metrics);
        self.top.plots.extend(top.plots);
        self.top.datasets.extend(top.datasets);
        for (name, artifact) in top.artifacts {
            self.top
                .artifacts
                .insert(format!("{prefix}{name}"), artifact);
        }
        self.files.push(rel);
        Ok(())
    }

    /// Checks the stages as a whole (names, params, reserved paths, the graph); errors name
    /// `file`.
    fn finish(mut self, ws: &Workspace, file: &Path) -> Result<Pipeline> {
        let invalid = |m: String| Error::invalid(file, m);
        let stages = std::mem::take(&mut self.stages);
        let params = &mut self.params;
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
        check_reserved(&stages, params, &self.files).map_err(invalid)?;
        let graph = Graph::build(&stages).map_err(invalid)?;
        Ok(Pipeline {
            file: file.to_path_buf(),
            stages,
            graph,
            params: self.params,
            top: self.top,
        })
    }
}

/// Refuses outs (and metrics and plots) that are files cairn or git need: `repro` deletes an out
/// before its stage runs, so an out `.git` would delete the repository. Reserved are `.git/` and
/// `.cairn/` (anywhere, in any case), `pipeline.yaml`, `pipeline.lock`, every params and vars
/// file the pipeline reads (`params.yaml` always), pointer files (`*.cairn`), and any folder
/// holding one of these.
fn check_reserved(
    stages: &[Stage],
    params: &Params,
    pipeline_files: &[String],
) -> std::result::Result<(), String> {
    let mut files: BTreeSet<&str> = ["pipeline.yaml", "pipeline.lock", DEFAULT_PARAMS].into();
    files.extend(pipeline_files.iter().map(String::as_str));
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
        f if discover::is_pipeline_file(f) => "a pipeline's definition",
        "pipeline.lock" => "the pipeline's lock",
        _ => "a params or vars file the pipeline reads",
    }
}

/// Reads the file's sections, YAML merge keys (`<<:`) applied first. Without merge keys the
/// text is read straight into its shape, so an unknown field is named with its line.
fn read_file(text: &str) -> std::result::Result<PipelineFile, String> {
    if !text.contains("<<") {
        return crate::yaml::from_str_unique(text);
    }
    let mut doc: serde_norway::Value = crate::yaml::from_str_unique(text)?;
    doc.apply_merge()
        .map_err(|e| format!("merge key (<<): {e}"))?;
    serde_norway::from_value(doc).map_err(|e| e.to_string())
}

/// Joins a folder and a path, both workspace-relative.
fn join(dir: &str, path: &str) -> String {
    if dir.is_empty() {
        path.to_string()
    } else {
        format!("{dir}/{path}")
    }
}

/// The top-level sections, resolved against the file's variables, their paths made
/// workspace-relative.
fn top_level(
    def: &PipelineFile,
    vars: &Context,
    base: &str,
) -> std::result::Result<TopLevel, String> {
    let scope = Scope::new(vars);
    let resolve = |section: &str, v: &serde_norway::Value| {
        resolve(v, &scope, None).map_err(|e| format!("{section}: {e}"))
    };
    let paths = |section: &str, list: &[serde_norway::Value]| {
        list.iter()
            .map(|v| match resolve(section, v)? {
                serde_norway::Value::String(p) => {
                    crate::workspace::normalize_relative(&join(base, &p))
                        .map_err(|e| format!("{section}: {e}"))
                }
                _ => Err(format!("{section}: each entry is a path")),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
    };
    let mut artifacts = indexmap::IndexMap::new();
    for (name, v) in &def.artifacts {
        let name = match resolve_str(name, &scope, None).map_err(|e| format!("artifacts: {e}"))? {
            serde_norway::Value::String(n) => n,
            _ => return Err(format!("artifacts: the name '{name}' must be text")),
        };
        artifacts.insert(name, resolve("artifacts", v)?);
    }
    Ok(TopLevel {
        params: paths("params", &def.params)?,
        metrics: paths("metrics", &def.metrics)?,
        plots: def
            .plots
            .iter()
            .map(|v| resolve("plots", v))
            .collect::<std::result::Result<_, _>>()?,
        artifacts,
        datasets: def
            .datasets
            .iter()
            .map(|v| resolve("datasets", v))
            .collect::<std::result::Result<_, _>>()?,
    })
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
