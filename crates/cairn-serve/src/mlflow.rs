//! MLflow's scoring protocol, so MLflow clients work unchanged: `POST /invocations` with JSON
//! holding one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`, or CSV with a
//! header row, answered with `{"predictions": [...]}` (class names, or numbers for regression);
//! `GET /ping`, `GET /version`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Rows};
use super::reply;
use super::routes::{BodyKind, Route, read_body};
use super::state::AppState;

/// The input formats MLflow accepts.
const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// The body of `POST /invocations`: JSON or CSV.
pub struct ScoringBody(BodyKind, Bytes);

impl<S: Send + Sync> FromRequest<S> for ScoringBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (kind, bytes) = read_body(request, state, true).await?;
        Ok(ScoringBody(kind, bytes))
    }
}

/// `POST /invocations`.
pub async fn invocations(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ScoringBody(kind, body): ScoringBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = state.choose(&headers);
    let features = &model.model.features;
    let rows = match kind {
        BodyKind::Csv => csv_rows(&body, features, state.max_batch)?,
        BodyKind::Json => {
            let request: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
            rows(&request, features, state.max_batch)?
        }
    };
    let predictions = state.predict(&model, rows, Route::Invocations, started);
    let out: Vec<Value> = predictions
        .iter()
        .map(|p| match model.class_name(p) {
            Some(class) => Value::from(class),
            None => Value::from(p.value),
        })
        .collect();
    Ok(reply::versioned(
        reply::json(
            StatusCode::OK,
            &json!({"predictions": out, "model_version": model.version}),
        ),
        &model,
    ))
}

/// CSV with a header row naming the features, in any order.
fn csv_rows(body: &[u8], features: &[String], max_rows: usize) -> Result<Rows, ApiError> {
    let malformed = |e: csv::Error| ApiError::bad_request(format!("malformed CSV: {e}"));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(malformed)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut columns: Vec<Vec<Value>> = vec![Vec::new(); header.len()];
    for record in reader.records() {
        let record = record.map_err(malformed)?;
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            // A field that is not a number stays a string, so the error names it and its column.
            column.push(
                field
                    .parse::<f64>()
                    .map_or_else(|_| Value::from(field), Value::from),
            );
        }
    }
    let columns: Vec<Value> = columns.into_iter().map(Value::Array).collect();
    let named: Vec<(&str, &Value)> = header.iter().map(String::as_str).zip(&columns).collect();
    input::parse_columns(&named, features, max_rows)
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
