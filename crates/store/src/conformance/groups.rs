//! Many commits at once: each stands or falls alone. The SQLite backend runs commits that wait
//! for its writer as one group in one transaction (group commit), so a failing commit must not
//! take its neighbours with it, nor leave a trace. A commit refused by its own checks writes
//! nothing; one that fails while writing (here: acknowledging one message twice) breaks its
//! group's transaction, and the others must still be stored.

use std::collections::HashSet;
use std::sync::Arc;

use super::search::{cond, ids, query, run, token_row, tv};
use super::{body, is_absent, must_read, put, save, unique_type};
use crate::{DynStore, OutboxOps, Precondition, StoreError, WriteOutcome};

/// 48 concurrent commits, every other one doomed (a create of an existing resource as its
/// second op, the acknowledgement of a message that never existed, or two acknowledgements of
/// one that does): exactly the others are stored, each with its own instant.
pub async fn concurrent_commits_are_independent(store: &DynStore) {
    let t = unique_type("Group");
    save(store, &t, "taken", "x").await;
    let topic = format!("{t}-twice");
    let enqueue = OutboxOps {
        enqueue: vec![(topic.clone(), serde_json::json!({}))],
        ack: Vec::new(),
    };
    store
        .commit_with_outbox(Vec::new(), enqueue)
        .await
        .expect("enqueue");
    let pending = |store: &DynStore| {
        let (store, topic) = (Arc::clone(store), topic.clone());
        async move {
            store
                .outbox_pending(100_000)
                .await
                .expect("outbox")
                .into_iter()
                .find(|m| m.topic == topic)
                .map(|m| m.seq)
        }
    };
    let twice = pending(store).await.expect("the message just enqueued");
    let gate = Arc::new(tokio::sync::Barrier::new(48));
    let mut tasks = Vec::new();
    for i in 0..48 {
        let store = Arc::clone(store);
        let gate = Arc::clone(&gate);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            // A new type's parameter id is first assigned inside these groups; one a broken
            // group assigned must not outlive its rollback (the search below needs it).
            let mut first = put(
                &t,
                &format!("r{i}"),
                body(&t, "r"),
                Precondition::MustNotExist,
            );
            if let crate::WriteOp::Put { index, .. } = &mut first {
                index.push(token_row("code", None, "g"));
            }
            let mut ops = vec![first];
            let mut outbox = OutboxOps::default();
            match i % 6 {
                0 => ops.push(put(&t, "taken", body(&t, "y"), Precondition::MustNotExist)),
                3 => outbox.ack.push(i64::MAX - i),
                5 => outbox.ack.extend([twice, twice]),
                _ => {}
            }
            gate.wait().await;
            store.commit_with_outbox(ops, outbox).await
        }));
    }
    let mut instants = HashSet::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("commit task panicked");
        let id = format!("r{i}");
        match (i % 6, result) {
            (0, Err(StoreError::AlreadyExists { index: 1, .. }))
            | (3 | 5, Err(StoreError::OutboxGone { .. })) => {
                assert!(
                    is_absent(store, &t, &id).await,
                    "{id}: a failed commit left its write"
                );
            }
            (0 | 3 | 5, other) => panic!("{id}: should have failed, got {other:?}"),
            (_, Ok(w)) => {
                assert_eq!(
                    (w.len(), w[0].version, w[0].outcome),
                    (1, 1, WriteOutcome::Created),
                    "{id}"
                );
                assert!(
                    instants.insert(w[0].last_updated.clone()),
                    "{id}: an instant shared with another commit"
                );
                assert_eq!(must_read(store, &t, &id).await.version, 1);
            }
            (_, Err(e)) => panic!("{id}: {e}"),
        }
    }
    assert_eq!(instants.len(), 24);
    let q = query(
        &[&t],
        vec![cond(
            "code",
            zdrav_search::ParamType::Token,
            zdrav_search::Modifier::None,
            vec![tv(None, Some("g"))],
        )],
    );
    let mut found = ids(&run(store, &q).await.matches);
    found.sort();
    let mut stored: Vec<String> = (0..48)
        .filter(|i| ![0, 3, 5].contains(&(i % 6)))
        .map(|i| format!("r{i}"))
        .collect();
    stored.sort();
    assert_eq!(
        found, stored,
        "the stored commits are found by their index rows"
    );
    assert_eq!(
        pending(store).await,
        Some(twice),
        "the message acknowledged twice stays"
    );
    assert_eq!(
        must_read(store, &t, "taken").await.version,
        1,
        "the doomed creates changed nothing"
    );
}
