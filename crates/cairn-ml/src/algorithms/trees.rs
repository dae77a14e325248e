//! Decision trees (CART) in cairn's node-array form, for classes (Gini or entropy; leaves hold
//! the class probabilities of the training rows reaching them) and numbers (squared error;
//! leaves hold the mean).
//!
//! Written here rather than taken from linfa-trees 0.7: that crate sums class frequencies over a
//! `HashMap` in its random iteration order, so near-tied splits flip from run to run and a forest
//! trained twice with the same seed differed (measured: 4 runs, 4 different model files). Here
//! every sum runs in a fixed order and ties keep the first split found (features in order,
//! thresholds ascending), so the same data gives the same tree, bit for bit.

use ndarray::Array2;

use crate::hyper::Hyper;
use crate::model::{Node, Tree};

/// The tree-growing hyperparameters shared by `tree` and `forest`.
#[derive(Debug, Clone)]
pub struct TreeParams {
    max_depth: Option<usize>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    min_impurity_decrease: f64,
    entropy: bool,
}

impl TreeParams {
    /// Reads them from resolved hyperparameters.
    pub fn new(h: &Hyper) -> TreeParams {
        TreeParams {
            max_depth: h.limit("max_depth"),
            min_samples_split: h.usize("min_samples_split"),
            min_samples_leaf: h.usize("min_samples_leaf"),
            min_impurity_decrease: h.f64("min_impurity_decrease"),
            entropy: h.str("criterion") == "entropy",
        }
    }
}

/// What a tree learns to predict.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    /// Class indices below `n_classes`.
    Classes { y: &'a [usize], n_classes: usize },
    /// Numbers.
    Values(&'a [f64]),
}

/// Fits a tree on `rows` of `x` (repeats allowed, as in a bootstrap sample) using only the
/// columns `features`.
pub fn fit(
    x: &Array2<f64>,
    labels: Labels,
    rows: &[usize],
    features: &[usize],
    p: &TreeParams,
) -> Tree {
    let mut cart = Cart {
        x,
        labels,
        features,
        p,
        total_rows: rows.len() as f64,
        nodes: Vec::new(),
    };
    cart.grow(rows.to_vec(), 0);
    Tree { nodes: cart.nodes }
}

/// Running label statistics of a set of rows: class counts, or the sum and sum of squares of
/// deviations from a reference value (which keeps the sums well-conditioned).
#[derive(Debug, Clone)]
struct Stats {
    n: f64,
    counts: Vec<f64>,
    sum: f64,
    sq: f64,
}

struct Cart<'a> {
    x: &'a Array2<f64>,
    labels: Labels<'a>,
    features: &'a [usize],
    p: &'a TreeParams,
    total_rows: f64,
    nodes: Vec<Node>,
}

