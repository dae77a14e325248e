//! The KServe / Open Inference (v2) protocol: health, model metadata and `infer` with tensors,
//! with Triton's binary tensor data extension, so `tritonclient.http` works unchanged.
//!
//! `infer` takes either one tensor of shape `[N, F]` (or `[F]`) holding rows in the model's
//! feature order, or one tensor per feature, named after it, of shape `[N]`. A tensor's values
//! are in its JSON `data`, or (binary extension) in the bytes after the JSON header: the
//! request says how long the header is in `Inference-Header-Content-Length`, and each binary
//! input its length in `parameters.binary_data_size`, in the order of the inputs. Outputs
//! asked for with `parameters.binary_data: true` (or all of them, with the request parameter
//! `binary_data_output: true`) are answered the same way.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::input::{self, Rows, Unknown};
use super::loaded::LoadedModel;
use super::reply;
use super::routes::{Route, read_any_body};
use super::state::AppState;

/// The header giving the length of the JSON part of a body with binary tensors.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The protocol extensions this server implements (`GET /v2`).
pub const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];

/// What is wrong with a tensor of a request (a 400 or 422 naming the tensor and its field).
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error(
        "inputs[{index}]: datatype '{datatype}' is not numeric; use FP64, FP32, FP16, BF16 or an INT or UINT type"
    )]
    Datatype { index: usize, datatype: String },
    #[error("inputs[{index}].shape must be a list of sizes, like [N, F]")]
    Shape { index: usize },
    #[error("inputs[{index}] needs a \"name\" (a string)")]
    Name { index: usize },
    #[error("inputs[{index}].parameters must be an object")]
    Parameters { index: usize },
    #[error("inputs[{index}] has neither \"data\" nor parameters.binary_data_size")]
    NoData { index: usize },
    #[error("inputs[{index}] has both \"data\" and parameters.binary_data_size; give one")]
    BothData { index: usize },
    #[error(
        "inputs[{index}] has parameters.binary_data_size but the request has no Inference-Header-Content-Length header"
    )]
    NoBinary { index: usize },
    #[error(
        "inputs[{index}]: binary_data_size {size} runs past the end of the body ({left} bytes left)"
    )]
    BinaryShort {
        index: usize,
        size: usize,
        left: usize,
    },
    #[error("inputs[{index}]: binary_data_size {size} is not a whole number of {datatype} values")]
    BinaryRagged {
        index: usize,
        size: usize,
        datatype: &'static str,
    },
    #[error("the body has {0} bytes of binary data that no input's binary_data_size accounts for")]
    BinaryLeft(usize),
    #[error("inputs[{index}] holds {got} values; its shape {shape:?} needs {wanted}")]
    Count {
        index: usize,
        got: usize,
        wanted: u128,
        shape: Vec<u64>,
    },
    #[error("inputs[{index}].data[{at}]: expected a finite number, got {value}")]
    Value {
        index: usize,
        at: usize,
        value: String,
    },
}

impl From<TensorError> for ApiError {
    fn from(e: TensorError) -> ApiError {
        let (status, field) = match &e {
            TensorError::Datatype { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "datatype"),
            TensorError::Shape { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "shape"),
            TensorError::Name { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "name"),
            TensorError::NoData { .. } | TensorError::Count { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "data")
            }
            TensorError::Value { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "data"),
            // The binary framing does not add up: the body itself is malformed.
            TensorError::BothData { .. }
            | TensorError::NoBinary { .. }
            | TensorError::BinaryShort { .. }
            | TensorError::BinaryRagged { .. }
            | TensorError::BinaryLeft(_) => (StatusCode::BAD_REQUEST, "binary_data_size"),
            TensorError::Parameters { .. } => (StatusCode::BAD_REQUEST, "parameters"),
        };
        let bad_value = matches!(e, TensorError::Value { .. });
        let mut err = ApiError::new(status, e.to_string()).field(field);
        err.bad_value = bad_value;
        err
    }
}

