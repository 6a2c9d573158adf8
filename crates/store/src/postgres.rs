//! The PostgreSQL backend: the schema and semantics of the SQLite backend on a pool of
//! `tokio-postgres` connections. Commits serialise on a one-row clock table (as SQLite's single
//! writer does), run in groups that share one transaction and one flush, write their rows in a few array-bound statements, and reads that take more than
//! one statement (history, search) run in one read-only REPEATABLE READ transaction.

mod analyze;
mod batch;
mod group;
mod include;
mod pieces;
mod read;
mod rows;
mod schema;
mod search;
mod testdb;
mod write;

use std::borrow::Cow;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parking_lot::Mutex;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use crate::sql::Arg;
use crate::{
    HistoryPage, HistoryQuery, JsonKey, JsonPieces, Opened, OutboxMessage, OutboxOps, ScanPage,
    ScanQuery, SearchPage, Store, StoreError, StoredResource, WriteOp, WriteResult,
};

pub use testdb::PgTestDatabase;

/// Connections kept by the pool; each commit holds one for its transaction.
const POOL_SIZE: usize = 16;

/// How long to wait for the server when opening a connection, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] on a PostgreSQL database. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The pids of committed parameters (a pid never changes once assigned, so caching them
    /// saves a lookup per commit); filled only after the commit that read or made them.
    pids: Mutex<write::Pids>,
    analyzer: Arc<analyze::Analyzer>,
    /// Commits waiting to run in the next group (see `postgres/group.rs`).
    queue: group::Queue,
}

/// Failures inside the backend, before they become a [`StoreError`].
enum Error {
    Pg(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Pg(e)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Error::Pool(e)
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
            // The Display of a server error is only "db error"; the detail is in its source.
            Error::Pg(e) => match e.source() {
                Some(cause) => StoreError::Backend(format!("postgres: {e}: {cause}")),
                None => StoreError::Backend(format!("postgres: {e}")),
            },
            Error::Pool(e) => StoreError::Backend(format!("postgres pool: {e}")),
            Error::Store(e) => e,
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("zdrav");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(Error::from)?;
            schema::migrate(&mut client).await?;
        }
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                pids: Mutex::new(write::Pids::new()),
                analyzer: Arc::default(),
                queue: group::Queue::default(),
            }),
        })
    }

    /// Background ANALYZE runs finished since the store opened (see `postgres/analyze.rs`).
    pub fn analyze_runs(&self) -> u64 {
        self.inner.analyzer.runs()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        Ok(self.inner.pool.get().await?)
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn commit_with_outbox(
        &self,
        ops: Vec<WriteOp>,
        outbox: OutboxOps,
    ) -> Result<Vec<WriteResult>, StoreError> {
        if ops.is_empty() && outbox.is_empty() {
            return Ok(Vec::new());
        }
        group::commit(&self.inner, ops, outbox).await
    }

    async fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        let client = self.client().await?;
        Ok(write::pending(&client, limit).await?)
    }

    async fn read(&self, rtype: &str, id: &str) -> Result<Option<StoredResource>, StoreError> {
        let client = self.client().await?;
        Ok(read::read(&client, rtype, id).await?)
    }

    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<StoredResource>, StoreError> {
        let client = self.client().await?;
        Ok(read::vread(&client, rtype, id, version).await?)
    }

    async fn open(
        &self,
        rtype: &str,
        id: &str,
        version: Option<u64>,
        inline: u64,
    ) -> Result<Option<Opened>, StoreError> {
        let client = self.client().await?;
        Ok(pieces::open(&client, rtype, id, version, inline).await?)
    }

    fn json_pieces(&self, key: JsonKey, from: u64, piece: usize) -> JsonPieces {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::PIECES_AHEAD);
        let pool = self.inner.pool.clone();
        tokio::spawn(pieces::stream(pool, key, from, piece, tx));
        rx
    }

    async fn exists_many(&self, keys: Vec<(String, String)>) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        Ok(read::exists_many(&client, &keys).await?)
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError> {
        let mut client = self.client().await?;
        Ok(read::history(&mut client, &query).await?)
    }

    async fn search(&self, query: &zdrav_search::SearchQuery) -> Result<SearchPage, StoreError> {
        let mut client = self.client().await?;
        Ok(search::search(&mut client, query).await?)
    }

    async fn scan(&self, q: ScanQuery) -> Result<ScanPage, StoreError> {
        let client = self.client().await?;
        Ok(read::scan(&client, &q).await?)
    }

    async fn counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        Ok(read::counts(&client).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(Error::from)?;
        Ok(())
    }

    async fn setting_or_init(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await
            .map_err(Error::from)?;
        let row = client
            .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
            .await
            .map_err(Error::from)?;
        Ok(row.try_get(0).map_err(Error::from)?)
    }
}

/// Text as PostgreSQL can hold it: `text` cannot contain NUL, which FHIR strings may, so NUL
/// becomes U+FFFE (a noncharacter) in index values and search arguments alike; equality and
/// prefixes then still match as on SQLite. Bodies are `bytea` and keep their exact bytes.
pub(crate) fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFE}"))
    } else {
        Cow::Borrowed(s)
    }
}

impl Arg {
    /// The parameter type to declare for this argument in a typed query.
    fn pg_type(&self) -> Type {
        match self {
            Arg::Int(_) => Type::INT8,
            Arg::Real(_) => Type::FLOAT8,
            Arg::Text(_) => Type::TEXT,
        }
    }
}

impl ToSql for Arg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            // The checked calls refuse a type the value does not fit rather than write garbage.
            Arg::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql_checked(ty, out),
            Arg::Int(v) => v.to_sql_checked(ty, out),
            Arg::Real(v) => v.to_sql_checked(ty, out),
            Arg::Text(v) => pg_text(v).to_sql_checked(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::FLOAT8 | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

/// `args` with the types to declare for them, for `query_typed`.
fn typed(args: &[Arg]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    args.iter()
        .map(|a| (a as &(dyn ToSql + Sync), a.pg_type()))
        .collect()
}
