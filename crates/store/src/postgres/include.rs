//! `_include` and `_revinclude` (with `:iterate`) on PostgreSQL. Each round fetches the
//! reference rows of the whole frontier at once (a round trip per statement costs more here
//! than on SQLite), then assembles the results source by source in the order the SQLite
//! backend finds them, through the shared rules of [`crate::sql::include`].

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use zdrav_search::{Include, SearchQuery};

use super::search::hit;
use super::Error;
use crate::sql::include::{follows, round_includes, Collector, MAX_INCLUDED, MAX_ROUNDS};
use crate::sql::search::{Hit, HIT_COLUMNS};

/// The reference rows of the sources, in row order per source.
const REFERENCES: &str = "SELECT x.rk, p.param, x.target_type, x.target_id \
     FROM idx_reference x JOIN search_param p ON p.pid = x.pid \
     WHERE x.rk = ANY($1::bigint[]) AND x.target_type IS NOT NULL \
     AND x.target_id IS NOT NULL ORDER BY x.rk, x.ord";

/// The resources included by the page `matches`, each once and none of them a match, in the
/// order found.
pub(super) async fn run(
    tx: &Transaction<'_>,
    q: &SearchQuery,
    matches: &[Hit],
) -> Result<Vec<Hit>, Error> {
    if q.include.is_empty() && q.revinclude.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Collector::new(matches, q);
    let mut frontier: Vec<Hit> = matches.to_vec();
    for round in 0..=MAX_ROUNDS {
        let (forward, reverse) = round_includes(q, round);
        if frontier.is_empty() || (forward.is_empty() && reverse.is_empty()) {
            break;
        }
        let targets = if forward.is_empty() {
            HashMap::new()
        } else {
            targets(tx, &frontier, &forward).await?
        };
        let mut referrers = Vec::with_capacity(reverse.len());
        for inc in &reverse {
            referrers.push(referrers_of(tx, &frontier, inc).await?);
        }
        let start = found.out.len();
        for source in &frontier {
            for target in targets.get(&source.rk).into_iter().flatten() {
                found.add(target.clone());
            }
            for by_target in &referrers {
                let key = (source.rtype.clone(), source.id.clone());
                for referrer in by_target.get(&key).into_iter().flatten() {
                    found.add(referrer.clone());
                }
            }
            if found.full() {
                return Ok(found.out);
            }
        }
        frontier = found.out[start..].to_vec();
    }
    Ok(found.out)
}

/// Per source `rk`, the live resources its reference rows point at for any of `includes`, in
/// reference row order.
async fn targets(
    tx: &Transaction<'_>,
    sources: &[Hit],
    includes: &[&Include],
) -> Result<HashMap<i64, Vec<Hit>>, Error> {
    let types: HashMap<i64, &str> = sources.iter().map(|s| (s.rk, s.rtype.as_str())).collect();
    let rks: Vec<i64> = sources.iter().map(|s| s.rk).collect();
    let stmt = tx.prepare_cached(REFERENCES).await?;
    let mut wanted: Vec<(i64, String, String)> = Vec::new();
    for row in tx.query(&stmt, &[&rks]).await? {
        let rk: i64 = row.try_get(0)?;
        let param: &str = row.try_get(1)?;
        let ttype: String = row.try_get(2)?;
        let tid: String = row.try_get(3)?;
        let source_type = types.get(&rk).copied().unwrap_or_default();
        if follows(includes, source_type, param, &ttype) {
            wanted.push((rk, ttype, tid));
        }
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let (ttypes, tids): (Vec<&str>, Vec<&str>) = wanted
        .iter()
        .map(|(_, t, i)| (t.as_str(), i.as_str()))
        .unzip();
    let lookup = tx
        .prepare_cached(&format!(
            "SELECT {HIT_COLUMNS} FROM current a \
             JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS k(rtype, id) \
             ON a.rtype = k.rtype AND a.id = k.id WHERE a.deleted = 0"
        ))
        .await?;
    let mut live: HashMap<(String, String), Hit> = HashMap::new();
    for row in tx.query(&lookup, &[&ttypes, &tids]).await? {
        let h = hit(&row, 0)?;
        live.insert((h.rtype.clone(), h.id.clone()), h);
    }
    let mut out: HashMap<i64, Vec<Hit>> = HashMap::new();
    for (rk, ttype, tid) in wanted {
        if let Some(h) = live.get(&(ttype, tid)) {
            out.entry(rk).or_default().push(h.clone());
        }
    }
    Ok(out)
}

/// Per target `(type, id)`, the resources whose reference rows (of `inc.param`, from
/// `inc.source_type`) point at it, in creation order, at most [`MAX_INCLUDED`] each.
async fn referrers_of(
    tx: &Transaction<'_>,
    targets: &[Hit],
    inc: &Include,
) -> Result<HashMap<(String, String), Vec<Hit>>, Error> {
    let targets: Vec<&Hit> = targets
        .iter()
        .filter(|t| inc.target_type.as_ref().is_none_or(|tt| *tt == t.rtype))
        .collect();
    if targets.is_empty() {
        return Ok(HashMap::new());
    }
    let (ttypes, tids): (Vec<&str>, Vec<&str>) = targets
        .iter()
        .map(|t| (t.rtype.as_str(), t.id.as_str()))
        .unzip();
    // Restrict by parameter and source type through their interned ids.
    let mut restrict: Vec<String> = Vec::new();
    let mut extra: Vec<&str> = Vec::new();
    for (column, value) in [("param", &inc.param), ("rtype", &inc.source_type)] {
        if value != "*" {
            extra.push(value);
            restrict.push(format!("{column} = ${}", 2 + extra.len()));
        }
    }
    let pid_filter = if restrict.is_empty() {
        String::new()
    } else {
        format!(
            " WHERE x.pid IN (SELECT pid FROM search_param WHERE {})",
            restrict.join(" AND ")
        )
    };
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT DISTINCT x.target_type, x.target_id, {HIT_COLUMNS} \
             FROM idx_reference x JOIN current a ON a.rk = x.rk \
             JOIN unnest($1::text[], $2::text[]) AS k(rtype, id) \
             ON x.target_id = k.id AND x.target_type = k.rtype{pid_filter} \
             ORDER BY x.target_type, x.target_id, a.rk"
        ))
        .await?;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&ttypes, &tids];
    params.extend(
        extra
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
    );
    let mut out: HashMap<(String, String), Vec<Hit>> = HashMap::new();
    for row in tx.query(&stmt, &params).await? {
        let key: (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let list = out.entry(key).or_default();
        if list.len() < MAX_INCLUDED {
            list.push(hit(&row, 2)?);
        }
    }
    Ok(out)
}
