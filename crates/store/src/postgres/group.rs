//! Group commit on PostgreSQL. Commits serialise on the clock row, which each holds until its
//! COMMIT has been flushed to disk, so one at a time they were bounded by the disk's flush
//! time: about 250 small transactions a second on the project's VM, below the national peak of
//! document registrations. Here commits that arrive while a group is running wait in a queue,
//! and the next group runs all of them (up to [`MAX_GROUP`]) in one transaction with one
//! flush, written as one batch (`batch.rs`): a commit refused by its own checks is answered
//! with its error and the others are stored; a batch that fails in the database runs its
//! commits again one at a time. Every answer is given only after the COMMIT that holds it has
//! returned. This is the SQLite backend's group commit (`sqlite/write.rs`) on an async
//! connection.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::write::{self, CLOCK};
use super::{Error, Inner};
use crate::sql::commit::{self, Plan};
use crate::{OutboxOps, StoreError, WriteOp, WriteResult};

/// The most commits run as one group.
const MAX_GROUP: usize = 64;

type Answer = Result<Vec<WriteResult>, StoreError>;

/// Commits waiting for the next group, and the right to run it.
#[derive(Default)]
pub(super) struct Queue {
    waiting: Mutex<Vec<Waiting>>,
    leader: tokio::sync::Mutex<()>,
}

struct Waiting {
    plan: Plan,
    outbox: OutboxOps,
    answer: oneshot::Sender<Answer>,
}

/// Commits `ops` and `outbox` as one all-or-nothing unit, in a group with whatever commits are
/// waiting when the previous group is done.
pub(super) async fn commit(inner: &Arc<Inner>, ops: Vec<WriteOp>, outbox: OutboxOps) -> Answer {
    let plan = commit::plan(ops)?;
    let (answer, mut answered) = oneshot::channel();
    inner.queue.waiting.lock().push(Waiting {
        plan,
        outbox,
        answer,
    });
    let abandoned = || {
        Err(StoreError::Backend(
            "postgres: the group holding this commit stopped before answering".into(),
        ))
    };
    loop {
        tokio::select! {
            biased;
            done = &mut answered => return done.unwrap_or_else(|_| abandoned()),
            guard = inner.queue.leader.lock() => {
                let group: Vec<Waiting> = {
                    let mut w = inner.queue.waiting.lock();
                    let n = w.len().min(MAX_GROUP);
                    w.drain(..n).collect()
                };
                if group.is_empty() {
                    // Answered by the group that just released the lead.
                    drop(guard);
                    return answered.await.unwrap_or_else(|_| abandoned());
                }
                // On its own task, so a caller that goes away cannot cut the group short.
                let theirs = Arc::clone(inner);
                let _ = tokio::spawn(async move { run_group(&theirs, group).await }).await;
                drop(guard);
            }
        }
    }
}

/// Runs `group` and answers every commit in it.
async fn run_group(inner: &Inner, group: Vec<Waiting>) {
    let ops: usize = group.iter().map(|w| w.plan.keys.len()).sum();
    let (work, answers): (Vec<(Plan, OutboxOps)>, Vec<oneshot::Sender<Answer>>) = group
        .into_iter()
        .map(|w| ((w.plan, w.outbox), w.answer))
        .unzip();
    let (size, t0) = (work.len(), std::time::Instant::now());
    let outcome = run(inner, work).await;
    tracing::debug!(
        size,
        ops,
        micros = t0.elapsed().as_micros() as u64,
        "postgres group commit"
    );
    match outcome {
        Ok(results) => {
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
        }
        Err(e) => {
            let e = StoreError::from(e);
            for answer in answers {
                let _ = answer.send(Err(StoreError::Backend(e.to_string())));
            }
        }
    }
    inner.analyzer.wrote(&inner.pool, ops as u64);
}

/// Runs a group: a commit alone in its own transaction, several as one batch
/// (`batch.rs`). A batch that fails as a whole (not by a commit's own checks, which it
/// answers itself) is rolled back, and each of its commits then runs alone, so that only a
/// commit that fails by itself fails.
async fn run(inner: &Inner, work: Vec<(Plan, OutboxOps)>) -> Result<Vec<Answer>, Error> {
    if work.len() > 1 {
        match super::batch::run(inner, &work).await {
            Ok(answers) => return Ok(answers),
            Err(e) => tracing::warn!(
                error = %StoreError::from(e),
                commits = work.len(),
                "a postgres batch failed; its commits run one at a time"
            ),
        }
    }
    let mut answers = Vec::with_capacity(work.len());
    for (plan, outbox) in work {
        answers.push(alone(inner, plan, outbox).await.map_err(StoreError::from));
    }
    Ok(answers)
}

/// One commit in its own transaction: one clock advance, its writes, one COMMIT.
async fn alone(inner: &Inner, plan: Plan, outbox: OutboxOps) -> Result<Vec<WriteResult>, Error> {
    let mut client = inner.pool.get().await?;
    let tx = client.transaction().await?;
    let clock = tx.prepare_cached(CLOCK).await?;
    let wall = chrono::Utc::now().timestamp_micros();
    let now: i64 = tx.query_one(&clock, &[&wall, &1i64]).await?.try_get(0)?;
    let (results, pids) = write::apply(&tx, &inner.pids, plan, &outbox, now).await?;
    tx.commit().await?;
    // A pid is cached only once the commit that made or read it is durable.
    let mut cached = inner.pids.lock();
    for (rtype, params) in pids {
        cached.entry(rtype).or_default().extend(params);
    }
    Ok(results)
}
