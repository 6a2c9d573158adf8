//! A group of commits (`group.rs`) written as one batch: one read of every key's current row,
//! the decisions made in memory in commit order (each commit sees the versions of the ones
//! before it), and then each table written once for the whole group with array-bound
//! statements. Writing commit by commit took a dozen statements and four round trips per
//! commit, and PostgreSQL's cost per statement, not the rows, bounded registrations at
//! 600-700 documents/s. A commit refused by its own checks (a precondition, a duplicate key, a
//! message already acknowledged) is left out of the batch and answered with its error; any
//! other failure rolls the batch back, and `group.rs` then runs each commit alone.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use zdrav_search::IndexRow;

use super::rows::IndexBatch;
use super::write::{
    clear_index, index_inserts, pid_of, resolve_pids, Pending, Pids, CLOCK, COUNTS, CURRENT,
    INSERT_JSON, MAX_SEQ,
};
use super::{Error, Inner};
use crate::sql::commit::{self, Body, Current, Key, Plan, Written};
use crate::time::format_instant;
use crate::{OutboxOps, StoreError, WriteResult};

/// Versions with their own instant and, for a version superseded within the batch, the
/// instant of the one after it.
const INSERT_HISTORY: &str =
    "INSERT INTO history (seq, rtype, id, version, last_updated, deleted, pat, superseded_at) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
     $6::smallint[], $7::text[], $8::bigint[])";

const SUPERSEDE: &str = "UPDATE history h SET superseded_at = u.t \
     FROM unnest($1::bigint[], $2::bigint[]) AS u(s, t) WHERE h.seq = u.s";

/// A resource keeps the key of its first version for life, across deletes: `rk` is not updated.
const UPSERT_CURRENT: &str =
    "INSERT INTO current (rk, rtype, id, version, deleted, seq, last_updated, pat) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::smallint[], \
     $6::bigint[], $7::bigint[], $8::text[]) \
     ON CONFLICT (rtype, id) DO UPDATE SET version = excluded.version, \
     deleted = excluded.deleted, seq = excluded.seq, last_updated = excluded.last_updated, \
     pat = excluded.pat";

const ENQUEUE: &str = "INSERT INTO outbox (topic, payload, created) \
     SELECT t, p, c FROM unnest($1::text[], $2::text[], $3::bigint[]) \
     WITH ORDINALITY AS u(t, p, c, i) ORDER BY i";

const PENDING: &str = "SELECT seq FROM outbox WHERE seq = ANY($1::bigint[])";

const ACK: &str = "DELETE FROM outbox WHERE seq = ANY($1::bigint[])";

type Answer = Result<Vec<WriteResult>, StoreError>;

/// A version the batch stores.
struct NewRow<'a> {
    seq: i64,
    key: &'a Key,
    /// Which accepted commit, and which of its ops.
    accepted: usize,
    op: usize,
    rk: i64,
    version: i64,
    deleted: bool,
    pat: Option<String>,
    now: i64,
    superseded_at: Option<i64>,
    rows: Option<&'a [IndexRow]>,
}

/// A commit the batch stores: its ops' decisions and its instant.
struct Accepted {
    commit: usize,
    written: Vec<Written>,
    now_str: String,
}

/// Everything the batch writes, decided in memory.
struct Batch<'a> {
    news: Vec<NewRow<'a>>,
    accepted: Vec<Accepted>,
    refused: Vec<(usize, StoreError)>,
    /// Versions from before the batch that it supersedes, with the instant.
    superseded: Vec<(i64, i64)>,
    /// Resources whose index rows from before the batch go.
    cleared: HashSet<i64>,
    live: HashMap<&'a str, i64>,
    enqueue: Vec<(&'a str, String, i64)>,
    acked: Vec<i64>,
}

