//! The search SQL of both backends: a [`SearchQuery`] becomes one parameterised filter over
//! `current a`, from which the count and the page statements are made.
//!
//! Every condition is a predicate on a `current` alias. Positive conditions are
//! `a.rk IN (SELECT x.rk FROM idx_… x WHERE x.pid IN (…) AND …)`, which the database evaluates
//! once through the table's query index and then uses to drive lookups of `current` by key;
//! negative ones (`:not`, `:missing=true`) are correlated `NOT EXISTS` probes of the
//! `(rk, pid)` primary key, so resources without any value match them too.

mod cond;
mod value;

use zdrav_search::{Direction, SearchQuery, SortKey};

use super::layout::Kind;
use super::{unsupported, Dialect, Sql};
use crate::StoreError;

/// One current resource found by the search or an include.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) rk: i64,
    pub(crate) rtype: String,
    pub(crate) id: String,
    pub(crate) version: i64,
    pub(crate) last_updated: i64,
    pub(crate) seq: i64,
    /// The patient-compartment owner.
    pub(crate) pat: Option<String>,
}

/// The columns a [`Hit`] is read from, in field order, over the alias `a`.
pub(crate) const HIT_COLUMNS: &str = "a.rk, a.rtype, a.id, a.version, a.last_updated, a.seq, a.pat";

/// The WHERE clause over `current a`: live, created within the snapshot, of the types, and
/// meeting every condition.
///
/// With a `driver` (an index into `q.conditions`, see [`drivers`]), that condition's keys drive
/// the search and the other positive parameter conditions become probes of each candidate's
/// own index rows, instead of every condition being evaluated in full and intersected.
pub(crate) fn filter(
    dialect: Dialect,
    q: &SearchQuery,
    snapshot: i64,
    now: i64,
    driver: Option<usize>,
) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(dialect, now);
    sql.push("a.deleted = 0 AND a.rk <= ");
    sql.arg(snapshot);
    if !q.types.is_empty() {
        sql.push(" AND a.rtype IN (");
        sql.list(&q.types);
        sql.push(")");
    }
    sql.patients = q.patients.clone();
    sql.patient_limit("a");
    for (i, c) in q.conditions.iter().enumerate() {
        sql.push(" AND ");
        if driver.is_some_and(|d| d != i) && is_param_probe(c) {
            cond::probe(&mut sql, c, "a", &q.types)?;
        } else {
            cond::condition(&mut sql, c, "a", &q.types)?;
        }
    }
    Ok(sql)
}

fn is_param_probe(c: &zdrav_search::Condition) -> bool {
    matches!(c, zdrav_search::Condition::Param { .. }) && cond::index_only(c)
}

/// The conditions that could drive a search: positive probes of one parameter. A choice
/// between them is worth making only when there are two or more.
pub(crate) fn drivers(q: &SearchQuery) -> Vec<usize> {
    q.conditions
        .iter()
        .enumerate()
        .filter(|(_, c)| is_param_probe(c))
        .map(|(i, _)| i)
        .collect()
}

/// The statement counting the index rows of condition `i`, up to `cap`: a cheap estimate of
/// how many resources it lets through.
pub(crate) fn estimate(
    dialect: Dialect,
    q: &SearchQuery,
    i: usize,
    cap: i64,
    now: i64,
) -> Result<Sql, StoreError> {
    let mut sql = Sql::new(dialect, now);
    sql.push("SELECT count(*) FROM (");
    let c = q
        .conditions
        .get(i)
        .ok_or_else(|| StoreError::Backend(format!("no condition {i}")))?;
    cond::matching_keys(&mut sql, c, &q.types)?;
    sql.push(" LIMIT ");
    sql.arg(cap);
    sql.push(") e");
    Ok(sql)
}

/// The statement counting the matches of `q`, whose filter is `filter`.
///
/// When every condition is a positive index probe the count reads the index tables alone: the
/// keys all conditions find, bounded by the snapshot (a resource's key is
/// its first write's sequence, so "created within the snapshot" is a bound on the key). That
/// skips a lookup of `current` per match, which is most of the cost of a large count.
pub(crate) fn count(q: &SearchQuery, snapshot: i64, filter: &Sql) -> Result<Sql, StoreError> {
    let index_only = q.patients.is_none() && q.conditions.iter().all(cond::index_only);
    let Some((first, rest)) = q.conditions.split_first().filter(|_| index_only) else {
        let mut sql = filter.clone();
        sql.text = format!("SELECT count(*) FROM current a WHERE {}", filter.text);
        return Ok(sql);
    };
    // The distinct keys of the first condition, probed against the key lists of the others
    // (faster in SQLite than an INTERSECT of them all).
    let mut sql = Sql::new(filter.dialect, filter.now);
    sql.push("SELECT count(*) FROM (SELECT DISTINCT k.rk FROM (");
    let x = cond::matching_keys(&mut sql, first, &q.types)?;
    sql.push(&format!(" AND {x}.rk <= "));
    sql.arg(snapshot);
    sql.push(") k) n WHERE TRUE");
    for c in rest {
        sql.push(" AND n.rk IN (");
        cond::matching_keys(&mut sql, c, &q.types)?;
        sql.push(")");
    }
    Ok(sql)
}

/// The statement reading the page of `q` (as [`HIT_COLUMNS`]) from the matches of `filter`.
pub(crate) fn page(filter: &Sql, q: &SearchQuery) -> Result<Sql, StoreError> {
    let mut sql = filter.clone();
    sql.text = format!(
        "SELECT {HIT_COLUMNS} FROM current a WHERE {} ORDER BY ",
        filter.text
    );
    order_by(&mut sql, &q.sort)?;
    sql.push(" LIMIT ");
    sql.arg(i64::try_from(q.count).unwrap_or(i64::MAX));
    sql.push(" OFFSET ");
    sql.arg(i64::try_from(q.offset).unwrap_or(i64::MAX));
    Ok(sql)
}

/// Appends the ORDER BY list: each key by the resource's least value of the parameter
/// ascending or its greatest descending (resources without one last), then creation order.
pub(crate) fn order_by(sql: &mut Sql, keys: &[SortKey]) -> Result<(), StoreError> {
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
                cond::pid_filter(sql, &s, std::slice::from_ref(&key.param), &[]);
                sql.push(")");
            }
        }
        sql.push(&format!(" {dir} NULLS LAST, "));
    }
    sql.push("a.rk");
    Ok(())
}
