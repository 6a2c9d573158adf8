//! Connection settings and the versioned schema (tracked in `PRAGMA user_version`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Error;
use crate::StoreError;

/// The schema version this code writes; older files are migrated forward at open.
const SCHEMA_VERSION: i64 = 1;

/// `zdrav load` may hold the write lock from another process for a while; wait rather than fail.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Version 1. `history` holds one small row per version so that history scans and counts never
/// read resource bodies, which live in `history_json` under the same `seq`. `superseded_at` is
/// the next version's `last_updated` (NULL while the version is current) and makes `_at` cheap.
/// `current` maps a resource to its newest version; `type_counts` keeps live counts per type so
/// that `/metrics` does not scan `current`.
pub(super) const V1: &str = "
CREATE TABLE history (
    seq INTEGER PRIMARY KEY,
    rtype TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    superseded_at INTEGER,
    deleted INTEGER NOT NULL
);
CREATE UNIQUE INDEX history_key ON history (rtype, id, version);
CREATE INDEX history_type ON history (rtype, seq);
CREATE INDEX history_time ON history (last_updated);
CREATE TABLE history_json (
    seq INTEGER PRIMARY KEY,
    json BLOB NOT NULL
);
CREATE TABLE current (
    rtype TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    PRIMARY KEY (rtype, id)
) WITHOUT ROWID;
CREATE TABLE type_counts (
    rtype TEXT PRIMARY KEY,
    live INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Which side of the store a connection serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Writer,
    Reader,
}

/// Opens a connection with the store's settings; only the writer may create the file.
pub(super) fn connect(path: &Path, role: Role) -> Result<Connection, Error> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if role == Role::Writer {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL fsyncs the WAL at every commit: an acknowledged write survives a SIGKILL or power cut.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    let cache_kib: i64 = if role == Role::Writer { 65_536 } else { 16_384 };
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.set_prepared_statement_cache_capacity(64);
    if role == Role::Reader {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

/// Switches the file to WAL (readers then never wait for the writer) and applies migrations.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(
            StoreError::Backend(format!("cannot enable WAL (journal_mode is {mode})")).into(),
        );
    }
    // After a bulk load the WAL would otherwise keep its peak size on disk.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    // IMMEDIATE so that two processes opening a new file at once do not both create the schema.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {version} is newer than this build supports ({SCHEMA_VERSION})"
        ))
        .into());
    }
    if version < 1 {
        tx.execute_batch(V1)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}
