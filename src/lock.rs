//! `pipeline.lock`: per stage, the command, each dep's and out's digest and each param's value as
//! of the last successful run. Written deterministically (stages, paths and keys sorted, no
//! timestamps) and atomically, so a no-op repro leaves it byte-identical and a crash leaves the
//! previous version.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::hash::PathDigest;

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
    /// Dependencies, sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<LockedPath>,
    /// Param values by params file, then by key as written in pipeline.yaml.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, BTreeMap<String, serde_yaml::Value>>,
    /// Outputs (including metrics and plots), sorted by path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outs: Vec<LockedPath>,
}

/// A path with the digest it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPath {
    /// Workspace-relative path, `/`-separated.
    pub path: String,
    /// BLAKE3 of the file, or of the directory's manifest.
    pub digest: String,
    /// Bytes (all files for a directory).
    pub size: u64,
    /// Number of files, for a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfiles: Option<u64>,
}

impl LockedPath {
    /// Records `path` as hashed.
    pub fn new(path: &str, hashed: &PathDigest) -> LockedPath {
        LockedPath {
            path: path.to_string(),
            digest: hashed.digest.clone(),
            size: hashed.size,
            nfiles: hashed.nfiles(),
        }
    }

    /// Whether the path is a directory (its digest names a manifest).
    pub fn is_dir(&self) -> bool {
        self.nfiles.is_some()
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
        let lock: Lock = crate::pipeline::yaml::from_str_unique(text).map_err(|e| {
            Error::invalid(
                path,
                format!("{e}; restore it from git or delete it and run `cairn repro`"),
            )
        })?;
        if lock.schema != SCHEMA {
            return Err(Error::invalid(
                path,
                format!(
                    "schema '{}' is not '{SCHEMA}'; this cairn cannot read it",
                    lock.schema
                ),
            ));
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

    /// The canonical text.
    pub fn to_text(&self) -> String {
        let mut sorted = self.clone();
        for stage in sorted.stages.values_mut() {
            stage.deps.sort_by(|a, b| a.path.cmp(&b.path));
            stage.outs.sort_by(|a, b| a.path.cmp(&b.path));
        }
        serde_yaml::to_string(&sorted).unwrap_or_default()
    }

    /// Writes the lock atomically, and only if its text changed.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.to_text();
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
