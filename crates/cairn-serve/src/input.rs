//! Request bodies → feature rows, in one pass: the JSON is read straight into a flat `Vec<f64>`
//! in the model's feature order (no intermediate `Value` on the hot path), and anything that
//! does not fit the model becomes an [`ApiError`] naming the instance and feature at fault.
//!
//! An instance is either an object of feature values by name, or an array of numbers in the
//! model's feature order (or in a given column order, for MLflow's `dataframe_split`).

use std::fmt;

use axum::http::StatusCode;
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Feature rows, row-major.
#[derive(Debug, Default)]
pub struct Rows {
    /// `len() * width` values.
    pub values: Vec<f64>,
    /// Features per row.
    pub width: usize,
    /// The body was one bare instance rather than a list (the reply is then one prediction).
    pub single: bool,
}

impl Rows {
    /// The rows.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.width.max(1))
    }
}

/// What the top level of a native body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One bare instance, or `{"instances": […]}` (`POST /predict`).
    OneOrMany,
    /// Only `{"instances": […]}` (`POST /predict/batch`).
    Many,
}

/// Parses a native body (`/predict`, `/predict/batch`).
pub fn parse_body(
    body: &[u8],
    features: &[String],
    shape: Shape,
    max_rows: usize,
) -> Result<Rows, ApiError> {
    let mut reader = Reader::new(features, max_rows);
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = BodySeed {
        r: &mut reader,
        shape,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    reader.finish(result)
}

/// What to do with a column or key that names no feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Refuse it (the native API: a misspelt feature is a mistake worth naming).
    Refuse,
    /// Ignore it (MLflow takes features by name and drops other columns).
    Ignore,
}

/// Parses a list of instances held in a JSON value (`"instances"`, `"dataframe_records"`, …);
/// `what` names the list in errors.
pub fn parse_instances<'f>(
    value: &Value,
    features: &'f [String],
    max_rows: usize,
    what: &'f str,
    unknown: Unknown,
) -> Result<Rows, ApiError> {
    let mut reader = Reader::new(features, max_rows);
    reader.list = what;
    reader.unknown = unknown;
    let result = InstancesSeed { r: &mut reader }.deserialize(value);
    reader.finish(result)
}

/// Parses rows of numbers in the order of `columns` (MLflow's `dataframe_split`); values of
/// columns that name no feature are skipped unread with [`Unknown::Ignore`].
pub fn parse_split(
    columns: &[String],
    data: &Value,
    features: &[String],
    max_rows: usize,
    unknown: Unknown,
) -> Result<Rows, ApiError> {
    let order = column_order(columns, features, unknown)?;
    let mut reader = Reader::new(features, max_rows);
    reader.list = "data";
    reader.order = Some(order);
    let result = InstancesSeed { r: &mut reader }.deserialize(data);
    reader.finish(result)
}

/// Parses column-oriented input: one list of values per feature, all of the same length.
pub fn parse_columns(
    columns: &[(&str, &Value)],
    features: &[String],
    max_rows: usize,
    unknown: Unknown,
) -> Result<Rows, ApiError> {
    let names: Vec<String> = columns.iter().map(|(n, _)| n.to_string()).collect();
    let order = column_order(&names, features, unknown)?;
    // Only the columns that are features are read (the others are checked for nothing).
    let columns: Vec<(&str, &Value, usize)> = columns
        .iter()
        .zip(&order)
        .filter_map(|(&(name, value), i)| i.map(|i| (name, value, i)))
        .collect();
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let order: Vec<usize> = columns.iter().map(|c| c.2).collect();
    let mut lists = Vec::with_capacity(columns.len());
    for (name, value, _) in &columns {
        match value.as_array() {
            Some(list) => lists.push(list),
            None => {
                return Err(ApiError::unprocessable(format!(
                    "column '{name}' must be a list of numbers"
                ))
                .field(*name));
            }
        }
    }
    let n = lists.first().map_or(0, |l| l.len());
    if n == 0 {
        return Err(ApiError::unprocessable("the input has no rows"));
    }
    if n > max_rows {
        return Err(too_many(max_rows));
    }
    if let Some((i, _)) = lists.iter().enumerate().find(|(_, l)| l.len() != n) {
        return Err(ApiError::unprocessable(format!(
            "column '{}' has {} values but column '{}' has {n}; every column needs one value per row",
            names[i],
            lists[i].len(),
            names[0]
        ))
        .field(names[i]));
    }
    let width = features.len();
    let mut values = vec![0.0; n * width];
    for (list, &feature) in lists.iter().zip(&order) {
        for (row, v) in list.iter().enumerate() {
            let x = v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError {
                    instance: Some(row),
                    ..ApiError::unprocessable(format!(
                        "row {row}, feature '{}': expected a finite number, got {v}",
                        features[feature]
                    ))
                    .field(features[feature].clone())
                    .bad_value()
                })?;
            values[row * width + feature] = x;
        }
    }
    Ok(Rows {
        values,
        width,
        single: false,
    })
}

