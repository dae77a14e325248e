//! A model being served: the model file's contents plus what the server derives from it once
//! (the version it answers as, its name, its role, the metric counters of its predictions).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::error::{Error, IoContext, Result};
use cairn_ml::model::{Model, Prediction, Task};
use cairn_onnx::{OnnxModel, Sidecar};

use super::metrics::Metrics;

/// What a model is for on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Answers every request not sent to the candidate.
    Primary,
    /// Answers the `--split` share of requests.
    Candidate,
    /// Sees every request; its answers are logged and counted, never returned.
    Shadow,
}

impl Role {
    /// The word for it in replies, metrics and the log.
    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Candidate => "candidate",
            Role::Shadow => "shadow",
        }
    }
}

/// A model file's bytes as the binary resolved a registry reference to them.
pub struct Sourced {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// Where they were read from (the cache object), for messages.
    pub path: PathBuf,
    /// The registry version, `models:/NAME/VERSION`: the version the server answers as.
    pub label: String,
}

/// Resolves a registry reference (`models:/…`) to a model's bytes; the binary provides it, so
/// the server needs to know neither the registry nor the remotes.
pub type Resolver = Arc<dyn Fn(&str) -> Result<Sourced> + Send + Sync>;

/// Whether `text` names a model of the registry rather than a file.
pub fn is_reference(text: &str) -> bool {
    text.starts_with("models:/")
}

/// What predicts.
pub enum Predictor {
    /// A model file written by `cairn train`.
    Cairn(Box<Model>),
    /// An ONNX model, run by tract.
    Onnx(OnnxModel),
}

/// A loaded, validated model.
pub struct LoadedModel {
    /// The model.
    pub predictor: Predictor,
    /// Input feature names, in the order rows are given to the model.
    pub features: Vec<String>,
    /// Class names, in the order of probabilities (empty for a regressor).
    pub classes: Vec<String>,
    /// What it predicts.
    pub task: Task,
    /// The version it answers as: its registry version (`models:/iris/3`) when it came through
    /// the registry, else the BLAKE3 of its bytes.
    pub version: String,
    /// BLAKE3 of the model file's bytes.
    pub digest: String,
    /// What it was asked as (a path or a registry reference): what a reload resolves again.
    pub source: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// Name used by the v2 protocol: the registry name, or the file name without extension.
    pub name: String,
    /// What it is for.
    pub role: Role,
    /// When it was loaded, in seconds since the Unix epoch.
    pub loaded_at: f64,
    /// Its recent inputs, when it has a training profile to compare them with.
    pub drift: Option<super::drift_window::DriftWindow>,
    predictions: Arc<AtomicU64>,
    class_counters: Vec<Arc<AtomicU64>>,
}

impl LoadedModel {
    /// Reads and validates the model file at `path`.
    pub fn load(path: &Path, role: Role, metrics: &Metrics) -> Result<LoadedModel> {
        if !path.is_file() {
            return Err(Error::data(
                path,
                "model file not found: train and select one with `cairn repro`, or pass --model FILE",
            ));
        }
        let bytes = std::fs::read(path).at(path)?;
        let name = path
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let source = path.display().to_string();
        // An ONNX file's names may be in a sidecar beside it (a registered model has none: its
        // names travel in its metadata).
        let sidecar = if cairn_onnx::is_onnx(&bytes) {
            Sidecar::beside(path)?
        } else {
            None
        };
        LoadedModel::from_bytes(&bytes, path, None, sidecar, name, source, role, metrics)
    }

