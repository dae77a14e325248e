//! The KServe / Open Inference (v2) protocol: health, model metadata and `infer` with tensors.
//!
//! `infer` takes either one tensor of shape `[N, F]` (or `[F]`) holding rows in the model's
//! feature order, or one tensor per feature, named after it, of shape `[N]`.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Rows};
use super::loaded::LoadedModel;
use super::reply;
use super::routes::{JsonBody, Route};
use super::state::AppState;

/// `GET /v2`.
pub async fn server() -> Response {
    reply::json(
        StatusCode::OK,
        &json!({"name": "cairn", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
    )
}

/// `GET /v2/health/live`.
pub async fn live() -> Response {
    reply::json(StatusCode::OK, &json!({"live": true}))
}

/// `GET /v2/health/ready`.
pub async fn ready() -> Response {
    reply::json(StatusCode::OK, &json!({"ready": true}))
}

fn check_name(model: &LoadedModel, name: &str) -> Result<(), ApiError> {
    if model.name == name {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no model '{name}' here; this server serves '{}'",
            model.name
        ))
        .field("name"))
    }
}

/// `GET /v2/models/{name}`.
pub async fn model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    let n = model.model.features.len();
    let outputs = if model.is_classifier() {
        json!([
            {"name": "class", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, model.model.classes.len()]},
        ])
    } else {
        json!([{"name": "value", "datatype": "FP64", "shape": [-1]}])
    };
    Ok(reply::json(
        StatusCode::OK,
        &json!({
            "name": model.name,
            "versions": [model.version],
            "platform": "cairn",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, n]}],
            "outputs": outputs,
            "parameters": {"features": model.model.features, "classes": model.model.classes},
        }),
    ))
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({"name": model.name, "ready": true}),
    ))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    check_name(&state.model.load(), &name)?;
    let model = state.choose(&headers);
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let rows = rows(&request, &model.model.features, state.max_batch)?;
    let predictions = state.predict(&model, rows, Route::V2Infer, started);
    let n = predictions.len();
    let outputs = if model.is_classifier() {
        let classes: Vec<&str> = predictions
            .iter()
            .filter_map(|p| model.class_name(p))
            .collect();
        let probabilities: Vec<f64> = predictions
            .iter()
            .flat_map(|p| p.probabilities.iter().copied())
            .collect();
        json!([
            {"name": "class", "datatype": "BYTES", "shape": [n], "data": classes},
            {"name": "probabilities", "datatype": "FP64", "shape": [n, model.model.classes.len()], "data": probabilities},
        ])
    } else {
        let values: Vec<f64> = predictions.iter().map(|p| p.value).collect();
        json!([{"name": "value", "datatype": "FP64", "shape": [n], "data": values}])
    };
    let mut reply =
        json!({"model_name": model.name, "model_version": model.version, "outputs": outputs});
    if let Some(id) = request.get("id") {
        reply["id"] = id.clone();
    }
    Ok(reply::versioned(
        reply::json(StatusCode::OK, &reply),
        &model,
    ))
}

fn rows(request: &Value, features: &[String], max_rows: usize) -> Result<Rows, ApiError> {
    let tensors = request
        .get("inputs")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unprocessable("the body needs \"inputs\": a list of tensors").field("inputs")
        })?;
    for (i, t) in tensors.iter().enumerate() {
        let datatype = t.get("datatype").and_then(Value::as_str).unwrap_or("");
        if !(datatype.starts_with("FP")
            || datatype.starts_with("INT")
            || datatype.starts_with("UINT"))
        {
            return Err(ApiError::unprocessable(format!(
                "inputs[{i}]: datatype '{datatype}' is not numeric; use FP64, FP32 or an INT type"
            ))
            .field("datatype"));
        }
        if t.get("data").is_none() {
            return Err(
                ApiError::unprocessable(format!("inputs[{i}] has no \"data\"")).field("data"),
            );
        }
    }
    let named: Vec<&str> = tensors
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    let by_feature = tensors.len() > 1
        || named
            .first()
            .is_some_and(|n| features.iter().any(|f| f == n));
    if by_feature {
        if named.len() != tensors.len() {
            return Err(ApiError::unprocessable(
                "with one tensor per feature, every tensor needs a \"name\"",
            )
            .field("name"));
        }
        let columns: Vec<(&str, &Value)> = named
            .iter()
            .copied()
            .zip(tensors.iter().map(|t| &t["data"]))
            .collect();
        return input::parse_columns(&columns, features, max_rows);
    }
    let tensor = &tensors[0];
    let width = features.len();
    let shape: Vec<usize> = serde_json::from_value(
        tensor.get("shape").cloned().unwrap_or(Value::Null),
    )
    .map_err(|_| {
        ApiError::unprocessable("inputs[0].shape must be a list of sizes, like [N, F]")
            .field("shape")
    })?;
    let n = match shape.as_slice() {
        [f] if *f == width => 1,
        [n, f] if *f == width => *n,
        _ => {
            return Err(ApiError::unprocessable(format!(
                "inputs[0].shape {shape:?} does not fit the model: use [N, {width}] with features in the order {}",
                features.join(", ")
            ))
            .field("shape"));
        }
    };
    // The shape is the client's word: check it before sizing anything by it.
    if n == 0 || n > max_rows {
        return Err(ApiError::unprocessable(format!(
            "inputs[0].shape {shape:?}: between 1 and {max_rows} rows per request"
        ))
        .field("shape"));
    }
    // Data may be flat or nested by row; flatten it and hand it on as rows of numbers.
    let mut flat = Vec::with_capacity(n * width);
    flatten(&tensor["data"], &mut flat);
    if flat.len() != n * width {
        return Err(ApiError::unprocessable(format!(
            "inputs[0].data has {} values; shape {shape:?} needs {}",
            flat.len(),
            n * width
        ))
        .field("data"));
    }
    let rows: Value = flat
        .chunks(width)
        .map(|row| Value::from(row.to_vec()))
        .collect();
    input::parse_instances(&rows, features, max_rows, "inputs[0].data")
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        other => out.push(other.clone()),
    }
}
