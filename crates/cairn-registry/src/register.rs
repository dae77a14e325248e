//! `cairn models register`: a model file becomes the next version of a name. The bytes go into
//! the cache (so they travel with push and pull); the version records where they came from: the
//! pipeline stage whose out the file is (its params, and its whole lock entry as a cache
//! object), the metrics, the commit, who and when.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_core::cache::ObjectStore;
use cairn_core::digest::Digest;
use cairn_core::error::{Error, IoContext, Result};
use cairn_core::lock::{Lock, LockedStage};
use cairn_core::pipeline::{OutKind, Pipeline};
use cairn_core::workspace::Workspace;

use crate::file::ModelFormat;
use crate::names::check_name;
use crate::ops::{NewVersion, Registered};
use crate::provenance::{self, Stamp};
use crate::store::Registry;

/// Largest model file registered (it is read whole, to check it and to hash it).
const MAX_MODEL_BYTES: u64 = 4 << 30;
/// Largest metrics file read.
const MAX_METRICS_BYTES: u64 = 16 << 20;

/// What to register.
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// The model file, relative to `cwd` or absolute.
    pub path: PathBuf,
    /// Where the command runs.
    pub cwd: PathBuf,
    /// The model's name.
    pub name: String,
    /// A metrics file (JSON or YAML) whose top-level numbers are recorded; by default, the
    /// producing stage's metrics files.
    pub metrics: Option<PathBuf>,
    /// Why.
    pub message: Option<String>,
}

/// What registering did.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    /// The model's name.
    pub name: String,
    /// The new version, or the one that had these bytes already.
    pub registered: Registered,
    /// The model file's digest.
    pub digest: Digest,
    /// The stage whose out the file is, when it is one.
    pub stage: Option<String>,
    /// How many metrics were recorded.
    pub metrics: usize,
}

/// Registers a model file.
pub fn register(ws: &Workspace, options: &RegisterOptions) -> Result<RegisterOutcome> {
    check_name(&options.name).map_err(Error::Usage)?;
    let abs = options.cwd.join(&options.path);
    let bytes = read_model(&abs)?;
    let (format, task, algorithm) = inspect(&bytes, &abs)?;
    let store = ObjectStore::open(ws)?;
    let digest = store.insert_bytes(&bytes)?;
    let rel = inside(&ws.root, &abs);
    let producer = match &rel {
        Some(rel) => producing_stage(ws, rel, &digest)?,
        None => None,
    };
    let run = match &producer {
        Some((_, locked)) => Some(store.insert_bytes(&run_object(locked)?)?),
        None => None,
    };
    let metrics = match (&options.metrics, &producer) {
        (Some(file), _) => top_level_numbers(&options.cwd.join(file))?,
        (None, Some((stage, _))) => stage_metrics(ws, stage, rel.as_deref().unwrap_or_default())?,
        (None, None) => BTreeMap::new(),
    };
    let stage = producer.as_ref().map(|(name, _)| name.clone());
    let params = producer
        .as_ref()
        .map(|(_, locked)| flat_params(locked))
        .unwrap_or_default();
    let new = NewVersion {
        digest: digest.clone(),
        size: bytes.len() as u64,
        format,
        task,
        algorithm,
        source: rel.unwrap_or_else(|| abs.display().to_string()),
        metrics,
        stage: stage.clone(),
        params,
        run,
        commit: provenance::commit(&ws.root),
        message: options.message.clone(),
    };
    let count = new.metrics.len();
    let stamp = Stamp::now(&ws.root);
    let registered = Registry::update(ws, |data| data.register(&options.name, new, &stamp))?;
    Ok(RegisterOutcome {
        name: options.name.clone(),
        registered,
        digest,
        stage,
        metrics: count,
    })
}

