//! The floor for `bench/serve`: a bare axum server that parses the same JSON as `cairn serve`
//! into a fixed struct and applies a hard-coded linear model (softmax over three classes). No
//! metrics, no validation beyond serde, no model file: what any Rust service must at least do.
//!
//! `cargo run --release --example serve_floor -- PORT` (0 picks a free port; the bound address
//! is printed as `listening on http://ADDR`).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Iris {
    sepal_length: f64,
    sepal_width: f64,
    petal_length: f64,
    petal_width: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Body {
    Many { instances: Vec<Iris> },
    One(Iris),
}

#[derive(Serialize)]
struct Probabilities {
    setosa: f64,
    versicolor: f64,
    virginica: f64,
}

#[derive(Serialize)]
struct Prediction {
    class: &'static str,
    probabilities: Probabilities,
}

const CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];
const MEAN: [f64; 4] = [5.8, 3.0, 3.7, 1.2];
const STD: [f64; 4] = [0.8, 0.4, 1.7, 0.7];
const WEIGHTS: [[f64; 4]; 3] = [
    [-1.0, 1.2, -2.0, -1.9],
    [0.5, -0.6, -0.2, -0.7],
    [0.5, -0.6, 2.2, 2.6],
];
const INTERCEPTS: [f64; 3] = [0.2, 1.0, -1.2];

fn predict(x: &Iris) -> Prediction {
    let raw = [x.sepal_length, x.sepal_width, x.petal_length, x.petal_width];
    let mut scores = [0.0; 3];
    for (k, s) in scores.iter_mut().enumerate() {
        *s = INTERCEPTS[k]
            + (0..4)
                .map(|i| WEIGHTS[k][i] * (raw[i] - MEAN[i]) / STD[i])
                .sum::<f64>();
    }
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp = scores.map(|s| (s - max).exp());
    let sum: f64 = exp.iter().sum();
    let p = exp.map(|e| e / sum);
    let best = (0..3).fold(0, |b, i| if p[i] > p[b] { i } else { b });
    Prediction {
        class: CLASSES[best],
        probabilities: Probabilities {
            setosa: p[0],
            versicolor: p[1],
            virginica: p[2],
        },
    }
}

async fn handle(body: axum::body::Bytes) -> Result<axum::response::Response, StatusCode> {
    use axum::response::IntoResponse;
    let body: Body = serde_json::from_slice(&body).map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    let json = match body {
        Body::One(x) => serde_json::to_vec(&predict(&x)),
        Body::Many { instances } => {
            serde_json::to_vec(&instances.iter().map(predict).collect::<Vec<_>>())
        }
    }
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Router::new()
            .route("/predict", post(handle))
            .route("/predict/batch", post(handle))
            .route("/health", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
