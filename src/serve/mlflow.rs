//! MLflow's scoring protocol, so MLflow clients work unchanged: `POST /invocations` with one of
//! `dataframe_split`, `dataframe_records`, `instances` or `inputs`, answered with
//! `{"predictions": [...]}` (class names, or numbers for regression); `GET /ping`, `GET /version`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Rows};
use super::reply;
use super::routes::{JsonBody, Route};
use super::state::AppState;

/// The input formats MLflow accepts.
const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// `POST /invocations`.
pub async fn invocations(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = state.model.load();
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let rows = rows(&request, &model.model.features, state.max_batch)?;
    let predictions = state.predict(&model, rows, Route::Invocations, started);
    let out: Vec<Value> = predictions
        .iter()
        .map(|p| match model.class_name(p) {
            Some(class) => Value::from(class),
            None => Value::from(p.value),
        })
        .collect();
    Ok(reply::json(StatusCode::OK, &json!({"predictions": out})))
}

fn rows(request: &Value, features: &[String], max_rows: usize) -> Result<Rows, ApiError> {
    let expected = || {
        format!(
            "the body must be an object with one of: {}",
            FORMATS.join(", ")
        )
    };
    let object = request
        .as_object()
        .ok_or_else(|| ApiError::unprocessable(expected()))?;
    let mut given = object.keys().filter(|k| k.as_str() != "params");
    let (Some(format), None) = (given.next(), given.next()) else {
        return Err(ApiError::unprocessable(expected()));
    };
    let value = &object[format.as_str()];
    match format.as_str() {
        "dataframe_split" => {
            let data = value.get("data").ok_or_else(|| {
                ApiError::unprocessable("dataframe_split needs \"data\"").field("data")
            })?;
            let columns = match value.get("columns") {
                None => features.to_vec(),
                Some(c) => serde_json::from_value::<Vec<String>>(c.clone()).map_err(|_| {
                    ApiError::unprocessable(
                        "dataframe_split \"columns\" must be a list of feature names",
                    )
                    .field("columns")
                })?,
            };
            input::parse_split(&columns, data, features, max_rows)
        }
        "dataframe_records" | "instances" => {
            input::parse_instances(value, features, max_rows, format)
        }
        "inputs" => match value.as_object() {
            // Column-oriented: {"feature": [values…], …}.
            Some(columns) => {
                let columns: Vec<(&str, &Value)> =
                    columns.iter().map(|(k, v)| (k.as_str(), v)).collect();
                input::parse_columns(&columns, features, max_rows)
            }
            None => input::parse_instances(value, features, max_rows, "inputs"),
        },
        other => Err(ApiError::unprocessable(format!(
            "unknown input format '{other}'; {}",
            expected()
        ))
        .field(other)),
    }
}

/// `GET /ping`: MLflow's health check.
pub async fn ping() -> Response {
    (StatusCode::OK, "\n").into_response()
}

/// `GET /version`.
pub async fn version() -> Response {
    (StatusCode::OK, env!("CARGO_PKG_VERSION")).into_response()
}
