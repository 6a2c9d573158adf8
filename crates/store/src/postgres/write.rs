//! One commit on PostgreSQL ([`apply`]), inside the READ COMMITTED transaction of its group
//! (`group.rs`), which first advanced the clock row (that serialises commits, as SQLite's single
//! writer does, so every statement after it sees every earlier commit): it reads the current
//! rows of all keys at once, decides each op with the shared rules of [`crate::sql::commit`],
//! then writes every table with one array-bound statement, pipelined on the connection.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::{Object, Transaction};
use futures_util::future::try_join_all;
use parking_lot::Mutex;
use tokio_postgres::types::ToSql;
use zdrav_search::IndexRow;

use super::rows::{insert_sql, IndexBatch};
use super::Error;
use crate::sql::commit::{self, Body, Current, NewVersion, Plan, Written};
use crate::sql::layout::TABLES;
use crate::time::format_instant;
use crate::{OutboxMessage, OutboxOps, StoreError, WriteResult};

/// The last of `$2` next instants: now, but strictly after the previous commit's even if the
/// clock stepped back; a group's commits take the `$2` instants ending there, in order.
pub(super) const CLOCK: &str =
    "UPDATE zdrav_clock SET last = greatest(last + $2, $1) RETURNING last";

pub(super) const MAX_SEQ: &str = "SELECT coalesce(max(seq), 0) FROM history";

/// The current rows of the keys, by 1-based position in the key arrays.
pub(super) const CURRENT: &str = "SELECT k.i, c.version, c.deleted, c.seq, c.rk, c.pat \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(rtype, id, i) \
     JOIN current c ON c.rtype = k.rtype AND c.id = k.id";

const INSERT_HISTORY: &str =
    "INSERT INTO history (seq, rtype, id, version, last_updated, deleted, pat) \
     SELECT s, t, i, v, $7::bigint, d, p FROM unnest($1::bigint[], $2::text[], $3::text[], \
     $4::bigint[], $5::smallint[], $6::text[]) AS u(s, t, i, v, d, p)";

pub(super) const INSERT_JSON: &str =
    "INSERT INTO history_json (seq, json) SELECT * FROM unnest($1::bigint[], $2::bytea[])";

const SUPERSEDE: &str = "UPDATE history SET superseded_at = $1 WHERE seq = ANY($2::bigint[])";

/// A resource keeps the key of its first version for life, across deletes: `rk` is not updated.
const UPSERT_CURRENT: &str =
    "INSERT INTO current (rk, rtype, id, version, deleted, seq, last_updated, pat) \
     SELECT r, t, i, v, d, s, $8::bigint, p FROM unnest($1::bigint[], $2::text[], $3::text[], \
     $4::bigint[], $5::smallint[], $6::bigint[], $7::text[]) AS u(r, t, i, v, d, s, p) \
     ON CONFLICT (rtype, id) DO UPDATE SET version = excluded.version, \
     deleted = excluded.deleted, seq = excluded.seq, last_updated = excluded.last_updated, \
     pat = excluded.pat";

pub(super) const COUNTS: &str = "INSERT INTO type_counts (rtype, live) \
     SELECT * FROM unnest($1::text[], $2::bigint[]) \
     ON CONFLICT (rtype) DO UPDATE SET live = type_counts.live + excluded.live";

const ADD_PIDS: &str = "INSERT INTO search_param (param, rtype) \
     SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING";

const FIND_PIDS: &str = "SELECT s.pid, s.param, s.rtype FROM search_param s \
     JOIN unnest($1::text[], $2::text[]) AS k(param, rtype) \
     ON s.param = k.param AND s.rtype = k.rtype";

/// Resource type → parameter → pid.
pub(super) type Pids = HashMap<String, HashMap<String, i32>>;

pub(super) type Pending<'a> =
    Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// One commit's writes inside the group's transaction `tx`, at instant `now` (the clock row is
