//! `--log-db`: every prediction goes to a SQLite file or a PostgreSQL database, written in
//! batches by one thread, so a request never waits for the disk or the network: it only
//! appends its rows to what is pending (see `pending.rs`). When the writer falls behind or the
//! database is away, requests wait (the backlog) up to a bound and are dropped and counted
//! beyond it; a batch that failed is retried with backoff, and the server says so in its log.
//! Several replicas can share one PostgreSQL log.

mod pending;
mod postgres;
mod sqlite;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use cairn_core::error::{Error, Result};
use cairn_ml::model::Prediction;

use super::loaded::LoadedModel;

/// Requests waiting for the writer at most; beyond this they are dropped.
const QUEUE: usize = 65_536;
/// How often at most the writer takes what is pending. Waking it for every request would cost
/// each one a futex wake and a context switch on a busy server; this bounds how stale the log
/// is instead (a writer slower than this takes what waits as soon as it is done).
const GATHER: Duration = Duration::from_millis(20);
/// The longest wait between two tries at a database that is away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where the log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl Target {
    /// `--log-db` as given: a `postgres://` (or `postgresql://`) URL, else a SQLite path.
    pub fn parse(text: &str) -> Target {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Target::Postgres(text.to_string())
        } else {
            Target::Sqlite(PathBuf::from(text))
        }
    }

    /// How to name it in messages: the path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => postgres::redacted(url),
        }
    }
}

pub(crate) use pending::Pending;

/// One row as the stores write it.
pub(crate) struct Row<'a> {
    pub time: f64,
    pub model_version: &'a str,
    pub role: &'static str,
    pub route: &'static str,
    /// `{"feature": value, …}`.
    pub inputs: &'a str,
    pub class: Option<&'a str>,
    /// `{"class": probability, …}`, for classifiers.
    pub probabilities: Option<&'a str>,
    pub value: f64,
    pub latency_us: i64,
}

/// Calls `write` with every row of `batch`, stopping at its first error. The JSON columns are
/// encoded into two buffers reused from row to row, with each model's names quoted once per
/// batch: on a server logging every request this loop runs on a core the requests need too.
pub(crate) fn for_each_row<E>(
    batch: &Pending,
    mut write: impl FnMut(&Row<'_>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut inputs = Vec::with_capacity(256);
    let mut probabilities_buf = Vec::with_capacity(256);
    let mut keys: Option<(&LoadedModel, JsonKeys, JsonKeys)> = None;
    for row in batch.rows() {
        let model = row.model;
        if !matches!(&keys, Some((last, ..)) if std::ptr::eq(*last, model)) {
            keys = Some((
                model,
                JsonKeys::new(&model.features),
                JsonKeys::new(&model.classes),
            ));
        }
        let Some((_, feature_keys, class_keys)) = &keys else {
            continue;
        };
        feature_keys.object(&mut inputs, row.inputs);
        let probabilities = if row.probabilities.is_empty() {
            None
        } else {
            class_keys.object(&mut probabilities_buf, row.probabilities);
            Some(json_text(&probabilities_buf))
        };
        write(&Row {
            time: row.time,
            model_version: &model.version,
            role: model.role.name(),
            route: row.route,
            inputs: json_text(&inputs),
            class: model.class_at(row.class),
            probabilities,
            value: row.value,
            latency_us: row.latency_us as i64,
        })?;
    }
    Ok(())
}

/// A place batches are written to.
trait Store: Send {
    /// Writes every row of `batch` in one transaction.
    fn write(&mut self, batch: &Pending) -> std::result::Result<(), String>;
}

/// What the request threads and the writer share.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when the first request arrives in an empty queue, and on stop.
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    pending: Pending,
    stop: bool,
}

