//! `commit`: each call's writes are all or nothing, and calls that wait for the writer together
//! share one IMMEDIATE transaction and one disk sync ([`Queue`]); the decisions per op are the
//! shared ones of [`crate::sql::commit`].

use std::collections::HashMap;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::index_write::{IndexWriter, PidScope, Pids};
use super::Error;
use crate::sql::commit::{self, Body, Current, Key, NewVersion, Written};
use crate::time::format_instant;
use crate::{OutboxOps, StoreError, WriteOp, WriteResult};

/// Commits waiting for the writer. The first commit to find no group running starts one on the
/// blocking pool, which takes the writer and runs the queued commits in one SQLite transaction,
/// then the commits queued meanwhile, until none are left; the others wait for their answer on
/// the async runtime, not on a thread of their own. Each group syncs the disk once (group
/// commit): with synchronous commits the disk sync, not the work, limits how many small
/// transactions a second one writer can make. Every answer is given only after the group's
/// COMMIT has returned. (A blocking thread per commit, parked on the writer's lock only to find
/// its answer made, cost two thread switches a commit: 6% of the server in registrations.)
///
/// A commit first reads and decides all its ops and only then writes, so one refused by its own
/// checks (a version conflict, a precondition, a duplicate) has written nothing and needs no
/// savepoint: savepoints made SQLite copy every page a commit touched into a statement journal,
/// 16% of the writer's time. Should a commit fail while writing (an I/O error, a full disk),
/// the group is rolled back and each of its commits is run again alone.
#[derive(Default)]
pub(super) struct Queue {
    state: Mutex<QueueState>,
    /// Search parameter ids of committed transactions; touched only by the writer's holder.
    pids: Mutex<Pids>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Waiting>,
    /// Whether a group runner is at work (it takes every commit queued before it stops).
    running: bool,
}

/// The most commits run as one group.
const MAX_GROUP: usize = 64;

type Answer = tokio::sync::oneshot::Sender<Result<Vec<WriteResult>, StoreError>>;

struct Waiting {
    plan: commit::Plan,
    outbox: OutboxOps,
    answer: Answer,
    queued: std::time::Instant,
}

/// Queues a commit and waits for its answer. `start` is called, at most once, when this commit
/// must start the group runner ([`run_groups`]) on a blocking thread.
pub(super) async fn commit(
    queue: &Queue,
    ops: Vec<WriteOp>,
    outbox: OutboxOps,
    start: impl FnOnce(),
) -> Result<Vec<WriteResult>, StoreError> {
    if ops.is_empty() && outbox.is_empty() {
        return Ok(Vec::new());
    }
    let plan = commit::plan(ops)?;
    let (answer, answered) = tokio::sync::oneshot::channel();
    let lead = {
        let mut s = queue.state.lock();
        s.waiting.push(Waiting {
            plan,
            outbox,
            answer,
            queued: std::time::Instant::now(),
        });
        !std::mem::replace(&mut s.running, true)
    };
    if lead {
        start();
    }
    answered
        .await
        .map_err(|_| StoreError::Backend("sqlite: the writer stopped before answering".into()))?
}

/// Runs queued commits in groups until none are left; `committed` is called after each group.
pub(super) fn run_groups(writer: &Mutex<Connection>, queue: &Queue, committed: impl Fn()) {
    // Should a group panic, its callers get an error (their answers are dropped), and so do the
    // commits still queued; the next commit starts a new runner.
    struct Unwind<'a>(&'a Queue);
    impl Drop for Unwind<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut s = self.0.state.lock();
                s.running = false;
                s.waiting.clear();
            }
        }
    }
    let _unwind = Unwind(queue);
    let mut conn = writer.lock();
    loop {
        let group: Vec<Waiting> = {
            let mut s = queue.state.lock();
            if s.waiting.is_empty() {
                s.running = false;
                return;
            }
            let n = s.waiting.len().min(MAX_GROUP);
            s.waiting.drain(..n).collect()
        };
        run_group(&mut conn, group, &mut queue.pids.lock());
        committed();
    }
}

