//! Reading a CSV with a header into rows of text fields, keeping each row's line number so that
//! every later complaint can name the file, line and column at fault.

use std::path::Path;

use cairn_core::error::{Error, Result};

/// A CSV file: its header and its data rows, fields trimmed.
#[derive(Debug)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Data rows; each has exactly `header.len()` fields.
    pub rows: Vec<Row>,
}

/// One data row.
#[derive(Debug)]
pub struct Row {
    /// 1-based line number in the file.
    pub line: u64,
    /// The fields, as written.
    pub fields: Vec<String>,
}

/// Parses CSV bytes read from `path`. An empty file, a row with a different number of fields
/// than the header, or a file with no data rows is [`Error::Data`] naming the file and line.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut records = reader.records();
    let header = match records.next() {
        None => {
            return Err(Error::data(
                path,
                "line 1: empty file: expected a header row naming the columns, then data rows",
            ));
        }
        Some(record) => record_fields(record, path)?.1,
    };
    if let Some(i) = header.iter().position(|h| h.is_empty()) {
        return Err(Error::data(
            path,
            format!("line 1, column {}: empty column name in the header", i + 1),
        ));
    }
    if let Some((i, name)) = header
        .iter()
        .enumerate()
        .find(|(i, h)| header[..*i].contains(h))
    {
        return Err(Error::data(
            path,
            format!(
                "line 1, column {}: column name '{name}' appears twice",
                i + 1
            ),
        ));
    }
    let mut rows = Vec::new();
    for record in records {
        let (line, fields) = record_fields(record, path)?;
        if fields.len() != header.len() {
            let detail = if fields.len() < header.len() {
                format!(
                    "column {} ('{}') is missing",
                    fields.len() + 1,
                    header[fields.len()]
                )
            } else {
                format!("column {} has no header", header.len() + 1)
            };
            return Err(Error::data(
                path,
                format!(
                    "line {line}: row has {} fields but the header has {}: {detail}",
                    fields.len(),
                    header.len()
                ),
            ));
        }
        rows.push(Row { line, fields });
    }
    if rows.is_empty() {
        return Err(Error::data(path, "line 2: no data rows after the header"));
    }
    Ok(Table { header, rows })
}

fn record_fields(
    record: csv::Result<csv::StringRecord>,
    path: &Path,
) -> Result<(u64, Vec<String>)> {
    let record = record.map_err(|e| {
        let line = e.position().map_or(0, |p| p.line());
        Error::data(path, format!("line {line}: not valid CSV: {e}"))
    })?;
    let line = record.position().map_or(0, |p| p.line());
    Ok((line, record.iter().map(str::to_string).collect()))
}

/// Parses a numeric field; `None` when it is not a finite number.
pub fn number(field: &str) -> Option<f64> {
    field.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Whether a field means "no value".
pub fn is_missing(field: &str) -> bool {
    matches!(
        field,
        "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "NULL" | "?"
    )
}

/// The error for a field that should be a number.
pub fn not_a_number(path: &Path, line: u64, column: usize, name: &str, field: &str) -> Error {
    Error::data(
        path,
        format!(
            "line {line}, column {} ('{name}'): '{field}' is not a number (the column must be numeric)",
            column + 1
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rows_name_the_line_and_missing_column() {
        let err = parse(b"a,b,c\n1,2,3\n4,5\n", Path::new("d.csv")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("d.csv: line 3"), "{msg}");
        assert!(msg.contains("column 3 ('c') is missing"), "{msg}");
    }

    #[test]
    fn empty_and_header_only_files_are_errors() {
        assert!(
            parse(b"", Path::new("e.csv"))
                .unwrap_err()
                .to_string()
                .contains("empty file")
        );
        assert!(
            parse(b"a,b\n", Path::new("e.csv"))
                .unwrap_err()
                .to_string()
                .contains("no data rows")
        );
    }
}
