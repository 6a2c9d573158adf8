//! `search`: a [`SearchQuery`] becomes one parameterised SQL filter over `current a`; the page,
//! the total and the includes are read in one read transaction so that they agree.
//!
//! Every condition is a predicate on a `current` alias. Positive conditions are
//! `a.rk IN (SELECT x.rk FROM idx_… x WHERE x.pid IN (…) AND …)`, which SQLite evaluates once
//! through the table's query index and then uses to drive lookups of `current` by key; negative
//! ones (`:not`, `:missing=true`) are correlated `NOT EXISTS` probes of the `(rk, pid)` primary
//! key, so resources without any value match them too.

mod cond;
mod include;
#[cfg(test)]
mod plans;
mod value;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use zdrav_search::{Direction, SearchQuery, SortKey, TotalMode};

use super::layout::Kind;
use super::Error;
use crate::time::format_instant;
use crate::{SearchPage, StoreError, StoredResource};

/// SQL text with its positional arguments, built side by side so that they stay in step.
pub(super) struct Sql {
    text: String,
    args: Vec<SqlValue>,
    aliases: usize,
    /// The current instant, for `ap` on dates.
    now: i64,
}

impl Sql {
    fn new(now: i64) -> Sql {
        Sql {
            text: String::with_capacity(256),
            args: Vec::new(),
            aliases: 0,
            now,
        }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a `?` bound to `v`.
    fn arg(&mut self, v: impl Into<SqlValue>) {
        self.text.push('?');
        self.args.push(v.into());
    }

    /// Appends `?, ?, …` bound to `values`.
    fn list(&mut self, values: &[String]) {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(v.clone());
        }
    }

    /// A table alias not used elsewhere in the statement.
    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }
}

/// A query the store cannot run; the caller should have rejected it as a bad request.
fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Store(StoreError::Backend(format!("search: {what}")))
}

/// One current resource found by the search or an include.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    rk: i64,
    rtype: String,
    id: String,
    version: i64,
    last_updated: i64,
    seq: i64,
}

const HIT_COLUMNS: &str = "a.rk, a.rtype, a.id, a.version, a.last_updated, a.seq";

fn hit(row: &rusqlite::Row<'_>) -> rusqlite::Result<Hit> {
    Ok(Hit {
        rk: row.get(0)?,
        rtype: row.get(1)?,
        id: row.get(2)?,
        version: row.get(3)?,
        last_updated: row.get(4)?,
        seq: row.get(5)?,
    })
}

pub(in crate::sqlite) fn search(conn: &Connection, q: &SearchQuery) -> Result<SearchPage, Error> {
    let tx = conn.unchecked_transaction()?;
    let snapshot: i64 = match q.snapshot {
        Some(s) => s,
        None => tx
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM history")?
            .query_row([], |row| row.get(0))?,
    };
    let filter = filter(q, snapshot, chrono::Utc::now().timestamp_micros())?;

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
            let sql = format!("SELECT count(*) FROM current a WHERE {}", filter.text);
            let n: i64 = tx
                .prepare_cached(&sql)?
                .query_row(params_from_iter(filter.args.iter()), |row| row.get(0))?;
            Some(u64::try_from(n).unwrap_or(0))
        }
    };

    let mut hits = Vec::new();
    if q.count > 0 {
        let order = order_by(&q.sort, filter.aliases)?;
        let sql = format!(
            "SELECT {HIT_COLUMNS} FROM current a WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
            filter.text, order.text
        );
        let args = filter.args.iter().chain(order.args.iter()).cloned().chain([
            SqlValue::Integer(i64::try_from(q.count).unwrap_or(i64::MAX)),
            SqlValue::Integer(i64::try_from(q.offset).unwrap_or(i64::MAX)),
        ]);
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), hit)?;
        for row in rows {
            hits.push(row?);
        }
    }
    let included = include::run(&tx, q, &hits)?;
    let page = SearchPage {
        matches: bodies(&tx, hits)?,
        included: bodies(&tx, included)?,
        total,
        snapshot,
    };
    drop(tx);
    Ok(page)
}

/// The WHERE clause over `current a`: live, created within the snapshot, of the types, and
/// meeting every condition.
fn filter(q: &SearchQuery, snapshot: i64, now: i64) -> Result<Sql, Error> {
    let mut sql = Sql::new(now);
    sql.push("a.deleted = 0 AND a.rk <= ");
    sql.arg(snapshot);
    if !q.types.is_empty() {
        sql.push(" AND a.rtype IN (");
        sql.list(&q.types);
        sql.push(")");
    }
    for c in &q.conditions {
        sql.push(" AND ");
        cond::condition(&mut sql, c, "a", &q.types)?;
    }
    Ok(sql)
}

/// The ORDER BY list: each key by the resource's least value of the parameter ascending or its
/// greatest descending (resources without one last), then creation order.
fn order_by(keys: &[SortKey], aliases: usize) -> Result<Sql, Error> {
    let mut sql = Sql::new(0);
    sql.aliases = aliases;
    for key in keys {
        let (agg, dir) = match key.direction {
            Direction::Asc => ("min", "ASC"),
            Direction::Desc => ("max", "DESC"),
        };
        match key.param.as_str() {
            "_id" => sql.push("a.id"),
            "_lastUpdated" => sql.push("a.last_updated"),
            _ => {
                let kind = Kind::of_param(key.ptype)
                    .ok_or_else(|| unsupported(format!("cannot sort by {}", key.param)))?;
                let s = sql.alias("s");
                let column = match (kind, key.direction) {
                    (Kind::String, _) => format!("{s}.norm"),
                    (Kind::Token, _) => format!("{s}.code"),
                    (Kind::Date, Direction::Asc) => format!("{s}.low"),
                    (Kind::Date, Direction::Desc) => format!("{s}.high"),
                    (Kind::Number | Kind::Quantity, _) => format!("{s}.value"),
                    (Kind::Uri, _) => format!("{s}.uri"),
                    (Kind::Reference, _) => {
                        format!("coalesce({s}.target_type || '/' || {s}.target_id, {s}.url)")
                    }
                };
                sql.push(&format!(
                    "(SELECT {agg}({column}) FROM {} {s} WHERE {s}.rk = a.rk AND ",
                    kind.table()
                ));
                cond::pid_filter(&mut sql, &s, std::slice::from_ref(&key.param), &[]);
                sql.push(")");
            }
        }
        sql.push(&format!(" {dir} NULLS LAST, "));
    }
    sql.push("a.rk");
    Ok(sql)
}

/// Reads the JSON of each hit.
fn bodies(conn: &Connection, hits: Vec<Hit>) -> Result<Vec<StoredResource>, Error> {
    let mut stmt = conn.prepare_cached("SELECT json FROM history_json WHERE seq = ?1")?;
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let json: Vec<u8> = stmt.query_row([h.seq], |row| row.get(0))?;
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
