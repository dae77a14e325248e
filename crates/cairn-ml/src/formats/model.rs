//! The model file: one self-describing JSON document holding everything needed to predict —
//! format version, task, algorithm, hyperparameters, feature and class names, the scaler fitted
//! at preprocessing, the digest of the training data, and the fitted parameters in cairn's own
//! representation (not linfa's), so a model file stays readable by any later cairn and
//! prediction needs no training library. Serialised with sorted maps and shortest-round-trip
//! floats, so the same training gives byte-identical files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use cairn_core::error::{Error, IoContext, Result};

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

impl Task {
    /// The word for it in files, messages and metrics (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
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
    /// What the training inputs looked like, for drift (files written before it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::drift::Profile>,
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
                    "field 'format_version': model format version {} is not supported by this cairn (it reads version {FORMAT_VERSION})",
                    version.map_or("?".into(), |v| v.to_string())
                ),
            ));
        }
        // Name the field for the enumerations serde would only call "unknown variant".
        for (field, found, known) in [
            (
                "task",
                value.get("task"),
                &["classification", "regression"][..],
            ),
            (
                "predictor.kind",
                value.get("predictor").and_then(|p| p.get("kind")),
                &["linear", "tree", "forest"][..],
            ),
            (
                "scaler.kind",
                value.get("scaler").and_then(|p| p.get("kind")),
                &["none", "standard", "minmax"][..],
            ),
        ] {
            if !found
                .and_then(|f| f.as_str())
                .is_some_and(|f| known.contains(&f))
            {
                return Err(Error::data(
                    path,
                    format!(
                        "invalid cairn model: field '{field}' is {}, expected one of: {}",
                        found.map_or("missing".into(), |f| f.to_string()),
                        known.join(", ")
                    ),
                ));
            }
        }
        let model: Model = serde_json::from_value(value)
            .map_err(|e| Error::data(path, format!("invalid cairn model: {e}")))?;
        model
            .validate()
            .map_err(|m| Error::data(path, format!("invalid cairn model: {m}")))?;
        Ok(model)
    }

    /// The canonical bytes of the model file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::pretty_json(self)
    }

    /// Writes the model file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        cairn_core::atomic::write(path, &self.to_bytes()?)
    }

    /// Checks the whole model before it is used: the format and its version, a known task and an
    /// algorithm of that task with the predictor it trains, non-empty unique feature and class
    /// names, every shape (scaler lengths = features, one weight row per output with one weight
    /// per feature, tree features and children in range, children after their parent so a walk
    /// always ends, one leaf value per output) and every number finite (classification leaves:
    /// probabilities summing to 1). So `predict` can never go out of bounds, loop, or be handed a
    /// number that is not finite. The message names the field at fault.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(profile) = &self.profile {
            profile.check(&self.features)?;
            if !profile.classes.is_empty() && profile.classes.len() != self.classes.len() {
                return Err("field 'profile': one class count per class".into());
            }
        }
        if self.format != FORMAT {
            return Err(format!(
                "field 'format': \"{}\" is not \"{FORMAT}\"",
                self.format
            ));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "field 'format_version': version {} is not supported (this cairn reads version {FORMAT_VERSION})",
                self.format_version
            ));
        }
        let known = crate::hyper::algorithms(self.task);
        let task = self.task.name();
        if !known.contains(&self.algorithm.as_str()) {
            return Err(format!(
                "field 'algorithm': unknown algorithm '{}' for {task} (known: {})",
                self.algorithm,
                known.join(", ")
            ));
        }
        let expected = match self.algorithm.as_str() {
            "tree" => "tree",
            "forest" => "forest",
            _ => "linear",
        };
        let kind = match &self.predictor {
            Predictor::Linear { .. } => "linear",
            Predictor::Tree(_) => "tree",
            Predictor::Forest { .. } => "forest",
        };
        if kind != expected {
            return Err(format!(
                "field 'predictor.kind': algorithm '{}' has a {expected} predictor, not {kind}",
                self.algorithm
            ));
        }
        unique_names("features", &self.features)?;
        let n = self.features.len();
        if n == 0 {
            return Err("field 'features': no features".into());
        }
        if self.target.is_empty() {
            return Err("field 'target': empty name".into());
        }
        let outputs = match self.task {
            Task::Classification => {
                unique_names("classes", &self.classes)?;
                if self.classes.len() < 2 {
                    return Err("field 'classes': a classifier needs at least two classes".into());
                }
                self.classes.len()
            }
            Task::Regression => {
                if !self.classes.is_empty() {
                    return Err("field 'classes': a regression model has no classes".into());
                }
                1
            }
        };
        match &self.scaler {
            Scaler::None => {}
            Scaler::Standard { mean, std } => {
                numbers("scaler.mean", mean, n)?;
                numbers("scaler.std", std, n)?;
                if let Some(j) = std.iter().position(|s| *s < 0.0) {
                    return Err(format!("field 'scaler.std[{j}]': negative"));
                }
            }
            Scaler::MinMax { min, max } => {
                numbers("scaler.min", min, n)?;
                numbers("scaler.max", max, n)?;
                if let Some(j) = min.iter().zip(max).position(|(lo, hi)| lo > hi) {
                    return Err(format!("field 'scaler.max[{j}]': below scaler.min[{j}]"));
                }
            }
        }
        match &self.predictor {
            Predictor::Linear {
                weights,
                intercepts,
            } => {
                if weights.len() != outputs {
                    return Err(format!(
                        "field 'predictor.weights': {} rows for {outputs} {}",
                        weights.len(),
                        if self.task == Task::Classification {
                            "classes"
                        } else {
                            "output"
                        }
                    ));
                }
                for (i, row) in weights.iter().enumerate() {
                    numbers(&format!("predictor.weights[{i}]"), row, n)?;
                }
                numbers("predictor.intercepts", intercepts, outputs)?;
            }
            Predictor::Tree(tree) => tree.validate("predictor", n, outputs, self.task)?,
            Predictor::Forest { trees } => {
                if trees.is_empty() {
                    return Err("field 'predictor.trees': a forest needs at least one tree".into());
                }
                for (t, tree) in trees.iter().enumerate() {
                    tree.validate(&format!("predictor.trees[{t}]"), n, outputs, self.task)?;
                }
            }
        }
        Ok(())
    }

    /// Predicts one instance; `x` holds raw (unscaled) features in the order of `features`.
    ///
    /// Numerically stable for any finite input: scaled features and linear scores that would
    /// overflow saturate at the largest finite number, and the softmax subtracts the maximum
    /// score, so probabilities are always finite and sum to 1, and values are finite.
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
                    .map(|(w, b)| score(w, &scaled, *b))
                    .collect();
                match self.task {
                    Task::Classification => softmax(&scores),
                    Task::Regression => scores,
                }
            }
            Predictor::Tree(tree) => tree.leaf(&scaled).to_vec(),
            Predictor::Forest { trees } => {
                let n = trees.len() as f64;
                let mut sum = vec![0.0; trees[0].leaf(&scaled).len()];
                for tree in trees {
                    for (s, v) in sum.iter_mut().zip(tree.leaf(&scaled)) {
                        *s += v;
                    }
                }
                if sum.iter().all(|s| s.is_finite()) {
                    sum.iter().map(|s| s / n).collect()
                } else {
                    // Huge regression leaves overflowed the sum: average term by term instead
                    // (only the last rounding can still cross the largest finite number).
                    let mut mean = vec![0.0; sum.len()];
                    for tree in trees {
                        for (m, v) in mean.iter_mut().zip(tree.leaf(&scaled)) {
                            *m += v / n;
                        }
                    }
                    mean.into_iter().map(saturate).collect()
                }
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

    /// Applies the scaler to raw features. Finite inputs give finite outputs: a difference that
    /// overflows is taken in halves, a quotient that overflows saturates.
    pub fn scale(&self, x: &[f64]) -> Vec<f64> {
        match &self.scaler {
            Scaler::None => x.to_vec(),
            Scaler::Standard { mean, std } => x
                .iter()
                .zip(mean.iter().zip(std))
                .map(|(x, (m, s))| {
                    let v = if *s > 0.0 { (x - m) / s } else { x - m };
                    if v.is_finite() { v } else { saturate(v) }
                })
                .collect(),
            Scaler::MinMax { min, max } => x
                .iter()
                .zip(min.iter().zip(max))
                .map(|(x, (lo, hi))| {
                    let v = if hi > lo {
                        (x - lo) / (hi - lo)
                    } else {
                        x - lo
                    };
                    if v.is_finite() {
                        v
                    } else if hi > lo {
                        // (x − lo) or (hi − lo) overflowed: halves of both cannot.
                        saturate((x / 2.0 - lo / 2.0) / (hi / 2.0 - lo / 2.0))
                    } else {
                        saturate(v)
                    }
                })
                .collect(),
        }
    }
}

