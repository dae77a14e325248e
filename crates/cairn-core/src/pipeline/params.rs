//! Params files (`params.yaml` and others a stage names): loaded once, looked up by dotted key,
//! compared by value — so reformatting a file, or writing `1.0` as `1.00`, changes nothing.
//!
//! As in DVC (`dvc/utils/serialize/__init__.py`), the extension picks the parser: `.json`,
//! `.toml` and `.py` (see [`python`]); YAML for everything else. Each gives the same kind of
//! value tree, checked by [`normalize`].

mod python;

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
    /// Loads `rel` (once) from the workspace at `root`, parsed by its extension as DVC does
    /// (see [`parse`]). A missing file is `Ok(None)`.
    pub fn load(&mut self, root: &Path, rel: &str) -> Result<Option<&Value>> {
        if !self.files.contains_key(rel) {
            let path = root.join(rel);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).at(&path),
            };
            let value = parse(rel, &text).map_err(|e| Error::invalid(&path, e))?;
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

/// The deepest nesting of lists and mappings a params file may hold (serde_norway and
/// serde_json stop at 128 themselves; TOML's dotted keys and table headers nest without
/// recursing in its parser, so the tree is measured).
const MAX_DEPTH: usize = 100;

/// The largest JSON, TOML or Python params file read, in bytes. Their values are built whole
/// (a Python file is also held as characters and tokens, some 50 bytes each), so a hostile file
/// of commas would otherwise cost gigabytes; YAML is bounded by its value count instead
/// ([`crate::yaml::MAX_VALUES`]). Real params files are a few kilobytes.
pub const MAX_BYTES: usize = 8 << 20;

/// The format a params file is read in, by extension as DVC picks it (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Toml,
    Python,
}

impl Format {
    /// The format of the file at `name` (a path).
    pub fn of(name: &str) -> Format {
        let ext = Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("json") => Format::Json,
            Some("toml") => Format::Toml,
            Some("py") => Format::Python,
            _ => Format::Yaml,
        }
    }
}

/// Parses the text of a params file named `name` (its extension picks the format) into a
/// checked mapping ([`normalize`]d). The error says what is wrong and where (a line, a key),
/// not which file: the caller names it.
pub fn parse(name: &str, text: &str) -> Result<Value, String> {
    let format = Format::of(name);
    if format != Format::Yaml && text.len() > MAX_BYTES {
        return Err(format!(
            "{:.1} MiB is more than a params file may hold ({} MiB); split it or keep data out \
             of params",
            text.len() as f64 / f64::from(1u32 << 20),
            MAX_BYTES >> 20
        ));
    }
    let value = match format {
        Format::Yaml => {
            if text.trim().is_empty() {
                Value::Mapping(Default::default())
            } else {
                crate::yaml::from_str_unique(text)?
            }
        }
        Format::Json => from_json(text)?,
        Format::Toml => from_toml(text)?,
        Format::Python => python::parse(text)?,
    };
    if !matches!(value, Value::Mapping(_)) {
        return Err("a params file must be a mapping of names to values".into());
    }
    if depth(&value, MAX_DEPTH).is_none() {
        return Err(format!(
            "lists and mappings nest more than {MAX_DEPTH} deep; a params file needs far fewer"
        ));
    }
    normalize(value)
}

/// JSON as Python's `json.loads(text) or {}` reads it: an empty document (`{}`, `[]`, `null`,
/// `0`, `""`, `false`) is an empty mapping. A key repeated in one object is refused, as in YAML.
fn from_json(text: &str) -> Result<Value, String> {
    // Straight into the YAML value tree: object keys keep their order, repeats are refused
    // (serde_norway's mapping visitor), and serde_json stops at 128 levels of nesting.
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let empty = match &value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        Value::Tagged(_) => false,
    };
    Ok(if empty {
        Value::Mapping(Default::default())
    } else {
        value
    })
}

/// TOML through the `toml` crate (its recursion is bounded); dates and times become their TOML
/// text, as a params value has no date type.
fn from_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // The crate's own text quotes the whole line, which in a hostile file is megabytes.
        let place = e.span().map_or_else(String::new, |span| {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        });
        format!("not valid TOML{place}: {}", e.message().trim_end())
    })?;
    toml_value(toml::Value::Table(table), MAX_DEPTH)
}

fn toml_value(value: toml::Value, depth: usize) -> Result<Value, String> {
    let Some(depth) = depth.checked_sub(1) else {
        return Err(format!(
            "tables and arrays nest more than {MAX_DEPTH} deep; a params file needs far fewer"
        ));
    };
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => Value::Number(f.into()),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Sequence(
            items
                .into_iter()
                .map(|v| toml_value(v, depth))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(table) => {
            let mut map = serde_norway::Mapping::with_capacity(table.len());
            for (k, v) in table {
                map.insert(Value::String(k), toml_value(v, depth)?);
            }
            Value::Mapping(map)
        }
    })
}

