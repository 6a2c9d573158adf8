//! Stored JSON too large to hold whole (a document body of many megabytes), read a piece at a
//! time with `substring` on `history_json.json`. Its storage is EXTERNAL (schema version 4):
//! uncompressed TOAST, so that a slice reads only the TOAST chunks it covers; a compressed value
//! would be decompressed from its start for every slice.

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Object, Pool};
use tokio::sync::mpsc::Sender;

use super::read::version_columns;
use super::Error;
use crate::{JsonKey, Opened, StoreError, StoredResource};

type Piece = Result<Bytes, StoreError>;

/// `octet_length` of a TOASTed value reads its size from the TOAST pointer, and `CASE` fetches
/// the value only when it is small.
const OPEN_CURRENT: &str = "SELECT c.version, c.last_updated, c.deleted, \
     CASE WHEN octet_length(j.json) <= $3::bigint THEN j.json END, octet_length(j.json)::bigint, c.seq \
     FROM current c JOIN history_json j ON j.seq = c.seq WHERE c.rtype = $1 AND c.id = $2";

const OPEN_VERSION: &str = "SELECT h.version, h.last_updated, h.deleted, \
     CASE WHEN octet_length(j.json) <= $4::bigint THEN j.json END, octet_length(j.json)::bigint, h.seq \
     FROM history h JOIN history_json j ON j.seq = h.seq \
     WHERE h.rtype = $1 AND h.id = $2 AND h.version = $3";

const SLICE: &str = "SELECT substring(json FROM $2 FOR $3) FROM history_json WHERE seq = $1";

pub(super) async fn open(
    client: &Object,
    rtype: &str,
    id: &str,
    version: Option<u64>,
    inline: u64,
) -> Result<Option<Opened>, Error> {
    let inline = i64::try_from(inline).unwrap_or(i64::MAX);
    let row = match version {
        None => {
            let stmt = client.prepare_cached(OPEN_CURRENT).await?;
            client.query_opt(&stmt, &[&rtype, &id, &inline]).await?
        }
        Some(v) => {
            let Ok(v) = i64::try_from(v) else {
                return Ok(None);
            };
            let stmt = client.prepare_cached(OPEN_VERSION).await?;
            client.query_opt(&stmt, &[&rtype, &id, &v, &inline]).await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let columns = version_columns(&row, 0)?;
    let (len, seq): (i64, i64) = (row.try_get(4)?, row.try_get(5)?);
    let resource = StoredResource::from_columns(rtype, id, columns);
    Ok(Some(Opened::new(resource, len, seq, inline)))
}

/// Reads the JSON under `key` from `from` on into `tx`, one piece per statement (each on a
/// pooled connection only for that statement), at most [`crate::PIECES_AHEAD`] pieces ahead.
/// Larger slices split into pieces were slower: 8 pieces per statement took 150 MiB/s where
/// one took 207-229 (`bench/body_reads.sh`, 8 clients).
pub(super) async fn stream(pool: Pool, key: JsonKey, from: u64, piece: usize, tx: Sender<Piece>) {
    let piece = piece.max(1);
    let mut at = from;
    loop {
        let read = async {
            let client = pool.get().await.map_err(Error::from)?;
            read_at(&client, key, at, piece).await
        };
        let bytes = match read.await {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(StoreError::from(e))).await;
                return;
            }
        };
        at += bytes.len() as u64;
        let last = bytes.len() < piece;
        if (!bytes.is_empty() && tx.send(Ok(bytes)).await.is_err()) || last {
            return;
        }
    }
}

async fn read_at(client: &Object, key: JsonKey, offset: u64, len: usize) -> Result<Bytes, Error> {
    // `substring` counts from 1 and takes int4; a stored JSON is far below 2 GiB (PostgreSQL
    // caps a value at 1 GiB).
    let from = i32::try_from(offset.saturating_add(1)).unwrap_or(i32::MAX);
    let count = i32::try_from(len).unwrap_or(i32::MAX);
    let stmt = client.prepare_cached(SLICE).await?;
    let row = client.query_opt(&stmt, &[&key.0, &from, &count]).await?;
    let bytes: Option<Vec<u8>> = match row {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    Ok(Bytes::from(bytes.unwrap_or_default()))
}