/// `GET /v2`.
pub async fn server() -> Response {
    reply::json(
        StatusCode::OK,
        &json!({"name": "cairn", "version": env!("CARGO_PKG_VERSION"), "extensions": EXTENSIONS}),
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

/// The version of a versioned route names the served model: its whole version, or the
/// registry's version number (the last part of `models:/NAME/VERSION`).
fn check_version(model: &LoadedModel, version: &str) -> Result<(), ApiError> {
    let short = model.version.rsplit('/').next().unwrap_or(&model.version);
    if !version.is_empty() && (version == model.version || version == short) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "model '{}' has no version '{version}'; it serves version '{}'",
            model.name, model.version
        ))
        .field("version"))
    }
}

/// The model's metadata: enough to build a request from.
fn metadata(model: &LoadedModel) -> Response {
    let n = model.features.len();
    let outputs = if model.is_classifier() {
        json!([
            {"name": "class", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, model.classes.len()]},
        ])
    } else {
        json!([{"name": "value", "datatype": "FP64", "shape": [-1]}])
    };
    reply::json(
        StatusCode::OK,
        &json!({
            "name": model.name,
            "versions": [model.version],
            "platform": "cairn",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, n]}],
            "outputs": outputs,
            "parameters": {"features": model.features, "classes": model.classes},
        }),
    )
}

/// `GET /v2/models/{name}`.
pub async fn model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    Ok(metadata(&model))
}

/// `GET /v2/models/{name}/versions/{version}`.
pub async fn version_model(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    check_version(&model, &version)?;
    Ok(metadata(&model))
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    Ok(ready_reply(&model))
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
pub async fn version_ready(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let model = state.model.load();
    check_name(&model, &name)?;
    check_version(&model, &version)?;
    Ok(ready_reply(&model))
}

/// What both readiness routes of a model answer.
fn ready_reply(model: &LoadedModel) -> Response {
    reply::json(StatusCode::OK, &json!({"name": model.name, "ready": true}))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    check_name(&state.model.load(), &name)?;
    infer_with(&state, request, started, Route::V2Infer).await
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
pub async fn version_infer(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = state.model.load();
    check_name(&model, &name)?;
    check_version(&model, &version)?;
    infer_with(&state, request, started, Route::V2VersionInfer).await
}

/// Checks the request's head: the content type (JSON, none, as tritonclient sends, or binary)
/// and the length of the JSON header, if the body carries binary tensors.
fn framing(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let text = content_type.to_str().unwrap_or("");
        let essence = text.split(';').next().unwrap_or("").trim();
        let json = essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json");
        if !json && !essence.eq_ignore_ascii_case("application/octet-stream") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the body must be JSON (Content-Type: application/json, or none) or JSON followed by binary tensors (application/octet-stream); got {text}"
                ),
            )
            .field("Content-Type"));
        }
    }
    if let Some(encoding) = headers.get(CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "compressed request bodies are not supported: send the body uncompressed",
        )
        .field("Content-Encoding"));
    }
    match headers.get(HEADER_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Inference-Header-Content-Length must be the length of the JSON header in bytes",
                )
                .field("Inference-Header-Content-Length")
            }),
    }
}