/// Runs `group` in one transaction and answers every commit in it.
fn run_group(conn: &mut Connection, group: Vec<Waiting>, pids: &mut Pids) {
    let t1 = std::time::Instant::now();
    let size = group.len();
    let waited = group.first().map(|w| t1 - w.queued).unwrap_or_default();
    let outcome: Vec<Applied> = match apply_group(conn, &group, pids) {
        Ok(results) => results,
        // One commit broke the transaction: run each alone, so that only that one fails.
        Err(_) if size > 1 => group
            .iter()
            .map(|w| match apply_group(conn, std::slice::from_ref(w), pids) {
                Ok(mut one) => one.pop().unwrap_or_else(|| {
                    Err(StoreError::Backend(
                        "sqlite: a commit gave no answer".into(),
                    ))
                }),
                Err(e) => Err(StoreError::from(e)),
            })
            .collect(),
        Err(e) => vec![Err(StoreError::from(e))],
    };
    tracing::debug!(
        wait_us = waited.as_micros() as u64,
        group_us = t1.elapsed().as_micros() as u64,
        commits = size,
        "sqlite group commit"
    );
    for (w, r) in group.into_iter().zip(outcome) {
        let answer = r.map(|(written, now_str)| commit::results(w.plan.keys, written, &now_str));
        // A caller that went away (its request was dropped) needs no answer.
        let _ = w.answer.send(answer);
    }
}

type Applied = Result<(Vec<Written>, String), StoreError>;

/// Why a commit of a group did not apply.
enum Failure {
    /// Its own checks refused it before it wrote anything; the group goes on.
    Refused(StoreError),
    /// It failed while writing; the group's transaction must be rolled back.
    Broken(Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Broken(Error::Sql(e))
    }
}

/// The group's transaction: each commit in turn, then one COMMIT. `Err` means the transaction
/// failed and nothing of the group is stored.
fn apply_group(
    conn: &mut Connection,
    group: &[Waiting],
    known: &mut Pids,
) -> Result<Vec<Applied>, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut pids = PidScope {
        known,
        fresh: Pids::new(),
    };
    let mut out = Vec::with_capacity(group.len());
    for w in group {
        match apply_one(&tx, w, &mut pids) {
            Ok(done) => out.push(Ok(done)),
            Err(Failure::Refused(e)) => out.push(Err(e)),
            Err(Failure::Broken(e)) => return Err(e),
        }
    }
    tx.commit()?;
    let fresh = pids.fresh;
    for (rtype, params) in fresh {
        known.entry(rtype).or_default().extend(params);
    }
    Ok(out)
}

fn apply_one(
    tx: &Connection,
    w: &Waiting,
    pids: &mut PidScope<'_>,
) -> Result<(Vec<Written>, String), Failure> {
    let now = next_instant(tx).map_err(Failure::Broken)?;
    let now_str = format_instant(now);
    let p = &w.plan;
    let (written, versions) = decide_all(tx, p, &now_str)?;
    check_acks(tx, &w.outbox)?;
    write_versions(tx, pids, &p.keys, &p.bodies, &written, versions, now)
        .map_err(Failure::Broken)?;
    write_outbox(tx, &w.outbox, now).map_err(Failure::Broken)?;
    Ok((written, now_str))
}

/// Fails with [`StoreError::OutboxGone`] if a message to acknowledge is no longer there.
fn check_acks(tx: &Connection, outbox: &OutboxOps) -> Result<(), Failure> {
    if outbox.ack.is_empty() {
        return Ok(());
    }
    let mut exists = tx.prepare_cached("SELECT 1 FROM outbox WHERE seq = ?1")?;
    for &seq in &outbox.ack {
        if !exists.exists([seq])? {
            return Err(Failure::Refused(StoreError::OutboxGone { seq }));
        }
    }
    Ok(())
}

/// Adds and removes the commit's outbox messages; a message already gone fails the commit.
fn write_outbox(tx: &Connection, outbox: &OutboxOps, now: i64) -> Result<(), Error> {
    if !outbox.enqueue.is_empty() {
        let mut insert =
            tx.prepare_cached("INSERT INTO outbox (topic, payload, created) VALUES (?1, ?2, ?3)")?;
        for (topic, payload) in &outbox.enqueue {
            insert.execute(params![topic, payload.to_string(), now])?;
        }
    }
    if !outbox.ack.is_empty() {
        let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
        for &seq in &outbox.ack {
            if delete.execute([seq])? != 1 {
                return Err(StoreError::OutboxGone { seq }.into());
            }
        }
    }
    Ok(())
}

/// Up to `limit` outbox messages, oldest first.
pub(super) fn pending(conn: &Connection, limit: usize) -> Result<Vec<crate::OutboxMessage>, Error> {
    let mut stmt = conn
        .prepare_cached("SELECT seq, topic, payload, created FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, topic, payload, created_micros) = row?;
        let payload = serde_json::from_str(&payload)
            .map_err(|e| StoreError::Backend(format!("outbox message {seq}: {e}")))?;
        out.push(crate::OutboxMessage {
            seq,
            topic,
            payload,
            created_micros,
        });
    }
    Ok(out)
}

