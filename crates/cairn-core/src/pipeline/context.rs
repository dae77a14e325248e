//! The variables `${…}` can name, merged as DVC merges them: `params.yaml`, then the file's
//! `vars:`, then a stage's own `vars:` (in a copy), all deep-merged into one tree. Two sources
//! may add keys side by side inside a mapping (`models.model1` from params.yaml,
//! `models.model2` from a vars file), but giving a key that already has a value a second value
//! is an error naming both sources, as DVC's "cannot redefine" is: a later file silently
//! winning would run a different command than DVC runs.

use std::collections::HashMap;
use std::path::Path;

use serde_norway::{Mapping, Value};

use super::params::{Params, normalize};

/// Merged variables, where each came from, and which files were loaded (wholly or in part).
#[derive(Debug, Clone, Default)]
pub struct Context {
    vars: Mapping,
    /// Dotted key path → the file or `vars[i]` entry that first set it. A key's source is that
    /// of its longest recorded prefix.
    sources: Vec<(String, String)>,
    /// Loaded files → `None` when loaded whole, or the top-level keys taken from them.
    imports: HashMap<String, Option<Vec<String>>>,
}

impl Context {
    /// The variables.
    pub fn vars(&self) -> &Mapping {
        &self.vars
    }

    /// Merges a `vars:` entry: a file (`path` or `path:key1,key2`, relative to `wdir`) or an
    /// inline mapping. `source` names the entry in errors (`vars[0]`, `train.vars[1]`);
    /// `reserved` are names the merge may not set (`item` and `key` inside a foreach).
    pub fn merge_entry(
        &mut self,
        entry: &Value,
        source: &str,
        wdir: &str,
        root: &Path,
        params: &mut Params,
        reserved: &[&str],
    ) -> Result<(), String> {
        match entry {
            Value::String(spec) => self.merge_file(spec, wdir, root, params, reserved),
            Value::Mapping(m) => {
                match normalize(Value::Mapping(m.clone())).map_err(|e| format!("{source}: {e}"))? {
                    Value::Mapping(m) => self.merge(m, source, reserved),
                    _ => Err(format!("{source}: not a mapping")),
                }
            }
            _ => Err(format!(
                "{source}: a vars entry is a file (`- params.yaml`, `- conf.yaml:key1,key2`) or a mapping of names to values"
            )),
        }
    }

