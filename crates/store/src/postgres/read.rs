//! Reads on a pooled connection: single statements outside a transaction, history inside one
//! read-only REPEATABLE READ transaction so that its snapshot, total and page agree.

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Object};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};

use super::Error;
use crate::sql::commit::to_u64;
use crate::time::format_instant;
use crate::{
    HistoryPage, HistoryQuery, HistoryScope, PageBudget, ScanPage, ScanQuery, StoredResource,
};

const READ: &str = "SELECT c.version, c.last_updated, c.deleted, j.json FROM current c \
     JOIN history_json j ON j.seq = c.seq WHERE c.rtype = $1 AND c.id = $2";

const VREAD: &str = "SELECT h.version, h.last_updated, h.deleted, j.json FROM history h \
     JOIN history_json j ON j.seq = h.seq \
     WHERE h.rtype = $1 AND h.id = $2 AND h.version = $3";

/// The 1-based positions of the keys that are live.
const EXISTS: &str = "SELECT k.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY \
     AS k(rtype, id, i) JOIN current c ON c.rtype = k.rtype AND c.id = k.id \
     WHERE c.deleted = 0";

/// The keyset walk of `current_type`; the time filter is checked on the rows it yields.
const SCAN: &str = "SELECT c.rk, c.id, c.version, c.last_updated, c.deleted, j.json \
     FROM current c JOIN history_json j ON j.seq = c.seq \
     WHERE c.rtype = $1 AND c.deleted = 0 AND c.rk > $2 AND c.last_updated >= $3 \
     ORDER BY c.rk LIMIT $4";

const COUNTS: &str = "SELECT rtype, live FROM type_counts WHERE live > 0 ORDER BY rtype";

pub(super) const SNAPSHOT: &str = "SELECT coalesce(max(seq), 0) FROM history";

/// Reads `version, last_updated, deleted, json` starting at column `at`.
pub(super) fn version_columns(row: &Row, at: usize) -> Result<(u64, String, bool, Bytes), Error> {
    let version: i64 = row.try_get(at)?;
    let last_updated: i64 = row.try_get(at + 1)?;
    let deleted: i16 = row.try_get(at + 2)?;
    let json: Option<Vec<u8>> = row.try_get(at + 3)?;
    Ok((
        to_u64(version),
        format_instant(last_updated),
        deleted != 0,
        Bytes::from(json.unwrap_or_default()),
    ))
}

fn resource(rtype: &str, id: &str, row: &Row, at: usize) -> Result<StoredResource, Error> {
    Ok(StoredResource::from_columns(
        rtype,
        id,
        version_columns(row, at)?,
    ))
}

pub(super) async fn read(
    client: &Object,
    rtype: &str,
    id: &str,
) -> Result<Option<StoredResource>, Error> {
    let stmt = client.prepare_cached(READ).await?;
    match client.query_opt(&stmt, &[&rtype, &id]).await? {
        Some(row) => Ok(Some(resource(rtype, id, &row, 0)?)),
        None => Ok(None),
    }
}

pub(super) async fn vread(
    client: &Object,
    rtype: &str,
    id: &str,
    version: u64,
) -> Result<Option<StoredResource>, Error> {
    let Ok(v) = i64::try_from(version) else {
        return Ok(None);
    };
    let stmt = client.prepare_cached(VREAD).await?;
    match client.query_opt(&stmt, &[&rtype, &id, &v]).await? {
        Some(row) => Ok(Some(resource(rtype, id, &row, 0)?)),
        None => Ok(None),
    }
}

pub(super) async fn exists_many(
    client: &Object,
    keys: &[(String, String)],
) -> Result<Vec<bool>, Error> {
    let (rtypes, ids): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(t, i)| (t.as_str(), i.as_str())).unzip();
    let stmt = client.prepare_cached(EXISTS).await?;
    let mut out = vec![false; keys.len()];
    for row in client.query(&stmt, &[&rtypes, &ids]).await? {
        let i: i64 = row.try_get(0)?;
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| out.get_mut(i)) {
            *slot = true;
        }
    }
    Ok(out)
}

pub(super) async fn scan(client: &Object, q: &ScanQuery) -> Result<ScanPage, Error> {
    let limit = i64::try_from(q.limit.max(1)).unwrap_or(i64::MAX);
    let since = q.since_micros.unwrap_or(i64::MIN);
    let stmt = client.prepare_cached(SCAN).await?;
    let params: [&(dyn ToSql + Sync); 4] = [&q.rtype, &q.after, &since, &limit];
    // Rows are taken as they arrive; a page that reaches the byte limit ends early (the rest
    // of the result is dropped unread) and the cursor resumes after it.
    let rows = client.query_raw(&stmt, params.iter().copied()).await?;
    pin_mut!(rows);
    let mut resources = Vec::new();
    let mut last = q.after;
    let mut budget = PageBudget::default();
    while let Some(row) = rows.try_next().await? {
        last = row.try_get(0)?;
        let id: &str = row.try_get(1)?;
        let r = resource(&q.rtype, id, &row, 2)?;
        let _ = budget.take(r.json.len());
        resources.push(r);
        if budget.full() {
            break;
        }
    }
    let next = (resources.len() as i64 == limit || budget.full()).then_some(last);
    Ok(ScanPage { resources, next })
}