/// already advanced, so commits are serialised and every statement sees every earlier
/// commit). Returns the results and the pids the commit used, to be cached once the group's
/// transaction has committed.
pub(super) async fn apply(
    tx: &Transaction<'_>,
    cache: &Mutex<Pids>,
    plan: Plan,
    outbox: &OutboxOps,
    now: i64,
) -> Result<(Vec<WriteResult>, Pids), Error> {
    let now_str = format_instant(now);
    let (max_seq, currents) = read_state(tx, &plan).await?;
    let mut written = Vec::with_capacity(plan.keys.len());
    let mut versions: Vec<(usize, NewVersion)> = Vec::new();
    for (index, (key, body)) in plan.keys.iter().zip(plan.bodies.iter()).enumerate() {
        let cur = currents.get(index).and_then(Option::as_ref);
        let (w, new) = commit::decide(index, key, body, cur, plan.duplicate, &now_str)?;
        written.push(w);
        if let Some(new) = new {
            versions.push((index, new));
        }
    }
    let wanted = versions
        .iter()
        .filter_map(|(index, _)| match &plan.bodies[*index] {
            Body::Put(_, rows) => Some((plan.keys[*index].0.as_str(), rows.as_slice())),
            Body::Delete => None,
        });
    let pids = resolve_pids(tx, cache, wanted).await?;
    write(
        tx,
        &plan,
        &currents,
        &written,
        &versions,
        &pids,
        (max_seq, now),
    )
    .await?;
    write_outbox(tx, outbox, now).await?;
    Ok((commit::results(plan.keys, written, &now_str), pids))
}

/// Adds and removes the commit's outbox messages; a message already gone fails the commit.
/// Commits are serialised by the clock row, so a second handler of one message waits for the
/// first and then finds it gone.
async fn write_outbox(tx: &Transaction<'_>, outbox: &OutboxOps, now: i64) -> Result<(), Error> {
    if !outbox.enqueue.is_empty() {
        let (topics, payloads): (Vec<&str>, Vec<String>) = outbox
            .enqueue
            .iter()
            .map(|(t, p)| (t.as_str(), p.to_string()))
            .unzip();
        let insert = tx
            .prepare_cached(
                "INSERT INTO outbox (topic, payload, created) \
                 SELECT t, p, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(t, p, i) \
                 ORDER BY i",
            )
            .await?;
        tx.execute(&insert, &[&topics, &payloads, &now]).await?;
    }
    if !outbox.ack.is_empty() {
        let delete = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ANY($1::bigint[]) RETURNING seq")
            .await?;
        let mut gone: std::collections::HashSet<i64> = tx
            .query(&delete, &[&outbox.ack])
            .await?
            .iter()
            .filter_map(|r| r.try_get(0).ok())
            .collect();
        // Each acknowledgement removes one message: the same one twice is gone the second time.
        if let Some(&seq) = outbox.ack.iter().find(|s| !gone.remove(s)) {
            return Err(StoreError::OutboxGone { seq }.into());
        }
    }
    Ok(())
}

/// Up to `limit` outbox messages, oldest first.
pub(super) async fn pending(client: &Object, limit: usize) -> Result<Vec<OutboxMessage>, Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT seq, topic, payload, created FROM outbox ORDER BY seq LIMIT $1",
            &[&limit],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let payload: &str = row.try_get(2)?;
        out.push(OutboxMessage {
            seq,
            topic: row.try_get(1)?,
            payload: serde_json::from_str(payload)
                .map_err(|e| StoreError::Backend(format!("outbox message {seq}: {e}")))?,
            created_micros: row.try_get(3)?,
        });
    }
    Ok(out)
}

/// The last `seq` and the current row of each op's key (by op index).
async fn read_state(
    tx: &Transaction<'_>,
    plan: &Plan,
) -> Result<(i64, Vec<Option<Current>>), Error> {
    let (rtypes, ids): (Vec<&str>, Vec<&str>) = plan
        .keys
        .iter()
        .map(|(t, i, _)| (t.as_str(), i.as_str()))
        .unzip();
    let max_seq = tx.prepare_cached(MAX_SEQ).await?;
    let current = tx.prepare_cached(CURRENT).await?;
    let params: [&(dyn ToSql + Sync); 2] = [&rtypes, &ids];
    let (max_row, rows) =
        tokio::try_join!(tx.query_one(&max_seq, &[]), tx.query(&current, &params))?;
    let mut currents: Vec<Option<Current>> = vec![None; plan.keys.len()];
    for row in rows {
        let i: i64 = row.try_get(0)?;
        let deleted: i16 = row.try_get(2)?;
        let cur = Current {
            version: row.try_get(1)?,
            deleted: deleted != 0,
            seq: row.try_get(3)?,
            rk: row.try_get(4)?,
            pat: row.try_get(5)?,
        };
        // The repeat of a duplicate key is refused before its row is looked at.
        let index = usize::try_from(i - 1).ok();
        if let Some(slot) = index
            .filter(|&i| Some(i) != plan.duplicate)
            .and_then(|i| currents.get_mut(i))
        {
            *slot = Some(cur);
        }
    }
    Ok((max_row.try_get(0)?, currents))
}

