//! `cairn select`: pick the best of several evaluated models by one metric (ties go to the first
//! candidate), copy it to the served path, and write its metrics with every candidate's score.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::metrics::lower_is_better;
use crate::model::Model;

/// What `select` compares and writes.
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// Candidates as MODEL=METRICS pairs.
    pub candidates: Vec<String>,
    /// A folder of candidate models (`NAME.json`), each scored by `METRICS_DIR/NAME.json`: the
    /// candidates follow whatever variants the pipeline trained, with no list to keep.
    pub models_dir: Option<PathBuf>,
    /// Where the metrics of the models in `models_dir` are.
    pub metrics_dir: Option<PathBuf>,
    /// Metric to maximise (minimised for errors such as rmse and mae).
    pub by: String,
    /// Where to copy the best model.
    pub output: PathBuf,
    /// Where to write the best model's metrics, with the name of the winner.
    pub metrics: PathBuf,
}
use cairn_core::error::{Error, IoContext, Result};

/// What `select` writes to `--metrics`.
#[derive(Debug, Serialize)]
struct Selection<'a> {
    /// Name of the winning candidate (its model file's stem).
    selected: &'a str,
    /// The metric compared.
    by: &'a str,
    /// Every candidate's value of the metric.
    scores: BTreeMap<&'a str, f64>,
    /// The winner's metrics.
    #[serde(flatten)]
    metrics: &'a Value,
}

struct Candidate {
    name: String,
    bytes: Vec<u8>,
    metrics: Value,
    score: f64,
}

/// `cairn select`.
pub fn select(args: &SelectOptions) -> Result<String> {
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut pairs = args.candidates.clone();
    if let Some(dir) = &args.models_dir {
        pairs.extend(pairs_in(dir, args.metrics_dir.as_deref().unwrap_or(dir))?);
    }
    if pairs.is_empty() {
        return Err(Error::Usage(
            "no candidates: give --candidate MODEL=METRICS or --models-dir DIR".into(),
        ));
    }
    for pair in &pairs {
        let candidate = read_candidate(pair, &args.by)?;
        if candidates.iter().any(|c| c.name == candidate.name) {
            return Err(Error::Usage(format!(
                "two candidates are named '{}' (from their model file names); rename one",
                candidate.name
            )));
        }
        candidates.push(candidate);
    }
    let lower = lower_is_better(&args.by);
    let mut best = 0;
    for (i, c) in candidates.iter().enumerate() {
        let better = if lower {
            c.score < candidates[best].score
        } else {
            c.score > candidates[best].score
        };
        if better {
            best = i;
        }
    }
    let winner = &candidates[best];
    let selection = Selection {
        selected: &winner.name,
        by: &args.by,
        scores: candidates
            .iter()
            .map(|c| (c.name.as_str(), c.score))
            .collect(),
        metrics: &winner.metrics,
    };
    cairn_core::atomic::write(&args.output, &winner.bytes)?;
    cairn_core::atomic::write(&args.metrics, &crate::pretty_json(&selection)?)?;
    Ok(format!(
        "select: {} ({} {} = {}) -> {}",
        winner.name,
        if lower { "lowest" } else { "highest" },
        args.by,
        winner.score,
        args.output.display()
    ))
}

/// `MODEL=METRICS` for every `NAME.json` in `models`, with `metrics/NAME.json`, by name.
fn pairs_in(models: &Path, metrics: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(models)
        .at(models)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names
        .iter()
        .map(|n| format!("{}={}", models.join(n).display(), metrics.join(n).display()))
        .collect())
}

fn read_candidate(pair: &str, by: &str) -> Result<Candidate> {
    let (model, metrics) = pair.split_once('=').ok_or_else(|| {
        Error::Usage(format!(
            "--candidate '{pair}' is not MODEL=METRICS (e.g. models/tree.json=metrics/tree.json)"
        ))
    })?;
    let (model, metrics_path) = (PathBuf::from(model), Path::new(metrics));
    let bytes = std::fs::read(&model).at(&model)?;
    // Refuse anything that is not a cairn model before it can become the served one.
    Model::from_slice(&bytes, &model)?;
    let text = std::fs::read(metrics_path).at(metrics_path)?;
    let metrics: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::data(metrics_path, format!("not a JSON metrics file: {e}")))?;
    let score = metrics.get(by).and_then(Value::as_f64).ok_or_else(|| {
        let available: Vec<&str> = metrics
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.is_number())
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default();
        Error::data(
            metrics_path,
            format!(
                "no numeric metric '{by}' to select by; available: {}",
                available.join(", ")
            ),
        )
    })?;
    let name = model
        .file_stem()
        .map_or_else(|| pair.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Candidate {
        name,
        bytes,
        metrics,
        score,
    })
}
