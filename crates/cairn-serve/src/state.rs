//! What every request handler shares: the model slot (swapped atomically on reload), the
//! metrics, the prediction log and the limits.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use cairn_ml::model::Prediction;

use super::input::Rows;
use super::loaded::LoadedModel;
use super::metrics::Metrics;
use super::prediction_log::{Entry, PredictionLog};
use super::reload::ReloadPolicy;
use super::routes::Route;

/// Shared by every handler.
pub struct Shared {
    /// The model being served; readers never wait, a reload swaps it whole.
    pub model: ArcSwap<LoadedModel>,
    /// The metrics.
    pub metrics: Metrics,
    /// Where predictions are logged (`--log-db`).
    pub log: Option<PredictionLog>,
    /// Instances per request at most.
    pub max_batch: usize,
    /// Who may `POST /reload`, and which files.
    pub reload: ReloadPolicy,
    /// One reload at a time.
    pub reload_lock: tokio::sync::Mutex<()>,
}

/// The state handlers get.
pub type AppState = Arc<Shared>;

impl Shared {
    /// Predicts `rows` with `model`, counts the predictions and logs them (`--log-db`).
    pub fn predict(
        &self,
        model: &Arc<LoadedModel>,
        rows: Rows,
        route: Route,
        started: Instant,
    ) -> Vec<Prediction> {
        let predictions = model.predict_rows(&rows, &self.metrics);
        if let Some(log) = &self.log {
            let entry = Entry {
                time: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                model: Arc::clone(model),
                route: route.path(),
                inputs: rows.values,
                predictions: predictions.clone(),
                latency_us: started.elapsed().as_micros() as u64,
            };
            log.send(entry, &self.metrics);
        }
        predictions
    }
}
