//! Stored JSON too large to hold whole (a document body of many megabytes), read a piece at a
//! time with SQLite's incremental blob I/O on `history_json` (whose `seq` is the rowid).

use std::time::Duration;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::mpsc::Sender;

use super::read::version_columns;
use super::{Error, Inner};
use crate::{JsonKey, Opened, StoreError, StoredResource};

type Piece = Result<Bytes, StoreError>;

/// `length()` of a blob column reads its size from the record header, and `CASE` reads the blob
/// itself only when it is small: a large body is not loaded to learn that it is large.
const OPEN_CURRENT: &str = "SELECT c.version, c.last_updated, c.deleted, \
     CASE WHEN length(j.json) <= ?3 THEN j.json END, length(j.json), c.seq \
     FROM current c JOIN history_json j ON j.seq = c.seq WHERE c.rtype = ?1 AND c.id = ?2";

const OPEN_VERSION: &str = "SELECT h.version, h.last_updated, h.deleted, \
     CASE WHEN length(j.json) <= ?4 THEN j.json END, length(j.json), h.seq \
     FROM history h JOIN history_json j ON j.seq = h.seq \
     WHERE h.rtype = ?1 AND h.id = ?2 AND h.version = ?3";

pub(super) fn open(
    conn: &Connection,
    rtype: &str,
    id: &str,
    version: Option<u64>,
    inline: u64,
) -> Result<Option<Opened>, Error> {
    let inline = i64::try_from(inline).unwrap_or(i64::MAX);
    let row = |row: &rusqlite::Row<'_>| {
        let columns = version_columns(row, 0)?;
        Ok((columns, row.get::<_, i64>(4)?, row.get::<_, i64>(5)?))
    };
    let found = match version {
        None => conn
            .prepare_cached(OPEN_CURRENT)?
            .query_row(params![rtype, id, inline], row)
            .optional()?,
        Some(v) => {
            let Ok(v) = i64::try_from(v) else {
                return Ok(None);
            };
            conn.prepare_cached(OPEN_VERSION)?
                .query_row(params![rtype, id, v, inline], row)
                .optional()?
        }
    };
    Ok(found.map(|(columns, len, seq)| {
        Opened::new(
            StoredResource::from_columns(rtype, id, columns),
            len,
            seq,
            inline,
        )
    }))
}

/// How long a reader waits for its receiver to take a piece before it ends its read
/// transaction: a slow client must not hold a snapshot (and keep the WAL from being reset) for
/// the whole of a download.
const STALL: Duration = Duration::from_secs(1);

/// How a stretch of reading on one open blob ended.
enum Stretch {
    /// Everything was sent, or the receiver is gone.
    Done,
    /// The receiver did not take this piece in time.
    Stalled(Bytes),
}

/// Reads the JSON under `key` from `from` on into `tx` (on a blocking thread). A blob handle is
/// kept open while the receiver keeps up: it remembers the blob's overflow pages, whereas each
/// new handle walks the page chain from the start, which made reading a large body in pieces
/// quadratic.
pub(super) fn stream(inner: &Inner, key: JsonKey, from: u64, piece: usize, tx: &Sender<Piece>) {
    let runtime = tokio::runtime::Handle::current();
    let mut at = from;
    loop {
        let stretch = inner.with_streamer(|conn| {
            let blob = conn.blob_open(MAIN_DB, c"history_json", c"json", key.0, true)?;
            let size = blob.len() as u64;
            while at < size {
                let n = usize::try_from((size - at).min(piece as u64)).unwrap_or(piece);
                let mut buf = vec![0u8; n];
                let start = usize::try_from(at).unwrap_or(usize::MAX);
                blob.read_at_exact(&mut buf, start)?;
                at += n as u64;
                match runtime.block_on(tx.send_timeout(Ok(Bytes::from(buf)), STALL)) {
                    Ok(()) => {}
                    Err(SendTimeoutError::Timeout(Ok(b))) => return Ok(Stretch::Stalled(b)),
                    Err(_) => return Ok(Stretch::Done),
                }
            }
            Ok(Stretch::Done)
        });
        match stretch {
            Ok(Stretch::Done) => return,
            // Waits outside any transaction, then reads on from where it was.
            Ok(Stretch::Stalled(b)) => {
                if tx.blocking_send(Ok(b)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(StoreError::from(e)));
                return;
            }
        }
    }
}
