//! The error reply: a status and a JSON body naming what is wrong and, for bad input, the field
//! (and instance) at fault.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A 4xx/5xx reply with a JSON body `{"error": …, "field": …, "instance": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// What is wrong and what would fix it.
    pub error: String,
    /// The feature or request field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Index of the instance at fault in a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<usize>,
    /// The fault is a value of the wrong type or out of range (not the request's shape): MLflow
    /// reports these as BAD_REQUEST rather than INVALID_PARAMETER_VALUE.
    #[serde(skip)]
    pub bad_value: bool,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
            instance: None,
            bad_value: false,
        }
    }

    /// 400: the body is not valid JSON.
    pub fn bad_request(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    /// 422: valid JSON that does not fit the model.
    pub fn unprocessable(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    /// 404.
    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    /// Marks the fault as a value of the wrong type or out of range.
    pub fn bad_value(mut self) -> ApiError {
        self.bad_value = true;
        self
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Every refused request is logged, whatever the level of the per-request lines.
        tracing::warn!(status = self.status.as_u16(), field = ?self.field, "{}", self.error);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (self.status, [(CONTENT_TYPE, "application/json")], body).into_response()
    }
}
