//! `-S [FILE:]KEY=VALUE`: a parameter override, as `dvc exp run -S` takes it, on YAML, JSON,
//! TOML and Python params files. The value is read
//! as YAML (`0.1` a number, `true` a boolean, anything else text); the key must exist in the
//! file, and one that does not is named with the nearest key that does.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_norway::Value;

use crate::error::{Error, IoContext, Result};
use crate::pipeline::params::Format;

/// One override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// Workspace-relative params file.
    pub file: String,
    /// Dotted key.
    pub key: String,
    /// The value it gets.
    pub value: serde_json::Value,
}

impl Override {
    /// Parses `[FILE:]KEY=VALUE` (`params.yaml` when no file is named).
    pub fn parse(text: &str) -> Result<Override> {
        let (target, value) = text.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "-S {text}: write KEY=VALUE or FILE:KEY=VALUE (e.g. -S train.seed=7)"
            ))
        })?;
        let (file, key) = match target.rsplit_once(':') {
            Some((file, key)) if !file.is_empty() => (file.to_string(), key.to_string()),
            _ => ("params.yaml".to_string(), target.to_string()),
        };
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(Error::Usage(format!(
                "-S {text}: the key '{key}' is empty or has an empty part"
            )));
        }
        crate::rel_path::RelPath::parse(&file)
            .map_err(|e| Error::Usage(format!("-S {text}: the file {file}: {e}")))?;
        let value: Value =
            serde_norway::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        let value = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
        Ok(Override { file, key, value })
    }

    /// `[FILE:]KEY=VALUE` as the user writes it.
    pub fn shown(&self) -> String {
        let file = if self.file == "params.yaml" {
            String::new()
        } else {
            format!("{}:", self.file)
        };
        format!("{file}{}={}", self.key, self.value)
    }
}

/// Applies `overrides` to the params files under `root` (a copy of the workspace), rewriting
/// each file changed. A key that does not exist is [`Error::Usage`] naming the nearest one.
pub fn apply_overrides(root: &Path, overrides: &[Override]) -> Result<()> {
    for (path, text) in overridden(root, overrides)? {
        crate::atomic::write(&path, text.as_bytes())?;
    }
    Ok(())
}

/// Checks that `overrides` apply to the params files under `root`, changing nothing.
pub fn check_overrides(root: &Path, overrides: &[Override]) -> Result<()> {
    overridden(root, overrides).map(|_| ())
}

/// Each params file `overrides` change, with its new text.
fn overridden(root: &Path, overrides: &[Override]) -> Result<Vec<(std::path::PathBuf, String)>> {
    let mut changed = Vec::new();
    let mut files: Vec<&str> = overrides.iter().map(|o| o.file.as_str()).collect();
    files.sort();
    files.dedup();
    for file in files {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).at(&path)?;
        let format = Format::of(file);
        let mut doc: Value =
            crate::pipeline::params::parse(file, &text).map_err(|e| Error::invalid(&path, e))?;
        let mine: Vec<&Override> = overrides.iter().filter(|o| o.file == file).collect();
        for o in &mine {
            set(&mut doc, &o.key, &o.value).map_err(|nearest| {
                let hint = nearest
                    .map(|k| format!("; the nearest key is '{k}'"))
                    .unwrap_or_default();
                Error::Usage(format!(
                    "-S {}: {file} has no key '{}'{hint}",
                    o.shown(),
                    o.key
                ))
            })?;
        }
        let out = match format {
            Format::Json => {
                serde_json::to_string_pretty(&doc).map_err(|e| Error::Failed(e.to_string()))?
            }
            // TOML is rewritten from its own tree, not from `doc`, so that integers stay
            // integers and dates stay dates; every key was checked above.
            Format::Toml => toml_overridden(&text, &mine).map_err(|e| Error::invalid(&path, e))?,
            Format::Python => {
                let keys: Vec<&str> = mine.iter().map(|o| o.key.as_str()).collect();
                super::python_override::rewrite(file, &text, &keys, &doc).map_err(Error::Usage)?
            }
            _ => serde_norway::to_string(&doc).map_err(|e| Error::Failed(e.to_string()))?,
        };
        changed.push((path, out));
    }
    Ok(changed)
}

