//! The model being served: the model file's contents plus what the server derives from it once
//! (its version, its name, the metric counters of its classes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::error::{Error, IoContext, Result};
use cairn_ml::model::{Model, Prediction, Task};

use super::metrics::Metrics;

/// A loaded, validated model.
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// BLAKE3 of the model file's bytes.
    pub version: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// Name used by the v2 protocol: the file name without extension.
    pub name: String,
    /// When it was loaded, in seconds since the Unix epoch.
    pub loaded_at: f64,
    class_counters: Vec<Arc<AtomicU64>>,
}

impl LoadedModel {
    /// Reads and validates the model file at `path`.
    pub fn load(path: &Path, metrics: &Metrics) -> Result<LoadedModel> {
        if !path.is_file() {
            return Err(Error::data(
                path,
                "model file not found: train and select one with `cairn repro`, or pass --model FILE",
            ));
        }
        let bytes = std::fs::read(path).at(path)?;
        let model = Model::from_slice(&bytes, path)?;
        let class_counters = metrics.class_counters(&model.classes);
        Ok(LoadedModel {
            version: cairn_core::hash::digest_bytes(&bytes).to_string(),
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            loaded_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            class_counters,
            model,
        })
    }

    /// Whether the model predicts classes.
    pub fn is_classifier(&self) -> bool {
        self.model.task == Task::Classification
    }

    /// Predicts each row and counts the predicted classes.
    pub fn predict_rows(&self, rows: &super::input::Rows, metrics: &Metrics) -> Vec<Prediction> {
        let predictions: Vec<Prediction> = rows.iter().map(|x| self.model.predict(x)).collect();
        for p in &predictions {
            if let Some(counter) = p.class.and_then(|c| self.class_counters.get(c)) {
                counter.fetch_add(1, Relaxed);
            }
        }
        metrics.predicted(predictions.len());
        predictions
    }

    /// The predicted class name, if any.
    pub fn class_name(&self, p: &Prediction) -> Option<&str> {
        p.class
            .and_then(|c| self.model.classes.get(c))
            .map(String::as_str)
    }
}
