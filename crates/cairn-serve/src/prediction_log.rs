//! `--log-db FILE`: every prediction goes to SQLite, written in batches by one thread fed through
//! a bounded channel, so a request never waits for the disk (when the writer falls behind, entries
//! are dropped and counted rather than slowing replies).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;
use serde_json::{Map, Value};

use cairn_core::error::{Error, Result};
use cairn_ml::model::Prediction;

use super::loaded::LoadedModel;
use super::metrics::Metrics;

/// Entries waiting for the writer at most; beyond this they are dropped.
const QUEUE: usize = 65_536;
/// Entries written per transaction at most.
const BATCH: usize = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    model_version TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'primary',
    route TEXT NOT NULL,
    inputs TEXT NOT NULL,
    class TEXT,
    probabilities TEXT,
    value REAL NOT NULL,
    latency_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_by_version ON predictions (model_version, id);";

/// The predictions of one request.
pub struct Entry {
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// The model that answered.
    pub model: Arc<LoadedModel>,
    /// The route template.
    pub route: &'static str,
    /// The rows, flat.
    pub inputs: Vec<f64>,
    /// One per row.
    pub predictions: Vec<Prediction>,
    /// Time spent answering, in microseconds.
    pub latency_us: u64,
}

enum Message {
    Entry(Entry),
    Stop,
}

/// The sending side of the log.
pub struct PredictionLog {
    tx: SyncSender<Message>,
    path: PathBuf,
}

/// One logged prediction, as `GET /predictions/history` shows it.
#[derive(Debug, Serialize)]
pub struct HistoryRow {
    id: i64,
    time: f64,
    model_version: String,
    role: String,
    route: String,
    inputs: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Value>,
    value: f64,
    latency_ms: f64,
}

impl PredictionLog {
    /// Opens (creating) the database and starts the writer thread; join the handle after
    /// [`PredictionLog::stop`] to be sure everything is written.
    pub fn open(path: &Path) -> Result<(PredictionLog, JoinHandle<()>)> {
        let fail = |e: rusqlite::Error| {
            Error::data(path, format!("cannot use as prediction log (SQLite): {e}"))
        };
        let conn = Connection::open(path).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        add_role_column(&conn).map_err(fail)?;
        let (tx, rx) = sync_channel(QUEUE);
        let shown = path.display().to_string();
        let handle = std::thread::Builder::new()
            .name("prediction-log".into())
            .spawn(move || write_loop(conn, rx, &shown))
            .map_err(|e| Error::Failed(format!("cannot start the prediction-log thread: {e}")))?;
        Ok((
            PredictionLog {
                tx,
                path: path.to_path_buf(),
            },
            handle,
        ))
    }

    /// Queues an entry without waiting; counts it as dropped when the queue is full.
    pub fn send(&self, entry: Entry, metrics: &Metrics) {
        if self.tx.try_send(Message::Entry(entry)).is_err() {
            metrics.log_dropped();
        }
    }

    /// Tells the writer to finish once everything queued so far is written.
    pub fn stop(&self) {
        let _ = self.tx.send(Message::Stop);
    }

    /// The last `limit` predictions, newest first (blocking: call off the async threads).
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryRow>> {
        let fail = |e: rusqlite::Error| {
            Error::data(
                &self.path,
                format!("reading the prediction log failed: {e}"),
            )
        };
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(fail)?;
        let mut stmt = conn
            .prepare(
                "SELECT id, time, model_version, role, route, inputs, class, probabilities, value, latency_us
                 FROM predictions ORDER BY id DESC LIMIT ?1",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![limit as i64], |row| {
                let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
                Ok(HistoryRow {
                    id: row.get(0)?,
                    time: row.get(1)?,
                    model_version: row.get(2)?,
                    role: row.get(3)?,
                    route: row.get(4)?,
                    inputs: parse(row.get(5)?).unwrap_or(Value::Null),
                    class: row.get(6)?,
                    probabilities: parse(row.get(7)?),
                    value: row.get(8)?,
                    latency_ms: row.get::<_, i64>(9)? as f64 / 1000.0,
                })
            })
            .map_err(fail)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(fail)
    }
}

