//! The reference profile: per feature, quantile bin edges with the training split's count in
//! each bin, summary statistics and a bounded sorted sample (for the KS test), so drift needs no
//! access to the training data later.

use serde::{Deserialize, Serialize};

/// Bins per feature (deciles, as PSI is usually computed).
pub const BINS: usize = 10;
/// Most reference values kept per feature for the KS test: evenly spaced order statistics
/// beyond this (all of them up to it, so the test is exact for training sets that size).
pub const MAX_SAMPLE: usize = 2000;
/// A share of zero in PSI is taken as this, as Evidently and most references do, so an empty
/// bin gives a large but finite term.
pub const EMPTY_SHARE: f64 = 1e-4;

/// What the training inputs looked like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Rows profiled.
    pub rows: u64,
    /// One per feature, in the model's feature order.
    pub features: Vec<FeatureProfile>,
    /// Training rows per class, in the model's class order (classification).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<u64>,
}

/// One feature's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureProfile {
    /// The feature.
    pub name: String,
    /// Inner bin edges, increasing and distinct: bin `i` holds values in `(edges[i-1], edges[i]]`,
    /// the first everything up to `edges[0]`, the last everything above the last edge. A
    /// constant feature's value is a bin of its own, between two empty ones.
    pub edges: Vec<f64>,
    /// Training values per bin (`edges.len() + 1` of them).
    pub counts: Vec<u64>,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Sorted training values (or evenly spaced order statistics of them).
    pub sample: Vec<f64>,
}

impl Profile {
    /// The profile of `columns` (one per feature, each the feature's finite values) named
    /// `names`, with `classes` rows per class.
    pub fn of(names: &[String], columns: &[Vec<f64>], classes: Vec<u64>) -> Profile {
        let features = names
            .iter()
            .zip(columns)
            .map(|(name, values)| FeatureProfile::of(name, values))
            .collect();
        Profile {
            rows: columns.first().map_or(0, |c| c.len() as u64),
            features,
            classes,
        }
    }

    /// Why the profile cannot be used with `features`, if it cannot.
    pub fn check(&self, features: &[String]) -> Result<(), String> {
        let names: Vec<&str> = self.features.iter().map(|f| f.name.as_str()).collect();
        if names != features.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(format!(
                "profile: features [{}] are not the model's",
                names.join(", ")
            ));
        }
        for f in &self.features {
            let increasing = f.edges.windows(2).all(|w| w[0] < w[1]);
            let sorted = f.sample.windows(2).all(|w| w[0] <= w[1]);
            let finite = f.edges.iter().chain(&f.sample).all(|v| v.is_finite());
            if !increasing || !sorted || !finite || f.counts.len() != f.edges.len() + 1 {
                return Err(format!(
                    "profile of feature '{}': edges must be finite and increasing with one count per bin, the sample sorted",
                    f.name
                ));
            }
        }
        Ok(())
    }
}

impl FeatureProfile {
    /// The profile of one feature's values.
    pub fn of(name: &str, values: &[f64]) -> FeatureProfile {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mut edges: Vec<f64> = (1..BINS)
            .map(|i| quantile(&sorted, i as f64 / BINS as f64))
            .collect();
        edges.dedup();
        // The top edge at the maximum would leave the last bin empty by construction.
        if edges.last() == sorted.last() && edges.len() > 1 {
            edges.pop();
        }
        // A constant feature: its value alone is a bin, so that any other value shows.
        if let (true, Some(&v)) = (edges.len() <= 1, sorted.first())
            && sorted.last() == Some(&v)
        {
            edges = vec![v.next_down(), v];
        }
        let counts = bin_counts(&edges, &sorted);
        let mean = if n == 0 {
            0.0
        } else {
            sorted.iter().sum::<f64>() / n as f64
        };
        let var = if n == 0 {
            0.0
        } else {
            sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64
        };
        let sample = if n <= MAX_SAMPLE {
            sorted.clone()
        } else {
            (0..MAX_SAMPLE)
                .map(|i| sorted[i * (n - 1) / (MAX_SAMPLE - 1)])
                .collect()
        };
        FeatureProfile {
            name: name.to_string(),
            edges,
            counts,
            mean,
            std: var.sqrt(),
            min: sorted.first().copied().unwrap_or(0.0),
            max: sorted.last().copied().unwrap_or(0.0),
            sample,
        }
    }
}

/// The `q` quantile of sorted values, interpolated linearly (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let at = q * (n - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
        }
    }
}

/// How many of `values` fall in each bin of `edges`.
pub fn bin_counts(edges: &[f64], values: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for v in values.iter().filter(|v| v.is_finite()) {
        counts[edges.partition_point(|e| e < v)] += 1;
    }
    counts
}

/// The population stability index of `current` against `reference` (counts per bin):
/// Σ (c − r) · ln(c / r) over the bins' shares, an empty share taken as [`EMPTY_SHARE`].
/// Zero when either side is empty: there is nothing to compare.
pub fn psi(reference: &[u64], current: &[u64]) -> f64 {
    let (rt, ct) = (reference.iter().sum::<u64>(), current.iter().sum::<u64>());
    if rt == 0 || ct == 0 {
        return 0.0;
    }
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = (r as f64 / rt as f64).max(EMPTY_SHARE);
            let c = (c as f64 / ct as f64).max(EMPTY_SHARE);
            (c - r) * (c / r).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_deciles_and_a_constant_feature_s_value_is_a_bin_of_its_own() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let f = FeatureProfile::of("x", &values);
        assert_eq!(f.edges.len(), 9);
        assert!((f.edges[0] - 10.9).abs() < 1e-12, "{:?}", f.edges);
        assert_eq!(f.counts, vec![10; 10]);
        assert!((f.mean - 50.5).abs() < 1e-12);
        let constant = FeatureProfile::of("c", &[3.0; 50]);
        assert_eq!(constant.counts, vec![0, 50, 0]);
        assert_eq!(constant.std, 0.0);
        assert_eq!(
            psi(&constant.counts, &bin_counts(&constant.edges, &[3.0; 20])),
            0.0
        );
        for other in [7.0, -1.0] {
            let shifted = psi(&constant.counts, &bin_counts(&constant.edges, &[other; 20]));
            assert!(shifted.is_finite() && shifted > 1.0, "{other}: {shifted}");
        }
    }

    #[test]
    fn psi_by_hand() {
        // Shares 0.5/0.5 against 0.25/0.75: (0.25-0.5)·ln(0.5) + (0.75-0.5)·ln(1.5).
        let want = -0.25 * (0.5f64).ln() + 0.25 * (1.5f64).ln();
        assert!((psi(&[50, 50], &[25, 75]) - want).abs() < 1e-12);
        assert_eq!(psi(&[10, 10], &[3, 3]), 0.0);
        // An empty bin is finite.
        let empty = psi(&[10, 0], &[5, 5]);
        assert!(empty.is_finite() && empty > 1.0);
        assert_eq!(psi(&[], &[]), 0.0);
    }
}