/// The instant for this commit: now, but strictly after every stored version so that versions
/// never share an instant with an earlier commit or go back in time when the clock does.
fn next_instant(tx: &Connection) -> Result<i64, Error> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT max(last_updated) FROM history")?
        .query_row([], |row| row.get(0))?;
    let now = chrono::Utc::now().timestamp_micros();
    Ok(match last {
        Some(last) if last >= now => last + 1,
        _ => now,
    })
}

/// A version to store: the resource's current row (if any) and the new version.
type Version = (Option<Current>, Option<NewVersion>);

/// Reads the current row of every op and decides it, writing nothing: the first op refused
/// refuses the commit.
fn decide_all(
    tx: &Connection,
    p: &commit::Plan,
    now_str: &str,
) -> Result<(Vec<Written>, Vec<Version>), Failure> {
    let mut current = tx.prepare_cached(
        "SELECT version, deleted, seq, rk, pat FROM current WHERE rtype = ?1 AND id = ?2",
    )?;
    let mut written = Vec::with_capacity(p.keys.len());
    let mut versions = Vec::with_capacity(p.keys.len());
    for (index, (key, body)) in p.keys.iter().zip(p.bodies.iter()).enumerate() {
        let (rtype, id, _) = key;
        // A duplicate fails in `decide` whatever its row; not reading it keeps that obvious.
        let cur: Option<Current> = if p.duplicate == Some(index) {
            None
        } else {
            current
                .query_row(params![rtype, id], |row| {
                    Ok(Current {
                        version: row.get(0)?,
                        deleted: row.get::<_, i64>(1)? != 0,
                        seq: row.get(2)?,
                        rk: row.get(3)?,
                        pat: row.get(4)?,
                    })
                })
                .optional()?
        };
        let (w, new) = commit::decide(index, key, body, cur.as_ref(), p.duplicate, now_str)
            .map_err(Failure::Refused)?;
        written.push(w);
        versions.push((cur, new));
    }
    Ok((written, versions))
}

/// Stores the decided versions: history, body, current row, index rows and live counts.
fn write_versions(
    tx: &Connection,
    pids: &mut PidScope<'_>,
    keys: &[Key],
    bodies: &[Body],
    written: &[Written],
    versions: Vec<Version>,
    now: i64,
) -> Result<(), Error> {
    let mut insert_history = tx.prepare_cached(
        "INSERT INTO history (rtype, id, version, last_updated, deleted, pat) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut insert_json =
        tx.prepare_cached("INSERT INTO history_json (seq, json) VALUES (?1, ?2)")?;
    let mut supersede =
        tx.prepare_cached("UPDATE history SET superseded_at = ?1 WHERE seq = ?2")?;
    let mut upsert_current = tx.prepare_cached(
        "INSERT INTO current (rk, rtype, id, version, deleted, seq, last_updated, pat) \
         VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6, ?8) \
         ON CONFLICT (rtype, id) DO UPDATE SET version = excluded.version, \
         deleted = excluded.deleted, seq = excluded.seq, last_updated = excluded.last_updated, \
         pat = excluded.pat",
    )?;
    let mut indexer = IndexWriter::new(tx)?;

    let mut live_delta: HashMap<&str, i64> = HashMap::new();
    for (((key, body), w), (cur, new)) in keys.iter().zip(bodies).zip(written).zip(versions) {
        let (rtype, id, _) = key;
        let Some(new) = new else {
            continue;
        };
        *live_delta.entry(rtype).or_default() += new.live_delta;
        insert_history.execute(params![rtype, id, w.version, now, new.deleted, new.pat])?;
        let seq = tx.last_insert_rowid();
        insert_json.execute(params![seq, w.json])?;
        if let Some(c) = &cur {
            supersede.execute(params![now, c.seq])?;
        }
        // A resource keeps the key of its first version for life, across deletes.
        let rk = cur.as_ref().map_or(seq, |c| c.rk);
        upsert_current.execute(params![
            rtype,
            id,
            w.version,
            new.deleted,
            seq,
            now,
            rk,
            new.pat
        ])?;
        if cur.is_some() {
            indexer.clear(rk)?;
        }
        if let Body::Put(_, rows) = body {
            indexer.insert(tx, pids, rk, rtype, new.pat.as_deref(), rows)?;
        }
    }

    let mut count = tx.prepare_cached(
        "INSERT INTO type_counts (rtype, live) VALUES (?1, ?2) \
         ON CONFLICT (rtype) DO UPDATE SET live = live + excluded.live",
    )?;
    for (rtype, delta) in live_delta {
        if delta != 0 {
            count.execute(params![rtype, delta])?;
        }
    }
    Ok(())
}
