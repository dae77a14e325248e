//! The model file: one self-describing JSON document holding everything needed to predict —
//! format version, task, algorithm, hyperparameters, feature and class names, the scaler fitted
//! at preprocessing, the digest of the training data, and the fitted parameters in cairn's own
//! representation (not linfa's), so a model file stays readable by any later cairn and
//! prediction needs no training library. Serialised with sorted maps and shortest-round-trip
//! floats, so the same training gives byte-identical files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// Value of the `format` field of every model file.
pub const FORMAT: &str = "cairn-model";
/// Current model format version.
pub const FORMAT_VERSION: u32 = 1;

/// Classification or regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Predict one of `classes`.
    Classification,
    /// Predict a number.
    Regression,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// What the model predicts.
    pub task: Task,
    /// `logistic`, `tree`, `forest`, `linear`, …
    pub algorithm: String,
    /// The hyperparameters it was trained with, by name.
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    /// Seed of every random choice made in training.
    pub seed: u64,
    /// Input feature names, in the order `predict` expects.
    pub features: Vec<String>,
    /// Name of the target column.
    pub target: String,
    /// Class names, in the order of probabilities (empty for regression).
    pub classes: Vec<String>,
    /// Applied to raw features before the predictor.
    pub scaler: Scaler,
    /// BLAKE3 of the training data the model was fitted on.
    pub data_digest: String,
    /// Metrics measured on the training data, by name.
    pub training_metrics: BTreeMap<String, f64>,
    /// The fitted parameters.
    pub predictor: Predictor,
}

/// Feature scaling fitted on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Scaler {
    /// Features are used as they are.
    None,
    /// `(x - mean) / std`.
    Standard { mean: Vec<f64>, std: Vec<f64> },
    /// `(x - min) / (max - min)`.
    MinMax { min: Vec<f64>, max: Vec<f64> },
}

/// Fitted parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Predictor {
    /// Classification: one row of weights per class, softmax over `w·x + b`.
    /// Regression: a single row, the prediction is `w·x + b`.
    Linear {
        weights: Vec<Vec<f64>>,
        intercepts: Vec<f64>,
    },
    /// One decision tree.
    Tree(Tree),
    /// The mean of several trees' outputs.
    Forest { trees: Vec<Tree> },
}

/// A decision tree stored as a node array; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The nodes; children are indices into this list.
    pub nodes: Vec<Node>,
}

/// A node of a [`Tree`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    /// Go `left` when `x[feature] <= threshold`, else `right`.
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    /// Class probabilities (classification) or `[value]` (regression).
    Leaf { value: Vec<f64> },
}

/// What a model says about one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index into `classes` of the most probable class (classification).
    pub class: Option<usize>,
    /// Class probabilities, in the order of `classes` (classification).
    pub probabilities: Vec<f64>,
    /// The predicted number (regression), or the winning class's probability.
    pub value: f64,
}

