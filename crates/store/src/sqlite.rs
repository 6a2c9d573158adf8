//! The embedded backend: one SQLite file in WAL mode, one writer connection and a pool of readers.

mod checkpoint;
mod index_write;
mod pieces;
mod read;
mod schema;
mod search;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::{
    HistoryPage, HistoryQuery, JsonKey, JsonPieces, Opened, OutboxMessage, OutboxOps, ScanPage,
    ScanQuery, SearchPage, Store, StoreError, StoredResource, WriteOp, WriteResult,
};
use schema::Role;

/// Reader connections, all kept open: reads beyond this many wait for a free one. More would
/// not read faster on a small machine, and a connection opened per burst and then closed costs
/// a file open and the parsing of every statement again (it showed in read-by-id profiles).
const READERS: usize = 8;
/// Resources up to this size are read on the calling thread ([`SqliteStore::reading_now`]).
const INLINE_READ_BYTES: i64 = 256 * 1024;

/// A [`Store`] on one SQLite file. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// SQLite admits one writer at a time anyway; the mutex keeps our own writers off the busy
    /// handler, so only other processes ever make us wait on the file lock.
    writer: Mutex<Connection>,
    /// Commits waiting for the writer (group commit).
    queue: write::Queue,
    readers: Mutex<Vec<Connection>>,
    /// Idle connections of the readers of large stored JSON ([`schema::Role::Streamer`]).
    streamers: Mutex<Vec<Connection>>,
    /// One permit per reader connection.
    reader_permits: tokio::sync::Semaphore,
    checkpointer: checkpoint::Checkpointer,
}

/// Failures inside the backend, before they become a [`StoreError`].
enum Error {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sql(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Sql(e) => StoreError::Backend(format!("sqlite: {e}")),
            Error::Store(e) => e,
        }
    }
}

impl rusqlite::ToSql for crate::sql::Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            crate::sql::Arg::Int(v) => ValueRef::Integer(*v),
            crate::sql::Arg::Real(v) => ValueRef::Real(*v),
            crate::sql::Arg::Text(v) => ValueRef::Text(v.as_bytes()),
        }))
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the store file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut writer = schema::connect(path, Role::Writer)?;
        schema::migrate(&mut writer)?;
        // One reader up front so that a file we cannot read fails here rather than on first use.
        let reader = schema::connect(path, Role::Reader)?;
        let checkpointer = checkpoint::Checkpointer::start(path)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                queue: write::Queue::default(),
                readers: Mutex::new(vec![reader]),
                streamers: Mutex::new(Vec::new()),
                reader_permits: tokio::sync::Semaphore::new(READERS),
                checkpointer,
            }),
        })
    }

    /// The path of the store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
            .map_err(StoreError::from)
    }

    async fn reading<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let _permit = self
            .inner
            .reader_permits
            .acquire()
            .await
            .map_err(|e| StoreError::Backend(format!("reader pool closed: {e}")))?;
        self.blocking(move |inner| inner.with_reader(f)).await
    }
}

impl SqliteStore {
    /// Runs a point read (one row by key, or a few) on the calling task's thread. Such a read
    /// takes microseconds from the page cache, less than the two thread switches a trip to the
    /// blocking pool costs, and a registration or a transaction makes several of them. Reads
    /// that can be long (searches, history, scans, document bodies) go to the pool instead.
    fn reading_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, StoreError> {
        self.inner.with_reader(f).map_err(StoreError::from)
    }
}

/// Idle streamer connections kept open.
const IDLE_STREAMERS: usize = 4;

impl Inner {
    /// Runs `f` on a connection of the readers of large stored JSON.
    fn with_streamer<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let pooled = self.streamers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::connect(&self.path, Role::Streamer)?,
        };
        let out = f(&conn);
        let mut pool = self.streamers.lock();
        if pool.len() < IDLE_STREAMERS {
            pool.push(conn);
        }
        out
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => schema::connect(&self.path, Role::Reader)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock();
        // Room for the pool's readers and those of the point reads run on worker threads.
        if pool.len() < READERS + 4 {
            pool.push(conn);
        }
        out
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn commit_with_outbox(
        &self,
        ops: Vec<WriteOp>,
        outbox: OutboxOps,
    ) -> Result<Vec<WriteResult>, StoreError> {
        let inner = &self.inner;
        write::commit(&inner.queue, ops, outbox, || {
            let inner = Arc::clone(inner);
            tokio::task::spawn_blocking(move || {
                write::run_groups(&inner.writer, &inner.queue, || {
                    inner.checkpointer.committed()
                })
            });
        })
        .await
    }

    async fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.reading(move |conn| write::pending(conn, limit)).await
    }

    async fn read(&self, rtype: &str, id: &str) -> Result<Option<StoredResource>, StoreError> {
        let (rtype, id) = (rtype.to_owned(), id.to_owned());
        if rtype == "Binary" {
            // A document body may be megabytes: read on the pool unless it is absent or small.
            match self.reading_now(|conn| read::json_len(conn, &rtype, &id))? {
                None => return Ok(None),
                Some(n) if n > INLINE_READ_BYTES => {
                    return self.reading(move |conn| read::read(conn, rtype, id)).await
                }
                Some(_) => {}
            }
        }
        self.reading_now(move |conn| read::read(conn, rtype, id))
    }

    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let (rtype, id) = (rtype.to_owned(), id.to_owned());
        self.reading(move |conn| read::vread(conn, rtype, id, version))
            .await
    }

    async fn open(
        &self,
        rtype: &str,
        id: &str,
        version: Option<u64>,
        inline: u64,
    ) -> Result<Option<Opened>, StoreError> {
        // A point read: a large JSON is not loaded, only its size.
        self.reading_now(|conn| pieces::open(conn, rtype, id, version, inline))
    }

    fn json_pieces(&self, key: JsonKey, from: u64, piece: usize) -> JsonPieces {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::PIECES_AHEAD);
        let inner = Arc::clone(&self.inner);
        // Not behind the reader permits: a download may last minutes, and holds a
        // connection only while its client keeps up.
        tokio::task::spawn_blocking(move || pieces::stream(&inner, key, from, piece, &tx));
        rx
    }

    async fn exists_many(&self, keys: Vec<(String, String)>) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.reading_now(move |conn| read::exists_many(conn, &keys))
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.reading(move |conn| read::history(conn, &query)).await
    }

    async fn search(&self, query: &zdrav_search::SearchQuery) -> Result<SearchPage, StoreError> {
        let query = query.clone();
        self.reading(move |conn| search::search(conn, &query)).await
    }

    async fn scan(&self, q: ScanQuery) -> Result<ScanPage, StoreError> {
        self.reading(move |conn| read::scan(conn, &q)).await
    }

    async fn counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.reading(read::counts).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.reading(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn setting_or_init(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let conn = inner.writer.lock();
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                rusqlite::params![name, value],
            )?;
            Ok(
                conn.query_row("SELECT value FROM settings WHERE name = ?1", [&name], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }
}
