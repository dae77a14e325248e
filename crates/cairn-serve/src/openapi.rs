//! `GET /openapi.json`: the API described for the model being served (its features are the
//! properties of an instance).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::reply;
use super::state::AppState;

/// `GET /openapi.json`.
pub async fn document(State(state): State<AppState>) -> Response {
    let model = state.model.load();
    let m = &model.model;
    let properties: Map<String, Value> = m
        .features
        .iter()
        .map(|f| (f.clone(), json!({"type": "number"})))
        .collect();
    let prediction = if model.is_classifier() {
        json!({
            "type": "object",
            "properties": {
                "class": {"type": "string", "enum": m.classes},
                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
            },
        })
    } else {
        json!({"type": "object", "properties": {"value": {"type": "number"}}})
    };
    let json_body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    // Every prediction names the version that answered (the candidate's, for its share).
    let ok = |schema: Value| {
        json!({
            "description": "OK",
            "headers": {"X-Model-Version": {"description": "The version that answered: models:/NAME/VERSION, or the model file's BLAKE3", "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": schema}},
        })
    };
    let errors = json!({
        "400": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"},
        "415": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/Error"},
    });
    let with_errors = |mut responses: Value| {
        if let (Some(r), Some(e)) = (responses.as_object_mut(), errors.as_object()) {
            r.extend(e.clone());
        }
        responses
    };
    let plain = |summary: &str| json!({"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}});
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "cairn model server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Serves model '{}' ({} {:?}), version {}", model.name, m.algorithm, m.task, model.version),
        },
        "paths": {
            "/predict": {"post": {
                "summary": "Predict one instance, or {\"instances\": [...]}",
                "requestBody": json_body("PredictRequest"),
                "responses": with_errors(json!({"200": ok(json!({"$ref": "#/components/schemas/Prediction"}))})),
            }},
            "/predict/batch": {"post": {
                "summary": "Predict a batch of instances",
                "requestBody": json_body("Batch"),
                "responses": with_errors(json!({"200": ok(json!({"$ref": "#/components/schemas/Predictions"}))})),
            }},
            "/invocations": {"post": {
                "summary": "MLflow scoring protocol: dataframe_split, dataframe_records, instances or inputs",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": with_errors(json!({"200": ok(json!({"type": "object", "properties": {"predictions": {"type": "array"}}}))})),
            }},
            "/v2/models/{name}/infer": {"post": {
                "summary": "Open Inference (KServe v2) protocol",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": with_errors(json!({"200": ok(json!({"type": "object"})), "404": {"$ref": "#/components/responses/Error"}})),
            }},
            "/reload": {"post": {
                "summary": "Load every model again (a registry reference is resolved again), or {\"model\": PATH or models:/NAME@ALIAS} as the primary, and swap them in atomically",
                "responses": {
                    "200": {"description": "Reloaded"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "422": {"description": "The model did not load; the previous one is still served"},
                },
            }},
            "/predictions/history": {"get": {
                "summary": "Logged predictions, newest first (with --log-db)",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": {"description": "OK"}, "404": {"$ref": "#/components/responses/Error"}},
            }},
            "/health": plain("Liveness"),
            "/ready": plain("Readiness: a model is loaded"),
            "/metrics": plain("Prometheus metrics"),
            "/model/info": plain("The primary model's version, algorithm, parameters, metrics, features and classes, and under `models` every loaded model with its role (primary, candidate, shadow)"),
            "/openapi.json": plain("This document"),
            "/ping": plain("MLflow health check"),
            "/version": plain("Server version"),
            "/v2/health/live": plain("v2 liveness"),
            "/v2/health/ready": plain("v2 readiness"),
            "/v2/models/{name}": {"get": {
                "summary": "v2 model metadata",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}, "404": {"$ref": "#/components/responses/Error"}},
            }},
        },
        "components": {
            "schemas": {
                "Instance": {"type": "object", "properties": properties, "required": m.features, "additionalProperties": false},
                "Batch": {"type": "object", "required": ["instances"], "properties": {
                    "instances": {"type": "array", "minItems": 1, "maxItems": state.max_batch, "items": {"$ref": "#/components/schemas/Instance"}},
                }},
                "PredictRequest": {"oneOf": [{"$ref": "#/components/schemas/Instance"}, {"$ref": "#/components/schemas/Batch"}]},
                "Prediction": prediction,
                "Predictions": {"type": "object", "properties": {
                    "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
                    "model_version": {"type": "string"},
                    "processing_time_ms": {"type": "number"},
                }},
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "field": {"type": "string"}, "instance": {"type": "integer"},
                }},
            },
            "responses": {"Error": {"description": "Bad input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    });
    reply::json(StatusCode::OK, &doc)
}
