//! `pipeline.lock`: per stage, the command, each dep's and out's digest and each param's value as
//! of the last successful run. Written deterministically (stages, paths and keys sorted, no
//! timestamps) and atomically, so a no-op repro leaves it byte-identical and a crash leaves the
//! previous version.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dep_path::DepPath;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::hash::PathDigest;
use crate::rel_path::RelPath;

/// Value of the `schema` field.
pub const SCHEMA: &str = "cairn-lock/1";

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Stages by name.
    #[serde(default)]
    pub stages: BTreeMap<String, LockedStage>,
}

/// What one stage saw on its last successful run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedStage {
    /// The command(s), after templating.
    #[serde(with = "one_or_many")]
    pub cmd: Vec<String>,
    /// Dependencies, sorted by path: inside the workspace, or absolute paths outside it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<LockedDep>,
    /// Param values by params file, then by key as written in pipeline.yaml.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, BTreeMap<String, serde_norway::Value>>,
    /// Outputs (including metrics and plots), sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outs: Vec<LockedPath>,
}

impl LockedStage {
    /// Checks what a lock written by someone else records beyond what its types check (paths
    /// relative and inside, digests digests): outs are not reserved paths, and param values are
    /// what a params file may hold (their keys made strings, see [`crate::pipeline::params::normalize`]).
    fn check(&mut self) -> std::result::Result<(), String> {
        // Paths and digests are checked types; outs must also be writable data.
        for out in &self.outs {
            if let Some(why) = crate::confine::reserved(&out.path) {
                return Err(format!(
                    "outs: '{}': {why}, which no stage may write",
                    out.path
                ));
            }
        }
        for (file, keys) in &mut self.params {
            for (key, value) in keys.iter_mut() {
                let v = std::mem::replace(value, serde_norway::Value::Null);
                *value = crate::pipeline::params::normalize_under(v, key)
                    .map_err(|e| format!("params: {file}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// A path with the digest it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPath {
    /// Workspace-relative path, `/`-separated.
    pub path: RelPath,
    /// BLAKE3 of the file, or of the directory's manifest.
    pub digest: Digest,
    /// Bytes (all files for a directory).
    pub size: u64,
    /// Number of files, for a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfiles: Option<u64>,
}

impl LockedPath {
    /// Records `path` (normalised and inside the workspace, as pipeline paths are) as hashed.
    pub fn new(path: &str, hashed: &PathDigest) -> Result<LockedPath> {
        Ok(LockedPath {
            path: RelPath::parse(path).map_err(Error::Failed)?,
            digest: hashed.digest.clone(),
            size: hashed.size,
            nfiles: hashed.nfiles(),
        })
    }

    /// Whether the path is a directory (its digest names a manifest).
    pub fn is_dir(&self) -> bool {
        self.nfiles.is_some()
    }
}

/// A dependency with the digest it had: a [`LockedPath`] whose path may also be an absolute
/// path outside the workspace (see [`DepPath`] for why that never makes cairn read it on its
/// own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDep {
    /// Workspace-relative or absolute, `/`-separated, normalised.
    pub path: DepPath,
    /// BLAKE3 of the file, or of the directory's manifest.
    pub digest: Digest,
    /// Bytes (all files for a directory).
    pub size: u64,
    /// Number of files, for a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfiles: Option<u64>,
}

impl LockedDep {
    /// Records the dependency `path` as hashed.
    pub fn new(path: DepPath, hashed: &PathDigest) -> LockedDep {
        LockedDep {
            path,
            digest: hashed.digest.clone(),
            size: hashed.size,
            nfiles: hashed.nfiles(),
        }
    }
}

impl Lock {
    /// Reads `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::empty()),
            Err(e) => return Err(e).at(path),
        };
        Lock::parse(&text, path)
    }

    /// Parses lock text read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Lock> {
        let fix = "restore it from git or delete it and run `cairn repro`";
        let mut lock: Lock = crate::yaml::from_str_unique(text)
            .map_err(|e| Error::invalid(path, format!("{e}; {fix}")))?;
        if lock.schema != SCHEMA {
            return Err(Error::invalid(
                path,
                format!(
                    "schema '{}' is not '{SCHEMA}'; this cairn cannot read it",
                    lock.schema
                ),
            ));
        }
        for (name, stage) in &mut lock.stages {
            stage
                .check()
                .map_err(|e| Error::invalid(path, format!("stage '{name}': {e}; {fix}")))?;
        }
        Ok(lock)
    }

    /// A lock with no stages.
    pub fn empty() -> Lock {
        Lock {
            schema: SCHEMA.to_string(),
            stages: BTreeMap::new(),
        }
    }

    /// The canonical text. A lock that cannot be written as YAML is an error, never empty text.
    pub fn to_text(&self) -> std::result::Result<String, String> {
        let mut sorted = self.clone();
        for stage in sorted.stages.values_mut() {
            stage.deps.sort_by(|a, b| a.path.cmp(&b.path));
            stage.outs.sort_by(|a, b| a.path.cmp(&b.path));
        }
        let text = serde_norway::to_string(&sorted).map_err(|e| e.to_string())?;
        if text.trim().is_empty() {
            return Err("it would be empty".into());
        }
        Ok(text)
    }

    /// Writes the lock atomically, and only if its text changed.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self
            .to_text()
            .map_err(|e| Error::Failed(format!("{}: cannot write: {e}", path.display())))?;
        if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        crate::atomic::write(path, text.as_bytes())
    }
}

/// A command list written as a plain string when it has one element, as dvc.lock does.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_with_param(value: &str) -> Lock {
        let mut lock = Lock::empty();
        let stage = lock.stages.entry("s".into()).or_default();
        stage.cmd = vec!["true".into()];
        stage
            .params
            .entry("params.yaml".into())
            .or_default()
            .insert("p".into(), serde_norway::from_str(value).unwrap());
        lock
    }

    #[test]
    fn a_lock_that_cannot_be_written_is_an_error_and_the_file_is_kept() {
        // serde_norway cannot emit a mapping as a key: this used to become an empty lock.
        let lock = lock_with_param("{{a: 1}: x}");
        assert!(lock.to_text().is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipeline.lock");
        std::fs::write(&path, "schema: cairn-lock/1\n").unwrap();
        let err = lock.write(&path).unwrap_err().to_string();
        assert!(err.contains("pipeline.lock: cannot write"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "schema: cairn-lock/1\n"
        );
    }

    #[test]
    fn parse_writes_param_keys_as_text_and_refuses_odd_ones() {
        let path = Path::new("pipeline.lock");
        let text = lock_with_param("{1: x}").to_text().unwrap();
        let lock = Lock::parse(&text, path).unwrap();
        assert_eq!(
            lock.stages["s"].params["params.yaml"]["p"],
            serde_norway::from_str::<serde_norway::Value>("{'1': x}").unwrap()
        );
        let text = lock_with_param("{[1]: x}").to_text().unwrap();
        let err = Lock::parse(&text, path).unwrap_err().to_string();
        assert!(
            err.contains("stage 's': params: params.yaml: at key 'p': a key is a list"),
            "{err}"
        );
    }
}
