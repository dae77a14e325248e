//! A profile compared with what a model received: the figures per feature and the verdict.

use rayon::prelude::*;
use serde::Serialize;

use super::ks::ks_2samp;
use super::profile::{Profile, bin_counts, psi};

/// When a feature counts as drifted. Defaults follow common practice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// PSI at or above this is drift (0.2).
    pub psi_drift: f64,
    /// PSI at or above this is a warning (0.1).
    pub psi_warning: f64,
    /// A corrected KS p-value below this is drift (0.05).
    pub ks_alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi_drift: 0.2,
            psi_warning: 0.1,
            ks_alpha: 0.05,
        }
    }
}

/// One feature's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    /// PSI on the reference's bins.
    pub psi: f64,
    /// The KS statistic.
    pub ks_statistic: f64,
    /// The KS p-value, Bonferroni-corrected for the number of features.
    pub ks_pvalue: f64,
    pub reference_mean: f64,
    pub current_mean: f64,
    /// `drift`, `warning` or `ok`.
    pub status: &'static str,
}

/// The predicted class mix against the training one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMix {
    pub classes: Vec<String>,
    /// Shares in training.
    pub reference: Vec<f64>,
    /// Shares predicted.
    pub current: Vec<f64>,
    /// PSI between the two.
    pub psi: f64,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// Rows compared (the current sample).
    pub rows: usize,
    /// Rows of the reference.
    pub reference_rows: u64,
    pub thresholds: Thresholds,
    pub features: Vec<FeatureDrift>,
    /// Features whose status is `drift`.
    pub drifted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_mix: Option<ClassMix>,
}

/// Compares `current` (one column of values per feature of `profile`, in its order) and, for a
/// classifier, the predicted classes (`classes` named, `predicted` counted per class) with the
/// reference profile.
pub fn compare(
    profile: &Profile,
    current: &[Vec<f64>],
    classes: &[String],
    predicted: Option<&[u64]>,
    thresholds: Thresholds,
) -> DriftReport {
    let k = profile.features.len().max(1) as f64;
    // One feature per thread: sorting a million values is most of the work.
    let features: Vec<FeatureDrift> = profile
        .features
        .par_iter()
        .zip(current)
        .map(|(reference, values)| {
            let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            sorted.sort_unstable_by(f64::total_cmp);
            let psi = psi(&reference.counts, &bin_counts(&reference.edges, &sorted));
            let ks = ks_2samp(&reference.sample, &sorted);
            let (ks_statistic, raw_p) = ks.map_or((0.0, 1.0), |r| (r.statistic, r.pvalue));
            let ks_pvalue = (raw_p * k).min(1.0);
            let status = if psi >= thresholds.psi_drift || ks_pvalue < thresholds.ks_alpha {
                "drift"
            } else if psi >= thresholds.psi_warning {
                "warning"
            } else {
                "ok"
            };
            let current_mean = if sorted.is_empty() {
                0.0
            } else {
                sorted.iter().sum::<f64>() / sorted.len() as f64
            };
            FeatureDrift {
                feature: reference.name.clone(),
                psi,
                ks_statistic,
                ks_pvalue,
                reference_mean: reference.mean,
                current_mean,
                status,
            }
        })
        .collect();
    let class_mix = predicted
        .filter(|p| !profile.classes.is_empty() && p.len() == profile.classes.len())
        .map(|p| ClassMix {
            classes: classes.to_vec(),
            reference: shares(&profile.classes),
            current: shares(p),
            psi: psi(&profile.classes, p),
        });
    DriftReport {
        rows: current.first().map_or(0, Vec::len),
        reference_rows: profile.rows,
        thresholds,
        drifted: features
            .iter()
            .filter(|f| f.status == "drift")
            .map(|f| f.feature.clone())
            .collect(),
        features,
        class_mix,
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(|c| *c as f64 / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_feature_is_flagged_and_the_others_are_not() {
        let base: Vec<f64> = (0..500).map(|i| f64::from(i % 100) / 10.0).collect();
        let names = vec!["steady".to_string(), "shifted".to_string()];
        let profile = Profile::of(&names, &[base.clone(), base.clone()], vec![]);
        let shifted: Vec<f64> = base.iter().map(|v| v + 3.0).collect();
        let report = compare(
            &profile,
            &[base.clone(), shifted],
            &[],
            None,
            Thresholds::default(),
        );
        assert_eq!(report.drifted, ["shifted"]);
        assert_eq!(report.features[0].status, "ok");
        assert!(report.features[0].psi.abs() < 1e-12 && report.features[0].ks_pvalue == 1.0);
        assert!(report.features[1].psi > 0.2 && report.features[1].ks_pvalue < 0.05);
    }
}