impl Cart<'_> {
    fn empty(&self) -> Stats {
        let k = match self.labels {
            Labels::Classes { n_classes, .. } => n_classes,
            Labels::Values(_) => 0,
        };
        Stats {
            n: 0.0,
            counts: vec![0.0; k],
            sum: 0.0,
            sq: 0.0,
        }
    }

    fn add(&self, s: &mut Stats, row: usize, reference: f64) {
        s.n += 1.0;
        match self.labels {
            Labels::Classes { y, .. } => s.counts[y[row]] += 1.0,
            Labels::Values(y) => {
                let d = y[row] - reference;
                s.sum += d;
                s.sq += d * d;
            }
        }
    }

    /// `n × impurity` of the rows `total` minus `left` (pass an empty `left` for `total` itself).
    fn cost(&self, total: &Stats, left: &Stats) -> f64 {
        let n = total.n - left.n;
        match self.labels {
            Labels::Classes { .. } => {
                let counts = total.counts.iter().zip(&left.counts).map(|(t, l)| t - l);
                if self.p.entropy {
                    -counts
                        .filter(|&c| c > 0.0)
                        .map(|c| c * (c / n).log2())
                        .sum::<f64>()
                } else {
                    n - counts.map(|c| c * c).sum::<f64>() / n
                }
            }
            Labels::Values(_) => {
                let sum = total.sum - left.sum;
                (total.sq - left.sq) - sum * sum / n
            }
        }
    }

    fn leaf(&self, s: &Stats, reference: f64) -> Vec<f64> {
        match self.labels {
            Labels::Classes { .. } => s.counts.iter().map(|c| c / s.n).collect(),
            Labels::Values(_) => vec![reference + s.sum / s.n],
        }
    }

    fn grow(&mut self, rows: Vec<usize>, depth: usize) -> usize {
        let reference = match self.labels {
            Labels::Values(y) => y[rows[0]],
            Labels::Classes { .. } => 0.0,
        };
        let mut stats = self.empty();
        for &r in &rows {
            self.add(&mut stats, r, reference);
        }
        let index = self.nodes.len();
        self.nodes.push(Node::Leaf {
            value: self.leaf(&stats, reference),
        });
        let deep_enough = self.p.max_depth.is_some_and(|d| depth >= d);
        if deep_enough || rows.len() < self.p.min_samples_split {
            return index;
        }
        let Some((feature, threshold)) = self.best_split(&rows, &stats, reference) else {
            return index;
        };
        let (left, right): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&r| self.x[[r, feature]] <= threshold);
        let left = self.grow(left, depth + 1);
        let right = self.grow(right, depth + 1);
        self.nodes[index] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        index
    }

    /// The split with the lowest cost, if it lowers the impurity by at least
    /// `min_impurity_decrease` (weighted by the node's share of the rows, as scikit-learn does).
    fn best_split(&self, rows: &[usize], total: &Stats, reference: f64) -> Option<(usize, f64)> {
        let n = rows.len();
        let parent = self.cost(total, &self.empty());
        let mut best: Option<(usize, f64, f64)> = None;
        let mut order = rows.to_vec();
        for &f in self.features {
            order.copy_from_slice(rows);
            order.sort_by(|&a, &b| self.x[[a, f]].total_cmp(&self.x[[b, f]]));
            let mut left = self.empty();
            for i in 0..n - 1 {
                self.add(&mut left, order[i], reference);
                let (a, b) = (self.x[[order[i], f]], self.x[[order[i + 1], f]]);
                let (nl, nr) = (i + 1, n - i - 1);
                if a == b || nl < self.p.min_samples_leaf || nr < self.p.min_samples_leaf {
                    continue;
                }
                let cost = self.cost(&left, &self.empty()) + self.cost(total, &left);
                if best.is_none_or(|(_, _, c)| cost < c) {
                    let mid = a + (b - a) / 2.0;
                    best = Some((f, if mid < b { mid } else { a }, cost));
                }
            }
        }
        let (feature, threshold, cost) = best?;
        let decrease = (parent - cost) / self.total_rows;
        let tiny = 1e-12 * (parent / self.total_rows).abs();
        (decrease > tiny && decrease >= self.p.min_impurity_decrease)
            .then_some((feature, threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Task;

    /// A tree on one feature column `x`, using `rows` of it.
    fn grow(x: &[f64], labels: Labels, rows: &[usize], task: Task, pairs: &[&str]) -> Tree {
        let pairs: Vec<String> = pairs.iter().map(|s| s.to_string()).collect();
        let params = TreeParams::new(&Hyper::resolve(task, "tree", &pairs).unwrap());
        let x = Array2::from_shape_vec((x.len(), 1), x.to_vec()).unwrap();
        fit(&x, labels, rows, &[0], &params)
    }

    const X: [f64; 4] = [1.0, 2.0, 3.0, 4.0];
    const ALL: [usize; 4] = [0, 1, 2, 3];

    #[test]
    fn regression_tree_splits_a_step_at_the_midpoint() {
        let y = [0.0, 0.0, 10.0, 10.0];
        let tree = grow(&X, Labels::Values(&y), &ALL, Task::Regression, &[]);
        assert_eq!(tree.leaf(&[1.5]), &[0.0]);
        assert_eq!(tree.leaf(&[3.5]), &[10.0]);
        assert!(matches!(tree.nodes[0], Node::Split { threshold, .. } if threshold == 2.5));
    }

    #[test]
    fn max_depth_limits_the_tree() {
        let y = [1.0, 2.0, 3.0, 6.0];
        let tree = grow(
            &X,
            Labels::Values(&y),
            &ALL,
            Task::Regression,
            &["max_depth=1"],
        );
        assert_eq!(tree.nodes.len(), 3);
    }

    #[test]
    fn classification_leaves_hold_the_class_shares_of_their_rows() {
        let y = [0, 0, 1, 1];
        let labels = Labels::Classes {
            y: &y,
            n_classes: 2,
        };
        let tree = grow(&X, labels, &ALL, Task::Classification, &[]);
        assert_eq!(tree.leaf(&[0.0]), &[1.0, 0.0]);
        assert_eq!(tree.leaf(&[5.0]), &[0.0, 1.0]);
        // A root-only tree; repeated rows (a bootstrap sample) count as often as they appear.
        let root_only = ["min_samples_split=10"];
        let tree = grow(&X, labels, &[0, 2, 2, 2], Task::Classification, &root_only);
        assert_eq!(tree.leaf(&[0.0]), &[0.25, 0.75]);
    }

    #[test]
    fn entropy_and_gini_both_find_a_clean_split_and_stop_at_pure_leaves() {
        let y = [0, 0, 1, 1];
        for criterion in ["criterion=gini", "criterion=entropy"] {
            let labels = Labels::Classes {
                y: &y,
                n_classes: 2,
            };
            let tree = grow(&X, labels, &ALL, Task::Classification, &[criterion]);
            assert_eq!(tree.nodes.len(), 3, "{criterion}");
        }
    }

    #[test]
    fn min_impurity_decrease_prunes_weak_splits() {
        let y = [0.0, 0.0, 0.0, 0.1];
        let strict = ["min_impurity_decrease=1"];
        let tree = grow(&X, Labels::Values(&y), &ALL, Task::Regression, &strict);
        assert_eq!(tree.nodes.len(), 1);
    }
}