/// Runs `work` as one batch in one transaction; the answers are in `work` order.
pub(super) async fn run(inner: &Inner, work: &[(Plan, OutboxOps)]) -> Result<Vec<Answer>, Error> {
    let mut client = inner.pool.get().await?;
    let tx = client.transaction().await?;
    let n = work.len() as i64;
    let state = read_state(&tx, work, n).await?;
    let first = state.last - n + 1;
    let batch = decide(
        work,
        state.currents,
        state.pending,
        state.max_seq + 1,
        first,
    );
    let finals = finals(&batch.news);
    let wanted = finals
        .by_rk
        .iter()
        .filter_map(|&i| Some((batch.news[i].key.0.as_str(), batch.news[i].rows?)));
    let pids = resolve_pids(&tx, &inner.pids, wanted).await?;
    write(&tx, &batch, &finals, &pids).await?;
    tx.commit().await?;
    // A pid is cached only once the commit that made or read it is durable.
    let mut cached = inner.pids.lock();
    for (rtype, params) in pids {
        cached.entry(rtype).or_default().extend(params);
    }
    drop(cached);
    let mut answers: Vec<Option<Answer>> = (0..work.len()).map(|_| None).collect();
    for (k, e) in batch.refused {
        answers[k] = Some(Err(e));
    }
    for a in batch.accepted {
        let keys = work[a.commit].0.keys.clone();
        answers[a.commit] = Some(Ok(commit::results(keys, a.written, &a.now_str)));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::Backend("postgres: unanswered".into()))))
        .collect())
}

/// What a group's decisions start from.
struct State<'a> {
    /// The last of the group's instants.
    last: i64,
    max_seq: i64,
    currents: HashMap<(&'a str, &'a str), Current>,
    /// The acknowledged messages that are still there.
    pending: HashSet<i64>,
}

/// Advances the clock by `n` instants and reads, in the same round trip (statements sent
/// together run in order, so the reads run once the clock row is held): the last instant, the
/// last `seq`, the current row of every key of the group, and which of the messages it
/// acknowledges are still there.
async fn read_state<'a>(
    tx: &Transaction<'_>,
    work: &'a [(Plan, OutboxOps)],
    n: i64,
) -> Result<State<'a>, Error> {
    let mut seen = HashSet::new();
    let (rtypes, ids): (Vec<&str>, Vec<&str>) = work
        .iter()
        .flat_map(|(plan, _)| plan.keys.iter())
        .map(|(t, i, _)| (t.as_str(), i.as_str()))
        .filter(|k| seen.insert(*k))
        .unzip();
    let acks: Vec<i64> = work
        .iter()
        .flat_map(|(_, o)| o.ack.iter().copied())
        .collect();
    let clock = tx.prepare_cached(CLOCK).await?;
    let max_seq = tx.prepare_cached(MAX_SEQ).await?;
    let current = tx.prepare_cached(CURRENT).await?;
    let pending = tx.prepare_cached(PENDING).await?;
    let wall = chrono::Utc::now().timestamp_micros();
    let ticks: [&(dyn ToSql + Sync); 2] = [&wall, &n];
    let params: [&(dyn ToSql + Sync); 2] = [&rtypes, &ids];
    let acked: [&(dyn ToSql + Sync); 1] = [&acks];
    let (last, max_row, rows, left) = tokio::try_join!(
        tx.query_one(&clock, &ticks),
        tx.query_one(&max_seq, &[]),
        tx.query(&current, &params),
        tx.query(&pending, &acked),
    )?;
    let mut currents = HashMap::with_capacity(rows.len());
    for row in rows {
        let i: i64 = row.try_get(0)?;
        let deleted: i16 = row.try_get(2)?;
        let Some(key) = usize::try_from(i - 1)
            .ok()
            .and_then(|i| rtypes.get(i).zip(ids.get(i)))
        else {
            continue;
        };
        let cur = Current {
            version: row.try_get(1)?,
            deleted: deleted != 0,
            seq: row.try_get(3)?,
            rk: row.try_get(4)?,
            pat: row.try_get(5)?,
        };
        currents.insert((*key.0, *key.1), cur);
    }
    let mut pending = HashSet::with_capacity(left.len());
    for row in left {
        pending.insert(row.try_get::<_, i64>(0)?);
    }
    Ok(State {
        last: last.try_get(0)?,
        max_seq: max_row.try_get(0)?,
        currents,
        pending,
    })
}