fn write_loop(mut conn: Connection, rx: Receiver<Message>, path: &str) {
    loop {
        let mut batch = match rx.recv() {
            Ok(Message::Entry(e)) => vec![e],
            Ok(Message::Stop) | Err(_) => return,
        };
        let mut stop = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Message::Entry(e)) => batch.push(e),
                Ok(Message::Stop) => {
                    stop = true;
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Err(e) = write_batch(&mut conn, &batch) {
            tracing::error!(
                "{path}: writing {} logged predictions failed: {e}",
                batch.len()
            );
        }
        if stop {
            return;
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Entry]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO predictions (time, model_version, role, route, inputs, class, probabilities, value, latency_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for e in batch {
            let model = &e.model.model;
            let width = model.features.len().max(1);
            for (x, p) in e.inputs.chunks_exact(width).zip(&e.predictions) {
                let inputs = by_name(&model.features, x);
                let probabilities = (!p.probabilities.is_empty())
                    .then(|| by_name(&model.classes, &p.probabilities));
                insert.execute(params![
                    e.time,
                    e.model.version,
                    e.model.role.name(),
                    e.route,
                    inputs,
                    e.model.class_name(p),
                    probabilities,
                    p.value,
                    e.latency_us as i64
                ])?;
            }
        }
    }
    tx.commit()
}

/// What a model received, as its log holds it: one column of values per feature and the
/// predicted classes counted.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedInputs {
    /// One per feature, oldest row first.
    pub columns: Vec<Vec<f64>>,
    /// Rows per predicted class, in the order of `classes` asked for.
    pub classes: Vec<u64>,
    /// Rows read.
    pub rows: usize,
}

/// The inputs the log at `path` holds for the model version `version`: the rows at or after
/// `since` (seconds since the epoch), the last `window` of them when given. A row whose inputs
/// lack a feature is an error naming the row.
pub fn read_inputs(
    path: &Path,
    version: &str,
    features: &[String],
    classes: &[String],
    since: Option<f64>,
    window: Option<usize>,
) -> Result<LoggedInputs> {
    let fail =
        |e: rusqlite::Error| Error::data(path, format!("reading the prediction log failed: {e}"));
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(Error::data(
                path,
                "is not a regular file: not a prediction log",
            ));
        }
        Err(e) => {
            return Err(Error::data(
                path,
                format!("{e}; give the --log-db the server wrote"),
            ));
        }
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    let limit = window.map_or(-1, |w| w as i64);
    let mut stmt = conn
        .prepare(
            "SELECT id, inputs, class FROM predictions WHERE model_version = ?1 AND time >= ?2
             ORDER BY id DESC LIMIT ?3",
        )
        .map_err(fail)?;
    let mut rows = stmt
        .query(params![version, since.unwrap_or(f64::NEG_INFINITY), limit])
        .map_err(fail)?;
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); features.len()];
    let mut counts = vec![0u64; classes.len()];
    let mut n = 0;
    while let Some(row) = rows.next().map_err(fail)? {
        let id: i64 = row.get(0).map_err(fail)?;
        let text: String = row.get(1).map_err(fail)?;
        let inputs: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
            Error::data(path, format!("row {id}: inputs are not a JSON object: {e}"))
        })?;
        for (column, feature) in columns.iter_mut().zip(features) {
            let value = inputs.get(feature).and_then(Value::as_f64).ok_or_else(|| {
                Error::data(
                    path,
                    format!(
                        "row {id}: no number for feature '{feature}': the log is of another model"
                    ),
                )
            })?;
            column.push(value);
        }
        let class: Option<String> = row.get(2).map_err(fail)?;
        if let Some(i) = class.and_then(|c| classes.iter().position(|k| *k == c)) {
            counts[i] += 1;
        }
        n += 1;
    }
    // Newest first from the query; oldest first for the reader.
    for column in &mut columns {
        column.reverse();
    }
    Ok(LoggedInputs {
        columns,
        classes: counts,
        rows: n,
    })
}

/// A log written before models had roles gets the column (its rows were all the primary's).
fn add_role_column(conn: &Connection) -> rusqlite::Result<()> {
    let has_role = conn
        .prepare("SELECT 1 FROM pragma_table_info('predictions') WHERE name = 'role'")?
        .exists([])?;
    if !has_role {
        conn.execute_batch(
            "ALTER TABLE predictions ADD COLUMN role TEXT NOT NULL DEFAULT 'primary'",
        )?;
    }
    Ok(())
}

/// `{"name": value, …}` as JSON text.
fn by_name(names: &[String], values: &[f64]) -> String {
    let map: Map<String, Value> = names
        .iter()
        .cloned()
        .zip(values.iter().map(|v| Value::from(*v)))
        .collect();
    Value::Object(map).to_string()
}