impl Queue {
    /// The state, even if a thread panicked holding it: it is only ever appended to or
    /// swapped, never left half-changed by a panic in between.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the log counts, for `/metrics`.
#[derive(Default)]
pub struct LogCounters {
    /// Requests dropped: the queue was full, or the server stopped with the database away.
    dropped: AtomicU64,
    /// Batches whose write failed (each is retried).
    failures: AtomicU64,
    /// Requests queued or being written.
    backlog: AtomicI64,
}

/// The sending side of the log.
pub struct PredictionLog {
    queue: Arc<Queue>,
    target: Target,
    counters: Arc<LogCounters>,
}

/// One logged prediction, as `GET /predictions/history` shows it.
#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub time: f64,
    pub model_version: String,
    pub role: String,
    pub route: String,
    pub inputs: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Value>,
    pub value: f64,
    pub latency_ms: f64,
}

impl PredictionLog {
    /// Opens the log (creating or migrating its schema) and starts the writer thread; join the
    /// handle after [`PredictionLog::stop`] to be sure everything is written. A PostgreSQL
    /// database that cannot be reached is an error only with `require`: otherwise the server
    /// starts (predictions matter more than logs), says so loudly, and the writer keeps trying.
    pub fn open(target: &Target, require: bool) -> Result<(PredictionLog, JoinHandle<()>)> {
        let store: Box<dyn Store> = match target {
            Target::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
            Target::Postgres(url) => {
                let mut store = postgres::PgStore::new(url)?;
                if let Err(e) = store.connect() {
                    if require {
                        return Err(Error::Failed(format!(
                            "--log-db {}: {e}; the server does not start without its log (--require-log)",
                            target.shown()
                        )));
                    }
                    tracing::error!(
                        "--log-db {}: {e}; serving anyway, logging when the database is back (start with --require-log to refuse instead)",
                        target.shown()
                    );
                }
                Box::new(store)
            }
        };
        let queue = Arc::new(Queue::default());
        let writer_queue = Arc::clone(&queue);
        let counters = Arc::new(LogCounters::default());
        let shown = target.shown();
        let writer_counters = Arc::clone(&counters);
        let handle = std::thread::Builder::new()
            .name("prediction-log".into())
            .spawn(move || write_loop(store, &writer_queue, &shown, &writer_counters))
            .map_err(|e| Error::Failed(format!("cannot start the prediction-log thread: {e}")))?;
        Ok((
            PredictionLog {
                queue,
                target: target.clone(),
                counters,
            },
            handle,
        ))
    }

    /// Queues one request's predictions (`inputs` holds its rows flat) without waiting on the
    /// writer; counts it as dropped when the queue is full.
    pub fn record(
        &self,
        model: &Arc<LoadedModel>,
        route: &'static str,
        time: f64,
        inputs: &[f64],
        predictions: &[Prediction],
        latency_us: u64,
    ) {
        if self.counters.backlog.load(Relaxed) >= QUEUE as i64 {
            self.counters.dropped.fetch_add(1, Relaxed);
            return;
        }
        let first = {
            let mut state = self.queue.lock();
            state
                .pending
                .push(model, route, time, inputs, predictions, latency_us);
            state.pending.len() == 1
        };
        self.counters.backlog.fetch_add(1, Relaxed);
        if first {
            self.queue.ready.notify_one();
        }
    }

    /// Tells the writer to finish once everything queued so far is written.
    pub fn stop(&self) {
        self.queue.lock().stop = true;
        self.queue.ready.notify_one();
    }

    /// The last `limit` predictions, newest first (blocking: call off the async threads).
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryRow>> {
        match &self.target {
            Target::Sqlite(path) => sqlite::history(path, limit),
            Target::Postgres(url) => postgres::history(url, limit),
        }
    }

