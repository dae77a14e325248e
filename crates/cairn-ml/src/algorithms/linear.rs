//! Linear models: multinomial logistic regression (linfa-logistic) for classes, and least-squares
//! linear regression (with optional ridge penalty) for numbers, both as `Predictor::Linear`.

use linfa::prelude::*;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};

use crate::hyper::Hyper;
use crate::model::Predictor;
use cairn_core::error::{Error, Result};

/// Fits a softmax classifier; `y` holds class indices, every one of `0..n_classes` present.
pub fn fit_logistic(
    x: &Array2<f64>,
    y: &[usize],
    n_classes: usize,
    h: &Hyper,
) -> Result<Predictor> {
    let targets: Array1<usize> = y.iter().copied().collect();
    let fitted = MultiLogisticRegression::default()
        .alpha(h.f64("alpha"))
        .max_iterations(h.usize("max_iterations") as u64)
        .gradient_tolerance(h.f64("gradient_tolerance"))
        .with_intercept(h.bool("fit_intercept"))
        .fit(&Dataset::new(x.clone(), targets))
        .map_err(|e| Error::Failed(format!("logistic regression training failed: {e}")))?;
    // linfa numbers the classes it saw in sorted order; all of ours are in the training split.
    if fitted.classes() != (0..n_classes).collect::<Vec<_>>().as_slice() {
        return Err(Error::Failed(
            "the training split does not contain every class".into(),
        ));
    }
    let params = fitted.params();
    Ok(Predictor::Linear {
        weights: (0..n_classes).map(|c| params.column(c).to_vec()).collect(),
        intercepts: fitted.intercept().to_vec(),
    })
}

/// Fits `y ≈ w·x + b` by least squares, minimising `|y - Xw - b|² + alpha |w|²`.
pub fn fit_linear(x: &Array2<f64>, y: &[f64], h: &Hyper) -> Result<Predictor> {
    let (n, m) = x.dim();
    let intercept = h.bool("fit_intercept");
    // Centering makes the intercept fall out and keeps the normal equations well-conditioned.
    let x_mean: Vec<f64> = (0..m)
        .map(|j| {
            if intercept {
                x.column(j).sum() / n as f64
            } else {
                0.0
            }
        })
        .collect();
    let y_mean = if intercept {
        y.iter().sum::<f64>() / n as f64
    } else {
        0.0
    };
    let mut a = vec![vec![0.0; m]; m];
    let mut b = vec![0.0; m];
    for (row, &target) in x.rows().into_iter().zip(y) {
        let centred: Vec<f64> = row.iter().zip(&x_mean).map(|(v, mu)| v - mu).collect();
        for i in 0..m {
            b[i] += centred[i] * (target - y_mean);
            for j in 0..m {
                a[i][j] += centred[i] * centred[j];
            }
        }
    }
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += h.f64("alpha");
    }
    let w = solve(a, b).ok_or_else(|| {
        Error::Failed(
            "linear regression: the features are collinear (or constant); pass --param alpha=0.01 for a ridge penalty"
                .into(),
        )
    })?;
    let bias = y_mean - w.iter().zip(&x_mean).map(|(w, mu)| w * mu).sum::<f64>();
    Ok(Predictor::Linear {
        weights: vec![w],
        intercepts: vec![bias],
    })
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when `a` is singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let m = b.len();
    let scale = a
        .iter()
        .flatten()
        .fold(0.0_f64, |s, v| s.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    for col in 0..m {
        let pivot = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= scale * 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; m];
    for row in (0..m).rev() {
        let rest: f64 = (row + 1..m).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Task;

    #[test]
    fn linear_regression_recovers_an_exact_plane() {
        let x =
            Array2::from_shape_vec((4, 2), vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 2.0]).unwrap();
        let y: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|r| 3.0 * r[0] - 2.0 * r[1] + 1.0)
            .collect();
        let h = Hyper::resolve(Task::Regression, "linear", &[]).unwrap();
        let Predictor::Linear {
            weights,
            intercepts,
        } = fit_linear(&x, &y, &h).unwrap()
        else {
            panic!()
        };
        assert!((weights[0][0] - 3.0).abs() < 1e-9 && (weights[0][1] + 2.0).abs() < 1e-9);
        assert!((intercepts[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn collinear_features_are_refused_without_ridge() {
        let x = Array2::from_shape_vec((3, 2), vec![1.0, 2.0, 2.0, 4.0, 3.0, 6.0]).unwrap();
        let h = Hyper::resolve(Task::Regression, "linear", &[]).unwrap();
        assert!(fit_linear(&x, &[1.0, 2.0, 3.0], &h).is_err());
        let h = Hyper::resolve(Task::Regression, "linear", &["alpha=0.1".into()]).unwrap();
        assert!(fit_linear(&x, &[1.0, 2.0, 3.0], &h).is_ok());
    }
}
