//! The run-cache: a stage's *input key* (its commands, dep digests, param values and out paths)
//! mapped to the digests its outs had after a successful run, so a run seen before — here, or on
//! a laptop whose run-cache was pushed — is restored from the cache instead of executed.
//! One small YAML file per key under `.cairn/runs/v1/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::lock::{LockedPath, LockedStage};

/// Version of the run-cache layout.
pub const LAYOUT: &str = "v1";

/// One run-cache entry: what the outs were after running with that key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    /// Out paths with their digests.
    pub outs: Vec<LockedPath>,
}

/// Makes equal param values key equally: numbers as floats (`1` and `1.0` are one value);
/// object keys come out sorted from `serde_json::Map`.
fn canonicalize(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(canonicalize),
        serde_json::Value::Object(map) => map.values_mut().for_each(canonicalize),
        _ => {}
    }
}

/// Whether a param value holds a NaN or an infinity.
fn has_non_finite(value: &serde_norway::Value) -> bool {
    use serde_norway::Value;
    match value {
        Value::Number(n) => n.as_f64().is_some_and(|f| !f.is_finite()),
        Value::Sequence(items) => items.iter().any(has_non_finite),
        Value::Mapping(map) => map
            .iter()
            .any(|(k, v)| has_non_finite(k) || has_non_finite(v)),
        Value::Tagged(t) => has_non_finite(&t.value),
        _ => false,
    }
}

/// The run-cache folder.
#[derive(Debug, Clone)]
pub struct RunCache {
    dir: PathBuf,
}

impl RunCache {
    /// The run-cache under `runs_dir` (`.cairn/runs`).
    pub fn at(runs_dir: &Path) -> RunCache {
        RunCache {
            dir: runs_dir.join(LAYOUT),
        }
    }

    /// The input key of a stage about to run: everything but the out digests of its lock entry.
    /// Inputs that cannot be written down exactly are an error, never a key shared with other
    /// inputs.
    pub fn key(stage: &LockedStage) -> Result<Digest> {
        let mut inputs = stage.clone();
        inputs.outs.sort_by(|a, b| a.path.cmp(&b.path));
        inputs.deps.sort_by(|a, b| a.path.cmp(&b.path));
        let cannot = |e: String| Error::Failed(format!("the run-cache key of these inputs: {e}"));
        let mut doc = serde_json::to_value(&inputs).map_err(|e| cannot(e.to_string()))?;
        // Out digests, sizes and counts are what the run produces, not part of its inputs.
        if let Some(outs) = doc.get_mut("outs").and_then(|o| o.as_array_mut()) {
            for out in outs {
                if let Some(out) = out.as_object_mut() {
                    out.insert("digest".into(), "".into());
                    out.insert("size".into(), 0.into());
                    out.remove("nfiles");
                }
            }
        }
        // JSON has no NaN or infinity: serde_json writes them as null, which would make
        // `p: .inf`, `p: -.inf` and `p: null` one key. Params holding one are also keyed by their
        // exact YAML text, under a name no lock field has.
        if inputs
            .params
            .values()
            .flat_map(|k| k.values())
            .any(has_non_finite)
        {
            let text =
                serde_norway::to_string(&inputs.params).map_err(|e| cannot(e.to_string()))?;
            if let serde_json::Value::Object(map) = &mut doc {
                map.insert("params_yaml".into(), serde_json::Value::String(text));
            }
        }
        canonicalize(&mut doc);
        Ok(crate::hash::digest_bytes(doc.to_string().as_bytes()))
    }

    /// Where the entry for `key` lives.
    pub fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(key)
    }

    /// The entry for `key`, if any. An unreadable entry counts as absent: it is only a cache.
    pub fn get(&self, key: &Digest) -> Option<RunEntry> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        crate::yaml::from_str_unique(&text).ok()
    }

    /// Records an entry.
    pub fn put(&self, key: &Digest, entry: &RunEntry) -> Result<()> {
        let path = self.path(key);
        let text = serde_norway::to_string(entry).map_err(|e| Error::Failed(e.to_string()))?;
        crate::atomic::write(&path, text.as_bytes())
    }

    /// Every entry, as (key, entry), sorted by key; unreadable entries are skipped.
    pub fn entries(&self) -> Result<Vec<(Digest, RunEntry)>> {
        let mut out = Vec::new();
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).at(&self.dir),
        };
        for item in dir {
            let item = item.at(&self.dir)?;
            let Ok(key) = Digest::parse(&item.file_name().to_string_lossy()) else {
                continue;
            };
            if let Some(entry) = self.get(&key) {
                out.push((key, entry));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Removes the entry for `key`.
    pub fn remove(&self, key: &Digest) -> Result<()> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(&path),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(params: &str) -> LockedStage {
        let mut s = LockedStage {
            cmd: vec!["true".into()],
            ..Default::default()
        };
        let value: serde_norway::Value = serde_norway::from_str(params).unwrap();
        s.params
            .entry("params.yaml".into())
            .or_default()
            .insert("p".into(), value);
        s
    }

    #[test]
    fn equal_values_key_equally_and_different_ones_do_not() {
        let key = |p: &str| RunCache::key(&stage(p)).unwrap();
        assert_eq!(key("1"), key("1.0"));
        assert_eq!(key("{a: 1, b: 2}"), key("{b: 2, a: 1.0}"));
        let distinct = [
            "null", ".inf", "-.inf", ".nan", "[.inf]", "[-.inf]", "[null]", "'x'", "1", "2",
        ];
        let keys: std::collections::BTreeSet<Digest> = distinct.iter().map(|p| key(p)).collect();
        assert_eq!(keys.len(), distinct.len(), "{keys:?}");
    }

    #[test]
    fn unkeyable_inputs_are_errors_not_one_key() {
        // What the lock and params checks refuse; the key must not paper over it either.
        assert!(RunCache::key(&stage("{[1]: x}")).is_err());
        assert!(RunCache::key(&stage("{{a: 1}: x}")).is_err());
    }
}
