//! The PostgreSQL log: several replicas write to one database. The schema is created or
//! migrated on connect, one replica at a time (an advisory lock), and its version kept in
//! `cairn_schema`. Batches go in with binary `COPY … FROM STDIN`, one transaction each (binary:
//! PostgreSQL neither scans the text for delimiters and escapes nor parses the numbers, and
//! this writer neither escapes nor formats them, work that lands on the server's core when the
//! database shares it); a connection
//! that breaks is dropped and made again on the next try.

use std::str::FromStr;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use serde_json::Value;

use cairn_core::error::{Error, Result};

use super::{HistoryRow, InputsReader, Pending, Store, for_each_row};

/// The schema, one step per version: `cairn_schema.version` is how many have been applied.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE predictions (
    id BIGSERIAL PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    model_version TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'primary',
    route TEXT NOT NULL,
    inputs TEXT NOT NULL,
    class TEXT,
    probabilities TEXT,
    value DOUBLE PRECISION NOT NULL,
    latency_us BIGINT NOT NULL
);
CREATE INDEX predictions_by_version ON predictions (model_version, id);",
    // Every replica's every prediction paid for this index; drift and history read newest
    // first by the primary key, or scan, either way well under a second for a million rows.
    "DROP INDEX IF EXISTS predictions_by_version;",
];

/// Any number that only cairn's schema migrations take as an advisory lock.
const MIGRATION_LOCK: i64 = 0x6361_6972_6e5f_6c67; // "cairn_lg"

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `url` with its password replaced, for messages.
pub(super) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}{path}")
        }
        _ => url.to_string(),
    }
}