async fn infer_with(
    state: &AppState,
    request: Request,
    started: Instant,
    route: Route,
) -> Result<Response, ApiError> {
    let header_length = framing(request.headers())?;
    let model = state.choose(request.headers());
    let body: Bytes = read_any_body(request, &()).await?;
    let (head, binary) = match header_length {
        None => (&body[..], None),
        Some(n) if n <= body.len() => (&body[..n], Some(&body[n..])),
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            ))
            .field("Inference-Header-Content-Length"));
        }
    };
    let request = input::parse_object(head)?;
    if request.get("id").is_some_and(|id| !id.is_string()) {
        return Err(ApiError::bad_request("\"id\" must be a string").field("id"));
    }
    let wanted = requested_outputs(&request, &model)?;
    let rows = rows(&request, binary, &model.features, state.max_batch)?;
    let predictions = state.predict(&model, rows, route, started)?;
    let n = predictions.len();
    let mut outputs = Vec::with_capacity(wanted.len());
    let mut tail: Vec<u8> = Vec::new();
    let any_binary = wanted.iter().any(|&(_, binary)| binary);
    for (output, binary) in wanted {
        let (datatype, shape, data) = match output {
            Output::Class => {
                let classes: Vec<&str> = predictions
                    .iter()
                    .map(|p| model.class_name(p).unwrap_or(""))
                    .collect();
                ("BYTES", json!([n]), Data::Text(classes))
            }
            Output::Probabilities => {
                let values: Vec<f64> = predictions
                    .iter()
                    .flat_map(|p| p.probabilities.iter().copied())
                    .collect();
                let shape = json!([n, model.classes.len()]);
                ("FP64", shape, Data::Numbers(values))
            }
            Output::Value => {
                let values: Vec<f64> = predictions.iter().map(|p| p.value).collect();
                ("FP64", json!([n]), Data::Numbers(values))
            }
        };
        let mut tensor = json!({"name": output.name(), "datatype": datatype, "shape": shape});
        if binary {
            let before = tail.len();
            data.write_binary(&mut tail);
            tensor["parameters"] = json!({"binary_data_size": tail.len() - before});
        } else {
            tensor["data"] = data.to_json();
        }
        outputs.push(tensor);
    }
    let mut reply =
        json!({"model_name": model.name, "model_version": model.version, "outputs": outputs});
    if let Some(id) = request.get("id") {
        reply["id"] = id.clone();
    }
    let response = if !any_binary {
        reply::json(StatusCode::OK, &reply)
    } else {
        binary_reply(&reply, tail)
    };
    Ok(reply::versioned(response, &model))
}

/// A reply with binary outputs: the JSON header, then the outputs' bytes, as Triton sends it.
fn binary_reply(reply: &Value, tail: Vec<u8>) -> Response {
    let mut body = match serde_json::to_vec(reply) {
        Ok(body) => body,
        Err(e) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("serialising a reply failed: {e}"),
            )
            .into_response();
        }
    };
    let header_length = HeaderValue::from(body.len());
    body.extend_from_slice(&tail);
    let mut response = (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body,
    )
        .into_response();
    response.headers_mut().insert(HEADER_LENGTH, header_length);
    response
}

/// An output of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Class,
    Probabilities,
    Value,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Class => "class",
            Output::Probabilities => "probabilities",
            Output::Value => "value",
        }
    }
}

/// An output's values.
enum Data<'a> {
    Text(Vec<&'a str>),
    Numbers(Vec<f64>),
}

impl Data<'_> {
    fn to_json(&self) -> Value {
        match self {
            Data::Text(t) => json!(t),
            Data::Numbers(x) => json!(x),
        }
    }

    /// Triton's binary layout: little-endian numbers; BYTES as a 4-byte little-endian length
    /// before each element.
    fn write_binary(&self, out: &mut Vec<u8>) {
        match self {
            Data::Text(t) => {
                for s in t {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Data::Numbers(x) => x
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        }
    }
}

/// The outputs to return, each with whether it goes out as binary: those the request names in
/// `outputs` (an unknown name is a 400 naming it), else all of the model's.
fn requested_outputs(
    request: &Map<String, Value>,
    model: &LoadedModel,
) -> Result<Vec<(Output, bool)>, ApiError> {
    let all: &[Output] = if model.is_classifier() {
        &[Output::Class, Output::Probabilities]
    } else {
        &[Output::Value]
    };
    let parameters = request.get("parameters");
    if parameters.is_some_and(|p| !p.is_object()) {
        return Err(ApiError::bad_request("\"parameters\" must be an object").field("parameters"));
    }
    let all_binary = match parameters.and_then(|p| p.get("binary_data_output")) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "parameters.binary_data_output must be true or false",
            )
            .field("binary_data_output"));
        }
    };
    let Some(asked) = request.get("outputs") else {
        return Ok(all.iter().map(|&o| (o, all_binary)).collect());
    };
    let names: Vec<&str> = all.iter().map(|o| o.name()).collect();
    let asked = asked.as_array().ok_or_else(|| {
        ApiError::bad_request("\"outputs\" must be a list of {\"name\": …}").field("outputs")
    })?;
    let mut wanted = Vec::with_capacity(asked.len());
    for (i, o) in asked.iter().enumerate() {
        let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
            ApiError::bad_request(format!("outputs[{i}] needs a \"name\"")).field("outputs")
        })?;
        let output = all
            .iter()
            .copied()
            .find(|o| o.name() == name)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown output '{name}'; this model's outputs are: {}",
                    names.join(", ")
                ))
                .field("outputs")
            })?;
        let params = o.get("parameters");
        let binary = match params.and_then(|p| p.get("binary_data")) {
            None => all_binary,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "outputs[{i}].parameters.binary_data must be true or false"
                ))
                .field("binary_data"));
            }
        };
        // Only binary_data is understood (classification and shared memory are extensions this
        // server does not implement): say so rather than ignore what was asked.
        let unsupported = match params {
            None => None,
            Some(Value::Object(p)) => p.keys().find(|k| k.as_str() != "binary_data"),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "outputs[{i}].parameters must be an object"
                ))
                .field("outputs"));
            }
        };
        if let Some(unsupported) = unsupported {
            return Err(ApiError::bad_request(format!(
                "outputs[{i}].parameters.{unsupported} is not supported here (only binary_data; see GET /v2 for the extensions)"
            ))
            .field("outputs"));
        }
        // An output named twice is returned once, as first asked for.
        if !wanted.iter().any(|(w, _)| *w == output) {
            wanted.push((output, binary));
        }
    }
    Ok(wanted)
}

