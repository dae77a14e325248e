//! Random forests by bagging: each tree gets a bootstrap sample of the rows and a random subset
//! of the features, drawn from its own seeded stream so the forest is the same whatever order
//! the trees are trained in (they train in parallel).

use rayon::prelude::*;

use crate::hyper::Hyper;
use crate::model::Tree;
use crate::rng::SplitMix64;

/// Trains `n_estimators` trees with `fit_tree(rows, features)` on samples of `n_rows` rows and
/// `n_features` features.
pub fn fit<F>(n_rows: usize, n_features: usize, h: &Hyper, seed: u64, fit_tree: F) -> Vec<Tree>
where
    F: Fn(&[usize], &[usize]) -> Tree + Sync,
{
    let n_trees = h.usize("n_estimators");
    let per_tree =
        ((n_features as f64 * h.f64("feature_fraction")).round() as usize).clamp(1, n_features);
    let bootstrap = h.bool("bootstrap");
    let bar = cairn_core::report::bar(
        "training",
        n_trees as u64,
        cairn_core::report::Unit::Count("trees"),
    );
    let trees = (0..n_trees)
        .into_par_iter()
        .map(|i| {
            let mut rng = SplitMix64::stream(seed, i as u64);
            let rows: Vec<usize> = if bootstrap {
                (0..n_rows).map(|_| rng.below(n_rows)).collect()
            } else {
                (0..n_rows).collect()
            };
            let mut features: Vec<usize> = (0..n_features).collect();
            rng.shuffle(&mut features);
            features.truncate(per_tree);
            features.sort_unstable();
            let tree = fit_tree(&rows, &features);
            bar.inc(1);
            tree
        })
        .collect();
    bar.finish();
    trees
}
