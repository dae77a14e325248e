//! The PostgreSQL log: several replicas write to one database. The schema is created or
//! migrated on connect, one replica at a time (an advisory lock), and its version kept in
//! `cairn_schema`. A batch is a row of `prediction_batches` per model version, role and route,
//! its columns arrays, sent with one binary `COPY … FROM STDIN` (binary: PostgreSQL neither
//! scans the text for delimiters and escapes nor parses the numbers, and this writer neither
//! escapes nor formats them, work that lands on the server's core when the database shares
//! it). The `predictions` view shows a row per prediction. A connection that breaks is dropped
//! and made again on the next try.

use std::str::FromStr;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use serde_json::Value;

use cairn_core::error::{Error, Result};

use super::{HistoryRow, InputsReader, Pending, Row, Store, for_each_row};

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
    // A row per batch of one model version, role and route, its columns arrays: PostgreSQL's
    // work per logged prediction was about 3 µs of CPU (a heap tuple, a primary-key entry and
    // their WAL each), on a core the server may need; an array element is a copy and lz4
    // compresses the batch. Rows logged before stay where they are; `predictions` shows both,
    // a row per prediction, and takes inserts (replicas not yet upgraded COPY into it).
    "
ALTER TABLE predictions RENAME TO prediction_rows;
CREATE TABLE prediction_batches (
    id BIGSERIAL PRIMARY KEY,
    model_version TEXT NOT NULL,
    role TEXT NOT NULL,
    route TEXT NOT NULL,
    last_time DOUBLE PRECISION NOT NULL,
    time DOUBLE PRECISION[] NOT NULL,
    inputs TEXT[] NOT NULL,
    class TEXT[] NOT NULL,
    probabilities TEXT[] NOT NULL,
    value DOUBLE PRECISION[] NOT NULL,
    latency_us BIGINT[] NOT NULL,
    CONSTRAINT same_rows_in_every_array CHECK (cardinality(time) BETWEEN 1 AND 4096
        AND array_ndims(time) = 1
        AND cardinality(inputs) = cardinality(time) AND cardinality(class) = cardinality(time)
        AND cardinality(probabilities) = cardinality(time) AND cardinality(value) = cardinality(time)
        AND cardinality(latency_us) = cardinality(time))
);
-- A logged row's id is its batch's times 4096 plus its place in it: after every earlier row's.
SELECT setval(pg_get_serial_sequence('prediction_batches', 'id'),
    (SELECT COALESCE(max(id), 0) FROM prediction_rows) / 4096 + 1);
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE prediction_batches
            ALTER COLUMN time SET COMPRESSION lz4, ALTER COLUMN inputs SET COMPRESSION lz4,
            ALTER COLUMN class SET COMPRESSION lz4,
            ALTER COLUMN probabilities SET COMPRESSION lz4,
            ALTER COLUMN value SET COMPRESSION lz4, ALTER COLUMN latency_us SET COMPRESSION lz4;
    END IF;
END $$;
CREATE VIEW predictions AS
    SELECT id, time, model_version, role, route, inputs, class, probabilities, value, latency_us
    FROM prediction_rows
    UNION ALL
    SELECT b.id * 4096 + r.n - 1, r.time, b.model_version, b.role, b.route, r.inputs, r.class,
           r.probabilities, r.value, r.latency_us
    FROM prediction_batches AS b,
         unnest(b.time, b.inputs, b.class, b.probabilities, b.value, b.latency_us)
             WITH ORDINALITY AS r (time, inputs, class, probabilities, value, latency_us, n);
ALTER VIEW predictions ALTER COLUMN role SET DEFAULT 'primary';
CREATE FUNCTION cairn_log_prediction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prediction_batches (model_version, role, route, last_time, time, inputs, class,
                                    probabilities, value, latency_us)
    VALUES (NEW.model_version, NEW.role, NEW.route, NEW.time, ARRAY[NEW.time],
            ARRAY[NEW.inputs], ARRAY[NEW.class], ARRAY[NEW.probabilities], ARRAY[NEW.value],
            ARRAY[NEW.latency_us]);
    RETURN NEW;
END $$;
CREATE TRIGGER predictions_insert INSTEAD OF INSERT ON predictions
    FOR EACH ROW EXECUTE FUNCTION cairn_log_prediction();",
];

