//! `GET /openapi.json`: the API described for the model being served (its features are the
//! properties of an instance, its classes the values of a class), every route with every
//! status it can answer, and the limits in force (`--max-batch`, `limit`).
//!
//! Where JSON Schema cannot say what the server checks (a v2 tensor's shape against the length
//! of its data, columns of equal length), the schema shows the simplest form that is always
//! right, and the description says the rest: a request the schema allows is always accepted,
//! and one it refuses is always refused. Schemathesis checks both (tests/clients.rs).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::reply;
use super::routes::HISTORY_MAX;
use super::state::AppState;

/// A `$ref` to a schema of this document.
fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A `$ref` to a response of this document.
fn response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// A JSON reply of `schema`.
fn json_reply(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// A plain-text reply.
fn text_reply(description: &str) -> Value {
    json!({"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}})
}

/// `GET /openapi.json`.
pub async fn document(State(state): State<AppState>) -> Response {
    let model = state.model.load();
    let m = &*model;
    let width = m.features.len();
    let max_batch = state.max_batch;
    let classifier = model.is_classifier();
    let number = json!({"type": "number"});
    let by_name: Map<String, Value> = m
        .features
        .iter()
        .map(|f| (f.clone(), number.clone()))
        .collect();

    // What a prediction is.
    let item = if classifier {
        let probabilities: Map<String, Value> = m
            .classes
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    json!({"type": "number", "minimum": 0, "maximum": 1}),
                )
            })
            .collect();
        json!({
            "type": "object",
            "required": ["class", "probabilities"],
            "properties": {
                "class": {"type": "string", "enum": m.classes},
                "probabilities": {"type": "object", "properties": probabilities, "required": m.classes, "additionalProperties": false},
            },
        })
    } else {
        json!({"type": "object", "required": ["value"], "properties": {"value": number}})
    };
    let mut single = item.clone();
    if let Some(s) = single.as_object_mut() {
        s.insert("required".into(), {
            let mut r = item["required"].as_array().cloned().unwrap_or_default();
            r.extend([json!("model_version"), json!("processing_time_ms")]);
            Value::Array(r)
        });
        if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert("model_version".into(), json!({"type": "string"}));
            p.insert(
                "processing_time_ms".into(),
                json!({"type": "number", "minimum": 0}),
            );
        }
    }
    let mlflow_prediction = if classifier {
        json!({"type": "string", "enum": m.classes})
    } else {
        number.clone()
    };

    // The v2 outputs.
    let outputs: Vec<&str> = if classifier {
        vec!["class", "probabilities"]
    } else {
        vec!["value"]
    };
    let datatypes = [
        "FP64", "FP32", "FP16", "BF16", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32",
        "UINT16", "UINT8",
    ];
    let short = model.version.rsplit('/').next().unwrap_or(&model.version);
    let mut versions = vec![model.version.as_str()];
    if short != model.version {
        versions.push(short);
    }
    let name_param = json!({"name": "name", "in": "path", "required": true, "description": "The model's name (`GET /v2/models/{name}` of another name is a 404)", "schema": {"type": "string", "enum": [model.name]}});
    let version_param = json!({"name": "version", "in": "path", "required": true, "description": "The served version: the whole version or, for a registry model, its number", "schema": {"type": "string", "enum": versions}});

    // Every prediction names the version that answered (the candidate's, for its share).
    let predicted = |schema: Value| {
        json!({
            "description": "Predictions",
            "headers": {"X-Model-Version": {"description": "The version that answered: models:/NAME/VERSION, or the model file's BLAKE3", "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": schema}},
        })
    };
    let native_errors = |ok: Value| {
        json!({
            "200": ok,
            "400": response("Malformed"),
            "408": response("Error"),
            "413": response("Error"),
            "415": response("Error"),
            "422": response("Unfit"),
        })
    };
    let v2_errors = |ok: Value| {
        json!({
            "200": ok,
            "400": response("Malformed"),
            "404": response("NotFound"),
            "408": response("Error"),
            "413": response("Error"),
            "415": response("Error"),
            "422": response("Unfit"),
        })
    };
    let get =
        |summary: &str, ok: Value| json!({"get": {"summary": summary, "responses": {"200": ok}}});
    let infer = |summary: &str, params: Value| {
        json!({"post": {
            "summary": summary,
            "description": format!("One tensor of shape [N, {width}] (or [{width}]) holding rows in the feature order {}, or one tensor per feature, named after it, of shape [N]; N from 1 to {max_batch}. The schema shows one row, because JSON Schema cannot tie a shape to the length of its data. With the binary tensor data extension (header Inference-Header-Content-Length: the JSON header's length; then each input's bytes, little-endian, its length in parameters.binary_data_size) the body is application/octet-stream, and outputs asked for with parameters.binary_data (or all, with the request parameter binary_data_output) are answered the same way.", m.features.join(", ")),
            "parameters": params,
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema("InferRequest")}}},
            "responses": v2_errors(json!({
                "description": "The outputs asked for (all by default)",
                "headers": {
                    "X-Model-Version": {"description": "The version that answered", "schema": {"type": "string"}},
                    "Inference-Header-Content-Length": {"description": "With binary outputs: the length of the JSON header before their bytes", "schema": {"type": "integer"}},
                },
                "content": {
                    "application/json": {"schema": schema("InferResponse")},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            })),
        }})
    };
    let metadata_reply = json_reply("The model's inputs and outputs", schema("ModelMetadata"));
    let model_ready_reply = json_reply(
        "Ready",
        json!({"type": "object", "required": ["name", "ready"], "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}}),
    );
    let with_404 = |ok: Value, params: Value, summary: &str| json!({"get": {"summary": summary, "parameters": params, "responses": {"200": ok, "404": response("NotFound")}}});

    // MLflow's input formats: each object holds exactly one of them (other keys are ignored,
    // except the other formats).
    let format = |key: &str, value: Value| {
        let mut properties = Map::new();
        for other in [
            "dataframe_split",
            "dataframe_records",
            "instances",
            "inputs",
        ] {
            properties.insert(other.into(), json!({"not": {}}));
        }
        properties.insert(key.into(), value);
        json!({"type": "object", "required": [key], "properties": properties})
    };
    let records = json!({"type": "array", "minItems": 1, "maxItems": max_batch, "items": {"oneOf": [schema("Record"), schema("Row")]}});
    let split = json!({
        "type": "object",
        "required": ["data"],
        "description": "pandas' to_json(orient=\"split\"): columns (the features in any order; without them, the feature order) and rows in that order; an index is ignored",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": m.features}, "minItems": width, "maxItems": width, "uniqueItems": true},
            "data": {"type": "array", "minItems": 1, "maxItems": max_batch, "items": schema("Row")},
            "index": {},
        },
    });
    let csv_row = r"-?[0-9]{1,3}(\.[0-9]{1,3})?";
    let csv_pattern = format!(
        r"^{}\n(({row},){{{}}}{row}\n){{1,{}}}$",
        m.features.join(","),
        width.saturating_sub(1),
        max_batch.min(20),
        row = csv_row,
    );

    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "cairn model server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Serves model '{}' ({} {:?}), version {}. Every route answers 405 (with Allow) to another method, and an unknown path 404. A reply given before the request body was read says Connection: close.", model.name, m.algorithm(), m.task, model.version),
        },
        "paths": {
            "/predict": {"post": {
                "summary": "Predict one instance, or {\"instances\": [...]}",
                "description": format!("One instance by feature name (the reply is one prediction), or {{\"instances\": [...]}} of 1 to {max_batch} instances, each by name or as a list of {width} numbers in the feature order {} (the reply is a list). A feature missing, unknown or given twice, a value that is not a finite number, or a key given twice is a 422 naming the field (and the instance).", m.features.join(", ")),
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema("PredictRequest")}}},
                "responses": native_errors(predicted(json!({"oneOf": [schema("Prediction"), schema("Predictions")]}))),
            }},
            "/predict/batch": {"post": {
                "summary": "Predict a batch of instances",
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema("Batch")}}},
                "responses": native_errors(predicted(schema("Predictions"))),
            }},
            "/invocations": {"post": {
                "summary": "MLflow scoring protocol",
                "description": format!("JSON with exactly one of dataframe_split, dataframe_records, instances or inputs (rows by name or in the feature order, or inputs as columns {{feature: [values]}} of equal length), or CSV with a header row (pandas' to_csv(), its index column included: columns that are not features are ignored). 1 to {max_batch} rows. Content-Type must be application/json or text/csv, with no parameter but charset=utf-8. Errors are MLflow's: 400 with error_code and message, 415 in plain text."),
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"oneOf": [
                        format("dataframe_split", split),
                        format("dataframe_records", records.clone()),
                        format("instances", records.clone()),
                        format("inputs", records),
                    ]}},
                    "text/csv": {"schema": {"type": "string", "pattern": csv_pattern}},
                }},
                "responses": {
                    "200": predicted(json!({"type": "object", "required": ["predictions"], "properties": {
                        "predictions": {"type": "array", "items": mlflow_prediction},
                        "model_version": {"type": "string"},
                    }})),
                    "400": json_reply("The body cannot be read (BAD_REQUEST) or does not fit the model (INVALID_PARAMETER_VALUE)", schema("MlflowError")),
                    "408": json_reply("The body did not arrive in time", schema("MlflowError")),
                    "413": json_reply("The body is over --max-body", schema("MlflowError")),
                    "415": text_reply("A content type MLflow refuses"),
                },
            }},
            "/v2/models/{name}/infer": infer("Open Inference (KServe v2) inference", json!([name_param])),
            "/v2/models/{name}/versions/{version}/infer": infer("Open Inference inference by a model version", json!([name_param, version_param])),
            "/v2/models/{name}": with_404(metadata_reply.clone(), json!([name_param]), "v2 model metadata: enough to build a request"),
            "/v2/models/{name}/versions/{version}": with_404(metadata_reply, json!([name_param, version_param]), "v2 model metadata of a version"),
            "/v2/models/{name}/ready": with_404(model_ready_reply.clone(), json!([name_param]), "v2 model readiness"),
            "/v2/models/{name}/versions/{version}/ready": with_404(model_ready_reply, json!([name_param, version_param]), "v2 readiness of a model version"),
            "/v2": get("v2 server metadata", json_reply("The server and the protocol extensions it implements", json!({
                "type": "object", "required": ["name", "version", "extensions"],
                "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}},
            }))),
            "/v2/health/live": get("v2 liveness", json_reply("Live", json!({"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}))),
            "/v2/health/ready": get("v2 readiness", json_reply("Ready", json!({"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}))),
            "/reload": {"post": {
                "summary": "Load every model again (a registry reference is resolved again), or {\"model\": PATH or models:/NAME@ALIAS} as the primary, and swap them in atomically",
                "description": "Allowed from loopback, or with the bearer token of --reload-token (CAIRN_RELOAD_TOKEN). The model may be any model file in the workspace or a registry reference; the schema lists the one served now.",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"model": {"type": "string", "nullable": true, "enum": [model.source, null], "description": "null or absent: every model is loaded again from where it came from"}},
                }}}},
                "responses": {
                    "200": json_reply("Reloaded", json!({"type": "object", "required": ["reloaded", "model_version", "previous_version", "models"], "properties": {
                        "reloaded": {"type": "boolean"}, "model_version": {"type": "string"}, "previous_version": {"type": "string"}, "models": {"type": "array", "items": {"type": "object"}},
                    }})),
                    "401": response("Error"),
                    "403": response("Error"),
                    "408": response("Error"),
                    "413": response("Error"),
                    "422": json_reply("The body is not {\"model\": …}, or the model did not load and the previous one is still served", json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}})),
                },
            }},
            "/predictions/history": {"get": {
                "summary": "Logged predictions, newest first (with --log-db)",
                "parameters": [{"name": "limit", "in": "query", "description": "How many, 100 unless given", "schema": {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX}}],
                "responses": {
                    "200": json_reply("Logged predictions", json!({"type": "object", "required": ["predictions"], "properties": {"predictions": {"type": "array", "maxItems": HISTORY_MAX, "items": {"type": "object"}}}})),
                    "400": response("Error"),
                    "404": response("NotFound"),
                    "500": response("Error"),
                },
            }},
            "/": get("What this server is: name, version, the model's version, links", json_reply("The server", json!({"type": "object", "required": ["name", "version", "model_version", "links"], "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "model_version": {"type": "string"}, "links": {"type": "object"}}}))),
            "/docs": get("This API, as an interactive page (works offline)", json!({"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}})),
            "/docs/docs.js": get("The docs page's script", json!({"description": "The script", "content": {"text/javascript": {"schema": {"type": "string"}}}})),
            "/health": get("Liveness", json_reply("Alive", json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}))),
            "/ready": get("Readiness: a model is loaded", json_reply("Ready", json!({"type": "object", "required": ["ready", "model_version"], "properties": {"ready": {"type": "boolean"}, "model_version": {"type": "string"}}}))),
            "/metrics": get("Prometheus metrics", text_reply("Prometheus text exposition")),
            "/model/info": get("The primary model's version, algorithm, parameters, metrics, features and classes, and under `models` every loaded model with its role (primary, candidate, shadow)", json_reply("The model", json!({
                "type": "object",
                "required": ["name", "version", "role", "task", "algorithm", "features", "classes", "models"],
                "properties": {
                    "name": {"type": "string"}, "version": {"type": "string"}, "role": {"type": "string"},
                    "task": {"type": "string"}, "algorithm": {"type": "string"},
                    "features": {"type": "array", "items": {"type": "string"}},
                    "classes": {"type": "array", "items": {"type": "string"}},
                    "models": {"type": "array", "items": {"type": "object"}},
                },
            }))),
            "/openapi.json": get("This document", json_reply("The OpenAPI document", json!({"type": "object", "required": ["openapi", "paths"]}))),
            "/ping": get("MLflow health check", text_reply("Alive")),
            "/version": get("Server version", text_reply("The version")),
        },
        "components": {
            "schemas": {
                "Instance": {"type": "object", "description": "One instance by feature name", "properties": by_name, "required": m.features, "additionalProperties": false},
                "Record": {"type": "object", "description": "One row by feature name; other keys are ignored", "properties": by_name, "required": m.features},
                "Row": {"type": "array", "description": format!("One instance as numbers in the feature order {}", m.features.join(", ")), "items": number, "minItems": width, "maxItems": width},
                "Batch": {"type": "object", "required": ["instances"], "additionalProperties": false, "properties": {
                    "instances": {"type": "array", "minItems": 1, "maxItems": max_batch, "items": {"oneOf": [schema("Instance"), schema("Row")]}},
                }},
                "PredictRequest": {"oneOf": [schema("Instance"), schema("Batch")]},
                "Prediction": single,
                "Predictions": {"type": "object", "required": ["predictions", "model_version", "processing_time_ms"], "properties": {
                    "predictions": {"type": "array", "items": item},
                    "model_version": {"type": "string"},
                    "processing_time_ms": {"type": "number", "minimum": 0},
                }},
                "Tensor": {"type": "object", "required": ["name", "datatype", "shape", "data"], "properties": {
                    "name": {"type": "string", "description": "Any name for the one matrix; a feature's name for one tensor per feature"},
                    "datatype": {"type": "string", "enum": datatypes},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "enum": [[1, width], [width]]},
                    "data": {"oneOf": [schema("Row"), {"type": "array", "items": schema("Row"), "minItems": 1, "maxItems": 1}]},
                    "parameters": {"type": "object", "properties": {"binary_data_size": {"not": {}}}},
                }},
                "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
                    "id": {"type": "string"},
                    "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": schema("Tensor")},
                    "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "enum": outputs},
                        "parameters": {"type": "object", "additionalProperties": false, "properties": {"binary_data": {"type": "boolean"}}},
                    }}},
                    "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
                }},
                "InferResponse": {"type": "object", "required": ["model_name", "model_version", "outputs"], "properties": {
                    "model_name": {"type": "string"},
                    "model_version": {"type": "string"},
                    "id": {"type": "string"},
                    "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
                        "name": {"type": "string", "enum": outputs},
                        "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "data": {"type": "array"},
                        "parameters": {"type": "object"},
                    }}},
                }},
                "TensorSpec": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
                    "name": {"type": "string"}, "datatype": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
                }},
                "ModelMetadata": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"], "properties": {
                    "name": {"type": "string"},
                    "versions": {"type": "array", "items": {"type": "string"}},
                    "platform": {"type": "string"},
                    "inputs": {"type": "array", "items": schema("TensorSpec")},
                    "outputs": {"type": "array", "items": schema("TensorSpec")},
                    "parameters": {"type": "object"},
                }},
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "field": {"type": "string"}, "instance": {"type": "integer", "minimum": 0},
                }},
                "MlflowError": {"type": "object", "required": ["error_code", "message"], "properties": {
                    "error_code": {"type": "string", "enum": ["BAD_REQUEST", "INVALID_PARAMETER_VALUE", "RESOURCE_LIMIT_EXCEEDED", "INTERNAL_ERROR"]},
                    "message": {"type": "string"},
                }},
            },
            "responses": {
                "Error": json_reply("Refused: the error says why", schema("Error")),
                "Malformed": json_reply("The body is not JSON, or a key is given twice", schema("Error")),
                "Unfit": json_reply("Valid JSON that does not fit the model: the field (and instance) at fault is named", schema("Error")),
                "NotFound": json_reply("No such model or version (or no prediction log)", schema("Error")),
            },
        },
    });
    reply::json(StatusCode::OK, &doc)
}
