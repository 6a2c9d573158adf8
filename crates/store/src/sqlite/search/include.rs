//! `_include` and `_revinclude`, with `:iterate`.

use rusqlite::{Connection, OptionalExtension};
use zdrav_search::{Include, SearchQuery};

use super::hit;
use crate::sql::include::{applies, follows, round_includes, Collector, MAX_INCLUDED, MAX_ROUNDS};
use crate::sql::search::{Hit, HIT_COLUMNS};
use crate::sqlite::Error;

/// The resources included by the page `matches`, each once and none of them a match, in the
/// order found. The first pass applies every include to the page; each later round applies the
/// iterating ones to what the previous round added.
pub(super) fn run(conn: &Connection, q: &SearchQuery, matches: &[Hit]) -> Result<Vec<Hit>, Error> {
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
        let start = found.out.len();
        for source in &frontier {
            if !forward.is_empty() {
                for target in targets(conn, source, &forward)? {
                    found.add(target);
                }
            }
            for inc in &reverse {
                for referrer in referrers(conn, source, inc)? {
                    found.add(referrer);
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

/// The live resources that `source`'s reference rows point at, for any of `includes`.
fn targets(conn: &Connection, source: &Hit, includes: &[&Include]) -> Result<Vec<Hit>, Error> {
    if !includes
        .iter()
        .any(|inc| applies(&inc.source_type, &source.rtype))
    {
        return Ok(Vec::new());
    }
    let mut refs = conn.prepare_cached(
        "SELECT p.param, x.target_type, x.target_id FROM idx_reference x \
         JOIN search_param p ON p.pid = x.pid \
         WHERE x.rk = ?1 AND x.target_type IS NOT NULL AND x.target_id IS NOT NULL ORDER BY x.ord",
    )?;
    let rows = refs.query_map([source.rk], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut keys = Vec::new();
    for row in rows {
        let (param, ttype, tid) = row?;
        if follows(includes, &source.rtype, &param, &ttype) {
            keys.push((ttype, tid));
        }
    }
    let mut lookup = conn.prepare_cached(&format!(
        "SELECT {HIT_COLUMNS} FROM current a WHERE a.rtype = ?1 AND a.id = ?2 AND a.deleted = 0"
    ))?;
    let mut out = Vec::with_capacity(keys.len());
    for (ttype, tid) in keys {
        if let Some(h) = lookup.query_row([ttype, tid], hit).optional()? {
            out.push(h);
        }
    }
    Ok(out)
}

/// The resources whose reference rows (of `inc.param`, from `inc.source_type`) point at
/// `target`.
fn referrers(conn: &Connection, target: &Hit, inc: &Include) -> Result<Vec<Hit>, Error> {
    if inc.target_type.as_ref().is_some_and(|t| *t != target.rtype) {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT DISTINCT {HIT_COLUMNS} FROM idx_reference x JOIN current a ON a.rk = x.rk \
         WHERE x.target_id = ?1 AND x.target_type = ?2"
    );
    let mut args = vec![target.id.clone(), target.rtype.clone()];
    // Restrict by parameter and source type through their interned ids.
    let mut pids = Vec::new();
    if inc.param != "*" {
        pids.push(format!("param = ?{}", args.len() + 1));
        args.push(inc.param.clone());
    }
    if inc.source_type != "*" {
        pids.push(format!("rtype = ?{}", args.len() + 1));
        args.push(inc.source_type.clone());
    }
    if !pids.is_empty() {
        sql.push_str(&format!(
            " AND x.pid IN (SELECT pid FROM search_param WHERE {})",
            pids.join(" AND ")
        ));
    }
    sql.push_str(&format!(" ORDER BY a.rk LIMIT {MAX_INCLUDED}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), hit)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}