/// `Some(())` when `value` nests at most `left` lists and mappings deep.
fn depth(value: &Value, left: usize) -> Option<()> {
    match value {
        Value::Sequence(items) => {
            let left = left.checked_sub(1)?;
            items.iter().try_for_each(|v| depth(v, left))
        }
        Value::Mapping(map) => {
            let left = left.checked_sub(1)?;
            map.iter()
                .try_for_each(|(k, v)| depth(k, left).and_then(|()| depth(v, left)))
        }
        Value::Tagged(t) => depth(&t.value, left),
        _ => Some(()),
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
    fn the_extension_picks_the_format_as_in_dvc() {
        for (name, format) in [
            ("params.yaml", Format::Yaml),
            ("conf/p.yml", Format::Yaml),
            ("params", Format::Yaml),
            ("odd.cfg", Format::Yaml),
            ("p.json", Format::Json),
            ("P.JSON", Format::Json),
            ("pyproject.toml", Format::Toml),
            ("config.py", Format::Python),
            ("dir.json/p.yaml", Format::Yaml),
        ] {
            assert_eq!(Format::of(name), format, "{name}");
        }
    }

    #[test]
    fn json_params_keep_their_order_and_empty_documents_are_empty() {
        let value = parse("p.json", r#"{"z": 1, "a": {"lr": 0.1, "2": [true, null]}}"#).unwrap();
        assert_eq!(value, v("{z: 1, a: {lr: 0.1, '2': [true, null]}}"));
        let keys: Vec<_> = value.as_mapping().unwrap().keys().cloned().collect();
        assert_eq!(keys, [v("z"), v("a")]);
        // Python's `json.loads(text) or {}`.
        for empty in ["{}", "[]", "null", "0", "\"\"", "false", " {} \n"] {
            assert_eq!(parse("p.json", empty).unwrap(), v("{}"), "{empty}");
        }
        for (text, expect) in [
            ("", "not valid JSON"),
            ("{\"a\": 1,}", "not valid JSON: trailing comma at line 1"),
            ("{\"a\": 1, \"a\": 2}", "duplicate entry with key \"a\""),
            ("[1, 2]", "must be a mapping"),
            ("\"text\"", "must be a mapping"),
            ("{\"a\": NaN}", "not valid JSON"),
            ("\u{0}\u{1}garbage", "not valid JSON"),
        ] {
            let err = parse("p.json", text).unwrap_err();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        let huge = format!("{{\"a\": [{}0]}}", "0,".repeat(MAX_BYTES / 2));
        for name in ["p.json", "p.toml", "p.py"] {
            let err = parse(name, &huge).unwrap_err();
            assert!(
                err.contains("more than a params file may hold (8 MiB)"),
                "{err}"
            );
        }
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(5000), "]".repeat(5000));
        let err = parse("p.json", &deep).unwrap_err();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }

    #[test]
    fn toml_params_keep_their_order_and_dates_become_text() {
        let text = "seed = 42\n[train]\nlr = 1e-3\nlayers = [64, 32]\nwhen = 1979-05-27T07:32:00Z\n\
                    [train.opt]\nname = \"adam\"\n[[runs]]\nn = 1\n[[runs]]\nn = 2\n";
        let value = parse("p.toml", text).unwrap();
        assert_eq!(
            value,
            v(
                "{seed: 42, train: {lr: 0.001, layers: [64, 32], when: '1979-05-27T07:32:00Z', \
               opt: {name: adam}}, runs: [{n: 1}, {n: 2}]}"
            )
        );
        let keys: Vec<_> = value.as_mapping().unwrap().keys().cloned().collect();
        assert_eq!(keys, [v("seed"), v("train"), v("runs")]);
        assert_eq!(parse("p.toml", "").unwrap(), v("{}"));
        for (text, expect) in [
            ("a = 1\nb = = 2\n", "not valid TOML at line 2, column 5"),
            ("a = 1\na = 2\n", "not valid TOML at line 2"),
            ("[t]\nx = 1\n[t]\n", "not valid TOML at line 3"),
            ("\u{0}garbage", "not valid TOML"),
        ] {
            let err = parse("p.toml", text).unwrap_err();
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        // Hostile nesting: arrays, inline tables, dotted keys and headers (these last two
        // nest without recursing in the parser). Refused, with a short message.
        for text in [
            format!("x = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000)),
            format!("x = {}{}\n", "{a=".repeat(100_000), "}".repeat(100_000)),
            format!("{} = 1\n", vec!["a"; 100_000].join(".")),
            format!("[{}]\nx = 1\n", vec!["a"; 100_000].join(".")),
            format!("[{}]\nx = 1\n", vec!["a"; 150].join(".")),
        ] {
            let err = parse("p.toml", &text).unwrap_err();
            assert!(err.len() < 200, "{err}");
        }
    }

    #[test]
    fn every_format_loads_through_params_with_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("p.json", r#"{"train": {"lr": 0.5}}"#);
        write("p.toml", "[train]\nlr = 0.5\n");
        write("p.py", "class train:\n    lr = 0.5\n");
        write("p.yml", "train: {lr: 0.5}\n");
        write("bad.py", "x = 1\ny = 'open\n");
        let mut params = Params::default();
        for file in ["p.json", "p.toml", "p.py", "p.yml"] {
            params.load(dir.path(), file).unwrap().expect("exists");
            assert_eq!(params.get(file, "train.lr"), Some(&v("0.5")), "{file}");
        }
        assert!(params.load(dir.path(), "missing.toml").unwrap().is_none());
        let err = params.load(dir.path(), "bad.py").unwrap_err().to_string();
        assert!(
            err.contains("bad.py: line 2: unterminated string literal"),
            "{err}"
        );
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