/// Parses a JSON body that must be an object, refusing a key given twice at its top level (a
/// JSON reader would silently keep the last one, so the client's intent is unclear): 400.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut duplicate = None;
    let parsed = TopLevel {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|map| de.end().map(|()| map));
    match (parsed, duplicate) {
        (Ok(map), _) => Ok(map),
        (Err(_), Some(key)) => Err(ApiError::bad_request(format!(
            "the key '{key}' is given twice in the body; give it once"
        ))
        .field(key)),
        (Err(e), None) if e.classify() == Category::Data => Err(ApiError::bad_request(format!(
            "the body must be a JSON object: {e}"
        ))),
        (Err(e), None) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
    }
}

/// The top level of a JSON object body, remembering a key seen twice.
struct TopLevel<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Map<String, Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            if out.contains_key(&key) {
                let e = de::Error::custom(format!("duplicate key '{key}'"));
                *self.duplicate = Some(key);
                return Err(e);
            }
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// Maps each given column to the model's feature index (`None`: not a feature, ignored);
/// every feature exactly once.
pub fn column_order(
    columns: &[String],
    features: &[String],
    unknown: Unknown,
) -> Result<Vec<Option<usize>>, ApiError> {
    let mut seen = vec![false; features.len()];
    let mut order = Vec::with_capacity(columns.len());
    for c in columns {
        let Some(i) = features.iter().position(|f| f == c) else {
            match unknown {
                Unknown::Refuse => return Err(unknown_feature(c, features)),
                Unknown::Ignore => {
                    order.push(None);
                    continue;
                }
            }
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(
                ApiError::unprocessable(format!("column '{c}' is given twice")).field(c.clone()),
            );
        }
        order.push(Some(i));
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(missing_feature(&features[i]));
    }
    Ok(order)
}

fn unknown_feature(name: &str, features: &[String]) -> ApiError {
    ApiError::unprocessable(format!(
        "unknown feature '{name}'; the model's features are: {}",
        features.join(", ")
    ))
    .field(name)
}

/// A feature the input lacks.
pub fn missing_feature(name: &str) -> ApiError {
    ApiError::unprocessable(format!("missing feature '{name}'")).field(name)
}

/// More rows than `--max-batch`.
pub fn too_many(max_rows: usize) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!(
            "too many instances: at most {max_rows} per request (see `cairn serve --max-batch`)"
        ),
    )
}

/// Parser state shared by the nested seeds; remembers where it is so that an error raised by
/// the JSON reader (a string where a number belongs, a number out of range) can name the place.
struct Reader<'f> {
    features: &'f [String],
    max_rows: usize,
    values: Vec<f64>,
    seen: Vec<bool>,
    single: bool,
    /// Name of the list of instances, for messages.
    list: &'f str,
    /// Position of each array element in feature order (`dataframe_split` columns; `None`:
    /// a column that is not a feature, skipped).
    order: Option<Vec<Option<usize>>>,
    /// What a key that names no feature is.
    unknown: Unknown,
    /// Instance being read (in a list).
    row: Option<usize>,
    /// Feature being read.
    field: Option<usize>,
    /// An error this module raised, with its status and field already decided.
    failure: Option<ApiError>,
}

