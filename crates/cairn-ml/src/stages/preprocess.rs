//! `cairn preprocess`: validate a CSV, split it (stratified by class) with a seed, fit the scaler
//! on the training part only, and write `train.csv`, `test.csv` and `schema.json`.

use std::path::{Path, PathBuf};

use crate::model::{Scaler, Task};
use crate::prepared::{self, Schema};
use crate::rng::SplitMix64;
use crate::staged_dir::StagedDir;
use crate::table::{self, Row, Table};

/// Feature scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleKind {
    /// Zero mean, unit variance.
    Standard,
    /// Into [0, 1].
    Minmax,
    /// No scaling.
    None,
}

/// What to do with rows that have missing values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingPolicy {
    /// Stop with an error naming the row and column.
    Error,
    /// Drop the row.
    Drop,
}

/// Learning task, when the caller says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Predict a class.
    Classification,
    /// Predict a number.
    Regression,
}

/// What `preprocess` reads, splits and writes.
#[derive(Debug, Clone)]
pub struct PreprocessOptions {
    /// CSV file with a header.
    pub input: PathBuf,
    /// Output directory.
    pub output: PathBuf,
    /// Target column (default: the last).
    pub target: Option<String>,
    /// Fraction of rows held out for testing.
    pub test_size: f64,
    /// Seed of the split.
    pub seed: u64,
    /// Feature scaling, fitted on the train part only.
    pub scale: ScaleKind,
    /// Rows with missing values.
    pub missing: MissingPolicy,
    /// Classification or regression (default: guessed from the target).
    pub task: Option<TaskKind>,
}
use cairn_core::error::{Error, IoContext, Result};

/// A numeric target with at most this many distinct integer values is taken for class labels.
const MAX_NUMERIC_CLASSES: usize = 20;

/// `cairn preprocess`.
pub fn preprocess(args: &PreprocessOptions) -> Result<String> {
    if !(args.test_size > 0.0 && args.test_size < 1.0) {
        return Err(Error::Usage(format!(
            "--test-size {} must be between 0 and 1 (exclusive), e.g. 0.2",
            args.test_size
        )));
    }
    let path = args.input.as_path();
    let bytes = std::fs::read(path).at(path)?;
    let table = table::parse(&bytes, path)?;
    let target = target_column(&table, args.target.as_deref(), path)?;
    let rows = usable_rows(&table, target, args.missing, path)?;
    let features: Vec<String> = table
        .header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != target)
        .map(|(_, h)| h.clone())
        .collect();
    let x = parse_features(&table, &rows, target, path)?;
    let targets: Vec<&str> = rows.iter().map(|r| r.fields[target].as_str()).collect();
    let task = match args.task {
        Some(TaskKind::Classification) => Task::Classification,
        Some(TaskKind::Regression) => Task::Regression,
        None => guess_task(&targets),
    };
    let (classes, test) = match task {
        Task::Classification => {
            let classes = class_names(&targets);
            if classes.len() < 2 {
                return Err(Error::data(
                    path,
                    format!(
                        "column {} ('{}'): every row has class '{}'; a classifier needs at least two classes",
                        target + 1,
                        table.header[target],
                        classes[0]
                    ),
                ));
            }
            let labels: Vec<usize> = targets
                .iter()
                .map(|t| classes.iter().position(|c| c == t).unwrap_or(0))
                .collect();
            let test = stratified_split(
                &labels,
                &classes,
                &rows,
                args,
                target,
                &table.header[target],
            )?;
            (classes, test)
        }
        Task::Regression => {
            for (row, t) in rows.iter().zip(&targets) {
                if table::number(t).is_none() {
                    return Err(table::not_a_number(
                        path,
                        row.line,
                        target,
                        &table.header[target],
                        t,
                    ));
                }
            }
            if rows.len() < 2 {
                return Err(Error::data(
                    path,
                    "one data row is too few to split into train and test",
                ));
            }
            (Vec::new(), random_split(rows.len(), args))
        }
    };
    let train_x: Vec<&Vec<f64>> = x
        .iter()
        .zip(&test)
        .filter(|(_, t)| !**t)
        .map(|(x, _)| x)
        .collect();
    let scaler = fit_scaler(args.scale, &train_x, features.len());

    let schema = Schema {
        format: prepared::FORMAT.into(),
        task,
        features,
        target: table.header[target].clone(),
        classes,
        scaler,
        source_digest: cairn_core::hash::digest_bytes(&bytes).to_string(),
        test_size: args.test_size,
        seed: args.seed,
        train_rows: train_x.len(),
        test_rows: rows.len() - train_x.len(),
    };
    let out = StagedDir::new(
        &args.output,
        &[prepared::TRAIN, prepared::TEST, prepared::SCHEMA],
    )?;
    for (name, in_test) in [(prepared::TRAIN, false), (prepared::TEST, true)] {
        let part: Vec<&Row> = rows
            .iter()
            .zip(&test)
            .filter(|(_, t)| **t == in_test)
            .map(|(r, _)| *r)
            .collect();
        let path = out.join(name);
        std::fs::write(&path, split_csv(&schema, &part, target)?).at(&path)?;
    }
    let schema_path = out.join(prepared::SCHEMA);
    std::fs::write(&schema_path, crate::pretty_json(&schema)?).at(&schema_path)?;
    out.commit()?;
    Ok(format!(
        "preprocess: {} train rows, {} test rows, {} features{} -> {}",
        schema.train_rows,
        schema.test_rows,
        schema.features.len(),
        match task {
            Task::Classification => format!(", {} classes", schema.classes.len()),
            Task::Regression => ", regression target".into(),
        },
        args.output.display()
    ))
}

