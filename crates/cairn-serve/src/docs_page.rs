//! `GET /` (what this server is, and where to go) and `GET /docs`: an interactive page built
//! from the server's own OpenAPI document. Its page and script are part of the binary and it
//! talks to this server only, so it works on a machine with no network (no CDN at view time).

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::reply;
use super::state::AppState;

const PAGE: &str = include_str!("docs_page/index.html");
const SCRIPT: &str = include_str!("docs_page/docs.js");

/// Scripts from this server only and requests to it only; inline styles are the page's own.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`.
pub async fn root(State(state): State<AppState>) -> Response {
    let model = state.model.load();
    reply::json(
        StatusCode::OK,
        &json!({
            "name": "cairn",
            "version": env!("CARGO_PKG_VERSION"),
            "model_version": model.version,
            "links": {
                "docs": "/docs",
                "openapi": "/openapi.json",
                "health": "/health",
                "ready": "/ready",
                "metrics": "/metrics",
                "model": "/model/info",
            },
        }),
    )
}

/// `GET /docs`.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /docs/docs.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, POLICY),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
