//! The values that cross the [`crate::Store`] boundary.

use bytes::Bytes;
use serde_json::Value;

/// What must hold for a write to go ahead; checked inside the write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No check: create-or-update.
    None,
    /// The resource must not exist (no version at all, deleted or not).
    MustNotExist,
    /// The current version must be exactly this one (If-Match). A deleted resource never matches.
    VersionIs(u64),
}

/// One write in a [`crate::Store::commit`] call.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Writes a new version of `rtype/id`. The store sets `id`, `meta.versionId` and
    /// `meta.lastUpdated` in `resource` before storing it.
    Put {
        /// Resource type, e.g. `Patient`.
        rtype: String,
        /// Logical id.
        id: String,
        /// The resource JSON (already validated by the caller).
        resource: Value,
        /// What must hold before writing.
        precondition: Precondition,
        /// The search index rows of this version (extracted by the caller, outside the write
        /// lock); they replace the resource's previous rows.
        index: Vec<zdrav_search::IndexRow>,
    },
    /// Writes a tombstone version of `rtype/id` if it currently exists; a no-op otherwise.
    Delete {
        /// Resource type.
        rtype: String,
        /// Logical id.
        id: String,
        /// What must hold before deleting.
        precondition: Precondition,
    },
}

impl WriteOp {
    /// The `(type, id)` this op writes.
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { rtype, id, .. } | WriteOp::Delete { rtype, id, .. } => (rtype, id),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A first version (or a version after a tombstone) was written: HTTP 201.
    Created,
    /// A new version of an existing resource was written: HTTP 200.
    Updated,
    /// A tombstone version was written.
    Deleted,
    /// A delete of a resource that did not exist or was already deleted: nothing written.
    NoOp,
}

/// The result of one [`WriteOp`].
#[derive(Debug, Clone)]
pub struct WriteResult {
    /// Resource type.
    pub rtype: String,
    /// Logical id.
    pub id: String,
    /// The version now current (for `NoOp`, the existing version or 0).
    pub version: u64,
    /// The commit instant, as a FHIR instant (`2026-11-23T09:10:00.123456Z`).
    pub last_updated: String,
    /// What happened.
    pub outcome: WriteOutcome,
    /// The stored JSON bytes for `Put`s (with meta set); empty for deletes.
    pub json: Bytes,
}

/// One stored version of a resource.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// Resource type.
    pub rtype: String,
    /// Logical id.
    pub id: String,
    /// Version number, from 1.
    pub version: u64,
    /// When this version was committed, as a FHIR instant.
    pub last_updated: String,
    /// True for a tombstone (the version written by a delete).
    pub deleted: bool,
    /// The resource JSON as stored (empty for tombstones).
    pub json: Bytes,
}

impl StoredResource {
    /// A version of `rtype/id` from its `version, last_updated, deleted, json` columns.
    pub(crate) fn from_columns(
        rtype: &str,
        id: &str,
        (version, last_updated, deleted, json): (u64, String, bool, Bytes),
    ) -> StoredResource {
        StoredResource {
            rtype: rtype.to_owned(),
            id: id.to_owned(),
            version,
            last_updated,
            deleted,
            json,
        }
    }
}

impl Opened {
    /// A found version whose JSON has `len` bytes, held when at most `inline`, kept in the
    /// row `seq` of `history_json`.
    pub(crate) fn new(resource: StoredResource, len: i64, seq: i64, inline: i64) -> Opened {
        Opened {
            whole: len <= inline,
            len: u64::try_from(len).unwrap_or(0),
            key: JsonKey(seq),
            resource,
        }
    }
}

/// Where a version's JSON is kept, to read it a piece at a time ([`Store::read_json_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonKey(pub(crate) i64);

/// A version found by [`Store::open`], with its JSON only when that is small.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The version; its `json` holds the whole JSON when `whole`, else nothing.
    pub resource: StoredResource,
    /// True when `resource.json` is the whole JSON (always for tombstones).
    pub whole: bool,
    /// The size of the stored JSON in bytes.
    pub len: u64,
    /// Where the JSON is kept.
    pub key: JsonKey,
}

/// Which history to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    /// Every resource.
    System,
    /// Every resource of one type.
    Type(String),
    /// One resource.
    Instance(String, String),
}

/// A history query. Times are microseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Whose history.
    pub scope: HistoryScope,
    /// Only versions committed at or after this instant (`_since`).
    pub since_micros: Option<i64>,
    /// Only versions that were current at some moment in `[start, end)` (`_at`, with the implicit
    /// range of a partial date).
    pub at_micros: Option<(i64, i64)>,
    /// Only versions committed at or before this sequence number: pins paging to a snapshot so
    /// that pages stay correct while others write. `None` on the first page.
    pub snapshot: Option<i64>,
    /// Entries to skip.
    pub offset: usize,
    /// Page size.
    pub count: usize,
}