impl<'f> Reader<'f> {
    fn new(features: &'f [String], max_rows: usize) -> Reader<'f> {
        Reader {
            features,
            max_rows,
            values: Vec::with_capacity(features.len()),
            seen: vec![false; features.len()],
            single: false,
            list: "instances",
            order: None,
            unknown: Unknown::Refuse,
            row: None,
            field: None,
            failure: None,
        }
    }

    /// Records `err` (completed with the current instance) and returns a serde error to unwind.
    fn fail<E: de::Error>(&mut self, mut err: ApiError) -> E {
        err.instance = self.row;
        if let Some(row) = self.row {
            err.error = format!("{}[{row}]: {}", self.list, err.error);
        }
        let e = E::custom(&err.error);
        self.failure = Some(err);
        e
    }

    fn finish(self, result: Result<(), serde_json::Error>) -> Result<Rows, ApiError> {
        let err = match result {
            Ok(()) => {
                return Ok(Rows {
                    values: self.values,
                    width: self.features.len(),
                    single: self.single,
                });
            }
            Err(e) => e,
        };
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let out_of_range = err.to_string().starts_with("number out of range");
        if matches!(
            err.classify(),
            Category::Syntax | Category::Eof | Category::Io
        ) && !out_of_range
        {
            return Err(ApiError::bad_request(format!("malformed JSON: {err}")));
        }
        // A data error from the reader (wrong type, out of range): say where it happened.
        let what = if out_of_range {
            format!("not a finite number ({err})")
        } else {
            err.to_string()
        };
        let mut place = String::new();
        if let Some(row) = self.row {
            place = format!("{}[{row}]", self.list);
        }
        let field = self.field.map(|i| self.features[i].clone());
        if let Some(f) = &field {
            place = if place.is_empty() {
                format!("feature '{f}'")
            } else {
                format!("{place}, feature '{f}'")
            };
        }
        let message = if place.is_empty() {
            what
        } else {
            format!("{place}: {what}")
        };
        Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: message,
            field,
            instance: self.row,
            bad_value: true,
        })
    }

    fn start_row(&mut self) {
        let n = self.features.len();
        self.values.resize(self.values.len() + n, f64::NAN);
        self.seen.iter_mut().for_each(|s| *s = false);
    }

    fn rows(&self) -> usize {
        self.values.len() / self.features.len()
    }

    /// Reads the value of feature `i` of the current row.
    fn read_value<'de, A: MapAccess<'de>>(
        &mut self,
        i: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        if std::mem::replace(&mut self.seen[i], true) {
            let name = &self.features[i];
            return Err(self.fail(
                ApiError::unprocessable(format!("feature '{name}' is given twice"))
                    .field(name.clone()),
            ));
        }
        self.field = Some(i);
        let x = map.next_value_seed(Number)?;
        self.store(i, x)
    }

    fn store<E: de::Error>(&mut self, i: usize, x: f64) -> Result<(), E> {
        if !x.is_finite() {
            let name = &self.features[i];
            return Err(self.fail(
                ApiError::unprocessable(format!("feature '{name}' is not a finite number"))
                    .field(name.clone())
                    .bad_value(),
            ));
        }
        let base = self.values.len() - self.features.len();
        self.values[base + i] = x;
        self.field = None;
        Ok(())
    }

    /// Reads the rest of an instance object whose first key was `first`.
    fn read_map_row<'de, A: MapAccess<'de>>(
        &mut self,
        first: Option<Key>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        self.start_row();
        let mut key = first;
        while let Some(k) = key {
            match k {
                Key::Feature(i) => self.read_value(i, map)?,
                Key::Instances if self.unknown == Unknown::Ignore => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Instances => {
                    return Err(self.fail(unknown_feature("instances", self.features)));
                }
                Key::Other(name) => match self.unknown {
                    Unknown::Refuse => {
                        return Err(self.fail(unknown_feature(&name, self.features)));
                    }
                    Unknown::Ignore => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
            key = map.next_key_seed(KeySeed(self.features))?;
        }
        if let Some(i) = self.seen.iter().position(|s| !s) {
            return Err(self.fail(missing_feature(&self.features[i])));
        }
        Ok(())
    }

    /// Reads an instance given as an array of numbers.
    fn read_seq_row<'de, A: SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<(), A::Error> {
        self.start_row();
        let n = self.order.as_ref().map_or(self.features.len(), Vec::len);
        for pos in 0..n {
            match self.order.as_ref().map_or(Some(pos), |o| o[pos]) {
                Some(i) => {
                    self.field = Some(i);
                    match seq.next_element_seed(Number)? {
                        Some(x) => self.store(i, x)?,
                        None => {
                            self.field = None;
                            return Err(self.fail(self.wrong_length(n, pos)));
                        }
                    }
                }
                // A column that is not a feature: its value is skipped, whatever it is.
                None => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Err(self.fail(self.wrong_length(n, pos)));
                    }
                }
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(self.fail(self.wrong_length(n, n + 1)));
        }
        Ok(())
    }

    fn wrong_length(&self, wanted: usize, got: usize) -> ApiError {
        let got = if got > wanted {
            "more".to_string()
        } else {
            got.to_string()
        };
        let order = match &self.order {
            Some(_) => "the columns given".to_string(),
            None => self.features.join(", "),
        };
        // A row of the wrong length is a malformed table (MLflow: BAD_REQUEST).
        ApiError::unprocessable(format!(
            "an instance given as a list needs {wanted} values ({order}), got {got}"
        ))
        .bad_value()
    }
}

/// A key of an instance object.
enum Key {
    Feature(usize),
    Instances,
    Other(String),
}