/// Decides every commit in order against the rows as the commits before it left them.
fn decide<'a>(
    work: &'a [(Plan, OutboxOps)],
    mut rows: HashMap<(&'a str, &'a str), Current>,
    mut pending: HashSet<i64>,
    first_seq: i64,
    first_instant: i64,
) -> Batch<'a> {
    let mut b = Batch {
        news: Vec::new(),
        accepted: Vec::new(),
        refused: Vec::new(),
        superseded: Vec::new(),
        cleared: HashSet::new(),
        live: HashMap::new(),
        enqueue: Vec::new(),
        acked: Vec::new(),
    };
    for (k, (plan, outbox)) in work.iter().enumerate() {
        let now = first_instant + k as i64;
        let now_str = format_instant(now);
        let mut written = Vec::with_capacity(plan.keys.len());
        let mut versions = Vec::new();
        let mut refusal = None;
        for (index, (key, body)) in plan.keys.iter().zip(&plan.bodies).enumerate() {
            let cur = match plan.duplicate == Some(index) {
                true => None,
                false => rows.get(&(key.0.as_str(), key.1.as_str())),
            };
            match commit::decide(index, key, body, cur, plan.duplicate, &now_str) {
                Ok((w, new)) => {
                    written.push(w);
                    versions.extend(new.map(|n| (index, n)));
                }
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
        }
        // Each acknowledgement removes one message: one already gone refuses the commit.
        if refusal.is_none() {
            if let Some(&seq) = outbox.ack.iter().enumerate().find_map(|(i, seq)| {
                (!pending.contains(seq) || outbox.ack[..i].contains(seq)).then_some(seq)
            }) {
                refusal = Some(StoreError::OutboxGone { seq });
            }
        }
        if let Some(e) = refusal {
            b.refused.push((k, e));
            continue;
        }
        for seq in &outbox.ack {
            pending.remove(seq);
            b.acked.push(*seq);
        }
        let accepted = b.accepted.len();
        for (op, new) in versions {
            let key = &plan.keys[op];
            let slot = (key.0.as_str(), key.1.as_str());
            let seq = first_seq + b.news.len() as i64;
            let prev = rows.get(&slot);
            let rk = prev.map_or(seq, |c| c.rk);
            match prev {
                Some(c) if c.seq >= first_seq => {
                    if let Some(row) = usize::try_from(c.seq - first_seq)
                        .ok()
                        .and_then(|i| b.news.get_mut(i))
                    {
                        row.superseded_at = Some(now);
                    }
                }
                Some(c) => {
                    b.superseded.push((c.seq, now));
                    b.cleared.insert(c.rk);
                }
                None => {}
            }
            let index_rows = match &plan.bodies[op] {
                Body::Put(_, r) if !new.deleted => Some(r.as_slice()),
                _ => None,
            };
            *b.live.entry(key.0.as_str()).or_default() += new.live_delta;
            let version = written[op].version;
            rows.insert(
                slot,
                Current {
                    version,
                    deleted: new.deleted,
                    seq,
                    rk,
                    pat: new.pat.clone(),
                },
            );
            b.news.push(NewRow {
                seq,
                key,
                accepted,
                op,
                rk,
                version,
                deleted: new.deleted,
                pat: new.pat,
                now,
                superseded_at: None,
                rows: index_rows,
            });
        }
        b.enqueue.extend(
            outbox
                .enqueue
                .iter()
                .map(|(t, p)| (t.as_str(), p.to_string(), now)),
        );
        b.accepted.push(Accepted {
            commit: k,
            written,
            now_str,
        });
    }
    b
}

/// The last version of each resource the batch writes: the one its current row and its
/// index rows come from.
struct Finals {
    by_key: Vec<usize>,
    by_rk: Vec<usize>,
}