pub(super) async fn counts(client: &Object) -> Result<Vec<(String, u64)>, Error> {
    let stmt = client.prepare_cached(COUNTS).await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[]).await? {
        let live: i64 = row.try_get(1)?;
        out.push((row.try_get(0)?, to_u64(live)));
    }
    Ok(out)
}

pub(super) async fn history(client: &mut Object, q: &HistoryQuery) -> Result<HistoryPage, Error> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let snapshot: i64 = match q.snapshot {
        Some(s) => s,
        None => {
            let stmt = tx.prepare_cached(SNAPSHOT).await?;
            tx.query_one(&stmt, &[]).await?.try_get(0)?
        }
    };
    let at_start = match q.at_micros {
        // A version superseded after the snapshot was still current within it; treating such a
        // supersession as absent keeps `_at` pages stable while others write.
        Some((start, _)) => {
            let stmt = tx
                .prepare_cached(
                    "SELECT coalesce((SELECT last_updated FROM history WHERE seq <= $1 \
                     ORDER BY seq DESC LIMIT 1), 0)",
                )
                .await?;
            let snapshot_time: i64 = tx.query_one(&stmt, &[&snapshot]).await?.try_get(0)?;
            start.min(snapshot_time)
        }
        None => 0,
    };
    let (filter, args) = history_filter(q, snapshot, at_start);
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(HistoryArg::as_sql).collect();
    let count = tx
        .prepare_cached(&format!("SELECT count(*) FROM history h WHERE {filter}"))
        .await?;
    let total: i64 = tx.query_one(&count, &params).await?.try_get(0)?;

    let mut entries = Vec::new();
    let wanted = i64::try_from(q.count).unwrap_or(i64::MAX);
    let skip = i64::try_from(q.offset).unwrap_or(i64::MAX);
    if wanted > 0 && skip < total {
        // Each order equals `seq DESC` (commits get strictly increasing instants, and within a
        // resource versions follow seq), in the form the chosen index yields.
        let order = match q.scope {
            HistoryScope::Instance(..) => "h.version DESC",
            HistoryScope::System if q.since_micros.is_some() || q.at_micros.is_some() => {
                "h.last_updated DESC, h.seq DESC"
            }
            _ => "h.seq DESC",
        };
        let n = args.len();
        let page = tx
            .prepare_cached(&format!(
                "SELECT h.rtype, h.id, h.version, h.last_updated, h.deleted, j.json \
                 FROM history h JOIN history_json j ON j.seq = h.seq \
                 WHERE {filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ))
            .await?;
        let mut params = params.clone();
        params.push(&wanted);
        params.push(&skip);
        let rows = tx.query_raw(&page, params.iter().copied()).await?;
        pin_mut!(rows);
        let mut budget = PageBudget::default();
        while let Some(row) = rows.try_next().await? {
            let rtype: &str = row.try_get(0)?;
            let id: &str = row.try_get(1)?;
            let entry = resource(rtype, id, &row, 2)?;
            budget.take(entry.json.len())?;
            entries.push(entry);
        }
    }
    tx.commit().await?;
    Ok(HistoryPage {
        entries,
        total: to_u64(total),
        snapshot,
    })
}

/// An argument of the history filter.
enum HistoryArg {
    Int(i64),
    Text(String),
}

impl HistoryArg {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            HistoryArg::Int(v) => v,
            HistoryArg::Text(v) => v,
        }
    }
}

/// The WHERE clause over `history h` and its arguments; `at_start` is the effective `_at` start.
fn history_filter(q: &HistoryQuery, snapshot: i64, at_start: i64) -> (String, Vec<HistoryArg>) {
    let mut filter = String::from("h.seq <= $1");
    let mut args = vec![HistoryArg::Int(snapshot)];
    let mut arg = |filter: &mut String, sql: &str, v: HistoryArg| {
        args.push(v);
        filter.push_str(&sql.replace('#', &format!("${}", args.len())));
    };
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(rtype) => {
            arg(
                &mut filter,
                " AND h.rtype = #",
                HistoryArg::Text(rtype.clone()),
            );
        }
        HistoryScope::Instance(rtype, id) => {
            arg(
                &mut filter,
                " AND h.rtype = #",
                HistoryArg::Text(rtype.clone()),
            );
            arg(&mut filter, " AND h.id = #", HistoryArg::Text(id.clone()));
        }
    }
    if let Some(since) = q.since_micros {
        arg(
            &mut filter,
            " AND h.last_updated >= #",
            HistoryArg::Int(since),
        );
    }
    if let Some((_, end)) = q.at_micros {
        arg(&mut filter, " AND h.last_updated < #", HistoryArg::Int(end));
        arg(
            &mut filter,
            " AND (h.superseded_at IS NULL OR h.superseded_at > #)",
            HistoryArg::Int(at_start),
        );
    }
    (filter, args)
}