    /// Loads a vars file as DVC's `merge_from` does: the same file may be named whole any
    /// number of times (later mentions add nothing), but not whole and in part, and no key twice.
    pub fn merge_file(
        &mut self,
        spec: &str,
        wdir: &str,
        root: &Path,
        params: &mut Params,
        reserved: &[&str],
    ) -> Result<(), String> {
        let (file, keys) = match spec.split_once(':') {
            Some((f, k)) => (f, Some(k)),
            None => (spec, None),
        };
        let joined = if wdir.is_empty() {
            file.to_string()
        } else {
            format!("{wdir}/{file}")
        };
        let path = crate::workspace::normalize_relative(&joined)?;
        let keys: Option<Vec<String>> = keys
            .map(|k| {
                k.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter(|k| !k.is_empty());
        match (self.imports.get(&path), &keys) {
            (None, _) => {}
            (Some(None), None) => return Ok(()),
            (Some(None), Some(_)) => {
                return Err(format!(
                    "cannot load '{spec}' in part: '{path}' is already loaded whole; name it once"
                ));
            }
            (Some(Some(_)), None) => {
                return Err(format!(
                    "cannot load '{spec}' whole: '{path}' is already loaded in part; name it once"
                ));
            }
            (Some(Some(taken)), Some(keys)) => {
                if let Some(k) = keys.iter().find(|k| taken.contains(k)) {
                    return Err(format!(
                        "cannot load '{spec}': '{k}' of '{path}' is already loaded"
                    ));
                }
            }
        }
        let value = params
            .load_shared(root, &path)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("'{path}' does not exist"))?;
        let Value::Mapping(all) = &*value else {
            return Err(format!("'{path}' is not a mapping of names to values"));
        };
        let taken = match &keys {
            None => all.clone(),
            Some(keys) => {
                let mut m = Mapping::with_capacity(keys.len());
                for k in keys {
                    let v = all
                        .get(k.as_str())
                        .ok_or_else(|| format!("could not find '{k}' in '{path}'"))?;
                    m.insert(Value::String(k.clone()), v.clone());
                }
                m
            }
        };
        self.merge(taken, &path, reserved)?;
        match (self.imports.get_mut(&path), keys) {
            (Some(Some(taken)), Some(keys)) => taken.extend(keys),
            (_, keys) => {
                self.imports.insert(path, keys);
            }
        }
        Ok(())
    }

    /// Deep-merges `update` (from `source`) into the variables.
    fn merge(&mut self, update: Mapping, source: &str, reserved: &[&str]) -> Result<(), String> {
        if let Some(r) = reserved.iter().find(|r| update.contains_key(**r)) {
            return Err(format!(
                "'{source}' sets '{r}', which the foreach or matrix sets for each of its stages; rename the variable"
            ));
        }
        let mut added = Vec::new();
        let result = merge_into(&mut self.vars, update, "", &mut added, &|path| {
            self_source(&self.sources, path)
        });
        self.sources
            .extend(added.into_iter().map(|p| (p, source.to_string())));
        result.map_err(|(path, existing)| {
            format!("cannot redefine '{path}' from '{source}' as it already exists in '{existing}'")
        })
    }
}

/// The source of dotted `path`: that of its longest recorded prefix.
fn self_source(sources: &[(String, String)], path: &str) -> String {
    sources
        .iter()
        .filter(|(p, _)| {
            path == p
                || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'.'))
        })
        .max_by_key(|(p, _)| p.len())
        .map_or_else(|| "?".to_string(), |(_, s)| s.clone())
}

/// Merges `update` into `into` at dotted path `at`: mappings meet key by key; any other value
/// meeting an existing one is `Err((path, existing source))`. New keys' paths go to `added`.
fn merge_into(
    into: &mut Mapping,
    update: Mapping,
    at: &str,
    added: &mut Vec<String>,
    source_of: &dyn Fn(&str) -> String,
) -> Result<(), (String, String)> {
    for (k, v) in update {
        let name = match &k {
            Value::String(s) => s.clone(),
            other => super::interpolate::to_str(other).unwrap_or_default(),
        };
        let path = if at.is_empty() {
            name
        } else {
            format!("{at}.{name}")
        };
        match (into.get_mut(&k), v) {
            (Some(Value::Mapping(a)), Value::Mapping(b)) => {
                merge_into(a, b, &path, added, source_of)?;
            }
            (Some(_), _) => {
                let existing = source_of(&path);
                return Err((path, existing));
            }
            (None, v) => {
                into.insert(k, v);
                added.push(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(yaml: &str) -> Value {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn mappings_merge_and_values_may_not_be_redefined() {
        let root = Path::new("/nonexistent");
        let mut p = Params::default();
        let mut c = Context::default();
        c.merge_entry(&m("models: {a: 1}"), "params.yaml", "", root, &mut p, &[])
            .unwrap();
        c.merge_entry(&m("models: {b: 2}"), "vars[0]", "", root, &mut p, &[])
            .unwrap();
        assert_eq!(c.vars(), m("models: {a: 1, b: 2}").as_mapping().unwrap());
        let err = c
            .merge_entry(&m("models: {b: 3}"), "vars[1]", "", root, &mut p, &[])
            .unwrap_err();
        assert_eq!(
            err,
            "cannot redefine 'models.b' from 'vars[1]' as it already exists in 'vars[0]'"
        );
        let err = c
            .merge_entry(&m("item: 1"), "s.vars[0]", "", root, &mut p, &["item"])
            .unwrap_err();
        assert!(err.contains("sets 'item'"), "{err}");
    }
}
