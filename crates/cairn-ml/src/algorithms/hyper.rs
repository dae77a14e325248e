//! Hyperparameters: each algorithm's valid keys, their types and defaults, and the parsing of
//! `--param KEY=VALUE`. The resolved values (defaults included) go into the model file.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Task;
use cairn_core::error::{Error, Result};

/// The type (and range) of a hyperparameter.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A number greater than `min` (exclusive when `open`), at most `max`.
    Float { min: f64, open: bool, max: f64 },
    /// An integer at least `min`.
    Int { min: u64 },
    /// An integer at least 1, or `none` for no limit.
    Limit,
    /// `true` or `false`.
    Bool,
    /// One of the words.
    Choice(&'static [&'static str]),
}

/// A hyperparameter's name, type, default and meaning.
#[derive(Debug, Clone, Copy)]
struct Spec {
    name: &'static str,
    kind: Kind,
    default: &'static str,
}

const fn spec(name: &'static str, kind: Kind, default: &'static str) -> Spec {
    Spec {
        name,
        kind,
        default,
    }
}

const POSITIVE: Kind = Kind::Float {
    min: 0.0,
    open: true,
    max: f64::INFINITY,
};
const NON_NEGATIVE: Kind = Kind::Float {
    min: 0.0,
    open: false,
    max: f64::INFINITY,
};
const FRACTION: Kind = Kind::Float {
    min: 0.0,
    open: true,
    max: 1.0,
};
const CRITERIA: Kind = Kind::Choice(&["gini", "entropy"]);

const LOGISTIC: &[Spec] = &[
    spec("alpha", NON_NEGATIVE, "1.0"),
    spec("max_iterations", Kind::Int { min: 1 }, "200"),
    spec("gradient_tolerance", POSITIVE, "0.0001"),
    spec("fit_intercept", Kind::Bool, "true"),
];
const LINEAR: &[Spec] = &[
    spec("alpha", NON_NEGATIVE, "0.0"),
    spec("fit_intercept", Kind::Bool, "true"),
];
const TREE_COMMON: &[Spec] = &[
    spec("max_depth", Kind::Limit, "none"),
    spec("min_samples_split", Kind::Int { min: 2 }, "2"),
    spec("min_samples_leaf", Kind::Int { min: 1 }, "1"),
    spec("min_impurity_decrease", NON_NEGATIVE, "0.0"),
];
const CLASSIFIER_TREE: &[Spec] = &[spec("criterion", CRITERIA, "gini")];
const FOREST: &[Spec] = &[
    spec("n_estimators", Kind::Int { min: 1 }, "100"),
    spec("bootstrap", Kind::Bool, "true"),
];
// Per-tree feature sampling decorrelates classifiers; regressors default to all features, as
// scikit-learn's forests do.
const CLASSIFIER_FOREST: &[Spec] = &[spec("feature_fraction", FRACTION, "0.7")];
const REGRESSOR_FOREST: &[Spec] = &[spec("feature_fraction", FRACTION, "1.0")];

/// The algorithms for a task.
pub fn algorithms(task: Task) -> &'static [&'static str] {
    match task {
        Task::Classification => &["logistic", "tree", "forest"],
        Task::Regression => &["linear", "tree", "forest"],
    }
}

fn specs(task: Task, algorithm: &str) -> Option<Vec<Spec>> {
    let parts: &[&[Spec]] = match (task, algorithm) {
        (Task::Classification, "logistic") => &[LOGISTIC],
        (Task::Regression, "linear") => &[LINEAR],
        (Task::Classification, "tree") => &[TREE_COMMON, CLASSIFIER_TREE],
        (Task::Regression, "tree") => &[TREE_COMMON],
        (Task::Classification, "forest") => {
            &[FOREST, CLASSIFIER_FOREST, TREE_COMMON, CLASSIFIER_TREE]
        }
        (Task::Regression, "forest") => &[FOREST, REGRESSOR_FOREST, TREE_COMMON],
        _ => return None,
    };
    Some(parts.concat())
}

/// Resolved hyperparameters: every key of the algorithm, with its value.
#[derive(Debug, Clone)]
pub struct Hyper {
    values: BTreeMap<String, Value>,
}

