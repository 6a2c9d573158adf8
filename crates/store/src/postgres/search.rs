//! `search` on PostgreSQL: the shared SQL of [`crate::sql::search`] in one read-only REPEATABLE
//! READ transaction, so that the snapshot, the total, the page and the includes agree. The
//! statements vary with every query, so they run as typed one-shot statements (one round trip,
//! planned for the actual values) rather than filling the per-connection statement cache.

use std::collections::HashMap;

use deadpool_postgres::{Object, Transaction};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, Row};
use zdrav_search::{SearchQuery, TotalMode};

use super::read::SNAPSHOT;
use super::{include, typed, Error};
use crate::sql::commit::to_u64;
use crate::sql::search::{self as shared, Hit};
use crate::sql::Dialect;
use crate::time::format_instant;
use crate::{PageBudget, SearchPage, StoreError, StoredResource};

/// Reads a [`Hit`] from the columns `HIT_COLUMNS`, starting at column `at`.
pub(super) fn hit(row: &Row, at: usize) -> Result<Hit, Error> {
    Ok(Hit {
        rk: row.try_get(at)?,
        rtype: row.try_get(at + 1)?,
        id: row.try_get(at + 2)?,
        version: row.try_get(at + 3)?,
        last_updated: row.try_get(at + 4)?,
        seq: row.try_get(at + 5)?,
        pat: row.try_get(at + 6)?,
    })
}

pub(super) async fn search(client: &mut Object, q: &SearchQuery) -> Result<SearchPage, Error> {
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
    // PostgreSQL's planner costs the conditions itself.
    let filter = shared::filter(
        Dialect::Postgres,
        q,
        snapshot,
        chrono::Utc::now().timestamp_micros(),
        None,
    )?;

    let total = match q.total {
        TotalMode::None => None,
        // The live counts per type ignore the snapshot, which an estimate may.
        TotalMode::Estimate if q.conditions.is_empty() && !q.types.is_empty() => {
            let stmt = tx
                .prepare_cached(
                    "SELECT coalesce(sum(live), 0)::bigint FROM type_counts \
                     WHERE rtype = ANY($1::text[])",
                )
                .await?;
            let n: i64 = tx.query_one(&stmt, &[&q.types]).await?.try_get(0)?;
            Some(to_u64(n))
        }
        // Otherwise a count walks the same indexes as the page, so it is exact.
        TotalMode::Estimate | TotalMode::Accurate => {
            let count = shared::count(q, snapshot, &filter)?;
            let rows = tx.query_typed(&count.text, &typed(&count.args)).await?;
            let n: i64 = match rows.first() {
                Some(row) => row.try_get(0)?,
                None => 0,
            };
            Some(to_u64(n))
        }
    };

    let mut hits = Vec::new();
    if q.count > 0 {
        let page = shared::page(&filter, q)?;
        for row in tx.query_typed(&page.text, &typed(&page.args)).await? {
            hits.push(hit(&row, 0)?);
        }
    }
    let included = include::run(&tx, q, &hits).await?;
    let mut budget = PageBudget::default();
    let page = SearchPage {
        matches: bodies(&tx, hits, &mut budget).await?,
        included: bodies(&tx, included, &mut budget).await?,
        total,
        snapshot,
    };
    tx.commit().await?;
    Ok(page)
}

/// Reads the JSON of each hit, in one statement, within the page's byte budget (rows are
/// taken as they arrive, so a page over it is refused before it is all held).
async fn bodies(
    tx: &Transaction<'_>,
    hits: Vec<Hit>,
    budget: &mut PageBudget,
) -> Result<Vec<StoredResource>, Error> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = hits.iter().map(|h| h.seq).collect();
    let stmt = tx
        .prepare_cached("SELECT seq, json FROM history_json WHERE seq = ANY($1::bigint[])")
        .await?;
    let mut json: HashMap<i64, Vec<u8>> = HashMap::with_capacity(hits.len());
    let params: [&(dyn ToSql + Sync); 1] = [&seqs];
    let rows = tx.query_raw(&stmt, params.iter().copied()).await?;
    pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        let body: Vec<u8> = row.try_get(1)?;
        budget.take(body.len())?;
        json.insert(row.try_get(0)?, body);
    }
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let body = json.remove(&h.seq).ok_or_else(|| {
            StoreError::Backend(format!("{}/{}: version body missing", h.rtype, h.id))
        })?;
        out.push(StoredResource {
            rtype: h.rtype,
            id: h.id,
            version: to_u64(h.version),
            last_updated: format_instant(h.last_updated),
            deleted: false,
            json: body.into(),
        });
    }
    Ok(out)
}