/// Rows in one `prediction_batches` row at most (the migration's CHECK and id say 4096 too).
const BATCH_ROWS: usize = 4096;

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
            // One statement, so its own transaction: the batch is written whole or not at all
            // (a writer dropped unfinished aborts the COPY).
            let mut writer = client
                .copy_in(
                    "COPY prediction_batches (model_version, role, route, last_time, time, inputs, class, probabilities, value, latency_us) FROM STDIN (FORMAT binary)",
                )
                .map_err(text_err)?;
            // Sent a piece at a time: after an outage a batch is the whole backlog, and its
            // COPY data several times the memory its rows take while they wait.
            // About 250 bytes a row: a quiet server's small batch does not take a whole piece.
            let mut data = Vec::with_capacity((batch.row_count() * 250).min(COPY_PIECE) + 4096);
            data.extend_from_slice(COPY_BINARY_HEADER);
            // Usually one group (the primary model on one route), a few with a shadow.
            let mut groups: Vec<Group> = Vec::new();
            for_each_row(batch, |r| {
                let at = match groups.iter().position(|g| g.holds(r)) {
                    Some(at) => at,
                    None => {
                        groups.push(Group::new(r));
                        groups.len() - 1
                    }
                };
                let group = &mut groups[at];
                group.add(r);
                if group.is_full() {
                    group.copy_into(&mut data);
                    if data.len() >= COPY_PIECE {
                        std::io::Write::write_all(&mut writer, &data)?;
                        data.clear();
                    }
                }
                Ok::<(), std::io::Error>(())
            })
            .map_err(|e| e.to_string())?;
            for group in &mut groups {
                group.copy_into(&mut data);
            }
            data.extend_from_slice(&(-1i16).to_be_bytes());
            std::io::Write::write_all(&mut writer, &data).map_err(|e| e.to_string())?;
            writer.finish().map(drop).map_err(text_err)
        })();
        result.inspect_err(|_| {
            // Made again on the next try.
            self.client = None;
        })
    }
}

/// The rows of one model version, role and route on their way to a `prediction_batches` row:
/// each column's array elements, encoded as binary COPY wants them.
struct Group {
    model_version: String,
    role: &'static str,
    route: &'static str,
    rows: usize,
    last_time: f64,
    /// time, inputs, class, probabilities, value, latency_us.
    columns: [Vec<u8>; 6],
}

/// The element types of [`Group::columns`]: float8, text, text, text, float8, int8.
const COLUMN_ELEMENT_TYPES: [i32; 6] = [701, 25, 25, 25, 701, 20];

impl Group {
    fn new(r: &Row<'_>) -> Group {
        Group {
            model_version: r.model_version.to_string(),
            role: r.role,
            route: r.route,
            rows: 0,
            last_time: f64::NEG_INFINITY,
            columns: Default::default(),
        }
    }

    fn holds(&self, r: &Row<'_>) -> bool {
        self.route == r.route && self.role == r.role && self.model_version == r.model_version
    }

    fn add(&mut self, r: &Row<'_>) {
        let [time, inputs, class, probabilities, value, latency_us] = &mut self.columns;
        copy_field(time, &r.time.to_be_bytes());
        copy_field(inputs, r.inputs.as_bytes());
        copy_nullable(class, r.class);
        copy_nullable(probabilities, r.probabilities);
        copy_field(value, &r.value.to_be_bytes());
        copy_field(latency_us, &r.latency_us.to_be_bytes());
        self.last_time = self.last_time.max(r.time);
        self.rows += 1;
    }

    /// At [`BATCH_ROWS`], or with a column at 64 MiB: PostgreSQL takes up to 1 GB a field,
    /// and a row's inputs can be as large as a request.
    fn is_full(&self) -> bool {
        self.rows == BATCH_ROWS || self.columns.iter().any(|c| c.len() >= 64 << 20)
    }