struct KeySeed<'f>(&'f [String]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        // Feature names are few: a linear scan beats hashing.
        Ok(match self.0.iter().position(|f| f == s) {
            Some(i) => Key::Feature(i),
            None if s == "instances" => Key::Instances,
            None => Key::Other(s.to_string()),
        })
    }
}

/// A JSON number as `f64`; anything else is an error.
struct Number;

impl<'de> DeserializeSeed<'de> for Number {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_f64(self)
    }
}

impl Visitor<'_> for Number {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// The top level of a native body.
struct BodySeed<'r, 'f> {
    r: &'r mut Reader<'f>,
    shape: Shape,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.shape {
            Shape::OneOrMany => f.write_str("an object: one instance, or {\"instances\": [...]}"),
            Shape::Many => f.write_str("an object {\"instances\": [...]}"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let r = self.r;
        let first = map.next_key_seed(KeySeed(r.features))?;
        match (first, self.shape) {
            (Some(Key::Instances), _) => {
                map.next_value_seed(InstancesSeed { r: &mut *r })?;
                r.row = None;
                if let Some(key) = map.next_key::<String>()? {
                    if key == "instances" {
                        return Err(r.fail(
                            ApiError::unprocessable(
                                "the key 'instances' is given twice in the body; give it once",
                            )
                            .field(key),
                        ));
                    }
                    return Err(r.fail(
                        ApiError::unprocessable(format!(
                            "unexpected field '{key}' next to 'instances'; send only {{\"instances\": [...]}}"
                        ))
                        .field(key),
                    ));
                }
                Ok(())
            }
            (None, Shape::Many) | (Some(_), Shape::Many) => Err(r.fail(
                ApiError::unprocessable(
                    "the body needs an 'instances' list: {\"instances\": [{...}, ...]}",
                )
                .field("instances"),
            )),
            (first, Shape::OneOrMany) => {
                r.single = true;
                r.read_map_row(first, &mut map)
            }
        }
    }
}

/// A list of instances.
struct InstancesSeed<'r, 'f> {
    r: &'r mut Reader<'f>,
}

impl<'de> DeserializeSeed<'de> for InstancesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for InstancesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of instances in '{}'", self.r.list)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let r = self.r;
        loop {
            let row = r.rows();
            if row == r.max_rows {
                r.row = None;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(r.fail(too_many(r.max_rows)));
                }
                break;
            }
            r.row = Some(row);
            if seq.next_element_seed(RowSeed { r: &mut *r })?.is_none() {
                break;
            }
        }
        r.row = None;
        if r.values.is_empty() {
            let list = r.list;
            return Err(r.fail(
                ApiError::unprocessable(format!("'{list}' is empty: send at least one instance"))
                    .field(list),
            ));
        }
        Ok(())
    }
}