/// A numeric tensor datatype: its name and size in bytes.
fn datatype(name: &str) -> Option<(&'static str, usize)> {
    Some(match name {
        "FP64" => ("FP64", 8),
        "FP32" => ("FP32", 4),
        "FP16" => ("FP16", 2),
        "BF16" => ("BF16", 2),
        "INT64" => ("INT64", 8),
        "INT32" => ("INT32", 4),
        "INT16" => ("INT16", 2),
        "INT8" => ("INT8", 1),
        "UINT64" => ("UINT64", 8),
        "UINT32" => ("UINT32", 4),
        "UINT16" => ("UINT16", 2),
        "UINT8" => ("UINT8", 1),
        _ => return None,
    })
}

/// One little-endian value of `datatype`; `b` holds exactly one (the data is cut by the
/// type's width before it gets here).
fn decode(datatype: &str, b: &[u8]) -> f64 {
    let n = |len: usize| {
        let mut a = [0u8; 8];
        a[..len].copy_from_slice(&b[..len]);
        a
    };
    match datatype {
        "FP64" => f64::from_le_bytes(n(8)),
        "FP32" => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        "FP16" => half_to_f64(u16::from_le_bytes([b[0], b[1]])),
        "BF16" => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64,
        "INT64" => i64::from_le_bytes(n(8)) as f64,
        "INT32" => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        "INT16" => i16::from_le_bytes([b[0], b[1]]) as f64,
        "INT8" => b[0] as i8 as f64,
        "UINT64" => u64::from_le_bytes(n(8)) as f64,
        "UINT32" => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        "UINT16" => u16::from_le_bytes([b[0], b[1]]) as f64,
        _ => b[0] as f64,
    }
}

/// IEEE 754 half precision to f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// An input tensor, checked but not yet read.
struct Tensor<'a> {
    index: usize,
    name: &'a str,
    datatype: &'static str,
    shape: Vec<u64>,
    source: Source<'a>,
}

