//! `search` on SQLite: the shared SQL of [`crate::sql::search`] run on a reader connection; the
//! page, the total and the includes are read in one read transaction so that they agree.

mod include;
#[cfg(test)]
mod plans;

use rusqlite::{params_from_iter, Connection, OptionalExtension};
use zdrav_search::{SearchQuery, TotalMode};

use super::Error;
use crate::sql::search::{self as shared, Hit};
use crate::sql::Dialect;
use crate::time::format_instant;
use crate::{PageBudget, SearchPage, StoredResource};

fn hit(row: &rusqlite::Row<'_>) -> rusqlite::Result<Hit> {
    Ok(Hit {
        rk: row.get(0)?,
        rtype: row.get(1)?,
        id: row.get(2)?,
        version: row.get(3)?,
        last_updated: row.get(4)?,
        seq: row.get(5)?,
        pat: row.get(6)?,
    })
}

/// Index rows a first estimate reads at most per condition.
const ESTIMATE_CAP: i64 = 1_000;

/// Index rows a second estimate reads, for the conditions the first could not tell apart.
const SECOND_CAP: i64 = 5_000;

/// The condition that drives a search of several positive conditions: the one with the fewest
/// index rows, counted up to [`ESTIMATE_CAP`], then up to [`SECOND_CAP`] among those that
/// reached the first cap; remaining ties go to the earliest. SQLite would otherwise evaluate
/// every condition in full and intersect them, so a selective condition next to unselective
/// ones (a specialty next to `status=free`) paid for all of them.
fn driver(conn: &Connection, q: &SearchQuery, now: i64) -> Result<Option<usize>, Error> {
    let candidates = shared::drivers(q);
    if candidates.len() < 2 {
        return Ok(None);
    }
    let count = |i: usize, cap: i64| -> Result<i64, Error> {
        let sql = shared::estimate(Dialect::Sqlite, q, i, cap, now)?;
        Ok(conn
            .prepare_cached(&sql.text)?
            .query_row(params_from_iter(sql.args.iter()), |row| row.get(0))?)
    };
    let mut best: Option<(i64, usize)> = None;
    let mut capped = Vec::new();
    for i in candidates {
        let n = count(i, ESTIMATE_CAP)?;
        if n == 0 {
            return Ok(Some(i));
        }
        if n >= ESTIMATE_CAP {
            capped.push(i);
        }
        if best.is_none_or(|(m, _)| n < m) {
            best = Some((n, i));
        }
    }
    if best.is_some_and(|(n, _)| n >= ESTIMATE_CAP) && capped.len() >= 2 {
        best = None;
        for &i in capped.iter().take(4) {
            let n = count(i, SECOND_CAP)?;
            if best.is_none_or(|(m, _)| n < m) {
                best = Some((n, i));
            }
        }
    }
    Ok(best.map(|(_, i)| i))
}

pub(in crate::sqlite) fn search(conn: &Connection, q: &SearchQuery) -> Result<SearchPage, Error> {
    let tx = conn.unchecked_transaction()?;
    let snapshot: i64 = match q.snapshot {
        Some(s) => s,
        None => tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM history")?
            .query_row([], |row| row.get(0))?,
    };
    let now = chrono::Utc::now().timestamp_micros();
    let driver = driver(&tx, q, now)?;
    let filter = shared::filter(Dialect::Sqlite, q, snapshot, now, driver)?;

    let total = match q.total {
        TotalMode::None => None,
        // The live counts per type ignore the snapshot, which an estimate may.
        TotalMode::Estimate if q.conditions.is_empty() && !q.types.is_empty() => {
            let mut n = 0i64;
            let mut stmt = tx.prepare_cached("SELECT live FROM type_counts WHERE rtype = ?1")?;
            for t in &q.types {
                n += stmt
                    .query_row([t], |row| row.get::<_, i64>(0))
                    .optional()?
                    .unwrap_or(0);
            }
            Some(u64::try_from(n).unwrap_or(0))
        }
        // Otherwise a count walks the same indexes as the page, so it is exact.
        TotalMode::Estimate | TotalMode::Accurate => {
            let count = shared::count(q, snapshot, &filter)?;
            let n: i64 = tx
                .prepare_cached(&count.text)?
                .query_row(params_from_iter(count.args.iter()), |row| row.get(0))?;
            Some(u64::try_from(n).unwrap_or(0))
        }
    };

    let mut hits = Vec::new();
    if q.count > 0 {
        let page = shared::page(&filter, q)?;
        let mut stmt = tx.prepare_cached(&page.text)?;
        let rows = stmt.query_map(params_from_iter(page.args.iter()), hit)?;
        for row in rows {
            hits.push(row?);
        }
    }
    let included = include::run(&tx, q, &hits)?;
    let mut budget = PageBudget::default();
    let page = SearchPage {
        matches: bodies(&tx, hits, &mut budget)?,
        included: bodies(&tx, included, &mut budget)?,
        total,
        snapshot,
    };
    drop(tx);
    Ok(page)
}

/// Reads the JSON of each hit, within the page's byte budget.
fn bodies(
    conn: &Connection,
    hits: Vec<Hit>,
    budget: &mut PageBudget,
) -> Result<Vec<StoredResource>, Error> {
    let mut stmt = conn.prepare_cached("SELECT json FROM history_json WHERE seq = ?1")?;
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let json: Vec<u8> = stmt.query_row([h.seq], |row| row.get(0))?;
        budget.take(json.len())?;
        out.push(StoredResource {
            rtype: h.rtype,
            id: h.id,
            version: u64::try_from(h.version).unwrap_or(0),
            last_updated: format_instant(h.last_updated),
            deleted: false,
            json: json.into(),
        });
    }
    Ok(out)
}
