//! `cairn evaluate`: score a model file on the test split through `Model::predict` (exactly what
//! `cairn serve` answers), write the metrics JSON and, with `--plots`, the confusion matrix.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::metrics;
use crate::model::Model;
use crate::plots;
use crate::prepared::{Prepared, Split, Target};

/// What `evaluate` reads and writes.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Model file.
    pub model: PathBuf,
    /// Directory written by `preprocess`.
    pub input: PathBuf,
    /// Metrics JSON file to write.
    pub metrics: PathBuf,
    /// Directory for the confusion matrix (CSV and SVG) and each class's ROC and precision–recall
    /// curves (or, for regression, the predictions).
    pub plots: Option<PathBuf>,
}
use cairn_core::error::{Error, Result};

/// The metrics of a model on a split.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// For a classifier.
    Classification(metrics::Classification),
    /// For a regressor.
    Regression(metrics::Regression),
}

/// Scores `model` on `split`; the split must come from data with the model's schema.
pub fn score(model: &Model, split: &Split) -> Report {
    let predictions = split
        .x
        .rows()
        .into_iter()
        .map(|row| model.predict(&row.to_vec()));
    match &split.y {
        Target::Classes(actual) => {
            let predicted: Vec<usize> = predictions.map(|p| p.class.unwrap_or(0)).collect();
            Report::Classification(metrics::classification(&model.classes, actual, &predicted))
        }
        Target::Values(actual) => {
            let predicted: Vec<f64> = predictions.map(|p| p.value).collect();
            Report::Regression(metrics::regression(actual, &predicted))
        }
    }
}

/// `cairn evaluate`.
pub fn evaluate(args: &EvaluateOptions) -> Result<String> {
    let model = Model::load(&args.model)?;
    let prepared = Prepared::open(&args.input)?;
    check_fits(&model, &args.model, &prepared, &args.input)?;
    let test = prepared.test()?;
    let report = score(&model, &test);
    if let Some(dir) = &args.plots {
        match &report {
            Report::Classification(m) => {
                plots::write_confusion_matrix(dir, &m.confusion_matrix, &model, &test)?
            }
            Report::Regression(_) => plots::write_predictions(dir, &model, &test)?,
        }
    }
    cairn_core::atomic::write(&args.metrics, &crate::pretty_json(&report)?)?;
    let summary = match &report {
        Report::Classification(m) => {
            format!("accuracy {:.4}, f1_macro {:.4}", m.accuracy, m.f1_macro)
        }
        Report::Regression(m) => format!("rmse {:.4}, mae {:.4}, r2 {:.4}", m.rmse, m.mae, m.r2),
    };
    Ok(format!(
        "evaluate: {} on {} test rows: {summary} -> {}",
        args.model.display(),
        test.x.nrows(),
        args.metrics.display()
    ))
}

/// Scores `model` (read from `model_path`) on the test split of the prepared data in `dir`,
/// once it is known to fit that data; also says how many rows were scored. What
/// `cairn models compare` puts two models side by side with.
pub fn score_test_split(model: &Model, model_path: &Path, dir: &Path) -> Result<(Report, usize)> {
    let prepared = Prepared::open(dir)?;
    check_fits(model, model_path, &prepared, dir)?;
    let test = prepared.test()?;
    Ok((score(model, &test), test.x.nrows()))
}

/// The model must have been trained on data shaped like the directory's.
fn check_fits(model: &Model, model_path: &Path, prepared: &Prepared, input: &Path) -> Result<()> {
    let schema = &prepared.schema;
    let problem = if model.features != schema.features {
        format!(
            "expects features {:?} but {} has {:?}",
            model.features,
            input.display(),
            schema.features
        )
    } else if model.task != schema.task {
        format!(
            "is a {} model but {} holds {} data",
            model.task.name(),
            input.display(),
            schema.task.name()
        )
    } else if model.classes != schema.classes {
        format!(
            "knows classes {:?} but {} has {:?}",
            model.classes,
            input.display(),
            schema.classes
        )
    } else {
        return Ok(());
    };
    Err(Error::data(
        model_path,
        format!("this model {problem}; train it on this data first"),
    ))
}