fn finals(news: &[NewRow<'_>]) -> Finals {
    let mut by_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut by_rk: HashMap<i64, usize> = HashMap::new();
    for (i, r) in news.iter().enumerate() {
        by_key.insert((r.key.0.as_str(), r.key.1.as_str()), i);
        by_rk.insert(r.rk, i);
    }
    let mut by_key: Vec<usize> = by_key.into_values().collect();
    let mut by_rk: Vec<usize> = by_rk.into_values().collect();
    by_key.sort_unstable();
    by_rk.sort_unstable();
    Finals { by_key, by_rk }
}

/// Writes the batch: old index rows out first, then every table once, pipelined.
async fn write(
    tx: &Transaction<'_>,
    b: &Batch<'_>,
    finals: &Finals,
    pids: &Pids,
) -> Result<(), Error> {
    let cleared: Vec<i64> = b.cleared.iter().copied().collect();
    clear_index(tx, &cleared).await?;
    let news = &b.news;
    let seqs: Vec<i64> = news.iter().map(|r| r.seq).collect();
    let rtypes: Vec<&str> = news.iter().map(|r| r.key.0.as_str()).collect();
    let ids: Vec<&str> = news.iter().map(|r| r.key.1.as_str()).collect();
    let versions: Vec<i64> = news.iter().map(|r| r.version).collect();
    let instants: Vec<i64> = news.iter().map(|r| r.now).collect();
    let deleted: Vec<i16> = news.iter().map(|r| i16::from(r.deleted)).collect();
    let pats: Vec<Option<&str>> = news.iter().map(|r| r.pat.as_deref()).collect();
    let ends: Vec<Option<i64>> = news.iter().map(|r| r.superseded_at).collect();
    let bodies: Vec<&[u8]> = news
        .iter()
        .map(|r| b.accepted[r.accepted].written[r.op].json.as_slice())
        .collect();
    let (old_seqs, old_ends): (Vec<i64>, Vec<i64>) = b.superseded.iter().copied().unzip();
    let pick = |f: &dyn Fn(&NewRow<'_>) -> i64| -> Vec<i64> {
        finals.by_key.iter().map(|&i| f(&news[i])).collect()
    };
    let (c_rk, c_version, c_seq, c_at) = (
        pick(&|r| r.rk),
        pick(&|r| r.version),
        pick(&|r| r.seq),
        pick(&|r| r.now),
    );
    let c_type: Vec<&str> = finals.by_key.iter().map(|&i| rtypes[i]).collect();
    let c_id: Vec<&str> = finals.by_key.iter().map(|&i| ids[i]).collect();
    let c_deleted: Vec<i16> = finals.by_key.iter().map(|&i| deleted[i]).collect();
    let c_pat: Vec<Option<&str>> = finals.by_key.iter().map(|&i| pats[i]).collect();
    let mut index = IndexBatch::new();
    for &i in &finals.by_rk {
        let r = &news[i];
        if let Some(rows) = r.rows {
            let rtype = r.key.0.as_str();
            index.add(r.rk, r.pat.as_deref(), rows, |p| pid_of(pids, rtype, p));
        }
    }
    let (count_types, count_deltas): (Vec<&str>, Vec<i64>) = b
        .live
        .iter()
        .filter(|(_, d)| **d != 0)
        .map(|(t, d)| (*t, *d))
        .unzip();
    let (topics, payloads, created): (Vec<&str>, Vec<&str>, Vec<i64>) =
        b.enqueue.iter().map(|(t, p, c)| (*t, p.as_str(), *c)).fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |mut acc, (t, p, c)| {
                acc.0.push(t);
                acc.1.push(p);
                acc.2.push(c);
                acc
            },
        );

    let history = tx.prepare_cached(INSERT_HISTORY).await?;
    let json = tx.prepare_cached(INSERT_JSON).await?;
    let supersede = tx.prepare_cached(SUPERSEDE).await?;
    let current = tx.prepare_cached(UPSERT_CURRENT).await?;
    let counts = tx.prepare_cached(COUNTS).await?;
    let enqueue = tx.prepare_cached(ENQUEUE).await?;
    let ack = tx.prepare_cached(ACK).await?;
    let index_params = index.params();
    let inserts = index_inserts(tx, &index_params).await?;
    let mut pending: Vec<Pending<'_>> = Vec::with_capacity(8 + inserts.len());
    if !news.is_empty() {
        let p: [&(dyn ToSql + Sync); 8] = [
            &seqs, &rtypes, &ids, &versions, &instants, &deleted, &pats, &ends,
        ];
        pending.push(Box::pin(tx.execute_raw(&history, p)));
        let p: [&(dyn ToSql + Sync); 2] = [&seqs, &bodies];
        pending.push(Box::pin(tx.execute_raw(&json, p)));
        let p: [&(dyn ToSql + Sync); 8] = [
            &c_rk, &c_type, &c_id, &c_version, &c_deleted, &c_seq, &c_at, &c_pat,
        ];
        pending.push(Box::pin(tx.execute_raw(&current, p)));
    }
    if !old_seqs.is_empty() {
        let p: [&(dyn ToSql + Sync); 2] = [&old_seqs, &old_ends];
        pending.push(Box::pin(tx.execute_raw(&supersede, p)));
    }
    for (stmt, (_, params)) in inserts.iter().zip(index_params) {
        pending.push(Box::pin(tx.execute_raw(stmt, params)));
    }
    if !count_types.is_empty() {
        let p: [&(dyn ToSql + Sync); 2] = [&count_types, &count_deltas];
        pending.push(Box::pin(tx.execute_raw(&counts, p)));
    }
    if !topics.is_empty() {
        let p: [&(dyn ToSql + Sync); 3] = [&topics, &payloads, &created];
        pending.push(Box::pin(tx.execute_raw(&enqueue, p)));
    }
    if !b.acked.is_empty() {
        let p: [&(dyn ToSql + Sync); 1] = [&b.acked];
        pending.push(Box::pin(tx.execute_raw(&ack, p)));
    }
    try_join_all(pending).await?;
    index.copy(tx).await?;
    Ok(())
}
