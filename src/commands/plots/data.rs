//! A plot's data file read into rows of named values: CSV and TSV with a header, JSON or YAML
//! as a list of records (or a mapping holding one such list, as dvclive writes them).

use serde_json::{Map, Value};

/// Past this a plot file is not read: plots hold thousands of points, not gigabytes.
pub const MAX_BYTES: usize = 64 << 20;
/// Past this a series is cut, and the cut is said.
pub const MAX_ROWS: usize = 100_000;

/// Rows of a plot file, each field by name, in file order.
pub type Rows = Vec<Map<String, Value>>;

/// A plot file's rows and its fields in file order (a CSV's header; a JSON record's fields
/// sorted, as serde_json keeps them).
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Rows,
}

/// Reads `bytes` of the file `path` (the extension picks the format).
pub fn rows(path: &str, bytes: &[u8]) -> Result<Table, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "is {} bytes, more than the {MAX_BYTES} a plot file may be",
            bytes.len()
        ));
    }
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") || lower.ends_with(".tsv") {
        let delimiter = if lower.ends_with(".tsv") { b'\t' } else { b',' };
        return delimited(bytes, delimiter);
    }
    let value: Value = if lower.ends_with(".json") {
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        let v: serde_norway::Value =
            serde_norway::from_slice(bytes).map_err(|e| format!("not YAML: {e}"))?;
        serde_json::to_value(v).map_err(|e| e.to_string())?
    } else {
        return Err("is not a plot file cairn reads (.csv, .tsv, .json, .yaml)".into());
    };
    let list = match value {
        Value::Array(list) => list,
        Value::Object(map) => match map.into_iter().find(|(_, v)| v.is_array()) {
            Some((_, Value::Array(list))) => list,
            _ => return Err("holds no list of records to plot".into()),
        },
        _ => return Err("holds no list of records to plot".into()),
    };
    let rows = list
        .into_iter()
        .take(MAX_ROWS)
        .map(|row| match row {
            Value::Object(fields) => Ok(fields),
            other => Err(format!("a record is a mapping of fields, not {other}")),
        })
        .collect::<Result<Rows, String>>()?;
    let columns = rows
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Table { columns, rows })
}

fn delimited(bytes: &[u8], delimiter: u8) -> Result<Table, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Rows::new();
    for record in reader.records().take(MAX_ROWS) {
        let record = record.map_err(|e| e.to_string())?;
        let row = header
            .iter()
            .zip(record.iter())
            .map(|(name, cell)| {
                let value = cell
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map_or_else(|| Value::from(cell), Value::from);
                (name.clone(), value)
            })
            .collect();
        rows.push(row);
    }
    Ok(Table {
        columns: header,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_json_and_dvclive_shapes() {
        let csv = rows("a.csv", b"step,loss\n0,1.5\n1,0.5\n").expect("csv");
        assert_eq!(csv.columns, ["step", "loss"]);
        assert_eq!(csv.rows[1]["loss"], 0.5);
        let json = rows("a.json", br#"[{"fpr": 0, "tpr": 0.5}]"#).expect("json");
        assert_eq!(json.rows[0]["tpr"], 0.5);
        let live = rows("a.json", br#"{"train": [{"step": 0, "acc": 0.1}]}"#).expect("dvclive");
        assert_eq!(live.rows[0]["acc"], 0.1);
        assert!(rows("a.bin", b"").is_err());
        assert!(
            rows("a.json", b"[1, 2]")
                .err()
                .is_some_and(|e| e.contains("mapping"))
        );
    }
}
