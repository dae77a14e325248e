//! Prediction replies, serialised straight from the predictions (class names and probabilities
//! borrowed from the model, no intermediate JSON value).

use std::time::Instant;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use cairn_ml::model::Prediction;

use super::loaded::LoadedModel;

/// A JSON reply.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut bytes = Vec::with_capacity(256);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => (status, [(CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            tracing::error!("serialising a reply failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "reply could not be serialised",
            )
                .into_response()
        }
    }
}

/// Class probabilities as a map from class name.
pub struct Probabilities<'a> {
    classes: &'a [String],
    values: &'a [f64],
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (c, p) in self.classes.iter().zip(self.values) {
            map.serialize_entry(c, p)?;
        }
        map.end()
    }
}

/// One prediction: class and probabilities (classification) or value (regression).
#[derive(Serialize)]
pub struct Item<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Probabilities<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

impl<'a> Item<'a> {
    /// The reply item of `p`.
    pub fn new(model: &'a LoadedModel, p: &'a Prediction) -> Item<'a> {
        if model.is_classifier() {
            Item {
                class: model.class_name(p),
                probabilities: Some(Probabilities {
                    classes: &model.classes,
                    values: &p.probabilities,
                }),
                value: None,
            }
        } else {
            Item {
                class: None,
                probabilities: None,
                value: Some(p.value),
            }
        }
    }
}

/// The reply to one bare instance: the prediction's fields, then the version and time.
#[derive(Serialize)]
struct Single<'a> {
    #[serde(flatten)]
    item: Item<'a>,
    model_version: &'a str,
    processing_time_ms: f64,
}

/// The reply to a list of instances.
#[derive(Serialize)]
struct Batch<'a> {
    predictions: Vec<Item<'a>>,
    model_version: &'a str,
    processing_time_ms: f64,
}

/// The native reply: one prediction for a bare instance, else a list.
pub fn predictions(
    model: &LoadedModel,
    predictions: &[Prediction],
    single: bool,
    started: Instant,
) -> Response {
    let processing_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    let version = model.version.as_str();
    match predictions {
        [p] if single => json(
            StatusCode::OK,
            &Single {
                item: Item::new(model, p),
                model_version: version,
                processing_time_ms,
            },
        ),
        _ => json(
            StatusCode::OK,
            &Batch {
                predictions: predictions.iter().map(|p| Item::new(model, p)).collect(),
                model_version: version,
                processing_time_ms,
            },
        ),
    }
}

/// The header naming the model version that answered.
pub const MODEL_VERSION: &str = "x-model-version";

/// `response` with the `X-Model-Version` of `model`.
pub fn versioned(mut response: Response, model: &LoadedModel) -> Response {
    if let Ok(value) = axum::http::HeaderValue::from_str(&model.version) {
        response.headers_mut().insert(MODEL_VERSION, value);
    }
    response
}
