//! The versioned resource store of zdrav. It keeps every version of every FHIR resource (type, id,
//! versionId, lastUpdated, JSON), applies groups of writes atomically with optimistic version checks,
//! and answers reads, version reads and history. The [`Store`] trait is the API boundary the server
//! and every domain crate build on; no SQL exists outside this crate. The embedded backend is SQLite
//! ([`SqliteStore`]) in WAL mode with synchronous commits: a call returns only after its commit is
//! durable, so the HTTP layer acknowledges only committed writes. [`PgStore`] keeps the same
//! schema and semantics on PostgreSQL; both run the search SQL built in one shared module.

#![warn(missing_docs)]

pub mod conformance;
mod model;
mod postgres;
mod sql;
mod sqlite;
mod time;

pub use model::*;
pub use postgres::{PgStore, PgTestDatabase};
pub use sqlite::SqliteStore;
pub use time::{format_instant, parse_fhir_datetime_range};

use std::sync::Arc;

use bytes::Bytes;

/// The pieces of a stored JSON ([`Store::json_pieces`]), in order.
pub type JsonPieces = tokio::sync::mpsc::Receiver<Result<Bytes, StoreError>>;

/// Pieces a reader of stored JSON keeps ready ahead of its receiver.
const PIECES_AHEAD: usize = 2;

/// The most stored JSON one search or history page may hold (a larger one is refused with
/// [`StoreError::TooCostly`]) and at which a scan page ends early. Document bodies make single
/// resources of tens of megabytes, so a page of them must be bounded in bytes, not only in
/// entries: one body of the largest registrable size (32 MiB, 43 MiB as JSON) still fits.
pub const PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// A shared handle to a store backend.
pub type DynStore = Arc<dyn Store>;

/// The storage API. Every method is one atomic unit; writes are durable when the call returns `Ok`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies all `ops` in one transaction: either every op succeeds and is committed, or nothing is
    /// written and the first failure is returned (with the index of the failing op).
    /// All versions written by one call share one `lastUpdated` instant.
    async fn commit(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>, StoreError> {
        self.commit_with_outbox(ops, OutboxOps::default()).await
    }

    /// [`Store::commit`] that also adds and removes outbox messages in the same transaction.
    async fn commit_with_outbox(
        &self,
        ops: Vec<WriteOp>,
        outbox: OutboxOps,
    ) -> Result<Vec<WriteResult>, StoreError>;

    /// Up to `limit` outbox messages, oldest first.
    async fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxMessage>, StoreError>;

    /// The current version of a resource (a tombstone if its last version is a delete).
    async fn read(&self, rtype: &str, id: &str) -> Result<Option<StoredResource>, StoreError>;

    /// One specific version of a resource (tombstones included).
    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// The current version (`version` `None`) or one version of a resource, holding its JSON
    /// only when that has at most `inline` bytes; a larger JSON stays in the store, to be read
    /// a piece at a time with [`Store::read_json_at`] (a document body of many megabytes is then
    /// never held whole).
    async fn open(
        &self,
        rtype: &str,
        id: &str,
        version: Option<u64>,
        inline: u64,
    ) -> Result<Option<Opened>, StoreError>;

    /// A stored JSON from byte `from` to its end, read in pieces of at most `piece` bytes on a
    /// task of its own, a few pieces ahead of the receiver; dropping the receiver stops it. An
    /// error ends the pieces. A version never changes once written, so a read that is paused
    /// (its transaction ended while the receiver does not take pieces) and resumed still reads
    /// one JSON.
    fn json_pieces(&self, key: JsonKey, from: u64, piece: usize) -> JsonPieces;

    /// Which of the given `(type, id)` pairs currently exist and are not deleted.
    async fn exists_many(&self, keys: Vec<(String, String)>) -> Result<Vec<bool>, StoreError>;

    /// A page of history, newest first, and the total number of entries matching the query.
    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, StoreError>;

    /// Runs a search: one page of current, non-deleted matches in the query's order, the
    /// resources `_include`d and `_revinclude`d by that page, and the total if asked.
    async fn search(&self, query: &zdrav_search::SearchQuery) -> Result<SearchPage, StoreError> {
        let _ = query;
        Err(StoreError::Backend(
            "search is not available on this backend".into(),
        ))
    }

    /// Bulk reading for export and re-indexing: up to `q.limit` current, non-deleted resources
    /// of type `q.rtype` in creation order, starting after the cursor `q.after` (0 at the
    /// start), optionally only those last updated at or after `q.since_micros`. The page's
    /// `next` is the cursor for the following call (`None` when nothing is left). Keyset paging,
    /// so a full scan costs one index walk however large the table.
    async fn scan(&self, q: ScanQuery) -> Result<ScanPage, StoreError>;

    /// Counts of current (non-deleted) resources per type, for `/metrics` and tests.
    async fn counts(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Confirms the backend answers (used by `/health`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The setting `name`, storing `value` first if it has none; every caller (and every
    /// process on the same database) gets the one value that won.
    async fn setting_or_init(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError>;
}
