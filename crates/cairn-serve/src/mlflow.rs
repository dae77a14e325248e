//! MLflow's scoring protocol, so MLflow clients work unchanged: `POST /invocations` with JSON
//! holding one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`, or CSV with a
//! header row, answered with `{"predictions": [...]}` (class names, or numbers for regression);
//! `GET /ping`, `GET /version`.
//!
//! Errors follow MLflow's scoring server (mlflow/pyfunc/scoring_server): a content type it
//! refuses is a 415 with a plain-text message; bad input is a 400 with
//! `{"error_code": "BAD_REQUEST" | "INVALID_PARAMETER_VALUE", "message": …}`. As in MLflow,
//! features are taken by name and other columns or keys are ignored (so the index column of
//! `DataFrame.to_csv()` is harmless). cairn is stricter in two ways: a top-level key given
//! twice is refused, and values must be finite numbers.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::input::{self, Rows, Unknown};
use super::reply;
use super::routes::{Route, read_any_body};
use super::state::AppState;

/// The input formats MLflow accepts.
const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// What a body of `/invocations` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Csv,
}

/// An error of `/invocations`, in MLflow's shape.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScoringError(ApiError);

impl From<ApiError> for ScoringError {
    fn from(e: ApiError) -> ScoringError {
        ScoringError(e)
    }
}

/// MLflow's error body.
#[derive(Serialize)]
struct MlflowBody<'a> {
    error_code: &'a str,
    message: &'a str,
}

impl IntoResponse for ScoringError {
    fn into_response(self) -> Response {
        let e = self.0;
        tracing::warn!(status = e.status.as_u16(), field = ?e.field, "{}", e.error);
        if e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            // MLflow answers a refused content type in plain text.
            return (
                e.status,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                e.error,
            )
                .into_response();
        }
        // MLflow has one status for bad input, and two codes: BAD_REQUEST for a body it cannot
        // read or a value it cannot convert, INVALID_PARAMETER_VALUE for input that does not fit
        // the model's signature (a missing column, no rows).
        let (status, code) = match e.status {
            StatusCode::BAD_REQUEST => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            StatusCode::UNPROCESSABLE_ENTITY if e.bad_value => {
                (StatusCode::BAD_REQUEST, "BAD_REQUEST")
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (e.status, "RESOURCE_LIMIT_EXCEEDED"),
            s if s.is_server_error() => (s, "INTERNAL_ERROR"),
            s => (s, "BAD_REQUEST"),
        };
        reply::json(
            status,
            &MlflowBody {
                error_code: code,
                message: &e.error,
            },
        )
    }
}

/// The body's kind by its Content-Type, as MLflow decides it: the media type exactly
/// `application/json` or `text/csv`, no parameter but `charset`, and that one `utf-8`.
fn kind(headers: &HeaderMap) -> Result<Kind, ApiError> {
    let refused =
        |why: String| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, why).field("Content-Type");
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return Err(refused(
            "the body must be sent with Content-Type: application/json or text/csv".into(),
        ));
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| refused("the Content-Type header is not readable text".into()))?;
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if key != "charset" {
            return Err(refused(format!(
                "Unrecognized content type parameters: {key}. Send Content-Type: application/json or text/csv"
            )));
        }
        if !value.eq_ignore_ascii_case("utf-8") {
            return Err(refused("The scoring server only supports UTF-8".into()));
        }
    }
    match mime {
        "application/json" => Ok(Kind::Json),
        "text/csv" => Ok(Kind::Csv),
        _ => Err(refused(format!(
            "This predictor only supports the following content types: application/json, text/csv. Got '{content_type}'."
        ))),
    }
}

/// `POST /invocations`.
pub async fn invocations(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ScoringError> {
    let started = Instant::now();
    let kind = kind(request.headers())?;
    let model = state.choose(request.headers());
    let body: Bytes = read_any_body(request, &()).await?;
    let features = &model.features;
    let rows = match kind {
        Kind::Csv => csv_rows(&body, features, state.max_batch)?,
        Kind::Json => rows(&input::parse_object(&body)?, features, state.max_batch)?,
    };
    let predictions = state.predict(&model, rows, Route::Invocations, started)?;
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

/// CSV with a header row naming the features, in any order; other columns (the index column
/// `DataFrame.to_csv()` writes, say) are ignored.
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
    if header.is_empty() {
        return Err(ApiError::bad_request(
            "malformed CSV: no header row naming the columns",
        ));
    }
    let order = input::column_order(&header, features, Unknown::Ignore)?;
    let mut columns: Vec<Vec<Value>> = vec![Vec::new(); header.len()];
    for record in reader.records() {
        let record = record.map_err(malformed)?;
        for ((column, field), wanted) in columns.iter_mut().zip(record.iter()).zip(&order) {
            if wanted.is_none() {
                continue;
            }
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
    input::parse_columns(&named, features, max_rows, Unknown::Ignore)
}

fn rows(
    request: &Map<String, Value>,
    features: &[String],
    max_rows: usize,
) -> Result<Rows, ApiError> {
    // As MLflow: exactly one of the formats; other keys ("params", …) are not the data.
    let mut given = FORMATS.iter().filter(|f| request.contains_key(**f));
    let (Some(&format), None) = (given.next(), given.next()) else {
        let keys: Vec<&str> = request.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(format!(
            "The input must be a JSON dictionary with exactly one of the input fields {}; got the fields [{}]",
            FORMATS.join(", "),
            keys.join(", ")
        )));
    };
    let value = &request[format];
    match format {
        "dataframe_split" => {
            let data = value.get("data").ok_or_else(|| {
                ApiError::bad_request("dataframe_split needs \"data\"").field("data")
            })?;
            let columns = match value.get("columns") {
                None => features.to_vec(),
                Some(c) => serde_json::from_value::<Vec<String>>(c.clone()).map_err(|_| {
                    ApiError::bad_request("dataframe_split \"columns\" must be a list of names")
                        .field("columns")
                })?,
            };
            input::parse_split(&columns, data, features, max_rows, Unknown::Ignore)
        }
        "inputs" => match value.as_object() {
            // Column-oriented: {"feature": [values…], …}.
            Some(columns) => {
                let columns: Vec<(&str, &Value)> =
                    columns.iter().map(|(k, v)| (k.as_str(), v)).collect();
                input::parse_columns(&columns, features, max_rows, Unknown::Ignore)
            }
            None => input::parse_instances(value, features, max_rows, "inputs", Unknown::Ignore),
        },
        // "dataframe_records" and "instances".
        list => input::parse_instances(value, features, max_rows, list, Unknown::Ignore),
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