/// One instance in a list: an object or an array.
struct RowSeed<'r, 'f> {
    r: &'r mut Reader<'f>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "an instance: an object of feature values, or a list of numbers in feature order",
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.r.order.is_some() {
            return Err(de::Error::invalid_type(
                de::Unexpected::Map,
                &"a list of numbers",
            ));
        }
        let first = map.next_key_seed(KeySeed(self.r.features))?;
        self.r.read_map_row(first, &mut map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.r.read_seq_row(&mut seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Vec<String> {
        ["a", "b"].iter().map(|s| s.to_string()).collect()
    }

    fn body(json: &str, shape: Shape) -> Result<Rows, ApiError> {
        parse_body(json.as_bytes(), &features(), shape, 3)
    }

    #[test]
    fn reads_single_and_lists_in_feature_order() {
        let rows = body(r#"{"b": 2, "a": 1.5}"#, Shape::OneOrMany).unwrap();
        assert!(rows.single);
        assert_eq!(rows.values, [1.5, 2.0]);
        let rows = body(r#"{"instances": [{"a": 1, "b": 2}, [3, 4]]}"#, Shape::Many).unwrap();
        assert!(!rows.single);
        assert_eq!(rows.values, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn errors_name_status_field_and_instance() {
        let cases: &[(&str, u16, Option<&str>, Option<usize>)] = &[
            (r#"{"a": 1"#, 400, None, None),
            (r#"{"a": 1, "b": 2} x"#, 400, None, None),
            (r#"{"a": 1}"#, 422, Some("b"), None),
            (r#"{"a": 1, "b": 2, "c": 3}"#, 422, Some("c"), None),
            (r#"{"a": "1", "b": 2}"#, 422, Some("a"), None),
            (r#"{"a": null, "b": 2}"#, 422, Some("a"), None),
            (r#"{"a": 1e999, "b": 2}"#, 422, Some("a"), None),
            (r#"{"a": 1, "a": 1, "b": 2}"#, 422, Some("a"), None),
            (r#"{"instances": []}"#, 422, Some("instances"), None),
            (
                r#"{"instances": [{"a":1,"b":2}, {"a":1,"b":"x"}]}"#,
                422,
                Some("b"),
                Some(1),
            ),
            (r#"{"instances": [[1], [1, 2]]}"#, 422, None, Some(0)),
            (r#"{"instances": [[1, 2, 3]]}"#, 422, None, Some(0)),
            (
                r#"{"instances": [[1,2],[1,2],[1,2],[1,2]]}"#,
                422,
                None,
                None,
            ),
            (r#"{"instances": [[1,2]], "x": 1}"#, 422, Some("x"), None),
            (r#"[1, 2]"#, 422, None, None),
        ];
        for (json, status, field, instance) in cases {
            let err = body(json, Shape::OneOrMany).expect_err(json);
            assert_eq!(err.status.as_u16(), *status, "{json}: {err:?}");
            assert_eq!(err.field.as_deref(), *field, "{json}: {err:?}");
            assert_eq!(err.instance, *instance, "{json}: {err:?}");
        }
        assert_eq!(
            body(r#"{"a": 1, "b": 2}"#, Shape::Many)
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
    }

    #[test]
    fn reads_values_split_and_columns() {
        let v: Value = serde_json::from_str(r#"[{"a": 1, "b": 2}]"#).unwrap();
        assert_eq!(
            parse_instances(&v, &features(), 3, "x", Unknown::Refuse)
                .unwrap()
                .values,
            [1.0, 2.0]
        );
        let data: Value = serde_json::from_str("[[2, 1]]").unwrap();
        let rows = parse_split(
            &["b".into(), "a".into()],
            &data,
            &features(),
            3,
            Unknown::Refuse,
        )
        .unwrap();
        assert_eq!(rows.values, [1.0, 2.0]);
        let a: Value = serde_json::from_str("[1, 3]").unwrap();
        let b: Value = serde_json::from_str("[2, 4]").unwrap();
        let rows = parse_columns(&[("b", &b), ("a", &a)], &features(), 3, Unknown::Refuse).unwrap();
        assert_eq!(rows.values, [1.0, 2.0, 3.0, 4.0]);
        let bad: Value = serde_json::from_str(r#"[2, "x"]"#).unwrap();
        let err =
            parse_columns(&[("b", &bad), ("a", &a)], &features(), 3, Unknown::Refuse).unwrap_err();
        assert_eq!((err.field.as_deref(), err.instance), (Some("b"), Some(1)));
    }

    #[test]
    fn ignores_columns_that_are_not_features_when_asked() {
        let data: Value = serde_json::from_str(r#"[[9, "x", 2, 1]]"#).unwrap();
        let columns = ["", "c", "b", "a"].map(String::from);
        let rows = parse_split(&columns, &data, &features(), 3, Unknown::Ignore).unwrap();
        assert_eq!(rows.values, [1.0, 2.0]);
        assert!(parse_split(&columns, &data, &features(), 3, Unknown::Refuse).is_err());
        let short: Value = serde_json::from_str(r#"[[9, "x", 2]]"#).unwrap();
        assert!(parse_split(&columns, &short, &features(), 3, Unknown::Ignore).is_err());
        let v: Value = serde_json::from_str(r#"[{"a": 1, "c": "x", "b": 2}]"#).unwrap();
        let rows = parse_instances(&v, &features(), 3, "x", Unknown::Ignore).unwrap();
        assert_eq!(rows.values, [1.0, 2.0]);
        let a: Value = serde_json::from_str("[1]").unwrap();
        let c: Value = serde_json::from_str(r#""not a list""#).unwrap();
        let rows = parse_columns(
            &[("c", &c), ("a", &a), ("b", &a)],
            &features(),
            3,
            Unknown::Ignore,
        );
        assert_eq!(rows.unwrap().values, [1.0, 1.0]);
    }

    #[test]
    fn a_top_level_key_given_twice_is_refused() {
        let err = parse_object(br#"{"inputs": [], "inputs": []}"#).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.field.as_deref()),
            (400, Some("inputs"))
        );
        assert_eq!(parse_object(b"[1]").unwrap_err().status.as_u16(), 400);
        assert_eq!(parse_object(b"{").unwrap_err().status.as_u16(), 400);
        let ok = parse_object(br#"{"a": {"b": 1, "b": 2}}"#).unwrap();
        assert_eq!(ok["a"]["b"], 2);
    }
}
