//! The directory `cairn preprocess` writes and `train`/`evaluate` read: `train.csv`, `test.csv`
//! (raw feature values, as in the input) and `schema.json` (features, classes, the fitted scaler).
//! The CSVs stay raw so that evaluation feeds them to `Model::predict` exactly as a served
//! request would be.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::{Scaler, Task};
use crate::table;
use cairn_core::error::{Error, IoContext, Result};

/// File name of the training split.
pub const TRAIN: &str = "train.csv";
/// File name of the test split.
pub const TEST: &str = "test.csv";
/// File name of the schema.
pub const SCHEMA: &str = "schema.json";
/// Value of the schema's `format` field.
pub const FORMAT: &str = "cairn-prepared";

/// What `preprocess` decided about the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Always [`FORMAT`].
    pub format: String,
    /// Classification or regression.
    pub task: Task,
    /// Feature column names, in order.
    pub features: Vec<String>,
    /// Target column name.
    pub target: String,
    /// Class names in a stable order (sorted; numerically when all are numbers).
    pub classes: Vec<String>,
    /// Fitted on the training split only.
    pub scaler: Scaler,
    /// BLAKE3 of the input CSV.
    pub source_digest: String,
    /// Fraction held out for testing.
    pub test_size: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Rows in train.csv.
    pub train_rows: usize,
    /// Rows in test.csv.
    pub test_rows: usize,
}

/// The target of a split.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class indices into `Schema::classes`.
    Classes(Vec<usize>),
    /// Numbers.
    Values(Vec<f64>),
}

/// One split, parsed.
#[derive(Debug, Clone)]
pub struct Split {
    /// Raw features, one row per instance.
    pub x: Array2<f64>,
    /// The target.
    pub y: Target,
    /// BLAKE3 of the CSV file.
    pub digest: String,
}

/// A preprocessed directory.
#[derive(Debug)]
pub struct Prepared {
    /// The directory.
    pub dir: PathBuf,
    /// Its schema.
    pub schema: Schema,
}

impl Prepared {
    /// Reads `dir/schema.json`.
    pub fn open(dir: &Path) -> Result<Prepared> {
        let path = dir.join(SCHEMA);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::data(
                    dir,
                    format!(
                        "no {SCHEMA}: not a directory written by `cairn preprocess`; run it first"
                    ),
                ));
            }
            Err(e) => return Err(e).at(&path),
        };
        let schema: Schema = serde_json::from_slice(&bytes)
            .map_err(|e| Error::data(&path, format!("not a cairn preprocess schema: {e}")))?;
        if schema.format != FORMAT {
            return Err(Error::data(
                &path,
                format!("not a cairn preprocess schema (format is not \"{FORMAT}\")"),
            ));
        }
        Ok(Prepared {
            dir: dir.to_path_buf(),
            schema,
        })
    }

    /// Reads and checks `train.csv`.
    pub fn train(&self) -> Result<Split> {
        self.split(TRAIN)
    }

    /// Reads and checks `test.csv`.
    pub fn test(&self) -> Result<Split> {
        self.split(TEST)
    }

    fn split(&self, name: &str) -> Result<Split> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).at(&path)?;
        let table = table::parse(&bytes, &path)?;
        let schema = &self.schema;
        let mut expected = schema.features.clone();
        expected.push(schema.target.clone());
        if table.header != expected {
            return Err(Error::data(
                &path,
                format!(
                    "line 1: header is {:?} but {SCHEMA} says {expected:?}; run `cairn preprocess` again",
                    table.header
                ),
            ));
        }
        let n = schema.features.len();
        let mut x = Array2::zeros((table.rows.len(), n));
        let mut classes = Vec::new();
        let mut values = Vec::new();
        for (r, row) in table.rows.iter().enumerate() {
            for (c, field) in row.fields[..n].iter().enumerate() {
                x[[r, c]] = table::number(field).ok_or_else(|| {
                    table::not_a_number(&path, row.line, c, &schema.features[c], field)
                })?;
            }
            let field = &row.fields[n];
            match schema.task {
                Task::Classification => {
                    let class = schema.classes.iter().position(|k| k == field).ok_or_else(|| {
                        Error::data(
                            &path,
                            format!(
                                "line {}, column {} ('{}'): class '{field}' is not one of {:?} in {SCHEMA}",
                                row.line,
                                n + 1,
                                schema.target,
                                schema.classes
                            ),
                        )
                    })?;
                    classes.push(class);
                }
                Task::Regression => {
                    values.push(table::number(field).ok_or_else(|| {
                        table::not_a_number(&path, row.line, n, &schema.target, field)
                    })?);
                }
            }
        }
        let y = match schema.task {
            Task::Classification => Target::Classes(classes),
            Task::Regression => Target::Values(values),
        };
        Ok(Split {
            x,
            y,
            digest: cairn_core::hash::digest_bytes(&bytes).to_string(),
        })
    }
}
