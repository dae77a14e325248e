//! Evaluation metrics: accuracy, precision/recall/F1 (per class, macro, weighted) and the
//! confusion matrix for classifiers; RMSE, MAE and R² for regression. Serialised with a fixed
//! key order so metrics files diff cleanly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metrics of a classifier on a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Unweighted mean over classes.
    pub precision_macro: f64,
    /// Unweighted mean over classes.
    pub recall_macro: f64,
    /// Unweighted mean over classes.
    pub f1_macro: f64,
    /// Mean over classes weighted by support.
    pub precision_weighted: f64,
    /// Mean over classes weighted by support.
    pub recall_weighted: f64,
    /// Mean over classes weighted by support.
    pub f1_weighted: f64,
    /// Number of instances.
    pub support: usize,
    /// Per class, by class name.
    pub per_class: BTreeMap<String, ClassScores>,
    /// Rows: actual class; columns: predicted class.
    pub confusion_matrix: ConfusionMatrix,
}

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Of those predicted as the class, the fraction that are.
    pub precision: f64,
    /// Of those that are the class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Instances of the class.
    pub support: usize,
}

/// A confusion matrix with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Class names, the order of rows and columns.
    pub labels: Vec<String>,
    /// `matrix[actual][predicted]` counts.
    pub matrix: Vec<Vec<usize>>,
}

/// Metrics of a regressor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination.
    pub r2: f64,
    /// Number of instances.
    pub support: usize,
}

/// Classification metrics; `actual` and `predicted` are indices into `classes`. A ratio with a
/// zero denominator is 0, as scikit-learn's default `zero_division`.
pub fn classification(classes: &[String], actual: &[usize], predicted: &[usize]) -> Classification {
    let k = classes.len();
    let mut matrix = vec![vec![0usize; k]; k];
    for (&a, &p) in actual.iter().zip(predicted) {
        matrix[a][p] += 1;
    }
    let n = actual.len();
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let mut per_class = BTreeMap::new();
    let (mut macro_p, mut macro_r, mut macro_f) = (0.0, 0.0, 0.0);
    let (mut weighted_p, mut weighted_r, mut weighted_f) = (0.0, 0.0, 0.0);
    for (c, name) in classes.iter().enumerate() {
        let tp = matrix[c][c];
        let support: usize = matrix[c].iter().sum();
        let predicted_as: usize = matrix.iter().map(|row| row[c]).sum();
        let precision = ratio(tp, predicted_as);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        macro_p += precision / k as f64;
        macro_r += recall / k as f64;
        macro_f += f1 / k as f64;
        let w = ratio(support, n);
        weighted_p += w * precision;
        weighted_r += w * recall;
        weighted_f += w * f1;
        per_class.insert(
            name.clone(),
            ClassScores {
                precision,
                recall,
                f1,
                support,
            },
        );
    }
    Classification {
        accuracy: ratio((0..k).map(|c| matrix[c][c]).sum(), n),
        precision_macro: macro_p,
        recall_macro: macro_r,
        f1_macro: macro_f,
        precision_weighted: weighted_p,
        recall_weighted: weighted_r,
        f1_weighted: weighted_f,
        support: n,
        per_class,
        confusion_matrix: ConfusionMatrix {
            labels: classes.to_vec(),
            matrix,
        },
    }
}

/// Regression metrics. R² of a constant target is 1 when predicted exactly, else 0.
pub fn regression(actual: &[f64], predicted: &[f64]) -> Regression {
    let n = actual.len().max(1) as f64;
    let mean = actual.iter().sum::<f64>() / n;
    let ss_res: f64 = actual
        .iter()
        .zip(predicted)
        .map(|(a, p)| (a - p).powi(2))
        .sum();
    let ss_tot: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    Regression {
        rmse: (ss_res / n).sqrt(),
        mae: actual
            .iter()
            .zip(predicted)
            .map(|(a, p)| (a - p).abs())
            .sum::<f64>()
            / n,
        r2,
        support: actual.len(),
    }
}

/// Whether a smaller value of the metric is better.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "rmse" | "mae" | "mse" | "loss" | "log_loss")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn classification_matches_hand_computed_values() {
        // actual:    a a a b b c
        // predicted: a a b b c c
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let m = classification(&classes, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        assert_eq!(
            m.confusion_matrix.matrix,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!(close(m.accuracy, 4.0 / 6.0));
        let a = &m.per_class["a"];
        assert!(close(a.precision, 1.0) && close(a.recall, 2.0 / 3.0) && close(a.f1, 0.8));
        let b = &m.per_class["b"];
        assert!(close(b.precision, 0.5) && close(b.recall, 0.5) && close(b.f1, 0.5));
        let c = &m.per_class["c"];
        assert!(close(c.precision, 0.5) && close(c.recall, 1.0) && close(c.f1, 2.0 / 3.0));
        assert!(close(m.precision_macro, 2.0 / 3.0));
        assert!(close(m.recall_macro, (2.0 / 3.0 + 0.5 + 1.0) / 3.0));
        assert!(close(
            m.f1_weighted,
            (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0
        ));
        assert!(
            close(m.recall_weighted, m.accuracy),
            "weighted recall equals accuracy"
        );
    }

    #[test]
    fn a_class_never_predicted_has_zero_precision() {
        let classes: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let m = classification(&classes, &[0, 1], &[0, 0]);
        assert_eq!(m.per_class["b"].precision, 0.0);
        assert_eq!(m.per_class["b"].f1, 0.0);
    }

    #[test]
    fn regression_metrics() {
        let m = regression(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 6.0]);
        assert!(close(m.rmse, 1.0) && close(m.mae, 0.5));
        assert!(close(m.r2, 1.0 - 4.0 / 5.0));
        assert_eq!(regression(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
    }

    #[test]
    fn error_metrics_are_minimised() {
        assert!(lower_is_better("rmse") && lower_is_better("mae"));
        assert!(!lower_is_better("accuracy") && !lower_is_better("r2"));
    }
}