/// The pid of every parameter the `wanted` index rows (of a resource type each) use,
/// assigning new ones inside the transaction (commits are serialised by the clock, so no other
/// writer races for them).
pub(super) async fn resolve_pids<'a>(
    tx: &Transaction<'_>,
    cache: &Mutex<Pids>,
    wanted: impl Iterator<Item = (&'a str, &'a [IndexRow])>,
) -> Result<Pids, Error> {
    let mut pids = Pids::new();
    let mut missing: Vec<(&str, &str)> = Vec::new();
    {
        let cached = cache.lock();
        for (rtype, rows) in wanted {
            for row in rows {
                let param = row.param.as_str();
                if pid_of(&pids, rtype, param).is_some() || missing.contains(&(rtype, param)) {
                    continue;
                }
                match pid_of(&cached, rtype, param) {
                    Some(pid) => add_pid(&mut pids, rtype, param, pid),
                    None => missing.push((rtype, param)),
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(pids);
    }
    let (rtypes, params): (Vec<&str>, Vec<&str>) = missing.into_iter().unzip();
    let add = tx.prepare_cached(ADD_PIDS).await?;
    let find = tx.prepare_cached(FIND_PIDS).await?;
    tx.execute(&add, &[&params, &rtypes]).await?;
    for row in tx.query(&find, &[&params, &rtypes]).await? {
        let pid: i32 = row.try_get(0)?;
        let param: &str = row.try_get(1)?;
        let rtype: &str = row.try_get(2)?;
        add_pid(&mut pids, rtype, param, pid);
    }
    Ok(pids)
}

pub(super) fn pid_of(pids: &Pids, rtype: &str, param: &str) -> Option<i32> {
    pids.get(rtype).and_then(|m| m.get(param)).copied()
}

fn add_pid(pids: &mut Pids, rtype: &str, param: &str, pid: i32) {
    pids.entry(rtype.to_owned())
        .or_default()
        .insert(param.to_owned(), pid);
}

/// Writes the new versions, their bodies, the current rows, the index rows and the counts.
async fn write(
    tx: &Transaction<'_>,
    plan: &Plan,
    currents: &[Option<Current>],
    written: &[Written],
    versions: &[(usize, NewVersion)],
    pids: &Pids,
    (max_seq, now): (i64, i64),
) -> Result<(), Error> {
    let n = versions.len();
    let mut seqs: Vec<i64> = Vec::with_capacity(n);
    let mut rks: Vec<i64> = Vec::with_capacity(n);
    let mut rtypes: Vec<&str> = Vec::with_capacity(n);
    let mut ids: Vec<&str> = Vec::with_capacity(n);
    let mut numbers: Vec<i64> = Vec::with_capacity(n);
    let mut deleted: Vec<i16> = Vec::with_capacity(n);
    let mut pats: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut bodies: Vec<&[u8]> = Vec::with_capacity(n);
    let mut superseded: Vec<i64> = Vec::new();
    let mut live: HashMap<&str, i64> = HashMap::new();
    let mut index = IndexBatch::new();
    for (k, (op, new)) in versions.iter().enumerate() {
        // Versions take the next sequence numbers in op order, as SQLite's rowids do.
        let seq = max_seq + 1 + i64::try_from(k).unwrap_or(i64::MAX);
        let (rtype, id, _) = &plan.keys[*op];
        let cur = currents.get(*op).and_then(Option::as_ref);
        let rk = cur.map_or(seq, |c| c.rk);
        seqs.push(seq);
        rks.push(rk);
        rtypes.push(rtype);
        ids.push(id);
        numbers.push(written[*op].version);
        deleted.push(i16::from(new.deleted));
        pats.push(new.pat.as_deref());
        bodies.push(&written[*op].json);
        if let Some(c) = cur {
            superseded.push(c.seq);
        }
        *live.entry(rtype.as_str()).or_default() += new.live_delta;
        if let Body::Put(_, rows) = &plan.bodies[*op] {
            index.add(rk, new.pat.as_deref(), rows, |param| {
                pid_of(pids, rtype, param)
            });
        }
    }
    let live: Vec<(&str, i64)> = live.into_iter().filter(|(_, d)| *d != 0).collect();
    let (count_types, count_deltas): (Vec<&str>, Vec<i64>) = live.into_iter().unzip();

    // Index rows of updated resources go first; their new rows follow in the next batch.
    let cleared: Vec<i64> = versions
        .iter()
        .filter_map(|(op, _)| currents.get(*op).and_then(Option::as_ref).map(|c| c.rk))
        .collect();
    clear_index(tx, &cleared).await?;

    let history = tx.prepare_cached(INSERT_HISTORY).await?;
    let json = tx.prepare_cached(INSERT_JSON).await?;
    let supersede = tx.prepare_cached(SUPERSEDE).await?;
    let current = tx.prepare_cached(UPSERT_CURRENT).await?;
    let counts = tx.prepare_cached(COUNTS).await?;
    let index_params = index.params();
    let inserts = index_inserts(tx, &index_params).await?;

    let mut pending: Vec<Pending<'_>> = Vec::with_capacity(8 + inserts.len());
    let p: Vec<&(dyn ToSql + Sync)> = vec![&seqs, &rtypes, &ids, &numbers, &deleted, &pats, &now];
    pending.push(Box::pin(tx.execute_raw(&history, p)));
    pending.push(Box::pin(
        tx.execute_raw(&json, [&seqs as &(dyn ToSql + Sync), &bodies]),
    ));
    if !superseded.is_empty() {
        pending.push(Box::pin(
            tx.execute_raw(&supersede, [&now as &(dyn ToSql + Sync), &superseded]),
        ));
    }
    let p: Vec<&(dyn ToSql + Sync)> =
        vec![&rks, &rtypes, &ids, &numbers, &deleted, &seqs, &pats, &now];
    pending.push(Box::pin(tx.execute_raw(&current, p)));
    for (stmt, (_, params)) in inserts.iter().zip(index_params) {
        pending.push(Box::pin(tx.execute_raw(stmt, params)));
    }
    if !count_types.is_empty() {
        pending.push(Box::pin(tx.execute_raw(
            &counts,
            [&count_types as &(dyn ToSql + Sync), &count_deltas],
        )));
    }
    try_join_all(pending).await?;
    index.copy(tx).await?;
    Ok(())
}

/// Removes every index row of the resources `rks` (before their new rows go in), one
/// statement per index table, pipelined.
pub(super) async fn clear_index(tx: &Transaction<'_>, rks: &[i64]) -> Result<(), Error> {
    if rks.is_empty() {
        return Ok(());
    }
    let mut deletes = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let sql = format!("DELETE FROM {table} WHERE rk = ANY($1::bigint[])");
        deletes.push(tx.prepare_cached(&sql).await?);
    }
    let pending: Vec<Pending<'_>> = deletes
        .iter()
        .map(|s| Box::pin(tx.execute_raw(s, [&rks as &(dyn ToSql + Sync)])) as Pending<'_>)
        .collect();
    try_join_all(pending).await?;
    Ok(())
}

/// The prepared INSERT of each index table that `params` (from [`IndexBatch::params`]) fills.
pub(super) async fn index_inserts(
    tx: &Transaction<'_>,
    params: &[(usize, Vec<&(dyn ToSql + Sync)>)],
) -> Result<Vec<tokio_postgres::Statement>, Error> {
    let mut inserts = Vec::with_capacity(params.len());
    for (table, _) in params {
        inserts.push(tx.prepare_cached(&insert_sql()[*table]).await?);
    }
    Ok(inserts)
}