/// Where a tensor's values are.
enum Source<'a> {
    Json(&'a Value),
    Binary(&'a [u8]),
}

impl Tensor<'_> {
    /// Values the shape holds (may not fit in memory: compare, never allocate by it).
    fn size(&self) -> u128 {
        // Saturating: a shape of huge sizes must not overflow, only fail to match its data.
        self.shape
            .iter()
            .fold(1u128, |n, &d| n.saturating_mul(d as u128))
    }

    /// The tensor's values, which must be as many as its shape holds.
    fn values(&self) -> Result<Vec<f64>, TensorError> {
        let index = self.index;
        let values = match self.source {
            Source::Binary(bytes) => {
                let width = datatype(self.datatype).map_or(8, |d| d.1);
                let values: Vec<f64> = bytes
                    .chunks_exact(width)
                    .map(|b| decode(self.datatype, b))
                    .collect();
                if let Some(at) = values.iter().position(|x| !x.is_finite()) {
                    return Err(TensorError::Value {
                        index,
                        at,
                        value: values[at].to_string(),
                    });
                }
                values
            }
            Source::Json(data) => {
                let mut values = Vec::new();
                let mut bad = None;
                flatten(data, &mut values, &mut bad);
                if let Some((at, value)) = bad {
                    return Err(TensorError::Value { index, at, value });
                }
                values
            }
        };
        if values.len() as u128 != self.size() {
            return Err(TensorError::Count {
                index,
                got: values.len(),
                wanted: self.size(),
                shape: self.shape.clone(),
            });
        }
        Ok(values)
    }
}

/// Flattens nested JSON data into numbers; the first value that is not a finite number is
/// kept in `bad` with its position.
fn flatten(value: &Value, out: &mut Vec<f64>, bad: &mut Option<(usize, String)>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out, bad)),
        other => match other.as_f64().filter(|x| x.is_finite()) {
            Some(x) => out.push(x),
            None => {
                if bad.is_none() {
                    *bad = Some((out.len(), other.to_string()));
                }
                out.push(f64::NAN);
            }
        },
    }
}

/// Checks every input's datatype, shape and where its data is, taking binary data in order.
fn tensors<'a>(
    inputs: &'a [Value],
    mut binary: Option<&'a [u8]>,
) -> Result<Vec<Tensor<'a>>, TensorError> {
    let mut out = Vec::with_capacity(inputs.len());
    for (index, t) in inputs.iter().enumerate() {
        let given = t.get("datatype").and_then(Value::as_str).unwrap_or("");
        let (datatype, width) = datatype(given).ok_or_else(|| TensorError::Datatype {
            index,
            datatype: given.to_string(),
        })?;
        let shape: Vec<u64> = t
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(Value::as_u64).collect())
            .ok_or(TensorError::Shape { index })?;
        let parameters = t.get("parameters");
        if parameters.is_some_and(|p| !p.is_object()) {
            return Err(TensorError::Parameters { index });
        }
        let size = parameters.and_then(|p| p.get("binary_data_size"));
        let source = match (t.get("data"), size) {
            (Some(_), Some(_)) => return Err(TensorError::BothData { index }),
            (Some(data), None) => Source::Json(data),
            (None, None) => return Err(TensorError::NoData { index }),
            (None, Some(size)) => {
                let Some(rest) = binary else {
                    return Err(TensorError::NoBinary { index });
                };
                let size = size.as_u64().map_or(usize::MAX, |s| s as usize);
                if size > rest.len() {
                    return Err(TensorError::BinaryShort {
                        index,
                        size,
                        left: rest.len(),
                    });
                }
                if size % width != 0 {
                    return Err(TensorError::BinaryRagged {
                        index,
                        size,
                        datatype,
                    });
                }
                let (mine, left) = rest.split_at(size);
                binary = Some(left);
                Source::Binary(mine)
            }
        };
        // Every tensor is named (the protocol requires it), even the one matrix.
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .ok_or(TensorError::Name { index })?;
        out.push(Tensor {
            index,
            name,
            datatype,
            shape,
            source,
        });
    }
    if let Some(left) = binary.filter(|b| !b.is_empty()) {
        return Err(TensorError::BinaryLeft(left.len()));
    }
    Ok(out)
}

