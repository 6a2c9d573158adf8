//! `commit`: one IMMEDIATE transaction per call; the decisions per op are the shared ones of
//! [`crate::sql::commit`].

use std::collections::HashMap;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::index_write::IndexWriter;
use super::Error;
use crate::sql::commit::{self, Body, Current, Key, Written};
use crate::time::format_instant;
use crate::{OutboxOps, StoreError, WriteOp, WriteResult};

pub(super) fn commit(
    writer: &Mutex<Connection>,
    ops: Vec<WriteOp>,
    outbox: OutboxOps,
) -> Result<Vec<WriteResult>, Error> {
    if ops.is_empty() && outbox.is_empty() {
        return Ok(Vec::new());
    }
    let plan = commit::plan(ops)?;

    // Timings for `RUST_LOG=zdrav_store=debug`: where a bulk load spends the writer's time.
    let t0 = std::time::Instant::now();
    let mut conn = writer.lock();
    let t1 = std::time::Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = next_instant(&tx)?;
    let now_str = format_instant(now);
    let written = apply(&tx, &plan.keys, &plan.bodies, plan.duplicate, now, &now_str)?;
    write_outbox(&tx, &outbox, now)?;
    let t2 = std::time::Instant::now();
    tx.commit()?;
    drop(conn);
    tracing::debug!(
        wait_us = (t1 - t0).as_micros() as u64,
        apply_us = (t2 - t1).as_micros() as u64,
        commit_us = t2.elapsed().as_micros() as u64,
        ops = plan.keys.len(),
        "sqlite commit"
    );
    Ok(commit::results(plan.keys, written, &now_str))
}

/// Adds and removes the commit's outbox messages; a message already gone fails the commit.
fn write_outbox(tx: &Transaction<'_>, outbox: &OutboxOps, now: i64) -> Result<(), Error> {
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
fn next_instant(tx: &Transaction<'_>) -> Result<i64, Error> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT max(last_updated) FROM history")?
        .query_row([], |row| row.get(0))?;
    let now = chrono::Utc::now().timestamp_micros();
    Ok(match last {
        Some(last) if last >= now => last + 1,
        _ => now,
    })
}

fn apply(
    tx: &Transaction<'_>,
    keys: &[Key],
    bodies: &[Body],
    duplicate: Option<usize>,
    now: i64,
    now_str: &str,
) -> Result<Vec<Written>, Error> {
    let mut current = tx.prepare_cached(
        "SELECT version, deleted, seq, rk, pat FROM current WHERE rtype = ?1 AND id = ?2",
    )?;
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
    let mut written = Vec::with_capacity(keys.len());
    for (index, (key, body)) in keys.iter().zip(bodies.iter()).enumerate() {
        let (rtype, id, _) = key;
        // A duplicate fails in `decide` whatever its row; not reading it keeps that obvious.
        let cur: Option<Current> = if duplicate == Some(index) {
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
        let (w, new) = commit::decide(index, key, body, cur.as_ref(), duplicate, now_str)?;
        let Some(new) = new else {
            written.push(w);
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
            indexer.insert(tx, rk, rtype, new.pat.as_deref(), rows)?;
        }
        written.push(w);
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
    Ok(written)
}
