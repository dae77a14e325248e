//! The SQLite log: one file, WAL mode, written by the server's one writer thread.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};
use serde_json::Value;

use cairn_core::error::{Error, Result};

use super::{HistoryRow, InputsReader, Pending, Row, Store, for_each_row};

/// `PRAGMA user_version` of the current schema: 1 had no `role` column, 2 has it and an index
/// by version, 3 has no index.
const VERSION: i64 = 3;

/// Bytes per page of a new log.
const PAGE_SIZE: i64 = 16 * 1024;

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
);";

pub(super) struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating or migrating) the database.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let fail = |e: rusqlite::Error| {
            Error::data(path, format!("cannot use as prediction log (SQLite): {e}"))
        };
        let conn = Connection::open(path).map_err(fail)?;
        // Before anything is written: a page size only takes on a new database. The writer
        // appends, so every page is written twice (to the WAL, then by the checkpoint) with a
        // system call or two each; 16 KiB pages make those calls four times fewer, which
        // took a quarter off the writer's time per row under load (measured; 64 KiB did no
        // better and writes more per small commit).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        migrate(&conn).map_err(fail)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }
}

/// Brings a log written by an older cairn to [`VERSION`].
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_role = conn
        .prepare("SELECT 1 FROM pragma_table_info('predictions') WHERE name = 'role'")?
        .exists([])?;
    if !has_role {
        // Its rows were all the primary's: models had no roles then.
        conn.execute_batch(
            "ALTER TABLE predictions ADD COLUMN role TEXT NOT NULL DEFAULT 'primary'",
        )?;
    }
    // Keeping an index by version cost every logged prediction a second B-tree insert, a
    // third of the writer's time on a busy server; the reads it served (drift, history) scan
    // newest first by id, which a million rows take a fraction of a second to do anyway.
    conn.execute_batch("DROP INDEX IF EXISTS predictions_by_version")?;
    conn.pragma_update(None, "user_version", VERSION)
}

/// Rows per INSERT statement: one statement's overhead (bind, step, reset) shared by many
/// rows is a good part of the writer's time saved on a server logging every request.
const ROWS_PER_INSERT: usize = 32;
/// Columns of one row.
const COLUMNS: usize = 9;

/// `INSERT … VALUES (…), (…)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", ["?"; COLUMNS].join(", "));
    format!(
        "INSERT INTO predictions (time, model_version, role, route, inputs, class, probabilities, value, latency_us) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// Binds `r` as the `slot`th row of `stmt`.
fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    slot: usize,
    r: &Row<'_>,
) -> rusqlite::Result<()> {
    let at = slot * COLUMNS;
    stmt.raw_bind_parameter(at + 1, r.time)?;
    stmt.raw_bind_parameter(at + 2, r.model_version)?;
    stmt.raw_bind_parameter(at + 3, r.role)?;
    stmt.raw_bind_parameter(at + 4, r.route)?;
    stmt.raw_bind_parameter(at + 5, r.inputs)?;
    stmt.raw_bind_parameter(at + 6, r.class)?;
    stmt.raw_bind_parameter(at + 7, r.probabilities)?;
    stmt.raw_bind_parameter(at + 8, r.value)?;
    stmt.raw_bind_parameter(at + 9, r.latency_us)
}

impl Store for SqliteStore {
    fn write(&mut self, batch: &Pending) -> std::result::Result<(), String> {
        let rows = batch.row_count();
        // The first rows go ROWS_PER_INSERT at a time, the rest one by one.
        let grouped = rows - rows % ROWS_PER_INSERT;
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut many = tx.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
                let mut one = tx.prepare_cached(&insert_sql(1))?;
                let mut done = 0;
                for_each_row(batch, |r| {
                    if done < grouped {
                        bind(&mut many, done % ROWS_PER_INSERT, r)?;
                        if done % ROWS_PER_INSERT == ROWS_PER_INSERT - 1 {
                            many.raw_execute()?;
                        }
                    } else {
                        bind(&mut one, 0, r)?;
                        one.raw_execute()?;
                    }
                    done += 1;
                    Ok::<(), rusqlite::Error>(())
                })?;
            }
            tx.commit()
        };
        write(&mut self.conn).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

fn read_only(path: &Path) -> Result<Connection> {
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
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| Error::data(path, format!("reading the prediction log failed: {e}")))
}

/// The last `limit` rows, newest first.
pub(super) fn history(path: &Path, limit: usize) -> Result<Vec<HistoryRow>> {
    let fail =
        |e: rusqlite::Error| Error::data(path, format!("reading the prediction log failed: {e}"));
    let conn = read_only(path)?;
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

/// The rows of `version` into `reader`: the last `window` of them when given.
pub(super) fn inputs(
    path: &Path,
    version: &str,
    since: Option<f64>,
    window: Option<usize>,
    reader: &mut InputsReader,
) -> Result<()> {
    let fail =
        |e: rusqlite::Error| Error::data(path, format!("reading the prediction log failed: {e}"));
    let conn = read_only(path)?;
    let mut stmt = conn
        .prepare(
            "SELECT id, inputs, class FROM predictions WHERE model_version = ?1 AND time >= ?2
             ORDER BY id DESC LIMIT ?3",
        )
        .map_err(fail)?;
    let limit = window.map_or(-1, |w| w as i64);
    let mut rows = stmt
        .query(params![version, since.unwrap_or(f64::NEG_INFINITY), limit])
        .map_err(fail)?;
    while let Some(row) = rows.next().map_err(fail)? {
        let id: i64 = row.get(0).map_err(fail)?;
        // Borrowed from the row: no string per row.
        let text = borrowed_text(row, 1).map_err(fail)?.unwrap_or_default();
        let class = borrowed_text(row, 2).map_err(fail)?;
        reader
            .add(id, text, class)
            .map_err(|e| Error::data(path, e))?;
    }
    Ok(())
}

/// Column `i` of `row` as text, none when NULL.
fn borrowed_text<'r>(row: &'r rusqlite::Row, i: usize) -> rusqlite::Result<Option<&'r str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        value => value.as_str().map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e))
        }),
    }
}
