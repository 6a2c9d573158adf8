//! Reads on a pooled reader connection.

use std::fmt::Write as _;
use std::sync::OnceLock;

use bytes::Bytes;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::Error;
use crate::time::format_instant;
use crate::{
    HistoryPage, HistoryQuery, HistoryScope, PageBudget, ScanPage, ScanQuery, StoredResource,
};

pub(super) fn read(
    conn: &Connection,
    rtype: String,
    id: String,
) -> Result<Option<StoredResource>, Error> {
    let found = conn
        .prepare_cached(
            "SELECT c.version, c.last_updated, c.deleted, j.json FROM current c \
             JOIN history_json j ON j.seq = c.seq WHERE c.rtype = ?1 AND c.id = ?2",
        )?
        .query_row(params![rtype, id], |row| version_columns(row, 0))
        .optional()?;
    Ok(
        found.map(|(version, last_updated, deleted, json)| StoredResource {
            rtype,
            id,
            version,
            last_updated,
            deleted,
            json,
        }),
    )
}

/// The size of the current version's JSON, without reading it; `None` if there is none.
pub(super) fn json_len(conn: &Connection, rtype: &str, id: &str) -> Result<Option<i64>, Error> {
    Ok(conn
        .prepare_cached(
            "SELECT length(j.json) FROM current c \
             JOIN history_json j ON j.seq = c.seq WHERE c.rtype = ?1 AND c.id = ?2",
        )?
        .query_row(params![rtype, id], |row| row.get(0))
        .optional()?)
}

pub(super) fn vread(
    conn: &Connection,
    rtype: String,
    id: String,
    version: u64,
) -> Result<Option<StoredResource>, Error> {
    let Ok(v) = i64::try_from(version) else {
        return Ok(None);
    };
    let found = conn
        .prepare_cached(
            "SELECT h.version, h.last_updated, h.deleted, j.json FROM history h \
             JOIN history_json j ON j.seq = h.seq \
             WHERE h.rtype = ?1 AND h.id = ?2 AND h.version = ?3",
        )?
        .query_row(params![rtype, id, v], |row| version_columns(row, 0))
        .optional()?;
    Ok(
        found.map(|(version, last_updated, deleted, json)| StoredResource {
            rtype,
            id,
            version,
            last_updated,
            deleted,
            json,
        }),
    )
}

/// Reads `version, last_updated, deleted, json` starting at column `at`.
pub(super) fn version_columns(
    row: &Row<'_>,
    at: usize,
) -> rusqlite::Result<(u64, String, bool, Bytes)> {
    let version: i64 = row.get(at)?;
    let last_updated: i64 = row.get(at + 1)?;
    let deleted: i64 = row.get(at + 2)?;
    let json: Option<Vec<u8>> = row.get(at + 3)?;
    Ok((
        u64::try_from(version).unwrap_or(0),
        format_instant(last_updated),
        deleted != 0,
        Bytes::from(json.unwrap_or_default()),
    ))
}

/// Statement sizes for `exists_many`; a chunk is padded up to the next size so that a handful of
/// cached statements serve every call.
const EXISTS_SIZES: [usize; 3] = [1, 16, 128];

fn exists_sql(size_index: usize) -> &'static str {
    static SQL: OnceLock<[String; 3]> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        EXISTS_SIZES.map(|n| {
            let mut sql = String::from("SELECT v.column1 FROM (VALUES ");
            for i in 0..n {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(sql, "{sep}({i},?,?)");
            }
            sql.push_str(
                ") AS v JOIN current c ON c.rtype = v.column2 AND c.id = v.column3 \
                 WHERE c.deleted = 0",
            );
            sql
        })
    });
    &all[size_index.min(all.len() - 1)]
}

pub(super) fn exists_many(
    conn: &Connection,
    keys: &[(String, String)],
) -> Result<Vec<bool>, Error> {
    let max = EXISTS_SIZES[EXISTS_SIZES.len() - 1];
    let mut out = vec![false; keys.len()];
    for (chunk_no, chunk) in keys.chunks(max).enumerate() {
        let size_index = EXISTS_SIZES
            .iter()
            .position(|&n| n >= chunk.len())
            .unwrap_or(EXISTS_SIZES.len() - 1);
        let size = EXISTS_SIZES[size_index];
        let last = chunk.len() - 1;
        let args = (0..size).flat_map(|i| {
            let (rtype, id) = &chunk[i.min(last)];
            [rtype, id]
        });
        let mut stmt = conn.prepare_cached(exists_sql(size_index))?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            let i: i64 = row.get(0)?;
            // Padding repeats the last key; its extra hits fall outside the chunk.
            if let Some(slot) = usize::try_from(i)
                .ok()
                .filter(|&i| i <= last)
                .and_then(|i| out.get_mut(chunk_no * max + i))
            {
                *slot = true;
            }
        }
    }
    Ok(out)
}