impl Tree {
    /// Checks the tree at `at` (for messages) against `features` inputs and `outputs` values.
    fn validate(
        &self,
        at: &str,
        features: usize,
        outputs: usize,
        task: Task,
    ) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err(format!(
                "field '{at}.nodes': a tree needs at least one node"
            ));
        }
        let len = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    if *feature >= features {
                        return Err(format!(
                            "field '{at}.nodes[{i}].feature': feature {feature} of {features}"
                        ));
                    }
                    if !threshold.is_finite() {
                        return Err(format!(
                            "field '{at}.nodes[{i}].threshold': not a finite number"
                        ));
                    }
                    // Children come after their parent: no cycles, so a walk always ends.
                    for (name, child) in [("left", left), ("right", right)] {
                        if *child <= i || *child >= len {
                            return Err(format!(
                                "field '{at}.nodes[{i}].{name}': child {child} is not a node after {i} (of {len})"
                            ));
                        }
                    }
                }
                Node::Leaf { value } => {
                    numbers(&format!("{at}.nodes[{i}].value"), value, outputs)?;
                    if task == Task::Classification {
                        let sum: f64 = value.iter().sum();
                        if value.iter().any(|p| *p < 0.0 || *p > 1.0) || (sum - 1.0).abs() > 1e-6 {
                            return Err(format!(
                                "field '{at}.nodes[{i}].value': class probabilities must lie in [0, 1] and sum to 1 (sum {sum})"
                            ));
                        }
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

/// `values` has `len` entries, all finite.
fn numbers(field: &str, values: &[f64], len: usize) -> std::result::Result<(), String> {
    if values.len() != len {
        return Err(format!(
            "field '{field}': {} values, expected {len}",
            values.len()
        ));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(j) => Err(format!("field '{field}[{j}]': not a finite number")),
        None => Ok(()),
    }
}

/// Names that are non-empty and unique.
fn unique_names(field: &str, names: &[String]) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(format!("field '{field}[{i}]': empty name"));
        }
        if !seen.insert(name.as_str()) {
            return Err(format!("field '{field}[{i}]': '{name}' appears twice"));
        }
    }
    Ok(())
}