fn rows(
    request: &Map<String, Value>,
    binary: Option<&[u8]>,
    features: &[String],
    max_rows: usize,
) -> Result<Rows, ApiError> {
    let inputs = request
        .get("inputs")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unprocessable("the body needs \"inputs\": a list of tensors").field("inputs")
        })?;
    let tensors = tensors(inputs, binary)?;
    let width = features.len();
    let by_feature = tensors.len() > 1 || features.iter().any(|f| f == tensors[0].name);
    if by_feature {
        let names: Vec<String> = tensors.iter().map(|t| t.name.to_string()).collect();
        let order = input::column_order(&names, features, Unknown::Refuse)?;
        let n = tensors[0].size();
        if let Some(t) = tensors.iter().find(|t| t.size() != n) {
            return Err(ApiError::unprocessable(format!(
                "inputs[{}] has shape {:?} but inputs[0] has {:?}; every feature needs one value per row",
                t.index, t.shape, tensors[0].shape
            ))
            .field("shape"));
        }
        let n = check_rows(n, &tensors[0].shape, max_rows)?;
        let mut values = vec![0.0; n * width];
        for (t, i) in tensors.iter().zip(order) {
            // Every name is a feature (unknown names were refused).
            let Some(i) = i else { continue };
            for (row, x) in t.values()?.into_iter().enumerate() {
                values[row * width + i] = x;
            }
        }
        return Ok(Rows {
            values,
            width,
            single: false,
        });
    }
    let tensor = &tensors[0];
    let shape = &tensor.shape;
    let n = match shape.as_slice() {
        [f] if *f == width as u64 => 1,
        [n, f] if *f == width as u64 => *n as u128,
        _ => {
            return Err(ApiError::unprocessable(format!(
                "inputs[0].shape {shape:?} does not fit the model: use [N, {width}] with features in the order {}",
                features.join(", ")
            ))
            .field("shape"));
        }
    };
    // The shape is the client's word: check it before sizing anything by it.
    check_rows(n, shape, max_rows)?;
    Ok(Rows {
        values: tensor.values()?,
        width,
        single: false,
    })
}

/// Rows between 1 and `--max-batch`.
fn check_rows(n: u128, shape: &[u64], max_rows: usize) -> Result<usize, ApiError> {
    if n == 0 || n > max_rows as u128 {
        return Err(ApiError::unprocessable(format!(
            "inputs[0].shape {shape:?}: between 1 and {max_rows} rows per request"
        ))
        .field("shape"));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_little_endian_values_of_each_type() {
        assert_eq!(decode("FP64", &1.5f64.to_le_bytes()), 1.5);
        assert_eq!(decode("FP32", &2.25f32.to_le_bytes()), 2.25);
        assert_eq!(decode("INT32", &(-7i32).to_le_bytes()), -7.0);
        assert_eq!(decode("UINT8", &[200]), 200.0);
        assert_eq!(decode("INT8", &[0xff]), -1.0);
        // 1.5 in half precision is 0x3e00; -2 is 0xc000.
        assert_eq!(decode("FP16", &0x3e00u16.to_le_bytes()), 1.5);
        assert_eq!(decode("FP16", &0xc000u16.to_le_bytes()), -2.0);
        assert_eq!(decode("BF16", &0x3fc0u16.to_le_bytes()), 1.5);
    }

    #[test]
    fn binary_framing_that_does_not_add_up_is_a_400() {
        let inputs: Vec<Value> = serde_json::from_str(
            r#"[{"name": "x", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8}}]"#,
        )
        .unwrap();
        assert!(matches!(
            tensors(&inputs, None),
            Err(TensorError::NoBinary { .. })
        ));
        assert!(matches!(
            tensors(&inputs, Some(&[0; 4])),
            Err(TensorError::BinaryShort { .. })
        ));
        assert!(matches!(
            tensors(&inputs, Some(&[0; 12])),
            Err(TensorError::BinaryLeft(4))
        ));
        let t = tensors(&inputs, Some(&[0; 8])).unwrap();
        assert_eq!(t[0].values().unwrap(), [0.0, 0.0]);
        // Sizes whose product overflows even u128 only fail to match the data.
        let huge: Vec<Value> = serde_json::from_str(
            r#"[{"name": "x", "datatype": "FP64", "data": [1],
                 "shape": [18446744073709551615, 18446744073709551615, 18446744073709551615]}]"#,
        )
        .unwrap();
        let t = tensors(&huge, None).unwrap();
        assert!(matches!(t[0].values(), Err(TensorError::Count { .. })));
    }
}
