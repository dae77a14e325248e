//! `cairn models compare`: two models scored on the same held-out data, every metric side by
//! side, and the decision the rule gives: the candidate wins when it beats the other by more
//! than `min_delta` on the chosen metric, the right way round (a lower RMSE is better). A tie
//! is not a win, so nothing is promoted on noise.

use std::path::Path;

use serde::Serialize;

use cairn_core::error::{Error, Result};
use cairn_ml::model::{Model, Task};

/// When the candidate wins.
#[derive(Debug, Clone, Default)]
pub struct Rule {
    /// The metric that decides (default: `f1_macro` for classifiers, `rmse` for regressors).
    pub metric: Option<String>,
    /// By how much the candidate must be better, in the metric's units.
    pub min_delta: f64,
}

/// One metric of both models.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    /// The metric.
    pub name: String,
    /// The candidate's value.
    pub candidate: f64,
    /// The other model's value.
    pub against: f64,
    /// Whether smaller is better.
    pub lower_is_better: bool,
}

/// Both models' metrics and the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Every metric, sorted by name.
    pub metrics: Vec<MetricRow>,
    /// The metric that decided.
    pub metric: String,
    /// Whether smaller is better for it.
    pub lower_is_better: bool,
    /// How much better the candidate is on it (negative: worse).
    pub improvement: f64,
    /// What the rule asked for.
    pub min_delta: f64,
    /// Whether the candidate wins.
    pub wins: bool,
    /// Rows both were scored on.
    pub rows: usize,
}

/// Scores `candidate` and `against` (each with the path or reference it was read from, for
/// messages) on the test split of the prepared data in `data`, and decides by `rule`.
pub fn compare(
    candidate: (&Model, &Path),
    against: (&Model, &Path),
    data: &Path,
    rule: &Rule,
) -> Result<Comparison> {
    if !rule.min_delta.is_finite() {
        return Err(Error::Usage("--min-delta must be a finite number".into()));
    }
    if candidate.0.task != against.0.task {
        return Err(Error::Usage(format!(
            "{} and {} do not predict the same kind of thing (one is a classifier, the other a regressor): compare versions of one model",
            candidate.1.display(),
            against.1.display()
        )));
    }
    let (scores, rows) = cairn_ml::score_test_split(candidate.0, candidate.1, data)?;
    let (other, _) = cairn_ml::score_test_split(against.0, against.1, data)?;
    let (scores, other) = (numbers(&scores), numbers(&other));
    let metrics: Vec<MetricRow> = scores
        .iter()
        .filter_map(|(name, c)| {
            let a = other.iter().find(|(n, _)| n == name)?.1;
            Some(MetricRow {
                name: name.clone(),
                candidate: *c,
                against: a,
                lower_is_better: cairn_ml::lower_is_better(name),
            })
        })
        .collect();
    let metric = rule.metric.clone().unwrap_or_else(|| {
        match candidate.0.task {
            Task::Classification => "f1_macro",
            Task::Regression => "rmse",
        }
        .to_string()
    });
    let row = metrics.iter().find(|r| r.name == metric).ok_or_else(|| {
        let names: Vec<&str> = metrics.iter().map(|r| r.name.as_str()).collect();
        Error::Usage(format!(
            "no metric '{metric}' to decide by; these models have: {}",
            names.join(", ")
        ))
    })?;
    let improvement = if row.lower_is_better {
        row.against - row.candidate
    } else {
        row.candidate - row.against
    };
    Ok(Comparison {
        lower_is_better: row.lower_is_better,
        wins: improvement > rule.min_delta,
        improvement,
        min_delta: rule.min_delta,
        metric,
        metrics,
        rows,
    })
}

/// The report's top-level measures (counts such as `support` are the same for both and left
/// out), sorted by name.
fn numbers(report: &cairn_ml::Report) -> Vec<(String, f64)> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(report) else {
        return Vec::new();
    };
    let mut numbers: Vec<(String, f64)> = fields
        .into_iter()
        .filter(|(name, value)| name != "support" && value.is_f64())
        .filter_map(|(name, value)| Some((name, value.as_f64()?)))
        .collect();
    numbers.sort_by(|a, b| a.0.cmp(&b.0));
    numbers
}
