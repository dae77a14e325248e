//! What every request handler shares: the model slots (each swapped atomically on reload), the
//! A/B split, the metrics, the prediction log and the limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use axum::http::{HeaderMap, StatusCode};

use cairn_ml::model::Prediction;

use super::error::ApiError;
use super::input::Rows;
use super::loaded::{LoadedModel, Resolver};
use super::metrics::Metrics;
use super::prediction_log::PredictionLog;
use super::reload::ReloadPolicy;
use super::routes::Route;

/// The header whose value decides, sticky per value, which model answers.
pub const REQUEST_ID: &str = "x-request-id";

/// Shared by every handler.
pub struct Shared {
    /// The model answering requests; readers never wait, a reload swaps it whole.
    pub model: ArcSwap<LoadedModel>,
    /// `--candidate`: answers the `split` share of requests.
    pub candidate: Option<ArcSwap<LoadedModel>>,
    /// `--shadow`: sees every request, never answers.
    pub shadow: Option<ArcSwap<LoadedModel>>,
    /// Share of requests the candidate answers, in 0..=1.
    pub split: f64,
    /// Turns registry references into model bytes (given by the binary).
    pub resolver: Option<Resolver>,
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
    /// Draws for requests without an id.
    pub draws: AtomicU64,
}

/// The state handlers get.
pub type AppState = Arc<Shared>;

impl Shared {
    /// The model that answers a request with these headers: the candidate for the `split`
    /// share, else the primary. A request with `X-Request-Id` is placed by a hash of it, so the
    /// same id always gets the same model; one without is placed by a counter's hash, which
    /// spreads evenly.
    pub fn choose(&self, headers: &HeaderMap) -> Arc<LoadedModel> {
        if let Some(candidate) = &self.candidate
            && self.split > 0.0
        {
            let draw = match headers.get(REQUEST_ID) {
                Some(id) => {
                    let hash = blake3::hash(id.as_bytes());
                    let mut first = [0u8; 8];
                    first.copy_from_slice(&hash.as_bytes()[..8]);
                    u64::from_le_bytes(first)
                }
                None => splitmix64(self.draws.fetch_add(1, Relaxed)),
            };
            // The top 53 bits as a fraction in [0, 1).
            let share = (draw >> 11) as f64 / (1u64 << 53) as f64;
            if share < self.split {
                return candidate.load_full();
            }
        }
        self.model.load_full()
    }

    /// Every model loaded, primary first.
    pub fn loaded(&self) -> Vec<Arc<LoadedModel>> {
        let mut all = vec![self.model.load_full()];
        all.extend(self.candidate.as_ref().map(ArcSwap::load_full));
        all.extend(self.shadow.as_ref().map(ArcSwap::load_full));
        all
    }

    /// Predicts `rows` with `model`, counts and logs the predictions, and lets the shadow
    /// model (if any) predict them too: its answers are counted, compared and logged, never
    /// returned.
    pub fn predict(
        &self,
        model: &Arc<LoadedModel>,
        rows: Rows,
        route: Route,
        started: Instant,
    ) -> Result<Vec<Prediction>, ApiError> {
        let predictions = model.predict_rows(&rows).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("model {} could not predict: {e}", model.version),
            )
        })?;
        let latency_us = started.elapsed().as_micros() as u64;
        let shadow = self.shadow.as_ref().and_then(|slot| {
            let shadow = slot.load_full();
            // The shadow's failure is the shadow's: it is logged, and the answer goes out.
            let answers = match shadow.predict_rows(&rows) {
                Ok(answers) => answers,
                Err(e) => {
                    tracing::warn!(version = %shadow.version, "the shadow model could not predict: {e}");
                    return None;
                }
            };
            for (s, p) in answers.iter().zip(&predictions) {
                let same = if model.is_classifier() {
                    shadow.class_name(s) == model.class_name(p)
                } else {
                    (s.value - p.value).abs() <= 1e-9 * p.value.abs().max(1.0)
                };
                self.metrics.shadow_compared(same);
            }
            Some((shadow, answers))
        });
        if let Some(log) = &self.log {
            let time = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let route = route.path();
            if let Some((shadow, answers)) = &shadow {
                log.record(shadow, route, time, &rows.values, answers, latency_us);
            }
            log.record(model, route, time, &rows.values, &predictions, latency_us);
        }
        Ok(predictions)
    }
}

/// A well-mixed 64-bit hash of a counter (SplitMix64's finaliser).
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49EB_1331_11EB);
    z ^ (z >> 31)
}
