//! The router: every route, the per-route metrics layer, the JSON body extractor, and the
//! handlers of the native API (the MLflow and v2 protocols are in their own files).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use serde::Deserialize;
use serde_json::json;

use super::conn;
use super::error::ApiError;
use super::input::{self, Shape};
use super::loaded::{LoadedModel, Predictor};
use super::state::AppState;
use super::track::TrackLayer;
use super::{docs_page, mlflow, openapi, reload, reply, v2};

/// Every route, for the metrics' `route` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Predict,
    PredictBatch,
    Health,
    Ready,
    Metrics,
    ModelInfo,
    Reload,
    OpenApi,
    History,
    Invocations,
    Ping,
    Version,
    V2Server,
    V2Live,
    V2Ready,
    V2Model,
    V2ModelReady,
    V2Infer,
    V2Version,
    V2VersionReady,
    V2VersionInfer,
    Root,
    Docs,
    DocsScript,
    Unmatched,
}

impl Route {
    /// All routes, in the order of their discriminants.
    pub const ALL: [Route; 25] = [
        Route::Predict,
        Route::PredictBatch,
        Route::Health,
        Route::Ready,
        Route::Metrics,
        Route::ModelInfo,
        Route::Reload,
        Route::OpenApi,
        Route::History,
        Route::Invocations,
        Route::Ping,
        Route::Version,
        Route::V2Server,
        Route::V2Live,
        Route::V2Ready,
        Route::V2Model,
        Route::V2ModelReady,
        Route::V2Infer,
        Route::V2Version,
        Route::V2VersionReady,
        Route::V2VersionInfer,
        Route::Root,
        Route::Docs,
        Route::DocsScript,
        Route::Unmatched,
    ];

    /// The route's path template.
    pub fn path(self) -> &'static str {
        match self {
            Route::Predict => "/predict",
            Route::PredictBatch => "/predict/batch",
            Route::Health => "/health",
            Route::Ready => "/ready",
            Route::Metrics => "/metrics",
            Route::ModelInfo => "/model/info",
            Route::Reload => "/reload",
            Route::OpenApi => "/openapi.json",
            Route::History => "/predictions/history",
            Route::Invocations => "/invocations",
            Route::Ping => "/ping",
            Route::Version => "/version",
            Route::V2Server => "/v2",
            Route::V2Live => "/v2/health/live",
            Route::V2Ready => "/v2/health/ready",
            Route::V2Model => "/v2/models/{name}",
            Route::V2ModelReady => "/v2/models/{name}/ready",
            Route::V2Infer => "/v2/models/{name}/infer",
            Route::V2Version => "/v2/models/{name}/versions/{version}",
            Route::V2VersionReady => "/v2/models/{name}/versions/{version}/ready",
            Route::V2VersionInfer => "/v2/models/{name}/versions/{version}/infer",
            Route::Root => "/",
            Route::Docs => "/docs",
            Route::DocsScript => "/docs/docs.js",
            Route::Unmatched => "unmatched",
        }
    }
}

/// The service's router.
pub fn router(state: AppState, max_body: usize) -> Router {
    let tracked = |route: Route, method: MethodRouter<AppState>| {
        method.layer(TrackLayer::new(state.clone(), route))
    };
    let mut app = Router::new();
    for route in Route::ALL {
        let method = match route {
            Route::Predict => post(predict),
            Route::PredictBatch => post(predict_batch),
            Route::Health => get(health),
            Route::Ready => get(ready),
            Route::Metrics => get(metrics),
            Route::ModelInfo => get(model_info),
            Route::Reload => post(reload::reload),
            Route::OpenApi => get(openapi::document),
            Route::History => get(history),
            Route::Invocations => post(mlflow::invocations),
            Route::Ping => get(mlflow::ping),
            Route::Version => get(mlflow::version),
            Route::V2Server => get(v2::server),
            Route::V2Live => get(v2::live),
            Route::V2Ready => get(v2::ready),
            Route::V2Model => get(v2::model),
            Route::V2ModelReady => get(v2::model_ready),
            Route::V2Infer => post(v2::infer),
            Route::V2Version => get(v2::version_model),
            Route::V2VersionReady => get(v2::version_ready),
            Route::V2VersionInfer => post(v2::version_infer),
            Route::Root => get(docs_page::root),
            Route::Docs => get(docs_page::page),
            Route::DocsScript => get(docs_page::script),
            Route::Unmatched => continue,
        };
        app = app.route(
            route.path(),
            tracked(route, method.fallback(method_not_allowed)),
        );
    }
    app.fallback(tracked(Route::Unmatched, any(not_found)))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Reads a JSON request body: another content type is 415, a body over the limit 413.
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let essence = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim());
    match essence {
        Some(e) if e.eq_ignore_ascii_case("application/json") || e.ends_with("+json") => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the body must be sent with Content-Type: application/json (got {})",
                    content_type.unwrap_or("no Content-Type")
                ),
            )
            .field("Content-Type"));
        }
    }
    read_any_body(request, state).await
}