/// The model file's bytes: a regular file of bounded size.
fn read_model(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; give the model file to register (e.g. models/model.json)",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a file; give the model file to register",
            path.display()
        )));
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(Error::data(
            path,
            format!(
                "is {} bytes, more than the {MAX_MODEL_BYTES} a registered model may be",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).at(path)
}

/// What the file is: a cairn model or an ONNX model, each checked whole as `cairn serve` will
/// check it.
fn inspect(bytes: &[u8], path: &Path) -> Result<(ModelFormat, Option<String>, Option<String>)> {
    if bytes.first() == Some(&b'{') {
        let model = cairn_ml::model::Model::from_slice(bytes, path)?;
        return Ok((
            ModelFormat::Cairn,
            Some(model.task.name().to_string()),
            Some(model.algorithm),
        ));
    }
    let onnx_named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if !(onnx_named && cairn_onnx::is_onnx(bytes)) {
        return Err(Error::data(
            path,
            "is neither a cairn model file (`cairn train` writes them) nor an ONNX model (.onnx): nothing cairn can serve",
        ));
    }
    // A version is its file alone: a sidecar's names would not travel with it.
    let sidecar = cairn_onnx::Sidecar::path_for(path);
    if sidecar.exists() {
        return Err(Error::data(
            path,
            format!(
                "has a sidecar ({}) and a registered version is its file alone: put the names in the model's metadata (metadata_props keys 'features' and 'classes', JSON lists) and remove the sidecar",
                sidecar.display()
            ),
        ));
    }
    let model = cairn_onnx::OnnxModel::from_slice(bytes, path, None)?;
    Ok((
        ModelFormat::Onnx,
        Some(model.task.name().to_string()),
        Some("onnx".into()),
    ))
}

/// `abs` relative to the workspace's root, when it is inside it.
fn inside(root: &Path, abs: &Path) -> Option<String> {
    let real = std::fs::canonicalize(abs).ok()?;
    let rel = real.strip_prefix(root).ok()?;
    let rel = rel.to_str()?;
    (!rel.is_empty()).then(|| rel.to_string())
}

/// The stage of `pipeline.lock` whose out `rel` is, with these very bytes.
fn producing_stage(
    ws: &Workspace,
    rel: &str,
    digest: &Digest,
) -> Result<Option<(String, LockedStage)>> {
    let path = ws.lock_path();
    if !path.exists() {
        return Ok(None);
    }
    let lock = Lock::read(&path)?;
    Ok(lock.stages.into_iter().find(|(_, stage)| {
        stage
            .outs
            .iter()
            .any(|out| out.path.as_str() == rel && out.digest == *digest)
    }))
}

/// The lock entry as the JSON object stored beside the model.
fn run_object(stage: &LockedStage) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(stage)
        .map_err(|e| Error::Failed(format!("cannot write the stage's lock entry as JSON: {e}")))
}

/// The stage's params by dotted key (`file:key` for files other than params.yaml).
fn flat_params(stage: &LockedStage) -> BTreeMap<String, serde_json::Value> {
    let mut flat = BTreeMap::new();
    for (file, keys) in &stage.params {
        for (key, value) in keys {
            let key = if file == "params.yaml" {
                key.clone()
            } else {
                format!("{file}:{key}")
            };
            let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
            flatten(&key, value, &mut flat);
        }
    }
    flat
}

fn flatten(prefix: &str, value: serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(fields) if !fields.is_empty() => {
            for (key, value) in fields {
                flatten(&format!("{prefix}.{key}"), value, out);
            }
        }
        value => {
            out.insert(prefix.to_string(), value);
        }
    }
}

/// The top-level numbers of the metrics files the pipeline declares for `stage`, or, when it
/// declares none (a train stage), those of the stages that read the model file `model` (its
/// evaluation).
fn stage_metrics(ws: &Workspace, stage: &str, model: &str) -> Result<BTreeMap<String, f64>> {
    let pipeline = Pipeline::load(ws)?;
    let read = |stages: &mut dyn Iterator<Item = &cairn_core::pipeline::Stage>| -> Result<BTreeMap<String, f64>> {
        let mut metrics = BTreeMap::new();
        for stage in stages {
            for out in stage.outs.iter().filter(|o| o.kind == OutKind::Metric) {
                let file = ws.root.join(&out.path);
                if file.is_file() {
                    metrics.extend(top_level_numbers(&file)?);
                }
            }
        }
        Ok(metrics)
    };
    let own = read(&mut pipeline.stages.iter().filter(|s| s.name == stage))?;
    if !own.is_empty() {
        return Ok(own);
    }
    read(
        &mut pipeline
            .stages
            .iter()
            .filter(|s| s.deps.iter().any(|d| d == model)),
    )
}

/// The top-level finite numbers of a JSON or YAML metrics file.
fn top_level_numbers(path: &Path) -> Result<BTreeMap<String, f64>> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.len() > MAX_METRICS_BYTES {
        return Err(Error::data(
            path,
            format!("is more than {MAX_METRICS_BYTES} bytes: not a metrics file"),
        ));
    }
    let text = std::fs::read_to_string(path).at(path)?;
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        cairn_core::yaml::from_str_unique(&text).map_err(|e| Error::data(path, e))?
    } else {
        serde_json::from_str(&text)
            .map_err(|e| Error::data(path, format!("not a JSON metrics file: {e}")))?
    };
    let serde_json::Value::Object(fields) = value else {
        return Err(Error::data(
            path,
            "a metrics file holds a mapping of names to numbers",
        ));
    };
    Ok(fields
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_f64().filter(|f| f.is_finite())?)))
        .collect())
}