    /// The log's series for `/metrics`.
    pub fn exposition(counters: Option<&PredictionLog>) -> String {
        let (dropped, failures, backlog) = counters.map_or((0, 0, 0), |log| {
            let c = &log.counters;
            (
                c.dropped.load(Relaxed),
                c.failures.load(Relaxed),
                c.backlog.load(Relaxed).max(0),
            )
        });
        let mut out = String::new();
        for (name, kind, help, value) in [
            (
                "cairn_prediction_log_dropped_total",
                "counter",
                "Prediction-log entries dropped: the queue was full, or the server stopped with the database away.",
                dropped as i64,
            ),
            (
                "cairn_prediction_log_failures_total",
                "counter",
                "Prediction-log batch writes that failed (each is retried).",
                failures as i64,
            ),
            (
                "cairn_prediction_log_backlog",
                "gauge",
                "Prediction-log entries waiting to be written.",
                backlog,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

/// Takes what is pending into `store`, at most every [`GATHER`], retrying a failed batch with
/// backoff (what arrives meanwhile joins it).
fn write_loop(mut store: Box<dyn Store>, queue: &Queue, shown: &str, counters: &LogCounters) {
    // Swapped with the queue's: each side's memory is reused, never freed per request.
    let mut batch = Pending::default();
    let mut backoff = Duration::from_millis(100);
    let mut failing = false;
    let mut last_take = Instant::now();
    loop {
        let stop = {
            let mut state = queue.lock();
            while batch.is_empty() && state.pending.is_empty() && !state.stop {
                state = queue
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if !state.stop {
                // Let more gather, without holding the lock.
                let wait = (last_take + GATHER).saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    drop(state);
                    std::thread::sleep(wait);
                    state = queue.lock();
                }
            }
            if batch.is_empty() {
                std::mem::swap(&mut batch, &mut state.pending);
            } else {
                batch.append(&mut state.pending);
            }
            state.stop
        };
        last_take = Instant::now();
        if batch.is_empty() {
            // Stopping, and nothing is left.
            return;
        }
        match store.write(&batch) {
            Ok(()) => {
                if failing {
                    tracing::info!("{shown}: the prediction log is back; writing what waited");
                    failing = false;
                }
                counters.backlog.fetch_sub(batch.len() as i64, Relaxed);
                batch.clear();
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                counters.failures.fetch_add(1, Relaxed);
                let waiting = counters.backlog.load(Relaxed);
                if stop {
                    tracing::error!(
                        "{shown}: writing the prediction log failed at shutdown: {e}; {waiting} entries dropped"
                    );
                    counters.dropped.fetch_add(waiting.max(0) as u64, Relaxed);
                    counters.backlog.store(0, Relaxed);
                    return;
                }
                if !failing {
                    tracing::error!(
                        "{shown}: writing the prediction log failed: {e}; retrying with backoff, {waiting} entries waiting (predictions are still answered)"
                    );
                    failing = true;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// What a model received, as its log holds it: one column of values per feature and the
/// predicted classes counted.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedInputs {
    /// One per feature, the rows in no particular order (drift does not depend on it).
    pub columns: Vec<Vec<f64>>,
    /// Rows per predicted class, in the order of `classes` asked for.
    pub classes: Vec<u64>,
    /// Rows read.
    pub rows: usize,
}

/// The inputs the log at `db` (a SQLite path relative to `cwd`, or a `postgres://` URL) holds
/// for the model version `version`: the rows at or after `since` (seconds since the epoch), the
/// last `window` of them when given. A row whose inputs lack a feature is an error naming it.
pub fn read_inputs(
    db: &str,
    cwd: &Path,
    version: &str,
    features: &[String],
    classes: &[String],
    since: Option<f64>,
    window: Option<usize>,
) -> Result<LoggedInputs> {
    let mut reader = InputsReader::new(features, classes);
    match Target::parse(db) {
        Target::Sqlite(path) => {
            sqlite::inputs(&cwd.join(path), version, since, window, &mut reader)?
        }
        Target::Postgres(url) => postgres::inputs(&url, version, since, window, &mut reader)?,
    }
    Ok(reader.finish())
}

/// Collects logged rows into columns.
pub(crate) struct InputsReader<'a> {
    features: &'a [String],
    classes: &'a [String],
    columns: Vec<Vec<f64>>,
    /// The row being read, by feature; NaN until found.
    row: Vec<f64>,
    counts: Vec<u64>,
    rows: usize,
}

/// Reads `{"feature": number, …}` into `row` by the feature's position; other keys are skipped.
struct FeatureValues<'r> {
    features: &'r [String],
    row: &'r mut [f64],
}

impl<'de> DeserializeSeed<'de> for FeatureValues<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeatureValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of feature values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(position) = map.next_key_seed(FeaturePosition(self.features))? {
            match position {
                Some(i) => self.row[i] = map.next_value()?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A key of the inputs object as the position of its feature, if it is one.
struct FeaturePosition<'r>(&'r [String]);

impl<'de> DeserializeSeed<'de> for FeaturePosition<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        de: D,
    ) -> std::result::Result<Option<usize>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FeaturePosition<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a feature name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<Option<usize>, E> {
        Ok(self.0.iter().position(|f| f == key))
    }
}

impl<'a> InputsReader<'a> {
    fn new(features: &'a [String], classes: &'a [String]) -> Self {
        InputsReader {
            features,
            classes,
            columns: vec![Vec::new(); features.len()],
            row: vec![f64::NAN; features.len()],
            counts: vec![0; classes.len()],
            rows: 0,
        }
    }

    /// Adds one row: its id (for messages), its inputs as JSON text and its class.
    pub fn add(
        &mut self,
        id: i64,
        inputs: &str,
        class: Option<&str>,
    ) -> std::result::Result<(), String> {
        // Read in place, without a map per row: drift reads a million of them.
        self.row.fill(f64::NAN);
        let mut de = serde_json::Deserializer::from_str(inputs);
        FeatureValues {
            features: self.features,
            row: &mut self.row,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("row {id}: inputs are not a JSON object of numbers: {e}"))?;
        for ((column, feature), value) in self.columns.iter_mut().zip(self.features).zip(&self.row)
        {
            if value.is_nan() {
                return Err(format!(
                    "row {id}: no number for feature '{feature}': the log is of another model"
                ));
            }
            column.push(*value);
        }
        if let Some(i) = class.and_then(|c| self.classes.iter().position(|k| k == c)) {
            self.counts[i] += 1;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> LoggedInputs {
        LoggedInputs {
            columns: self.columns,
            classes: self.counts,
            rows: self.rows,
        }
    }
}

/// Names as JSON object keys, each quoted and escaped once: `"name":`.
struct JsonKeys(Vec<Vec<u8>>);

impl JsonKeys {
    fn new(names: &[String]) -> JsonKeys {
        JsonKeys(
            names
                .iter()
                .map(|name| {
                    // Writing a str into a Vec cannot fail.
                    let mut key = serde_json::to_vec(name).unwrap_or_default();
                    key.push(b':');
                    key
                })
                .collect(),
        )
    }

    /// `{"name": value, …}` into `out` (emptied first), the numbers as serde_json writes them:
    /// one that is not finite is `null`.
    fn object(&self, out: &mut Vec<u8>, values: &[f64]) {
        let mut number = zmij::Buffer::new();
        out.clear();
        out.push(b'{');
        for (i, (key, value)) in self.0.iter().zip(values).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            if value.is_finite() {
                out.extend_from_slice(number.format_finite(*value).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b'}');
    }
}

/// What [`JsonKeys::object`] wrote, as text: its keys (serde_json's) and numbers (zmij's)
/// are UTF-8 only.
fn json_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("{}")
}

#[cfg(test)]
mod tests {
    use super::JsonKeys;

    #[test]
    fn objects_are_what_serde_json_writes() {
        let names = [
            "petal \"length\"".to_string(),
            "ünïcode\n".to_string(),
            "x".to_string(),
        ];
        let keys = JsonKeys::new(&names);
        let mut out = Vec::new();
        for values in [
            [5.1, 0.0, -1.5e-300],
            [f64::NAN, f64::INFINITY, 1e21],
            [1.0 / 3.0, 3.0, f64::MIN_POSITIVE],
        ] {
            keys.object(&mut out, &values);
            let pairs: Vec<String> = names
                .iter()
                .zip(values)
                .map(|(name, value)| {
                    let name = serde_json::to_string(name).unwrap();
                    format!("{name}:{}", serde_json::to_string(&value).unwrap())
                })
                .collect();
            let expected = format!("{{{}}}", pairs.join(","));
            assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
        }
    }
}
