//! Connection settings and the versioned schema (tracked in `PRAGMA user_version`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Error;
use crate::StoreError;

/// The schema version this code writes; older files are migrated forward at open.
const SCHEMA_VERSION: i64 = 5;

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

/// Version 2: search indexes. `current` becomes a rowid table whose key `rk` is the `seq` of the
/// resource's first version: one integer identifies the resource in every index row, orders
/// results by creation (updates keep it) and pins paging snapshots (`rk <= snapshot`).
///
/// `current_type` holds live resources only: type scans and counts then never read the table.
/// `search_param` interns each (resource type, parameter code) pair as a small `pid`, so index
/// rows and their indexes carry one or two bytes instead of both names, and a probe for "this
/// parameter on these types" is an equality on `pid`. One narrow table per value type holds
/// the rows extracted at write time, clustered by `(rk, pid, ord)` so that replacing a
/// resource's rows and the correlated lookups of sorting, `:not` and `:missing` are range
/// operations on the primary key; `ord` is the row's position in the write, only there to keep
/// duplicates apart. Each table has one secondary index in the order FHIR queries probe it
/// (parameter, then the compared value). `pat` is reserved for the patient-compartment id
/// (sharding by patient; filled from version 3 on). Composite values keep one row per value with
/// each component spread over the columns `c<component>_<field>`, in the field order of the
/// component's own table.
pub(super) const V2: &str = "
CREATE TABLE current_v2 (
    rk INTEGER PRIMARY KEY,
    rtype TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    last_updated INTEGER NOT NULL
);
INSERT INTO current_v2 (rk, rtype, id, version, deleted, seq, last_updated)
    SELECT (SELECT min(h.seq) FROM history h WHERE h.rtype = c.rtype AND h.id = c.id),
           c.rtype, c.id, c.version, c.deleted, c.seq, c.last_updated
    FROM current c;
DROP TABLE current;
ALTER TABLE current_v2 RENAME TO current;
CREATE UNIQUE INDEX current_key ON current (rtype, id);
CREATE INDEX current_type ON current (rtype, rk) WHERE deleted = 0;
CREATE INDEX current_updated ON current (rtype, last_updated);

CREATE TABLE search_param (
    pid INTEGER PRIMARY KEY,
    param TEXT NOT NULL,
    rtype TEXT NOT NULL,
    UNIQUE (param, rtype)
);