pub(super) fn scan(conn: &Connection, q: &ScanQuery) -> Result<ScanPage, Error> {
    let limit = i64::try_from(q.limit.max(1)).unwrap_or(i64::MAX);
    // `current_type` (rtype, rk) WHERE deleted = 0 is the keyset walk; the time filter is
    // checked on the rows it yields.
    let mut stmt = conn.prepare_cached(
        "SELECT c.rk, c.id, c.version, c.last_updated, c.deleted, j.json FROM current c \
         JOIN history_json j ON j.seq = c.seq \
         WHERE c.rtype = ?1 AND c.deleted = 0 AND c.rk > ?2 AND c.last_updated >= ?3 \
         ORDER BY c.rk LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![
        q.rtype,
        q.after,
        q.since_micros.unwrap_or(i64::MIN),
        limit
    ])?;
    let mut resources = Vec::new();
    let mut last = q.after;
    let mut budget = PageBudget::default();
    // A page that reaches the byte limit ends early; the cursor then resumes after it.
    while let Some(row) = rows.next()? {
        last = row.get(0)?;
        let (version, last_updated, deleted, json) = version_columns(row, 2)?;
        resources.push(StoredResource {
            rtype: q.rtype.clone(),
            id: row.get(1)?,
            version,
            last_updated,
            deleted,
            json,
        });
        let _ = budget.take(resources.last().map_or(0, |r| r.json.len()));
        if budget.full() {
            break;
        }
    }
    let next = (resources.len() as i64 == limit || budget.full()).then_some(last);
    Ok(ScanPage { resources, next })
}

