//! Model files in cairn's real format, written by hand: what `cairn train` writes.

/// A logistic classifier: 4 Iris features, 3 classes, standard scaling.
pub const LOGISTIC: &str = r#"{
  "format": "cairn-model",
  "format_version": 1,
  "task": "classification",
  "algorithm": "logistic",
  "hyperparameters": {"max_iterations": 100},
  "seed": 42,
  "features": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
  "target": "species",
  "classes": ["setosa", "versicolor", "virginica"],
  "scaler": {"kind": "standard", "mean": [5.8, 3.0, 3.7, 1.2], "std": [0.8, 0.4, 1.7, 0.7]},
  "data_digest": "0000000000000000000000000000000000000000000000000000000000000000",
  "training_metrics": {"accuracy": 0.97},
  "predictor": {"kind": "linear",
    "weights": [[-1.0, 1.2, -2.0, -1.9], [0.5, -0.6, -0.2, -0.7], [0.5, -0.6, 2.2, 2.6]],
    "intercepts": [0.2, 1.0, -1.2]}
}
"#;

/// A decision tree on the same features; distinguishable from [`LOGISTIC`] by its
/// probabilities (leaves hold round numbers).
pub const TREE: &str = r#"{
  "format": "cairn-model",
  "format_version": 1,
  "task": "classification",
  "algorithm": "tree",
  "hyperparameters": {"max_depth": 2},
  "seed": 7,
  "features": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
  "target": "species",
  "classes": ["setosa", "versicolor", "virginica"],
  "scaler": {"kind": "none"},
  "data_digest": "1111111111111111111111111111111111111111111111111111111111111111",
  "training_metrics": {"accuracy": 0.95},
  "predictor": {"kind": "tree", "nodes": [
    {"feature": 2, "threshold": 2.45, "left": 1, "right": 2},
    {"value": [1.0, 0.0, 0.0]},
    {"feature": 3, "threshold": 1.75, "left": 3, "right": 4},
    {"value": [0.0, 0.9, 0.1]},
    {"value": [0.0, 0.0, 1.0]}
  ]}
}
"#;

/// A linear regression on two features with other names: price = 10·rooms − 0.5·age + 3.
pub const REGRESSION: &str = r#"{
  "format": "cairn-model",
  "format_version": 1,
  "task": "regression",
  "algorithm": "linear",
  "hyperparameters": {},
  "seed": 1,
  "features": ["rooms", "age"],
  "target": "price",
  "classes": [],
  "scaler": {"kind": "none"},
  "data_digest": "2222222222222222222222222222222222222222222222222222222222222222",
  "training_metrics": {"rmse": 1.5},
  "predictor": {"kind": "linear", "weights": [[10.0, -0.5]], "intercepts": [3.0]}
}
"#;

/// One Iris setosa, as a JSON object.
pub const SETOSA: &str =
    r#"{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}"#;

/// One Iris virginica, as a JSON object.
pub const VIRGINICA: &str =
    r#"{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}"#;