fn target_column(table: &Table, name: Option<&str>, path: &Path) -> Result<usize> {
    if table.header.len() < 2 {
        return Err(Error::data(
            path,
            "line 1: need at least one feature column and a target column",
        ));
    }
    match name {
        None => Ok(table.header.len() - 1),
        Some(name) => table.header.iter().position(|h| h == name).ok_or_else(|| {
            Error::data(
                path,
                format!(
                    "line 1: no column '{name}' for --target; the columns are: {}",
                    table.header.join(", ")
                ),
            )
        }),
    }
}

/// The rows to use: all of them, or (with `--missing drop`) those without missing values.
fn usable_rows<'t>(
    table: &'t Table,
    target: usize,
    policy: MissingPolicy,
    path: &Path,
) -> Result<Vec<&'t Row>> {
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        match row.fields.iter().position(|f| table::is_missing(f)) {
            None => rows.push(row),
            Some(_) if policy == MissingPolicy::Drop => {}
            Some(c) => {
                return Err(Error::data(
                    path,
                    format!(
                        "line {}, column {} ('{}'): missing value; fill it in or pass --missing drop",
                        row.line,
                        c + 1,
                        table.header[c]
                    ),
                ));
            }
        }
    }
    if rows.is_empty() {
        return Err(Error::data(
            path,
            format!(
                "every row has a missing value (column '{}' or another)",
                table.header[target]
            ),
        ));
    }
    Ok(rows)
}

fn parse_features(
    table: &Table,
    rows: &[&Row],
    target: usize,
    path: &Path,
) -> Result<Vec<Vec<f64>>> {
    rows.iter()
        .map(|row| {
            row.fields
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != target)
                .map(|(c, f)| {
                    table::number(f)
                        .ok_or_else(|| table::not_a_number(path, row.line, c, &table.header[c], f))
                })
                .collect()
        })
        .collect()
}

/// Regression when the target is numeric with fractional or many distinct values.
fn guess_task(targets: &[&str]) -> Task {
    let numbers: Option<Vec<f64>> = targets.iter().map(|t| table::number(t)).collect();
    match numbers {
        None => Task::Classification,
        Some(values) => {
            let mut distinct: Vec<&str> = targets.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            if values.iter().all(|v| v.fract() == 0.0) && distinct.len() <= MAX_NUMERIC_CLASSES {
                Task::Classification
            } else {
                Task::Regression
            }
        }
    }
}

/// Distinct class names, sorted numerically when all are numbers, else as text.
fn class_names(targets: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    names.sort_unstable();
    names.dedup();
    if names.iter().all(|n| table::number(n).is_some()) {
        names.sort_by(|a, b| {
            table::number(a)
                .unwrap_or(0.0)
                .total_cmp(&table::number(b).unwrap_or(0.0))
        });
    }
    names
}

