//! Input drift: the reference profile a model carries of its training inputs, and the figures
//! that compare what a service receives with it — PSI on the reference's quantile bins, the
//! two-sample Kolmogorov–Smirnov test (p-values Bonferroni-corrected for the number of
//! features), and the shift of the predicted class mix.

mod ks;
mod profile;
mod report;

pub use ks::{KsResult, ks_2samp};
pub use profile::{FeatureProfile, Profile, bin_counts, psi};
pub use report::{DriftReport, FeatureDrift, Thresholds, compare};

use std::path::Path;

use cairn_core::error::{Error, IoContext, Result};

/// Past this a CSV is not read for drift.
const MAX_CSV_BYTES: u64 = 1 << 30;

/// The numeric columns of a CSV with a header, by name, in file order: a column is numeric
/// when every non-empty value in it is a finite number (empty values are left out). Other
/// columns (labels, ids as text) are not compared.
pub fn csv_columns(path: &Path) -> Result<Vec<(String, Vec<f64>)>> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.len() > MAX_CSV_BYTES {
        return Err(Error::data(
            path,
            format!("is {} bytes, more than drift reads (1 GiB)", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).at(path)?;
    let table = crate::table::parse(&bytes, path)?;
    let mut columns: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); table.header.len()];
    for row in &table.rows {
        for (column, field) in columns.iter_mut().zip(&row.fields) {
            if field.is_empty() {
                continue;
            }
            match (column.as_mut(), field.parse::<f64>()) {
                (Some(values), Ok(v)) if v.is_finite() => values.push(v),
                _ => *column = None,
            }
        }
    }
    Ok(table
        .header
        .into_iter()
        .zip(columns)
        .filter_map(|(name, values)| Some((name, values?)))
        .collect())
}