impl Model {
    /// Reads and validates a model file. A file that is not a cairn model, or whose parts do not
    /// fit together, is [`Error::Data`] naming the file and what is wrong.
    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).at(path)?;
        Model::from_slice(&bytes, path)
    }

    /// Parses and validates model bytes read from `path`.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Model> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::data(path, format!("not a cairn model (not JSON: {e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::data(
                path,
                format!(
                    "not a cairn model (no \"format\": \"{FORMAT}\" field); train one with `cairn train`"
                ),
            ));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(FORMAT_VERSION as u64) {
            return Err(Error::data(
                path,
                format!(
                    "model format version {} is not supported by this cairn (it reads version {FORMAT_VERSION})",
                    version.map_or("?".into(), |v| v.to_string())
                ),
            ));
        }
        let model: Model = serde_json::from_value(value)
            .map_err(|e| Error::data(path, format!("invalid cairn model: {e}")))?;
        model
            .validate()
            .map_err(|m| Error::data(path, format!("invalid cairn model: {m}")))?;
        Ok(model)
    }

    /// The canonical bytes of the model file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Writes the model file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write(path, &self.to_bytes())
    }

    /// Checks that every index and length fits, so `predict` can never go out of bounds.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let n = self.features.len();
        if n == 0 {
            return Err("no features".into());
        }
        let outputs = match self.task {
            Task::Classification => {
                if self.classes.len() < 2 {
                    return Err("a classifier needs at least two classes".into());
                }
                self.classes.len()
            }
            Task::Regression => 1,
        };
        match &self.scaler {
            Scaler::None => {}
            Scaler::Standard { mean: a, std: b } | Scaler::MinMax { min: a, max: b } => {
                if a.len() != n || b.len() != n {
                    return Err(format!(
                        "scaler has {} / {} values for {n} features",
                        a.len(),
                        b.len()
                    ));
                }
            }
        }
        match &self.predictor {
            Predictor::Linear {
                weights,
                intercepts,
            } => {
                if weights.len() != outputs || intercepts.len() != outputs {
                    return Err(format!(
                        "linear model has {} rows for {outputs} outputs",
                        weights.len()
                    ));
                }
                if weights.iter().any(|w| w.len() != n) {
                    return Err(format!("a weight row does not have {n} values"));
                }
            }
            Predictor::Tree(tree) => tree.validate(n, outputs)?,
            Predictor::Forest { trees } => {
                if trees.is_empty() {
                    return Err("forest has no trees".into());
                }
                for tree in trees {
                    tree.validate(n, outputs)?;
                }
            }
        }
        Ok(())
    }

    /// Predicts one instance; `x` holds raw (unscaled) features in the order of `features`.
    ///
    /// # Panics
    /// If `x.len() != features.len()`; callers check the input first.
    pub fn predict(&self, x: &[f64]) -> Prediction {
        assert_eq!(x.len(), self.features.len(), "feature count");
        let scaled = self.scale(x);
        let out = match &self.predictor {
            Predictor::Linear {
                weights,
                intercepts,
            } => {
                let scores: Vec<f64> = weights
                    .iter()
                    .zip(intercepts)
                    .map(|(w, b)| w.iter().zip(&scaled).map(|(w, x)| w * x).sum::<f64>() + b)
                    .collect();
                match self.task {
                    Task::Classification => softmax(&scores),
                    Task::Regression => scores,
                }
            }
            Predictor::Tree(tree) => tree.leaf(&scaled).to_vec(),
            Predictor::Forest { trees } => {
                let mut sum = vec![0.0; trees[0].leaf(&scaled).len()];
                for tree in trees {
                    for (s, v) in sum.iter_mut().zip(tree.leaf(&scaled)) {
                        *s += v;
                    }
                }
                sum.iter().map(|s| s / trees.len() as f64).collect()
            }
        };
        match self.task {
            Task::Regression => Prediction {
                class: None,
                probabilities: Vec::new(),
                value: out[0],
            },
            Task::Classification => {
                // Ties go to the first class, so the answer is deterministic.
                let (class, p) =
                    out.iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |best, (i, &p)| {
                            if p > best.1 { (i, p) } else { best }
                        });
                Prediction {
                    class: Some(class),
                    probabilities: out,
                    value: p,
                }
            }
        }
    }

    /// Applies the scaler to raw features.
    pub fn scale(&self, x: &[f64]) -> Vec<f64> {
        match &self.scaler {
            Scaler::None => x.to_vec(),
            Scaler::Standard { mean, std } => x
                .iter()
                .zip(mean.iter().zip(std))
                .map(|(x, (m, s))| if *s > 0.0 { (x - m) / s } else { x - m })
                .collect(),
            Scaler::MinMax { min, max } => x
                .iter()
                .zip(min.iter().zip(max))
                .map(|(x, (lo, hi))| {
                    if hi > lo {
                        (x - lo) / (hi - lo)
                    } else {
                        x - lo
                    }
                })
                .collect(),
        }
    }
}

impl Tree {
    fn validate(&self, features: usize, outputs: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("tree has no nodes".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    if *feature >= features {
                        return Err(format!(
                            "tree node {i} splits on feature {feature} of {features}"
                        ));
                    }
                    // Children must come after their parent: no cycles, so a walk always ends.
                    if *left <= i
                        || *right <= i
                        || *left >= self.nodes.len()
                        || *right >= self.nodes.len()
                    {
                        return Err(format!("tree node {i} has invalid children"));
                    }
                }
                Node::Leaf { value } => {
                    if value.len() != outputs {
                        return Err(format!(
                            "tree leaf {i} has {} values for {outputs} outputs",
                            value.len()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The leaf `x` (scaled features) falls into.
    pub fn leaf(&self, x: &[f64]) -> &[f64] {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    i = if x[*feature] <= *threshold {
                        *left
                    } else {
                        *right
                    };
                }
                Node::Leaf { value } => return value,
            }
        }
    }
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}