/// Marks test rows: within each class, a seeded shuffle then the first `round(n * test_size)`
/// rows (at least one, and at least one left for training).
fn stratified_split(
    labels: &[usize],
    classes: &[String],
    rows: &[&Row],
    args: &PreprocessOptions,
    target: usize,
    target_name: &str,
) -> Result<Vec<bool>> {
    let mut rng = SplitMix64::new(args.seed);
    let mut test = vec![false; labels.len()];
    for (k, class) in classes.iter().enumerate() {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == k).collect();
        if members.len() < 2 {
            return Err(Error::data(
                &args.input,
                format!(
                    "line {}, column {} ('{target_name}'): class '{class}' has {} row, too few to split into train and test (needs at least 2)",
                    rows[members[0]].line,
                    target + 1,
                    members.len()
                ),
            ));
        }
        rng.shuffle(&mut members);
        let n_test =
            ((members.len() as f64 * args.test_size).round() as usize).clamp(1, members.len() - 1);
        for &i in &members[..n_test] {
            test[i] = true;
        }
    }
    Ok(test)
}

fn random_split(n: usize, args: &PreprocessOptions) -> Vec<bool> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(args.seed).shuffle(&mut order);
    let n_test =
        ((n as f64 * args.test_size).round() as usize).clamp(1, n.saturating_sub(1).max(1));
    let mut test = vec![false; n];
    for &i in &order[..n_test] {
        test[i] = true;
    }
    test
}

fn fit_scaler(kind: ScaleKind, x: &[&Vec<f64>], n: usize) -> Scaler {
    let column = |j: usize| x.iter().map(move |row| row[j]);
    let count = x.len().max(1) as f64;
    match kind {
        ScaleKind::None => Scaler::None,
        ScaleKind::Standard => {
            let mean: Vec<f64> = (0..n).map(|j| column(j).sum::<f64>() / count).collect();
            // Population standard deviation, as scikit-learn's StandardScaler.
            let std = (0..n)
                .map(|j| (column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / count).sqrt())
                .collect();
            Scaler::Standard { mean, std }
        }
        ScaleKind::Minmax => Scaler::MinMax {
            min: (0..n)
                .map(|j| column(j).fold(f64::INFINITY, f64::min))
                .collect(),
            max: (0..n)
                .map(|j| column(j).fold(f64::NEG_INFINITY, f64::max))
                .collect(),
        },
    }
}

/// A split as CSV: features then target, the values as written in the input.
fn split_csv(schema: &Schema, rows: &[&Row], target: usize) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Failed(format!("writing CSV: {e}"));
    let mut header: Vec<&str> = schema.features.iter().map(String::as_str).collect();
    header.push(&schema.target);
    w.write_record(&header).map_err(fail)?;
    for row in rows {
        let mut fields: Vec<&str> = row
            .fields
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != target)
            .map(|(_, f)| f.as_str())
            .collect();
        fields.push(&row.fields[target]);
        w.write_record(&fields).map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Failed(format!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_targets_with_few_integer_values_are_classes() {
        assert_eq!(guess_task(&["0", "1", "2", "1"]), Task::Classification);
        assert_eq!(guess_task(&["0.5", "1", "2"]), Task::Regression);
        assert_eq!(guess_task(&["a", "b"]), Task::Classification);
        let many: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        assert_eq!(
            guess_task(&many.iter().map(String::as_str).collect::<Vec<_>>()),
            Task::Regression
        );
    }

    #[test]
    fn class_names_sort_numbers_numerically() {
        assert_eq!(class_names(&["10", "2", "1", "2"]), vec!["1", "2", "10"]);
        assert_eq!(class_names(&["b", "a", "b"]), vec!["a", "b"]);
    }

    #[test]
    fn minmax_and_standard_scalers_fit_each_column() {
        let rows = [vec![1.0, 10.0], vec![3.0, 10.0]];
        let refs: Vec<&Vec<f64>> = rows.iter().collect();
        assert_eq!(
            fit_scaler(ScaleKind::Standard, &refs, 2),
            Scaler::Standard {
                mean: vec![2.0, 10.0],
                std: vec![1.0, 0.0]
            }
        );
        assert_eq!(
            fit_scaler(ScaleKind::Minmax, &refs, 2),
            Scaler::MinMax {
                min: vec![1.0, 10.0],
                max: vec![3.0, 10.0]
            }
        );
    }
}