CREATE TABLE idx_string (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    norm TEXT, exact TEXT,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_string_q ON idx_string (pid, norm);

CREATE TABLE idx_token (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    system TEXT, code TEXT, text TEXT, type_system TEXT, type_code TEXT,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_token_q ON idx_token (pid, code, system);

CREATE TABLE idx_date (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    low INTEGER, high INTEGER,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_date_q ON idx_date (pid, low, high);

CREATE TABLE idx_number (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    value REAL, low REAL, high REAL,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_number_q ON idx_number (pid, low, high);

CREATE TABLE idx_quantity (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    value REAL, low REAL, high REAL, system TEXT, code TEXT,
    canon_value REAL, canon_code TEXT, canon_low REAL, canon_high REAL,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_quantity_q ON idx_quantity (pid, code, low, high);
CREATE INDEX idx_quantity_canon ON idx_quantity (pid, canon_code, canon_low, canon_high)
    WHERE canon_code IS NOT NULL;

CREATE TABLE idx_reference (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    target_type TEXT, target_id TEXT, version TEXT, url TEXT, id_system TEXT, id_value TEXT,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, pid);
CREATE INDEX idx_reference_url ON idx_reference (url, pid) WHERE url IS NOT NULL;
CREATE INDEX idx_reference_ident ON idx_reference (id_value, pid) WHERE id_value IS NOT NULL;

CREATE TABLE idx_uri (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    uri TEXT,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_uri_q ON idx_uri (pid, uri);

CREATE TABLE idx_composite (
    rk INTEGER NOT NULL, pid INTEGER NOT NULL, ord INTEGER NOT NULL,
    c0_0, c0_1, c0_2, c0_3, c0_4, c0_5, c0_6, c0_7, c0_8,
    c1_0, c1_1, c1_2, c1_3, c1_4, c1_5, c1_6, c1_7, c1_8,
    c2_0, c2_1, c2_2, c2_3, c2_4, c2_5, c2_6, c2_7, c2_8,
    pat TEXT,
    PRIMARY KEY (rk, pid, ord)
) WITHOUT ROWID;
CREATE INDEX idx_composite_q ON idx_composite (pid, c0_1);
";

/// Which side of the store a connection serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Writer,
    Reader,
    /// The WAL checkpoint thread ([`super::checkpoint`]).
    Checkpointer,
    /// A reader of large stored JSON in pieces ([`super::pieces`]).
    Streamer,
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
    // Page caches are the store's memory: 8 MB per connection; misses are served from the OS
    // page cache. The writer's is no bigger because a commit's cost grows with it: whenever a
    // B-tree rebalances, SQLite moves a page through a page number far past the end of the file,
    // and the commit then walks the whole cache to drop pages past the end. At 64 MB that walk
    // took 3.5% of the server's time in registrations (10% of the writer's), while a 1.5 GB bulk
    // load ran no faster than at 8 MB (11.0-12.1k against 11.3-11.5k resources/s).
    let cache_kib: i64 = match role {
        Role::Writer | Role::Reader => 8_192,
        // A checkpoint copies WAL frames straight to the file; the page cache plays no part.
        // A large body's overflow pages are read once each, in order: caching them would only
        // cost 8 MB per download and evict the pages other reads use.
        Role::Checkpointer | Role::Streamer => 256,
    };
    if role == Role::Writer {
        // Checkpoints run on their own thread; this is only the backstop should it stop (1 GB).
        conn.pragma_update(None, "wal_autocheckpoint", 262_144)?;
    }
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.set_prepared_statement_cache_capacity(64);
    if matches!(role, Role::Reader | Role::Streamer) {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

/// Version 3: the patient-compartment owner (`pat`, see `zdrav_search::patient_owner`) on
/// `current` and `history` too, so that every patient-owned row can be placed by one key.
/// Rows written before version 3 keep NULL until their resource is next written.
pub(super) const V3: &str = "
ALTER TABLE current ADD COLUMN pat TEXT;
ALTER TABLE history ADD COLUMN pat TEXT;
";

/// Named settings that live with the data (the built-in token issuer's signing key).
pub(super) const V4: &str = "
CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
";

/// The outbox: side effects committed with the change that causes them (`crate::OutboxOps`).
pub(super) const V5: &str = "
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created INTEGER NOT NULL
);
";

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
    if version < 2 {
        tx.execute_batch(V2)?;
    }
    if version < 3 {
        tx.execute_batch(V3)?;
    }
    if version < 4 {
        tx.execute_batch(V4)?;
    }
    if version < 5 {
        tx.execute_batch(V5)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 file keeps its data; each resource's key becomes its first version's seq.
    #[test]
    fn migrates_version_1_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(
                "INSERT INTO history (seq, rtype, id, version, last_updated, deleted) VALUES
                   (1, 'Patient', 'a', 1, 10, 0), (2, 'Patient', 'b', 1, 11, 0),
                   (3, 'Patient', 'a', 2, 12, 0), (4, 'Patient', 'b', 2, 13, 1);
                 INSERT INTO current (rtype, id, version, deleted, seq, last_updated) VALUES
                   ('Patient', 'a', 2, 0, 3, 12), ('Patient', 'b', 2, 1, 4, 13);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let mut conn = connect(&path, Role::Writer).unwrap_or_else(|_| panic!("connect"));
        if migrate(&mut conn).is_err() {
            panic!("migrate");
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let rows: Vec<(i64, String, i64, i64)> = conn
            .prepare("SELECT rk, id, version, seq FROM current ORDER BY rk")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [(1, "a".into(), 2, 3), (2, "b".into(), 2, 4)]);
        // Opening again is a no-op.
        if migrate(&mut conn).is_err() {
            panic!("second migrate");
        }
    }
}