    /// Appends its rows as one COPY tuple, if it has any, and empties it.
    fn copy_into(&mut self, out: &mut Vec<u8>) {
        if self.rows == 0 {
            return;
        }
        out.extend_from_slice(&10i16.to_be_bytes());
        copy_field(out, self.model_version.as_bytes());
        copy_field(out, self.role.as_bytes());
        copy_field(out, self.route.as_bytes());
        copy_field(out, &self.last_time.to_be_bytes());
        for (elements, element_type) in self.columns.iter_mut().zip(COLUMN_ELEMENT_TYPES) {
            // A one-dimensional array: dimensions, a flags word PostgreSQL works out itself
            // (whether there are NULLs), the element type, then the length and lower bound.
            out.extend_from_slice(&((20 + elements.len()) as i32).to_be_bytes());
            for word in [1, 0, element_type, self.rows as i32, 1] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            out.extend_from_slice(elements);
            elements.clear();
        }
        self.rows = 0;
        self.last_time = f64::NEG_INFINITY;
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

/// The error for a failed read of the log at `url`.
fn read_failed(url: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| {
        Error::Failed(format!(
            "{}: reading the prediction log failed: {e}",
            redacted(url)
        ))
    }
}

/// The number of rows a `prediction_batches` row holds, when all its arrays agree on it: the
/// table may have been written by something other than cairn.
fn batch_rows(url: &str, id: i64, lengths: &[usize]) -> Result<usize> {
    match lengths {
        [n, rest @ ..] if rest.iter().all(|m| m == n) && *n <= BATCH_ROWS => Ok(*n),
        _ => Err(Error::data(
            redacted(url),
            format!(
                "prediction_batches row {id}: its arrays hold {lengths:?} rows, not one number up to {BATCH_ROWS}; it was not written by cairn: delete it"
            ),
        )),
    }
}

/// The id `predictions` shows for the row at `place` in batch `id`, or an error naming the
/// batch.
fn row_id(url: &str, id: i64, place: usize) -> Result<i64> {
    id.checked_mul(BATCH_ROWS as i64)
        .and_then(|first| first.checked_add(place as i64))
        .ok_or_else(|| {
        Error::data(
            redacted(url),
            format!(
                "prediction_batches row {id}: its id is too large to number its rows; it was not written by cairn: delete it"
            ),
        )
    })
}

/// How many batches to read in the next page, newest first: reading a few first, as the last
/// hundred predictions are usually in one or two batches, then twice as many each time.
fn next_page(page: i64) -> i64 {
    (page * 2).min(1024)
}

/// The last `limit` rows, newest first: the batches' rows, then the rows logged before
/// batches (schema 3).
pub(super) fn history(url: &str, limit: usize) -> Result<Vec<HistoryRow>> {
    let mut client = read_client(url)?;
    let fail = read_failed(url);
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str(t).ok());
    let mut out: Vec<HistoryRow> = Vec::with_capacity(limit.min(10_000));
    let (mut before, mut page) = (i64::MAX, 2);
    while out.len() < limit {
        let batches = client
            .query(
                "SELECT id, model_version, role, route, time, inputs, class, probabilities, value, latency_us
                 FROM prediction_batches WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[&before, &page],
            )
            .map_err(&fail)?;
        let Some(last) = batches.last() else { break };
        before = last.try_get(0).map_err(&fail)?;
        for batch in &batches {
            let id: i64 = batch.try_get(0).map_err(&fail)?;
            let model_version: &str = batch.try_get(1).map_err(&fail)?;
            let role: &str = batch.try_get(2).map_err(&fail)?;
            let route: &str = batch.try_get(3).map_err(&fail)?;
            let time: Vec<f64> = batch.try_get(4).map_err(&fail)?;
            let inputs: Vec<&str> = batch.try_get(5).map_err(&fail)?;
            let class: Vec<Option<&str>> = batch.try_get(6).map_err(&fail)?;
            let probabilities: Vec<Option<&str>> = batch.try_get(7).map_err(&fail)?;
            let value: Vec<f64> = batch.try_get(8).map_err(&fail)?;
            let latency_us: Vec<i64> = batch.try_get(9).map_err(&fail)?;
            let n = batch_rows(
                url,
                id,
                &[
                    time.len(),
                    inputs.len(),
                    class.len(),
                    probabilities.len(),
                    value.len(),
                    latency_us.len(),
                ],
            )?;
            for place in (0..n).rev().take(limit - out.len()) {
                out.push(HistoryRow {
                    id: row_id(url, id, place)?,
                    time: time[place],
                    model_version: model_version.to_string(),
                    role: role.to_string(),
                    route: route.to_string(),
                    inputs: parse(Some(inputs[place])).unwrap_or(Value::Null),
                    class: class[place].map(str::to_string),
                    probabilities: parse(probabilities[place]),
                    value: value[place],
                    latency_ms: latency_us[place] as f64 / 1000.0,
                });
            }
        }
        page = next_page(page);
    }
    if out.len() < limit {
        let rows = client
            .query(
                "SELECT id, time, model_version, role, route, inputs, class, probabilities, value, latency_us
                 FROM prediction_rows ORDER BY id DESC LIMIT $1",
                &[&((limit - out.len()) as i64)],
            )
            .map_err(&fail)?;
        for row in rows {
            out.push(HistoryRow {
                id: row.try_get(0).map_err(&fail)?,
                time: row.try_get(1).map_err(&fail)?,
                model_version: row.try_get(2).map_err(&fail)?,
                role: row.try_get(3).map_err(&fail)?,
                route: row.try_get(4).map_err(&fail)?,
                inputs: parse(row.try_get(5).map_err(&fail)?).unwrap_or(Value::Null),
                class: row.try_get(6).map_err(&fail)?,
                probabilities: parse(row.try_get(7).map_err(&fail)?),
                value: row.try_get(8).map_err(&fail)?,
                latency_ms: row.try_get::<_, i64>(9).map_err(&fail)? as f64 / 1000.0,
            });
        }
    }
    Ok(out)
}

/// Adds the rows of one batch (`id, time, inputs, class`) at or after `since` to `reader`,
/// newest first, at most `room` of them; returns how many it added.
fn add_batch(
    url: &str,
    batch: &postgres::Row,
    since: f64,
    room: usize,
    reader: &mut InputsReader,
) -> Result<usize> {
    let fail = read_failed(url);
    let id: i64 = batch.try_get(0).map_err(&fail)?;
    let time: Vec<f64> = batch.try_get(1).map_err(&fail)?;
    let inputs: Vec<&str> = batch.try_get(2).map_err(&fail)?;
    let class: Vec<Option<&str>> = batch.try_get(3).map_err(&fail)?;
    let n = batch_rows(url, id, &[time.len(), inputs.len(), class.len()])?;
    let mut added = 0;
    for place in (0..n).rev() {
        if added == room {
            break;
        }
        if time[place] >= since {
            reader
                .add(row_id(url, id, place)?, inputs[place], class[place])
                .map_err(|e| Error::data(redacted(url), e))?;
            added += 1;
        }
    }
    Ok(added)
}

/// The rows of `version` into `reader` (streamed, not all held at once): the last `window` of
/// them when given, else all, in the tables' order, which a sequential scan reads twice as fast
/// as the primary key backwards.
pub(super) fn inputs(
    url: &str,
    version: &str,
    since: Option<f64>,
    window: Option<usize>,
    reader: &mut InputsReader,
) -> Result<()> {
    let mut client = read_client(url)?;
    let fail = read_failed(url);
    let since = since.unwrap_or(f64::NEG_INFINITY);
    let mut room = window.unwrap_or(usize::MAX);
    match window {
        Some(_) => {
            let (mut before, mut page) = (i64::MAX, 2);
            while room > 0 {
                let batches = client
                    .query(
                        "SELECT id, time, inputs, class FROM prediction_batches
                         WHERE model_version = $1 AND last_time >= $2 AND id < $3
                         ORDER BY id DESC LIMIT $4",
                        &[&version, &since, &before, &page],
                    )
                    .map_err(&fail)?;
                let Some(last) = batches.last() else { break };
                before = last.try_get(0).map_err(&fail)?;
                for batch in &batches {
                    room -= add_batch(url, batch, since, room, reader)?;
                }
                page = next_page(page);
            }
        }
        None => {
            let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&version, &since];
            let mut batches = client
                .query_raw(
                    "SELECT id, time, inputs, class FROM prediction_batches
                     WHERE model_version = $1 AND last_time >= $2",
                    params,
                )
                .map_err(&fail)?;
            while let Some(batch) = batches.next().map_err(&fail)? {
                add_batch(url, &batch, since, usize::MAX, reader)?;
            }
        }
    }
    if room == 0 {
        return Ok(());
    }
    // The rows logged before batches.
    let mut rows = match window {
        Some(_) => {
            let params: [&(dyn postgres::types::ToSql + Sync); 3] =
                [&version, &since, &(room.min(i64::MAX as usize) as i64)];
            client.query_raw(
                "SELECT id, inputs, class FROM prediction_rows WHERE model_version = $1 AND time >= $2
                 ORDER BY id DESC LIMIT $3",
                params,
            )
        }
        None => {
            let params: [&(dyn postgres::types::ToSql + Sync); 2] = [&version, &since];
            client.query_raw(
                "SELECT id, inputs, class FROM prediction_rows WHERE model_version = $1 AND time >= $2",
                params,
            )
        }
    }
    .map_err(&fail)?;
    while let Some(row) = rows.next().map_err(&fail)? {
        let id: i64 = row.try_get(0).map_err(&fail)?;
        let text: &str = row.try_get(1).map_err(&fail)?;
        let class: Option<&str> = row.try_get(2).map_err(&fail)?;
        reader
            .add(id, text, class)
            .map_err(|e| Error::data(redacted(url), e))?;
    }
    Ok(())
}
