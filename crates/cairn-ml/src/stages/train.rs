//! `cairn train`: fit a model on the training split of a preprocessed directory and write one
//! self-describing model file. Same inputs and seed, same bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::Array2;

use crate::evaluate::{self, Report};
use crate::hyper::{self, Hyper};
use crate::model::{self, Model, Predictor};
use crate::prepared::{Prepared, Split, Target};
use crate::{forest, linear, trees};

/// What `train` reads and writes.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Directory written by `preprocess`.
    pub input: PathBuf,
    /// Model file to write.
    pub output: PathBuf,
    /// The algorithm (default: the task's first).
    pub algorithm: Option<String>,
    /// Hyperparameters as KEY=VALUE.
    pub params: Vec<String>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Hyperparameters as `--KEY VALUE` pairs.
    pub hyperparameters: Vec<String>,
}
use cairn_core::error::{Error, Result};

/// `cairn train`.
pub fn train(args: &TrainOptions) -> Result<String> {
    let prepared = Prepared::open(&args.input)?;
    let schema = &prepared.schema;
    let split = prepared.train()?;
    let algorithm = args
        .algorithm
        .clone()
        .unwrap_or_else(|| hyper::algorithms(schema.task)[0].to_string());
    let mut pairs = args.params.clone();
    pairs.extend(hyper::pairs_from_flags(&args.hyperparameters)?);
    let hyper = Hyper::resolve(schema.task, &algorithm, &pairs)?;
    let mut model = Model {
        format: model::FORMAT.into(),
        format_version: model::FORMAT_VERSION,
        task: schema.task,
        algorithm,
        hyperparameters: hyper.values().clone(),
        seed: args.seed,
        features: schema.features.clone(),
        target: schema.target.clone(),
        classes: schema.classes.clone(),
        scaler: schema.scaler.clone(),
        data_digest: split.digest.clone(),
        training_metrics: BTreeMap::new(),
        // Replaced below; the model is built first so training scales exactly as prediction does.
        predictor: Predictor::Linear {
            weights: Vec::new(),
            intercepts: Vec::new(),
        },
        profile: None,
    };
    let x = scaled(&model, &split.x);
    model.predictor = fit(&model, &hyper, &x, &split.y, args.seed)?;
    model.training_metrics = training_metrics(&model, &split);
    model.profile = Some(profile(&model, &split));
    model.validate().map_err(|m| {
        Error::Failed(format!(
            "internal error: the trained model is inconsistent: {m}"
        ))
    })?;
    model.save(&args.output)?;
    let summary: Vec<String> = model
        .training_metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect();
    Ok(format!(
        "train: {} on {} rows -> {} (training {})",
        model.algorithm,
        split.x.nrows(),
        args.output.display(),
        summary.join(", ")
    ))
}

/// The training inputs as they arrive at prediction (before scaling), for drift.
fn profile(model: &Model, split: &crate::prepared::Split) -> crate::drift::Profile {
    let columns: Vec<Vec<f64>> = split.x.columns().into_iter().map(|c| c.to_vec()).collect();
    let classes = match &split.y {
        Target::Classes(y) => {
            let mut counts = vec![0u64; model.classes.len()];
            for &c in y {
                if let Some(n) = counts.get_mut(c) {
                    *n += 1;
                }
            }
            counts
        }
        Target::Values(_) => Vec::new(),
    };
    crate::drift::Profile::of(&model.features, &columns, classes)
}

fn scaled(model: &Model, raw: &Array2<f64>) -> Array2<f64> {
    let mut x = raw.clone();
    for mut row in x.rows_mut() {
        let s = model.scale(&row.to_vec());
        row.assign(&ndarray::ArrayView1::from(&s));
    }
    x
}

fn fit(model: &Model, h: &Hyper, x: &Array2<f64>, y: &Target, seed: u64) -> Result<Predictor> {
    let (n_rows, n_features) = x.dim();
    let all_rows: Vec<usize> = (0..n_rows).collect();
    let all_features: Vec<usize> = (0..n_features).collect();
    let tree_params = trees::TreeParams::new(h);
    let k = model.classes.len();
    let labels = match y {
        Target::Classes(y) => trees::Labels::Classes { y, n_classes: k },
        Target::Values(y) => trees::Labels::Values(y),
    };
    Ok(match (y, model.algorithm.as_str()) {
        (Target::Classes(y), "logistic") => linear::fit_logistic(x, y, k, h)?,
        (Target::Values(y), "linear") => linear::fit_linear(x, y, h)?,
        (_, "tree") => Predictor::Tree(trees::fit(
            x,
            labels,
            &all_rows,
            &all_features,
            &tree_params,
        )),
        (_, "forest") => Predictor::Forest {
            trees: forest::fit(n_rows, n_features, h, seed, |rows, features| {
                trees::fit(x, labels, rows, features, &tree_params)
            }),
        },
        (_, other) => return Err(Error::Usage(format!("unknown --algorithm '{other}'"))),
    })
}

/// Metrics of the model on its own training split, measured through `Model::predict`.
fn training_metrics(model: &Model, split: &Split) -> BTreeMap<String, f64> {
    let pairs = match evaluate::score(model, split) {
        Report::Classification(m) => [("accuracy", m.accuracy), ("f1_macro", m.f1_macro)],
        Report::Regression(m) => [("rmse", m.rmse), ("r2", m.r2)],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