pub(super) fn counts(conn: &Connection) -> Result<Vec<(String, u64)>, Error> {
    let mut stmt =
        conn.prepare_cached("SELECT rtype, live FROM type_counts WHERE live > 0 ORDER BY rtype")?;
    let rows = stmt.query_map([], |row| {
        let live: i64 = row.get(1)?;
        Ok((row.get(0)?, u64::try_from(live).unwrap_or(0)))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn history(conn: &Connection, q: &HistoryQuery) -> Result<HistoryPage, Error> {
    // One read transaction: the snapshot, the total and the page all see the same state.
    let tx = conn.unchecked_transaction()?;
    let snapshot = match q.snapshot {
        Some(s) => s,
        None => tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM history")?
            .query_row([], |row| row.get(0))?,
    };

    let at_start = match q.at_micros {
        // A version superseded after the snapshot was still current within it; treating such a
        // supersession as absent keeps `_at` pages stable while others write.
        Some((start, _)) => {
            let snapshot_time: i64 = tx
                .prepare_cached(
                    "SELECT coalesce((SELECT last_updated FROM history WHERE seq <= ?1 \
                     ORDER BY seq DESC LIMIT 1), 0)",
                )?
                .query_row([snapshot], |row| row.get(0))?;
            start.min(snapshot_time)
        }
        None => 0,
    };
    let (filter, mut args) = history_filter(q, snapshot, at_start);

    let total: i64 = tx
        .prepare_cached(&history_count_sql(&filter))?
        .query_row(params_from_iter(args.iter()), |row| row.get(0))?;

    let mut entries = Vec::new();
    let wanted = i64::try_from(q.count).unwrap_or(i64::MAX);
    let skip = i64::try_from(q.offset).unwrap_or(i64::MAX);
    if wanted > 0 && skip < total {
        let sql = history_page_sql(q, &filter);
        args.push(SqlValue::Integer(wanted));
        args.push(SqlValue::Integer(skip));
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |row| {
            let (version, last_updated, deleted, json) = version_columns(row, 2)?;
            Ok(StoredResource {
                rtype: row.get(0)?,
                id: row.get(1)?,
                version,
                last_updated,
                deleted,
                json,
            })
        })?;
        entries.reserve(q.count.min(1000));
        let mut budget = PageBudget::default();
        for row in rows {
            let entry = row?;
            budget.take(entry.json.len())?;
            entries.push(entry);
        }
    }
    drop(tx);
    Ok(HistoryPage {
        entries,
        total: u64::try_from(total).unwrap_or(0),
        snapshot,
    })
}

/// The WHERE clause over `history h` and its arguments; `at_start` is the effective `_at` start.
fn history_filter(q: &HistoryQuery, snapshot: i64, at_start: i64) -> (String, Vec<SqlValue>) {
    let mut filter = String::new();
    let mut args: Vec<SqlValue> = vec![SqlValue::Integer(snapshot)];
    match &q.scope {
        HistoryScope::System if by_time(q) => filter.push_str("+h.seq <= ?"),
        HistoryScope::System => filter.push_str("h.seq <= ?"),
        HistoryScope::Type(rtype) => {
            filter.push_str("h.seq <= ? AND h.rtype = ?");
            args.push(SqlValue::Text(rtype.clone()));
        }
        HistoryScope::Instance(rtype, id) => {
            // The unary plus keeps the planner off the (rtype, seq) index: without statistics it
            // would rather range-scan a whole type than look up one resource's versions.
            filter.push_str("+h.seq <= ? AND h.rtype = ? AND h.id = ?");
            args.push(SqlValue::Text(rtype.clone()));
            args.push(SqlValue::Text(id.clone()));
        }
    }
    if let Some(since) = q.since_micros {
        filter.push_str(" AND h.last_updated >= ?");
        args.push(SqlValue::Integer(since));
    }
    if let Some((_, end)) = q.at_micros {
        filter.push_str(
            " AND h.last_updated < ? AND (h.superseded_at IS NULL OR h.superseded_at > ?)",
        );
        args.push(SqlValue::Integer(end));
        args.push(SqlValue::Integer(at_start));
    }
    (filter, args)
}

fn history_count_sql(filter: &str) -> String {
    format!("SELECT count(*) FROM history h WHERE {filter}")
}

/// Whether a system history query should walk the `last_updated` index rather than the rowid.
fn by_time(q: &HistoryQuery) -> bool {
    q.since_micros.is_some() || q.at_micros.is_some()
}

/// The page query; takes the filter's arguments followed by LIMIT and OFFSET.
fn history_page_sql(q: &HistoryQuery, filter: &str) -> String {
    // Each order below equals `seq DESC` (commits get strictly increasing instants, and within a
    // resource versions follow seq) but is the one the chosen index yields without a sort.
    let order = match q.scope {
        HistoryScope::Instance(..) => "h.version DESC",
        HistoryScope::System if by_time(q) => "h.last_updated DESC, h.seq DESC",
        _ => "h.seq DESC",
    };
    format!(
        "SELECT h.rtype, h.id, h.version, h.last_updated, h.deleted, j.json \
         FROM history h JOIN history_json j ON j.seq = h.seq \
         WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str, nargs: usize) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args = vec![SqlValue::Integer(1); nargs];
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |row| row.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// Every history query must walk an index or the rowid, never scan or sort a whole table.
    #[test]
    fn history_queries_use_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::schema::V1).unwrap();
        conn.execute_batch(super::super::schema::V2).unwrap();
        let scopes = [
            HistoryScope::System,
            HistoryScope::Type("Patient".into()),
            HistoryScope::Instance("Patient".into(), "p".into()),
        ];
        for scope in scopes {
            for since in [None, Some(5)] {
                for at in [None, Some((5, 6))] {
                    let q = HistoryQuery {
                        scope: scope.clone(),
                        since_micros: since,
                        at_micros: at,
                        snapshot: None,
                        offset: 0,
                        count: 10,
                    };
                    let (filter, args) = history_filter(&q, 100, 5);
                    let count = plan(&conn, &history_count_sql(&filter), args.len());
                    let page = plan(&conn, &history_page_sql(&q, &filter), args.len() + 2);
                    for p in [&count, &page] {
                        assert!(!p.contains("SCAN h"), "{q:?}: {p}");
                        assert!(!p.contains("TEMP B-TREE"), "{q:?}: {p}");
                        if matches!(q.scope, HistoryScope::Instance(..)) {
                            assert!(p.contains("history_key"), "{q:?}: {p}");
                        }
                    }
                }
            }
        }
        let exists = plan(&conn, exists_sql(1), 32);
        assert!(
            exists.contains("SEARCH c USING INDEX current_key"),
            "{exists}"
        );
    }
}
