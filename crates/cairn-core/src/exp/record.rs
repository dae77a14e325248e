//! An experiment's record, one JSON file per experiment in `.cairn/exps/v1/` (not committed;
//! `cairn exp push` shares them through a remote): what was asked, what it gave.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::workspace::Workspace;

use super::Override;

/// Biggest record read: records hold a lock and a few small files.
const MAX_BYTES: u64 = 16 << 20;

/// Where an experiment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for `exp run --run-all`.
    Queued,
    /// Being run by the process `pid`.
    Running,
    /// Ran; its outs are in the cache.
    Succeeded,
    /// A stage failed.
    Failed,
}

/// One experiment, as written: with the files it kept.
pub type ExpRecord = Record<BTreeMap<String, String>>;

/// An experiment read for listing: its kept files (two thirds of a record) passed over unread,
/// so `exp show` over a thousand records stays fast.
pub type ExpSummary = Record<serde::de::IgnoredAny>;

/// One experiment; `Files` is what is held of the files it kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record<Files> {
    /// Its name (`-n`, or made up).
    pub name: String,
    /// The git commit the workspace was at, if any.
    pub parent: Option<String>,
    /// What was changed.
    pub overrides: Vec<Override>,
    /// Stages asked for (all when empty).
    #[serde(default)]
    pub targets: Vec<String>,
    pub status: Status,
    /// The process running it (while `running`).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The stage that failed and how.
    #[serde(default)]
    pub failed_stage: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub error: Option<String>,
    /// Every tracked param, flat (`key`, or `file:key` beyond params.yaml).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Every metric, flat, by `file:key`.
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// The files it made that a diff reads: pipeline.lock, the params files, the metrics files.
    #[serde(default)]
    pub files: Files,
    /// When it was asked for, started and finished (RFC 3339).
    pub created: String,
    #[serde(default)]
    pub finished: Option<String>,
}

impl<Files: Default> Record<Files> {
    /// A record of what was asked, before it runs: queued, with nothing produced yet.
    pub fn queued(
        name: String,
        parent: Option<String>,
        overrides: Vec<Override>,
        targets: Vec<String>,
        created: String,
    ) -> Self {
        Record {
            name,
            parent,
            overrides,
            targets,
            status: Status::Queued,
            pid: None,
            failed_stage: None,
            exit_code: None,
            error: None,
            params: BTreeMap::new(),
            metrics: BTreeMap::new(),
            files: Files::default(),
            created,
            finished: None,
        }
    }
}

/// `.cairn/exps/v1/`.
pub fn exps_dir(ws: &Workspace) -> PathBuf {
    ws.dot().join("exps").join("v1")
}

/// A name an experiment may have: a letter or digit first, then letters, digits, `-`, `_`,
/// `.`; at most 100. (It becomes a file name and a remote key.)
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not an experiment name: letters, digits, '-', '_' and '.', a letter or digit first, at most 100"
        ))
    }
}

fn path_of(ws: &Workspace, name: &str) -> PathBuf {
    exps_dir(ws).join(format!("{name}.json"))
}

/// Writes a record atomically.
pub fn write(ws: &Workspace, record: &ExpRecord) -> Result<()> {
    check_name(&record.name).map_err(Error::Usage)?;
    let dir = exps_dir(ws);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::Failed(e.to_string()))?;
    crate::atomic::write(&path_of(ws, &record.name), &bytes)
}

/// Reads one record from `path`, checked.
fn read_path<Files: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<Record<Files>> {
    let meta = std::fs::symlink_metadata(path).at(path)?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err(Error::invalid(
            path,
            "is not an experiment record (a regular file under 16 MiB)",
        ));
    }
    let bytes = std::fs::read(path).at(path)?;
    let record: Record<Files> = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(
            path,
            format!("not an experiment record: {e}; remove it with `cairn exp remove`"),
        )
    })?;
    check_name(&record.name).map_err(|e| Error::invalid(path, e))?;
    if path.file_stem().and_then(|s| s.to_str()) != Some(record.name.as_str()) {
        return Err(Error::invalid(
            path,
            format!(
                "holds experiment '{}', not the one its name says",
                record.name
            ),
        ));
    }
    Ok(record)
}

/// The record of `name`, or an error listing the experiments there are.
pub fn read(ws: &Workspace, name: &str) -> Result<ExpRecord> {
    check_name(name).map_err(Error::Usage)?;
    let path = path_of(ws, name);
    if !path.exists() {
        let names: Vec<String> = list_summaries(ws)?.into_iter().map(|r| r.name).collect();
        return Err(Error::Usage(if names.is_empty() {
            format!("no experiment '{name}': none recorded yet (`cairn exp run -S KEY=VALUE`)")
        } else {
            format!("no experiment '{name}'; recorded: {}", names.join(", "))
        }));
    }
    read_path(&path)
}

/// Every record, oldest first.
pub fn list(ws: &Workspace) -> Result<Vec<ExpRecord>> {
    list_as(ws)
}

/// Every record without its kept files, oldest first.
pub fn list_summaries(ws: &Workspace) -> Result<Vec<ExpSummary>> {
    list_as(ws)
}

fn list_as<Files: serde::de::DeserializeOwned + Default>(
    ws: &Workspace,
) -> Result<Vec<Record<Files>>> {
    let dir = exps_dir(ws);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut records = Vec::new();
    for entry in entries {
        let path = entry.at(&dir)?.path();
        if path.extension().is_some_and(|e| e == "json") {
            records.push(read_path(&path)?);
        }
    }
    records.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    Ok(records)
}

/// Removes the record of `name`.
pub fn remove(ws: &Workspace, name: &str) -> Result<()> {
    read(ws, name)?;
    let path = path_of(ws, name);
    std::fs::remove_file(&path).at(&path)
}
