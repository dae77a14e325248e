//! What an ONNX model reads and answers, by name: its features and, for a classifier, its
//! classes. An ONNX graph often does not say: skl2onnx names its one input `X` and knows the
//! classes only when they were strings. So the names are taken, first found first:
//! 1. a sidecar file beside the model, `model.onnx.json` (written by the user or a converter):
//!    `{"features": ["sepal_length", …], "classes": ["setosa", …]}`, both optional;
//! 2. the model's own metadata (`metadata_props`), keys `features` and `classes`, each a JSON
//!    list of strings — what travels with the file through the registry;
//! 3. the graph: one input per feature gives the features' names, and the classifier's labels
//!    (`classlabels_strings`, or integer labels in decimal) give the classes;
//! 4. for features only, `x0`, `x1`, … as scikit-learn names unnamed columns.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use cairn_core::error::{Error, IoContext, Result};

/// What is appended to the model file's name to find its sidecar.
pub const SIDECAR_SUFFIX: &str = ".json";
/// More than any sidecar needs; a larger file is refused before it is read.
const MAX_SIDECAR_BYTES: u64 = 1 << 20;

/// The names a sidecar file gives.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Input feature names, in the order of the model's input columns.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Class names, in the order of the model's probabilities.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
}

impl Sidecar {
    /// Where the sidecar of the model at `model` would be.
    pub fn path_for(model: &Path) -> PathBuf {
        let mut name = model.as_os_str().to_os_string();
        name.push(SIDECAR_SUFFIX);
        PathBuf::from(name)
    }

    /// The sidecar beside `model`, if there is one: a regular file of bounded size with the
    /// fields above and nothing else.
    pub fn beside(model: &Path) -> Result<Option<Sidecar>> {
        let path = Sidecar::path_for(model);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(&path),
        };
        if !meta.is_file() {
            return Err(Error::data(
                &path,
                "the model's sidecar is not a regular file; make it one or remove it",
            ));
        }
        if meta.len() > MAX_SIDECAR_BYTES {
            return Err(Error::data(
                &path,
                format!(
                    "the model's sidecar is {} bytes, more than the {MAX_SIDECAR_BYTES} it may be",
                    meta.len()
                ),
            ));
        }
        let bytes = std::fs::read(&path).at(&path)?;
        let sidecar = serde_json::from_slice(&bytes).map_err(|e| {
            Error::data(
                &path,
                format!(
                    "invalid sidecar ({e}); it is {{\"features\": [names…], \"classes\": [names…]}}"
                ),
            )
        })?;
        Ok(Some(sidecar))
    }
}

/// The resolved names of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    /// Input feature names, in column order.
    pub features: Vec<String>,
    /// Class names in the order of the probabilities; empty for a regressor.
    pub classes: Vec<String>,
}

/// The names the graph itself gives.
pub struct GraphNames {
    /// One name per feature, when the graph has one input per feature.
    pub features: Option<Vec<String>>,
    /// The number of features the inputs take, when their shapes say.
    pub width: Option<usize>,
    /// The classifier's labels.
    pub classes: Option<Vec<String>>,
}

/// Resolves the names from the sources above; `path` names the model in errors.
pub fn resolve(
    path: &Path,
    sidecar: Option<&Sidecar>,
    metadata: &[(String, String)],
    graph: GraphNames,
) -> Result<Signature> {
    let from_metadata = |key: &str| -> Result<Option<Vec<String>>> {
        let Some((_, value)) = metadata.iter().find(|(k, _)| k == key) else {
            return Ok(None);
        };
        serde_json::from_str(value).map(Some).map_err(|e| {
            Error::data(
                path,
                format!("metadata '{key}' is not a JSON list of strings ({e})"),
            )
        })
    };
    let features = match sidecar.and_then(|s| s.features.clone()) {
        Some(features) => features,
        None => match from_metadata("features")?.or(graph.features) {
            Some(features) => features,
            None => {
                let width = graph.width.ok_or_else(|| {
                    Error::data(
                        path,
                        format!(
                            "the model's input does not say how many features it takes; name them in {}",
                            Sidecar::path_for(path).display()
                        ),
                    )
                })?;
                (0..width).map(|i| format!("x{i}")).collect()
            }
        },
    };
    if let Some(width) = graph.width
        && width != features.len()
    {
        return Err(Error::data(
            path,
            format!(
                "{} feature names are given but the model's input takes {width} features",
                features.len()
            ),
        ));
    }
    let classes = match sidecar.and_then(|s| s.classes.clone()) {
        Some(classes) => classes,
        None => from_metadata("classes")?
            .or(graph.classes)
            .unwrap_or_default(),
    };
    for (what, names) in [("feature", &features), ("class", &classes)] {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(Error::data(
                path,
                format!("the {what} name '{twice}' is given twice"),
            ));
        }
        if names.iter().any(|n| n.is_empty()) {
            return Err(Error::data(path, format!("a {what} name is empty")));
        }
    }
    if features.is_empty() {
        return Err(Error::data(path, "the model takes no features"));
    }
    Ok(Signature { features, classes })
}