/// `text` (TOML) with `overrides`, whose keys exist, applied.
fn toml_overridden(text: &str, overrides: &[&Override]) -> std::result::Result<String, String> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    for o in overrides {
        let value = toml::Value::try_from(&o.value)
            .map_err(|_| format!("-S {}: TOML cannot hold {}", o.shown(), o.value))?;
        let mut parts = o.key.split('.');
        let mut at = parts
            .next()
            .and_then(|first| table.get_mut(first))
            .ok_or_else(|| format!("no key '{}'", o.key))?;
        for part in parts {
            at = match at {
                toml::Value::Table(t) => t.get_mut(part),
                toml::Value::Array(items) => {
                    part.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                }
                _ => None,
            }
            .ok_or_else(|| format!("no key '{}'", o.key))?;
        }
        *at = value;
    }
    toml::to_string(&table).map_err(|e| e.to_string())
}

/// Sets the existing dotted `key` of `doc` to `value`; on a missing key, the nearest existing
/// key (by edit distance), if any.
fn set(
    doc: &mut Value,
    key: &str,
    value: &serde_json::Value,
) -> std::result::Result<(), Option<String>> {
    let mut keys = Vec::new();
    flat_keys("", doc, &mut keys);
    let mut at = &mut *doc;
    for part in key.split('.') {
        let next = match at {
            Value::Mapping(m) => m.get_mut(part),
            Value::Sequence(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Err(nearest(key, &keys)),
        }
    }
    *at = serde_norway::to_value(value).unwrap_or(Value::Null);
    Ok(())
}

fn flat_keys(prefix: &str, value: &Value, out: &mut Vec<String>) {
    if let Value::Mapping(m) = value {
        for (k, v) in m {
            let Some(k) = k.as_str() else { continue };
            let key = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(key.clone());
            flat_keys(&key, v, out);
        }
    }
}

fn nearest(key: &str, keys: &[String]) -> Option<String> {
    keys.iter()
        .map(|k| (distance(key, k), k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_apply_and_name_the_nearest_key() {
        let o = Override::parse("train.seed=7").expect("parse");
        assert_eq!(
            (o.file.as_str(), o.key.as_str(), o.value.clone()),
            ("params.yaml", "train.seed", 7.into())
        );
        let o = Override::parse("conf/p.json:lr=0.1").expect("parse");
        assert_eq!(
            (o.file.as_str(), o.value.clone()),
            ("conf/p.json", 0.1.into())
        );
        assert_eq!(
            Override::parse("name=has space").expect("text").value,
            "has space"
        );
        assert!(Override::parse("nokey").is_err());
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("params.yaml"),
            "train:\n  seed: 1\n  lr: 0.5\n",
        )
        .expect("write");
        apply_overrides(dir.path(), &[Override::parse("train.seed=7").expect("o")]).expect("apply");
        let text = std::fs::read_to_string(dir.path().join("params.yaml")).expect("read");
        assert!(
            text.contains("seed: 7") && text.contains("lr: 0.5"),
            "{text}"
        );
        let err = apply_overrides(dir.path(), &[Override::parse("train.sed=7").expect("o")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("no key 'train.sed'") && err.contains("'train.seed'"),
            "{err}"
        );
    }

    #[test]
    fn toml_and_python_overrides_keep_types_and_the_rest_of_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("p.toml"),
            "[train]\nseed = 1\nlr = 0.5\nwhen = 1979-05-27\nlayers = [1, 2]\n",
        )
        .expect("write");
        let set = |s: &str| Override::parse(s).expect("o");
        apply_overrides(
            dir.path(),
            &[set("p.toml:train.seed=7"), set("p.toml:train.layers.1=64")],
        )
        .expect("apply");
        let text = std::fs::read_to_string(dir.path().join("p.toml")).expect("read");
        let table: toml::Table = text.parse().expect("toml");
        let train = &table["train"];
        assert_eq!(train["seed"].as_integer(), Some(7), "{text}");
        assert_eq!(train["lr"].as_float(), Some(0.5), "{text}");
        assert!(train["when"].is_datetime(), "{text}");
        assert_eq!(train["layers"][1].as_integer(), Some(64), "{text}");
        let err = check_overrides(dir.path(), &[set("p.toml:train.sede=2")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("'train.seed'"), "{err}");
        std::fs::write(dir.path().join("p.py"), "SEED = 1  # why\n").expect("write");
        apply_overrides(dir.path(), &[set("p.py:SEED=2")]).expect("python");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("p.py")).expect("read"),
            "SEED = 2  # why\n"
        );
        let err = check_overrides(dir.path(), &[set("p.py:SEDE=2")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("'SEED'"), "{err}");
    }
}