fn config(url: &str) -> Result<Config> {
    let mut config = Config::from_str(url).map_err(|e| {
        Error::Usage(format!(
            "--log-db {}: not a PostgreSQL URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            redacted(url)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

fn connect(config: &Config) -> std::result::Result<Client, String> {
    let mut client = config
        .connect(NoTls)
        .map_err(|e| format!("cannot connect: {e}"))?;
    migrate(&mut client).map_err(|e| format!("cannot create or migrate the schema: {e}"))?;
    Ok(client)
}

/// Applies the migrations this database lacks, under the advisory lock.
fn migrate(client: &mut Client) -> std::result::Result<(), String> {
    let mut tx = client.transaction().map_err(|e| e.to_string())?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| e.to_string())?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS cairn_schema (version INTEGER NOT NULL)")
        .map_err(|e| e.to_string())?;
    let current: Option<i32> = tx
        .query_opt("SELECT version FROM cairn_schema", &[])
        .map_err(|e| e.to_string())?
        .map(|row| row.get(0));
    let applied = current.unwrap_or(0).max(0) as usize;
    if applied > MIGRATIONS.len() {
        return Err(format!(
            "its schema is version {applied}, newer than this cairn knows ({}): upgrade cairn",
            MIGRATIONS.len()
        ));
    }
    for step in &MIGRATIONS[applied..] {
        tx.batch_execute(step).map_err(|e| e.to_string())?;
    }
    let version = MIGRATIONS.len() as i32;
    let update = if current.is_some() {
        "UPDATE cairn_schema SET version = $1"
    } else {
        "INSERT INTO cairn_schema (version) VALUES ($1)"
    };
    tx.execute(update, &[&version]).map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}

pub(super) struct PgStore {
    config: Config,
    client: Option<Client>,
}

impl PgStore {
    /// A store for `url`, not connected yet.
    pub fn new(url: &str) -> Result<PgStore> {
        Ok(PgStore {
            config: config(url)?,
            client: None,
        })
    }

    /// Connects (and migrates) now.
    pub fn connect(&mut self) -> std::result::Result<(), String> {
        self.client = Some(connect(&self.config)?);
        Ok(())
    }
}

impl Store for PgStore {
    fn write(&mut self, batch: &Pending) -> std::result::Result<(), String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.connect()?;
        }
        let Some(client) = self.client.as_mut() else {
            return Err("not connected".into());
        };
        let result = (|| -> std::result::Result<(), String> {
            let text_err = |e: postgres::Error| e.to_string();
            let mut tx = client.transaction().map_err(text_err)?;
            let mut writer = tx
                .copy_in(
                    "COPY predictions (time, model_version, role, route, inputs, class, probabilities, value, latency_us) FROM STDIN (FORMAT binary)",
                )
                .map_err(text_err)?;
            // Sent a piece at a time: after an outage a batch is the whole backlog, and its
            // COPY data several times the memory its rows take while they wait.
            // About 320 bytes a row: a quiet server's small batch does not take a whole piece.
            let mut data = Vec::with_capacity((batch.row_count() * 320).min(COPY_PIECE) + 4096);
            data.extend_from_slice(COPY_BINARY_HEADER);
            for_each_row(batch, |r| {
                data.extend_from_slice(&9i16.to_be_bytes());
                copy_field(&mut data, &r.time.to_be_bytes());
                copy_field(&mut data, r.model_version.as_bytes());
                copy_field(&mut data, r.role.as_bytes());
                copy_field(&mut data, r.route.as_bytes());
                copy_field(&mut data, r.inputs.as_bytes());
                copy_nullable(&mut data, r.class);
                copy_nullable(&mut data, r.probabilities);
                copy_field(&mut data, &r.value.to_be_bytes());
                copy_field(&mut data, &r.latency_us.to_be_bytes());
                if data.len() >= COPY_PIECE {
                    std::io::Write::write_all(&mut writer, &data)?;
                    data.clear();
                }
                Ok::<(), std::io::Error>(())
            })
            .map_err(|e| e.to_string())?;
            data.extend_from_slice(&(-1i16).to_be_bytes());
            std::io::Write::write_all(&mut writer, &data).map_err(|e| e.to_string())?;
            writer.finish().map_err(text_err)?;
            tx.commit().map_err(text_err)
        })();
        result.inspect_err(|_| {
            // Made again on the next try.
            self.client = None;
        })
    }
}

/// Bytes of COPY data sent at a time.
const COPY_PIECE: usize = 1 << 20;

/// The signature, flags and header-extension length that open binary COPY data.
const COPY_BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// One field of a binary COPY tuple: its length, then its bytes (big-endian for numbers, the
/// UTF-8 text itself for text).
fn copy_field(out: &mut Vec<u8>, bytes: &[u8]) {
    // A logged field is far below PostgreSQL's 1 GB limit: requests are capped at --max-body.
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A text field, or NULL (length -1) when there is none.
fn copy_nullable(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => copy_field(out, s.as_bytes()),
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn read_client(url: &str) -> Result<Client> {
    let config = config(url)?;
    config
        .connect(NoTls)
        .map_err(|e| Error::Failed(format!("--log-db {}: cannot connect: {e}", redacted(url))))
}

/// The last `limit` rows, newest first.
pub(super) fn history(url: &str, limit: usize) -> Result<Vec<HistoryRow>> {
    let mut client = read_client(url)?;
    let fail = |e: postgres::Error| {
        Error::Failed(format!(
            "{}: reading the prediction log failed: {e}",
            redacted(url)
        ))
    };
    let rows = client
        .query(
            "SELECT id, time, model_version, role, route, inputs, class, probabilities, value, latency_us
             FROM predictions ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )
        .map_err(fail)?;
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(rows
        .into_iter()
        .map(|row| HistoryRow {
            id: row.get(0),
            time: row.get(1),
            model_version: row.get(2),
            role: row.get(3),
            route: row.get(4),
            inputs: parse(row.get(5)).unwrap_or(Value::Null),
            class: row.get(6),
            probabilities: parse(row.get(7)),
            value: row.get(8),
            latency_ms: row.get::<_, i64>(9) as f64 / 1000.0,
        })
        .collect())
}

/// The rows of `version` into `reader` (streamed, not all held at once): the last `window` of
/// them when given, else all in the table's order, which a sequential scan reads twice as fast
/// as the primary key backwards.
pub(super) fn inputs(
    url: &str,
    version: &str,
    since: Option<f64>,
    window: Option<usize>,
    reader: &mut InputsReader,
) -> Result<()> {
    let mut client = read_client(url)?;
    let fail = |e: postgres::Error| {
        Error::Failed(format!(
            "{}: reading the prediction log failed: {e}",
            redacted(url)
        ))
    };
    let since = since.unwrap_or(f64::NEG_INFINITY);
    let mut rows = match window {
        Some(window) => {
            let params: [&(dyn postgres::types::ToSql + Sync); 3] =
                [&version, &since, &(window as i64)];
            client.query_raw(
                "SELECT id, inputs, class FROM predictions WHERE model_version = $1 AND time >= $2
                 ORDER BY id DESC LIMIT $3",
                params,
            )
        }
        None => {
            let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&version, &since];
            client.query_raw(
                "SELECT id, inputs, class FROM predictions WHERE model_version = $1 AND time >= $2",
                params,
            )
        }
    }
    .map_err(fail)?;
    while let Some(row) = rows.next().map_err(fail)? {
        let id: i64 = row.try_get(0).map_err(fail)?;
        let text: &str = row.try_get(1).map_err(fail)?;
        let class: Option<&str> = row.try_get(2).map_err(fail)?;
        reader
            .add(id, text, class)
            .map_err(|e| Error::Failed(format!("{}: {e}", redacted(url))))?;
    }
    Ok(())
}