    /// Loads what `source` names: a registry reference through `resolver`, else a file
    /// (relative to the current directory).
    pub fn open(
        source: &str,
        resolver: Option<&Resolver>,
        role: Role,
        metrics: &Metrics,
    ) -> Result<LoadedModel> {
        if !is_reference(source) {
            return LoadedModel::load(Path::new(source), role, metrics);
        }
        let resolver = resolver.ok_or_else(|| {
            Error::Usage(format!(
                "{source}: registry references need a cairn workspace"
            ))
        })?;
        let sourced = resolver(source)?;
        // `models:/iris/3` → `iris`, the name v2 clients use.
        let name = sourced
            .label
            .trim_start_matches("models:/")
            .split('/')
            .next()
            .unwrap_or("model")
            .to_string();
        let label = sourced.label.clone();
        LoadedModel::from_bytes(
            &sourced.bytes,
            &sourced.path,
            Some(label),
            None,
            name,
            source.to_string(),
            role,
            metrics,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn from_bytes(
        bytes: &[u8],
        path: &Path,
        label: Option<String>,
        sidecar: Option<Sidecar>,
        name: String,
        source: String,
        role: Role,
        metrics: &Metrics,
    ) -> Result<LoadedModel> {
        let named = Path::new(label.as_deref().unwrap_or(&source));
        let predictor = if cairn_onnx::is_onnx(bytes) {
            Predictor::Onnx(OnnxModel::from_slice(bytes, named, sidecar.as_ref())?)
        } else {
            Predictor::Cairn(Box::new(Model::from_slice(bytes, named)?))
        };
        let (features, classes, task, profile) = match &predictor {
            Predictor::Cairn(m) => (
                m.features.clone(),
                m.classes.clone(),
                m.task,
                m.profile.clone(),
            ),
            // An ONNX file has no training profile: no drift window.
            Predictor::Onnx(m) => (m.features.clone(), m.classes.clone(), m.task, None),
        };
        let digest = cairn_core::hash::digest_bytes(bytes).to_string();
        let version = label.unwrap_or_else(|| digest.clone());
        let (predictions, class_counters) = metrics.counters(&version, &classes);
        let drift = profile
            .filter(|_| metrics.drift_window > 0)
            .map(|p| super::drift_window::DriftWindow::new(p, metrics.drift_window));
        Ok(LoadedModel {
            predictor,
            features,
            classes,
            task,
            version,
            digest,
            source,
            path: path.to_path_buf(),
            name,
            role,
            loaded_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            predictions,
            class_counters,
            drift,
        })
    }

    /// Whether the model predicts classes.
    pub fn is_classifier(&self) -> bool {
        self.task == Task::Classification
    }

    /// What kind of model it is: cairn's algorithm (`logistic`, `forest`, …) or `onnx`.
    pub fn algorithm(&self) -> &str {
        match &self.predictor {
            Predictor::Cairn(model) => &model.algorithm,
            Predictor::Onnx(_) => "onnx",
        }
    }

    /// Predicts each row and counts the predictions, by class. Only an ONNX model can fail, in
    /// its runtime.
    pub fn predict_rows(&self, rows: &super::input::Rows) -> Result<Vec<Prediction>> {
        let predictions: Vec<Prediction> = match &self.predictor {
            Predictor::Cairn(model) => rows.iter().map(|x| model.predict(x)).collect(),
            Predictor::Onnx(model) => model.predict(&rows.values, rows.width)?,
        };
        for p in &predictions {
            if let Some(counter) = p.class.and_then(|c| self.class_counters.get(c)) {
                counter.fetch_add(1, Relaxed);
            }
        }
        self.predictions
            .fetch_add(predictions.len() as u64, Relaxed);
        if let Some(window) = &self.drift {
            window.record(rows, &predictions);
        }
        Ok(predictions)
    }

    /// The predicted class name, if any.
    pub fn class_name(&self, p: &Prediction) -> Option<&str> {
        self.class_at(p.class)
    }

    /// The name of the class at `index`, if there is one.
    pub fn class_at(&self, index: Option<usize>) -> Option<&str> {
        index.and_then(|c| self.classes.get(c)).map(String::as_str)
    }

    /// Why `other` cannot stand beside this model (as candidate or shadow): it must read the
    /// same features, in the same order, and predict the same kind of thing.
    pub fn mismatch(&self, other: &LoadedModel) -> Option<String> {
        if other.features != self.features {
            return Some(format!(
                "{} reads the features [{}], {} reads [{}]: both must read the same features in the same order",
                other.version,
                other.features.join(", "),
                self.version,
                self.features.join(", ")
            ));
        }
        if other.task != self.task {
            return Some(format!(
                "{} and {} do not predict the same kind of thing (classifier and regressor)",
                other.version, self.version
            ));
        }
        None
    }
}
