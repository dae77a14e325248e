//! Params files (`params.yaml` and others a stage names): loaded once, looked up by dotted key,
//! compared by value — so reformatting a file, or writing `1.0` as `1.00`, changes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_norway::Value;

use crate::error::{Error, IoContext, Result};

/// Parsed params files by workspace-relative path.
#[derive(Debug, Clone, Default)]
pub struct Params {
    files: BTreeMap<String, Arc<Value>>,
}

impl Params {
    /// Loads `rel` (once) from the workspace at `root`. A missing file is `Ok(None)`.
    pub fn load(&mut self, root: &Path, rel: &str) -> Result<Option<&Value>> {
        if !self.files.contains_key(rel) {
            let path = root.join(rel);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).at(&path),
            };
            let value: Value = if text.trim().is_empty() {
                Value::Mapping(Default::default())
            } else {
                crate::yaml::from_str_unique(&text).map_err(|e| Error::invalid(&path, e))?
            };
            if !matches!(value, Value::Mapping(_)) {
                return Err(Error::invalid(
                    &path,
                    "a params file must be a mapping of names to values",
                ));
            }
            let value = normalize(value).map_err(|e| Error::invalid(&path, e))?;
            self.files.insert(rel.to_string(), Arc::new(value));
        }
        Ok(self.files.get(rel).map(|v| &**v))
    }

    /// Like [`Params::load`], sharing the loaded value instead of lending it.
    pub(super) fn load_shared(&mut self, root: &Path, rel: &str) -> Result<Option<Arc<Value>>> {
        self.load(root, rel)?;
        Ok(self.files.get(rel).cloned())
    }

    /// The workspace-relative paths of every file loaded so far.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The value at dotted `key` of an already loaded file (`""` is the whole file).
    pub fn get(&self, file: &str, key: &str) -> Option<&Value> {
        let mut value: &Value = self.files.get(file)?;
        if key.is_empty() {
            return Some(value);
        }
        for part in key.split('.') {
            value = match value {
                Value::Mapping(m) => m.get(part)?,
                Value::Sequence(s) => s.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

/// Checks a params document (a params file, or a value `pipeline.lock` recorded) and writes its
/// keys as strings, so that it can be recorded in the lock and keyed in the run-cache exactly:
/// a key must be a string, a number or a boolean (`1: x` is the key `"1"`, as in DVC, where keys
/// are strings in practice); null, list, mapping and tagged keys are refused, and so are two keys
/// that are one once written as text (`1` and `'1'`) and YAML tags (`!tag`) anywhere. The error
/// names the key path (`train.layers.0`).
pub fn normalize(value: Value) -> Result<Value, String> {
    normalize_at(value, "")
}

/// [`normalize`] for the value found at dotted key `at`, which errors name.
pub fn normalize_under(value: Value, at: &str) -> Result<Value, String> {
    normalize_at(value, at)
}

fn normalize_at(value: Value, at: &str) -> Result<Value, String> {
    let place = |at: &str| {
        if at.is_empty() {
            "at the top level".to_string()
        } else {
            format!("at key '{at}'")
        }
    };
    let join = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    match value {
        Value::Tagged(t) => Err(format!(
            "{}: YAML tags such as {} are not supported in params; write the plain value",
            place(at),
            t.tag
        )),
        Value::Sequence(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| normalize_at(v, &join(&i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence),
        Value::Mapping(map) => {
            let mut out = serde_norway::Mapping::with_capacity(map.len());
            for (k, v) in map {
                let name = match &k {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        let what = match other {
                            Value::Null => "null".to_string(),
                            Value::Sequence(_) => "a list".to_string(),
                            Value::Mapping(_) => "a mapping".to_string(),
                            Value::Tagged(t) => format!("a tagged value ({})", t.tag),
                            _ => "that".to_string(),
                        };
                        return Err(format!(
                            "{}: a key is {what}; params keys must be strings, numbers or booleans",
                            place(at)
                        ));
                    }
                };
                let v = normalize_at(v, &join(&name))?;
                if out.insert(Value::String(name.clone()), v).is_some() {
                    return Err(format!(
                        "{}: two keys are both '{name}' once written as text (such as 1 and '1'); each key may appear once",
                        place(at)
                    ));
                }
            }
            Ok(Value::Mapping(out))
        }
        v => Ok(v),
    }
}

/// Whether two param values are the same value: numbers compare numerically, mappings by key
/// regardless of order.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => x == y,
        },
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Mapping(x), Value::Mapping(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        (Value::Tagged(x), Value::Tagged(y)) => x.tag == y.tag && same_value(&x.value, &y.value),
        _ => a == b,
    }
}

/// Short one-line text of a value, for status and diff tables.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    #[test]
    fn keys_become_strings_and_odd_keys_are_refused() {
        let n = normalize(v("p: {1: a, true: b, 1.5: c, k: [{2: d}]}")).unwrap();
        assert_eq!(n, v("p: {'1': a, 'true': b, '1.5': c, k: [{'2': d}]}"));
        for (doc, expect) in [
            ("p: {{a: 1}: x}", "at key 'p': a key is a mapping"),
            ("p: {[1]: x}", "at key 'p': a key is a list"),
            ("p: {~: x}", "at key 'p': a key is null"),
            (
                "p: {q: {!t k: x}}",
                "at key 'p.q': a key is a tagged value (!t)",
            ),
            ("p: [1, !t x]", "at key 'p.1': YAML tags such as !t"),
            ("{~: x}", "at the top level: a key is null"),
            ("p: {1: x, '1': y}", "two keys are both '1'"),
        ] {
            let err = normalize(v(doc)).unwrap_err();
            assert!(err.contains(expect), "{doc}: {err}");
        }
        // Non-finite numbers are values like any other.
        assert!(normalize(v("p: [.nan, .inf, -.inf]")).is_ok());
    }

    #[test]
    fn values_compare_by_value_not_text() {
        assert!(same_value(&v("1.0"), &v("1.00")));
        assert!(same_value(&v("1"), &v("1.0")));
        assert!(same_value(&v("{a: 1, b: 2}"), &v("{b: 2, a: 1}")));
        assert!(!same_value(&v("{a: 1}"), &v("{a: 2}")));
        assert!(!same_value(&v("'1'"), &v("1")));
    }
}