/// `v`, or — if it overflowed — the largest finite number of its sign (NaN, which finite inputs
/// never produce here, becomes 0).
fn saturate(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(f64::MIN, f64::MAX)
    }
}

/// `w·x + b`, finite for any finite `w`, `x` and `b`.
fn score(w: &[f64], x: &[f64], b: f64) -> f64 {
    let s = w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b;
    if s.is_finite() {
        return s;
    }
    // A term overflowed (or +∞ met −∞): bound every term so that their sum cannot overflow.
    // Only astronomically large inputs get here, where the answer is the sign of the score.
    let bound = f64::MAX / (2.0 * (w.len() + 1) as f64);
    w.iter()
        .zip(x)
        .map(|(w, x)| (w * x).clamp(-bound, bound))
        .sum::<f64>()
        + b.clamp(-bound, bound)
}

/// The softmax of `scores`, stable for any input: the maximum is subtracted before `exp`, so
/// nothing overflows; the probabilities are always finite and sum to 1. A +∞ score shares all
/// the probability with the other +∞ scores; NaN counts as −∞; all −∞ (or NaN) is uniform.
pub fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores
        .iter()
        .filter(|s| !s.is_nan())
        .fold(f64::NEG_INFINITY, |m, s| m.max(*s));
    if !max.is_finite() {
        // All −∞/NaN (uniform), or some +∞ (they share everything).
        let winners = |s: &f64| max == f64::NEG_INFINITY || *s == max;
        let n = scores.iter().filter(|s| winners(s)).count().max(1) as f64;
        return scores
            .iter()
            .map(|s| if winners(s) { 1.0 / n } else { 0.0 })
            .collect();
    }
    // s − max ≤ 0, so exp is in [0, 1] and the maximum's term is 1: the sum is in [1, n].
    let exp: Vec<f64> = scores
        .iter()
        .map(|s| if s.is_nan() { 0.0 } else { (s - max).exp() })
        .collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_one(p: &[f64]) -> bool {
        p.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p))
            && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12
    }

    #[test]
    fn softmax_is_finite_and_sums_to_one_for_any_scores() {
        let cases: [&[f64]; 8] = [
            &[1.0, 2.0, 3.0],
            &[1e308, -1e308, 0.0],
            &[f64::MAX, f64::MAX, f64::MIN],
            &[f64::MIN, f64::MIN],
            &[f64::INFINITY, 1.0, f64::INFINITY],
            &[f64::NEG_INFINITY, f64::NEG_INFINITY],
            &[f64::NAN, 0.0, f64::NEG_INFINITY],
            &[f64::NAN, f64::NAN],
        ];
        for scores in cases {
            let p = softmax(scores);
            assert_eq!(p.len(), scores.len());
            assert!(sums_to_one(&p), "{scores:?} -> {p:?}");
        }
        let p = softmax(&[1e308, -1e308, 0.0]);
        assert_eq!(p, vec![1.0, 0.0, 0.0]);
        assert_eq!(
            softmax(&[f64::INFINITY, 1.0, f64::INFINITY]),
            vec![0.5, 0.0, 0.5]
        );
        // Ordinary scores are untouched by the guards: the textbook formula.
        let p = softmax(&[0.5, -1.0, 2.0]);
        let e: Vec<f64> = [0.5f64, -1.0, 2.0].iter().map(|s| s.exp()).collect();
        let total: f64 = e.iter().sum();
        for (p, e) in p.iter().zip(&e) {
            assert!((p - e / total).abs() < 1e-15);
        }
        assert!(softmax(&[]).is_empty());
    }

    fn model(scaler: Scaler, predictor: Predictor, task: Task) -> Model {
        let classification = task == Task::Classification;
        Model {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            task,
            algorithm: match (&predictor, classification) {
                (Predictor::Linear { .. }, true) => "logistic",
                (Predictor::Linear { .. }, false) => "linear",
                (Predictor::Tree(_), _) => "tree",
                (Predictor::Forest { .. }, _) => "forest",
            }
            .into(),
            hyperparameters: BTreeMap::new(),
            seed: 1,
            features: vec!["a".into(), "b".into()],
            target: "y".into(),
            classes: if classification {
                vec!["x".into(), "y".into(), "z".into()]
            } else {
                Vec::new()
            },
            scaler,
            data_digest: String::new(),
            training_metrics: BTreeMap::new(),
            predictor,
            profile: None,
        }
    }

    fn leaf(value: &[f64]) -> Node {
        Node::Leaf {
            value: value.to_vec(),
        }
    }

    fn tree(outputs: &[&[f64]; 2]) -> Tree {
        Tree {
            nodes: vec![
                Node::Split {
                    feature: 1,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                },
                leaf(outputs[0]),
                leaf(outputs[1]),
            ],
        }
    }

    #[test]
    fn every_kind_of_model_predicts_finite_numbers_for_extreme_inputs() {
        let scalers = [
            Scaler::None,
            Scaler::Standard {
                mean: vec![-1e308, 1e308],
                std: vec![0.5, 0.0],
            },
            Scaler::MinMax {
                min: vec![-f64::MAX, -1e308],
                max: vec![f64::MAX, 1e308],
            },
        ];
        let linear = |rows: usize| Predictor::Linear {
            weights: vec![vec![1e308, -1e308]; rows]
                .into_iter()
                .enumerate()
                .map(|(i, w)| w.iter().map(|v| v * (i as f64 - 1.0)).collect())
                .collect(),
            intercepts: vec![f64::MAX; rows],
        };
        let class_tree = tree(&[&[1.0, 0.0, 0.0], &[0.0, 0.25, 0.75]]);
        let value_tree = tree(&[&[f64::MAX], &[-f64::MAX]]);
        let mut models = Vec::new();
        for scaler in scalers {
            for (predictor, task) in [
                (linear(3), Task::Classification),
                (linear(1), Task::Regression),
                (Predictor::Tree(class_tree.clone()), Task::Classification),
                (Predictor::Tree(value_tree.clone()), Task::Regression),
                (
                    Predictor::Forest {
                        trees: vec![class_tree.clone(), class_tree.clone()],
                    },
                    Task::Classification,
                ),
                (
                    Predictor::Forest {
                        trees: vec![value_tree.clone(), value_tree.clone(), value_tree.clone()],
                    },
                    Task::Regression,
                ),
            ] {
                models.push(model(scaler.clone(), predictor, task));
            }
        }
        let extremes = [1e308, -1e308, f64::MAX, f64::MIN, 0.0, 1.0];
        for m in &models {
            m.validate().unwrap_or_else(|e| panic!("{e}: {m:?}"));
            for a in extremes {
                for b in extremes {
                    let p = m.predict(&[a, b]);
                    assert!(p.value.is_finite(), "{a} {b}: {p:?} from {m:?}");
                    if m.task == Task::Classification {
                        assert!(sums_to_one(&p.probabilities), "{a} {b}: {p:?} from {m:?}");
                        assert_eq!(p.class.map(|c| p.probabilities[c]), Some(p.value));
                    }
                }
            }
        }
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        let good = model(
            Scaler::None,
            Predictor::Linear {
                weights: vec![vec![1.0, 2.0]; 3],
                intercepts: vec![0.0; 3],
            },
            Task::Classification,
        );
        good.validate().expect("valid");
        let broken = |change: &dyn Fn(&mut Model), field: &str| {
            let mut m = good.clone();
            change(&mut m);
            let err = m.validate().expect_err(field);
            assert!(err.contains(&format!("field '{field}")), "{field}: {err}");
        };
        broken(&|m| m.algorithm = "nonsense".into(), "algorithm");
        broken(&|m| m.algorithm = "linear".into(), "algorithm");
        broken(&|m| m.algorithm = "tree".into(), "predictor.kind");
        broken(&|m| m.format_version = 2, "format_version");
        broken(&|m| m.features[1] = "a".into(), "features[1]");
        broken(&|m| m.classes[0] = String::new(), "classes[0]");
        broken(&|m| m.classes.truncate(1), "classes");
        broken(
            &|m| m.predictor = linear_with(vec![vec![1.0, 2.0]; 2], vec![0.0; 3]),
            "predictor.weights",
        );
        broken(
            &|m| m.predictor = linear_with(vec![vec![1.0]; 3], vec![0.0; 3]),
            "predictor.weights[0]",
        );
        broken(
            &|m| m.predictor = linear_with(vec![vec![1.0, f64::NAN]; 3], vec![0.0; 3]),
            "predictor.weights[0][1]",
        );
        broken(
            &|m| {
                m.scaler = Scaler::Standard {
                    mean: vec![0.0],
                    std: vec![1.0],
                }
            },
            "scaler.mean",
        );
        broken(
            &|m| {
                m.scaler = Scaler::MinMax {
                    min: vec![0.0, f64::INFINITY],
                    max: vec![1.0, 1.0],
                }
            },
            "scaler.min[1]",
        );
        let cyclic = Tree {
            nodes: vec![
                Node::Split {
                    feature: 0,
                    threshold: 0.0,
                    left: 1,
                    right: 0,
                },
                leaf(&[1.0, 0.0, 0.0]),
            ],
        };
        broken(
            &|m| {
                m.algorithm = "tree".into();
                m.predictor = Predictor::Tree(cyclic.clone());
            },
            "predictor.nodes[0].right",
        );
        broken(
            &|m| {
                m.algorithm = "forest".into();
                m.predictor = Predictor::Forest {
                    trees: vec![tree(&[&[1.0, 0.0, 0.0], &[0.5, 0.6, 0.0]])],
                };
            },
            "predictor.trees[0].nodes[2].value",
        );
    }

    fn linear_with(weights: Vec<Vec<f64>>, intercepts: Vec<f64>) -> Predictor {
        Predictor::Linear {
            weights,
            intercepts,
        }
    }
}