/// Reads a request body of any content type: a body over the limit is 413, one that does not
/// arrive in time (`--body-timeout`) 408.
pub async fn read_any_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "the body is larger than the limit (see `cairn serve --max-body`)",
                )
            } else if conn::is_body_timeout(&rejection) {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, rejection_cause(&rejection))
            } else {
                ApiError::new(status, rejection.body_text())
            }
        })
}

/// The innermost error of a rejection: what actually went wrong.
fn rejection_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

/// A request body that must be JSON.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(JsonBody(read_body(request, state).await?))
    }
}

async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    predict_native(&state, &headers, &body, Shape::OneOrMany, Route::Predict)
}

async fn predict_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    predict_native(&state, &headers, &body, Shape::Many, Route::PredictBatch)
}

fn predict_native(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    shape: Shape,
    route: Route,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let model = state.choose(headers);
    let rows = input::parse_body(body, &model.features, shape, state.max_batch)?;
    let single = rows.single;
    let predictions = state.predict(&model, rows, route, started)?;
    Ok(reply::versioned(
        reply::predictions(&model, &predictions, single, started),
        &model,
    ))
}

async fn health() -> Response {
    reply::json(StatusCode::OK, &json!({"status": "ok"}))
}

async fn ready(State(state): State<AppState>) -> Response {
    // A server runs only with a model loaded, so it is ready as soon as it listens.
    let model = state.model.load();
    reply::json(
        StatusCode::OK,
        &json!({"ready": true, "model_version": model.version}),
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    let models = state.loaded();
    let labels: Vec<Vec<(&str, String)>> = models
        .iter()
        .map(|model| {
            vec![
                ("version", model.version.clone()),
                ("role", model.role.name().to_string()),
                ("name", model.name.clone()),
                ("algorithm", model.algorithm().to_string()),
                ("task", model.task.name().to_string()),
                ("digest", model.digest.clone()),
                ("path", model.path.display().to_string()),
            ]
        })
        .collect();
    let mut text = state.metrics.render(&labels);
    text.push_str(&super::drift_window::exposition(&models));
    text.push_str(&super::prediction_log::PredictionLog::exposition(
        state.log.as_ref(),
    ));
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /model/info` of one model.
pub fn info(model: &LoadedModel) -> serde_json::Value {
    let mut info = json!({
        "name": model.name,
        "version": model.version,
        "role": model.role.name(),
        "source": model.source,
        "digest": model.digest,
        "path": model.path,
        "loaded_at": model.loaded_at,
        "task": model.task,
        "algorithm": model.algorithm(),
        "features": model.features,
        "classes": model.classes,
    });
    let more = match &model.predictor {
        Predictor::Cairn(m) => json!({
            "format": "cairn-model",
            "hyperparameters": m.hyperparameters,
            "seed": m.seed,
            "target": m.target,
            "data_digest": m.data_digest,
            "training_metrics": m.training_metrics,
            "format_version": m.format_version,
        }),
        Predictor::Onnx(m) => json!({"format": "onnx", "producer": m.producer}),
    };
    if let (Some(info), serde_json::Value::Object(more)) = (info.as_object_mut(), more) {
        info.extend(more);
    }
    info
}

/// `GET /model/info`: the primary's fields, and every loaded model with its role.
async fn model_info(State(state): State<AppState>) -> Response {
    let models = state.loaded();
    let mut body = info(&models[0]);
    body["models"] = models.iter().map(|m| info(m)).collect();
    if state.candidate.is_some() {
        body["split"] = state.split.into();
    }
    reply::json(StatusCode::OK, &body)
}

/// Query of `GET /predictions/history`.
#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

/// Most rows `GET /predictions/history` returns.
pub const HISTORY_MAX: usize = 10_000;

async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be a whole number: {}", e.body_text()),
        )
        .field("limit")
    })?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > HISTORY_MAX {
        return Err(
            ApiError::bad_request(format!("limit must be between 1 and {HISTORY_MAX}"))
                .field("limit"),
        );
    }
    if state.log.is_none() {
        return Err(ApiError::not_found(
            "predictions are not logged: start `cairn serve` with --log-db FILE",
        ));
    }
    let reader = Arc::clone(&state);
    let rows =
        tokio::task::spawn_blocking(move || reader.log.as_ref().map(|log| log.history(limit)))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("history failed: {e}"),
                )
            })?;
    match rows {
        Some(Ok(rows)) => Ok(reply::json(StatusCode::OK, &json!({"predictions": rows}))),
        Some(Err(e)) => {
            tracing::error!("{e}");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
        None => Err(ApiError::not_found("predictions are not logged")),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}; see GET /openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see GET /openapi.json",
        request.method(),
        request.uri().path()
    ))
}