/// One page of history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Entries, newest first.
    pub entries: Vec<StoredResource>,
    /// How many entries match in total (within the snapshot).
    pub total: u64,
    /// The snapshot sequence number to pass for the following pages.
    pub snapshot: i64,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An op's `VersionIs` precondition did not hold.
    #[error("version conflict on {rtype}/{id}: expected version {expected}, current is {current}")]
    VersionConflict {
        /// Index of the op in the commit.
        index: usize,
        /// Resource type.
        rtype: String,
        /// Logical id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The current version (0 if none; a deleted resource reports its tombstone version).
        current: u64,
    },
    /// An op's `MustNotExist` precondition did not hold.
    #[error("{rtype}/{id} already exists")]
    AlreadyExists {
        /// Index of the op in the commit.
        index: usize,
        /// Resource type.
        rtype: String,
        /// Logical id.
        id: String,
    },
    /// Two ops in one commit write the same resource.
    #[error("{rtype}/{id} is written twice in one transaction")]
    DuplicateKey {
        /// Index of the second op.
        index: usize,
        /// Resource type.
        rtype: String,
        /// Logical id.
        id: String,
    },
    /// An outbox message to acknowledge is no longer there: someone else handled it first.
    #[error("outbox message {seq} was already handled")]
    OutboxGone {
        /// The message's sequence number.
        seq: i64,
    },
    /// A search or history page would hold more stored JSON than [`crate::PAGE_BYTES`].
    #[error(
        "the page would hold more than {limit} bytes of resources (at least {bytes}): ask for \
         fewer entries with _count, or read large resources (document bodies) one by one"
    )]
    TooCostly {
        /// The bytes read when the limit was passed.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The backend failed (I/O, corruption, connection): a server-side error.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// The stored JSON a list read (a search, history or scan page) has taken so far, against
/// [`crate::PAGE_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct PageBudget {
    used: u64,
}

impl PageBudget {
    /// Counts `n` more bytes; fails once the page holds more than the limit.
    pub(crate) fn take(&mut self, n: usize) -> Result<(), StoreError> {
        self.used = self.used.saturating_add(n as u64);
        if self.used > crate::PAGE_BYTES {
            return Err(StoreError::TooCostly {
                bytes: self.used,
                limit: crate::PAGE_BYTES,
            });
        }
        Ok(())
    }

    /// Whether a scan page should end here: it holds at least the limit.
    pub(crate) fn full(&self) -> bool {
        self.used >= crate::PAGE_BYTES
    }
}

/// One page of search results.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The matches, in the query's sort order.
    pub matches: Vec<StoredResource>,
    /// Resources added by `_include` / `_revinclude` (each once, none that is also a match).
    pub included: Vec<StoredResource>,
    /// The number of matches in all pages (`None` when `_total=none`).
    pub total: Option<u64>,
    /// The snapshot sequence number to pass for the following pages.
    pub snapshot: i64,
}

/// One call of [`crate::Store::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanQuery {
    /// Resource type.
    pub rtype: String,
    /// Only resources whose current version was committed at or after this instant (µs since
    /// the epoch).
    pub since_micros: Option<i64>,
    /// Cursor: 0 to start, else the `next` of the previous page.
    pub after: i64,
    /// Page size.
    pub limit: usize,
}

/// A page of [`crate::Store::scan`].
#[derive(Debug, Clone)]
pub struct ScanPage {
    /// Current versions, in creation order.
    pub resources: Vec<StoredResource>,
    /// Cursor for the next page; `None` when the scan is complete.
    pub next: Option<i64>,
}

/// Outbox changes that ride in the same transaction as a commit's writes: a side effect is
/// recorded exactly when the change that causes it is, and a handled message disappears
/// exactly when the handler's own writes land.
#[derive(Debug, Clone, Default)]
pub struct OutboxOps {
    /// New messages: topic and JSON payload.
    pub enqueue: Vec<(String, Value)>,
    /// Messages handled, by sequence number. Each must still be in the outbox, or the whole
    /// commit fails with [`StoreError::OutboxGone`] and nothing is written.
    pub ack: Vec<i64>,
}

impl OutboxOps {
    /// True when there is nothing to add or remove.
    pub fn is_empty(&self) -> bool {
        self.enqueue.is_empty() && self.ack.is_empty()
    }
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Sequence number: the order messages were committed in.
    pub seq: i64,
    /// What kind of side effect it asks for, e.g. `slot-freed`.
    pub topic: String,
    /// Its data.
    pub payload: Value,
    /// When it was committed, µs since the epoch.
    pub created_micros: i64,
}