impl Hyper {
    /// Resolves `KEY=VALUE` pairs for `algorithm` on `task`: unknown algorithms or keys and bad
    /// values are [`Error::Usage`] naming them and listing what is valid.
    pub fn resolve(task: Task, algorithm: &str, pairs: &[String]) -> Result<Hyper> {
        let task_name = task.name();
        let specs = specs(task, algorithm).ok_or_else(|| {
            Error::Usage(format!(
                "unknown --algorithm '{algorithm}' for {task_name}; valid: {}",
                algorithms(task).join(", ")
            ))
        })?;
        let mut given = BTreeMap::new();
        for pair in pairs {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--param '{pair}' is not KEY=VALUE (e.g. --param max_depth=4)"
                ))
            })?;
            let (key, value) = (key.trim(), value.trim());
            let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown --param '{key}' for {algorithm}; valid: {}",
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ))
            })?;
            given.insert(key, parse(spec, value)?);
        }
        let mut values = BTreeMap::new();
        for spec in &specs {
            let value = match given.remove(spec.name) {
                Some(v) => v,
                None => parse(spec, spec.default)?,
            };
            values.insert(spec.name.to_string(), value);
        }
        Ok(Hyper { values })
    }

    /// All values, for the model file.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// A float value (resolved, so present and typed).
    pub fn f64(&self, key: &str) -> f64 {
        self.values.get(key).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// An integer value.
    pub fn usize(&self, key: &str) -> usize {
        self.values
            .get(key)
            .and_then(Value::as_u64)
            .map_or(0, |v| v as usize)
    }

    /// A limit: `None` means unlimited.
    pub fn limit(&self, key: &str) -> Option<usize> {
        self.values
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
    }

    /// A boolean value.
    pub fn bool(&self, key: &str) -> bool {
        self.values
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// A word value.
    pub fn str(&self, key: &str) -> &str {
        self.values.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// Turns trailing `--KEY VALUE` arguments (what a `${mapping}` in a dvc.yaml-style command
/// expands to) into `KEY=VALUE` pairs. A flag without a value is `KEY=true`.
pub fn pairs_from_flags(tokens: &[String]) -> Result<Vec<String>> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let key = tokens[i].strip_prefix("--").filter(|k| !k.is_empty()).ok_or_else(|| {
            Error::Usage(format!(
                "unexpected argument '{}': hyperparameters go as --KEY VALUE or --param KEY=VALUE",
                tokens[i]
            ))
        })?;
        if key.contains('=') {
            pairs.push(key.to_string());
            i += 1;
        } else if let Some(value) = tokens.get(i + 1).filter(|v| !v.starts_with("--")) {
            pairs.push(format!("{key}={value}"));
            i += 2;
        } else {
            pairs.push(format!("{key}=true"));
            i += 1;
        }
    }
    Ok(pairs)
}

fn parse(spec: &Spec, text: &str) -> Result<Value> {
    let bad = |expected: String| {
        Error::Usage(format!("--param {}={text}: expected {expected}", spec.name))
    };
    match spec.kind {
        Kind::Float { min, open, max } => {
            let v: f64 = text
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| bad("a number".into()))?;
            let low_ok = if open { v > min } else { v >= min };
            if !low_ok || v > max {
                let low = if open {
                    format!("> {min}")
                } else {
                    format!(">= {min}")
                };
                let high = if max.is_finite() {
                    format!(" and <= {max}")
                } else {
                    String::new()
                };
                return Err(bad(format!("a number {low}{high}")));
            }
            Ok(Value::from(v))
        }
        Kind::Int { min } => match text.parse::<u64>() {
            Ok(v) if v >= min => Ok(Value::from(v)),
            _ => Err(bad(format!("an integer >= {min}"))),
        },
        Kind::Limit => match text {
            "none" | "None" | "null" | "~" | "" => Ok(Value::Null),
            _ => match text.parse::<u64>() {
                Ok(v) if v >= 1 => Ok(Value::from(v)),
                _ => Err(bad("an integer >= 1 or none".into())),
            },
        },
        Kind::Bool => match text {
            "true" | "True" => Ok(Value::Bool(true)),
            "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(bad("true or false".into())),
        },
        Kind::Choice(words) => match words.iter().find(|w| **w == text) {
            Some(w) => Ok(Value::from(*w)),
            None => Err(bad(format!("one of {}", words.join(", ")))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_every_key_and_values_are_typed() {
        let h = Hyper::resolve(
            Task::Classification,
            "forest",
            &["max_depth=3".into(), "criterion=entropy".into()],
        )
        .unwrap();
        assert_eq!(h.limit("max_depth"), Some(3));
        assert_eq!(h.str("criterion"), "entropy");
        assert_eq!(h.usize("n_estimators"), 100);
        assert!(h.bool("bootstrap"));
        let h = Hyper::resolve(Task::Classification, "tree", &[]).unwrap();
        assert_eq!(h.limit("max_depth"), None);
    }

    #[test]
    fn flags_become_pairs() {
        let tokens: Vec<String> = [
            "--max_depth",
            "3",
            "--bootstrap",
            "--alpha=0.5",
            "--min",
            "-1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            pairs_from_flags(&tokens).unwrap(),
            vec!["max_depth=3", "bootstrap=true", "alpha=0.5", "min=-1"]
        );
        assert!(pairs_from_flags(&["stray".to_string()]).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_say_what_is_valid() {
        let e = Hyper::resolve(Task::Classification, "tree", &["depth=3".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'depth'") && e.contains("max_depth, min_samples_split"),
            "{e}"
        );
        let e = Hyper::resolve(
            Task::Classification,
            "forest",
            &["feature_fraction=1.5".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("<= 1"), "{e}");
        let e = Hyper::resolve(Task::Regression, "logistic", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("linear, tree, forest"), "{e}");
    }
}
