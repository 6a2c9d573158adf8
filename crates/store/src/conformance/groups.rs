//! Many commits at once: each stands or falls alone. The SQLite backend runs commits that wait
//! for its writer as one group in one transaction (group commit), so a failing commit must not
//! take its neighbours with it, nor leave a trace.

use std::collections::HashSet;
use std::sync::Arc;

use super::{body, is_absent, must_read, put, save, unique_type};
use crate::{DynStore, OutboxOps, Precondition, StoreError, WriteOutcome};

/// 48 concurrent commits, every third doomed (a create of an existing resource as its second
/// op, or the acknowledgement of a message that never existed): exactly the others are stored,
/// each with its own instant.
pub async fn concurrent_commits_are_independent(store: &DynStore) {
    let t = unique_type("Group");
    save(store, &t, "taken", "x").await;
    let gate = Arc::new(tokio::sync::Barrier::new(48));
    let mut tasks = Vec::new();
    for i in 0..48 {
        let store = Arc::clone(store);
        let gate = Arc::clone(&gate);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops = vec![put(
                &t,
                &format!("r{i}"),
                body(&t, "r"),
                Precondition::MustNotExist,
            )];
            let mut outbox = OutboxOps::default();
            match i % 6 {
                0 => ops.push(put(&t, "taken", body(&t, "y"), Precondition::MustNotExist)),
                3 => outbox.ack.push(i64::MAX - i),
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
            | (3, Err(StoreError::OutboxGone { .. })) => {
                assert!(
                    is_absent(store, &t, &id).await,
                    "{id}: a failed commit left its write"
                );
            }
            (0 | 3, other) => panic!("{id}: should have failed, got {other:?}"),
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
    assert_eq!(instants.len(), 32);
    assert_eq!(
        must_read(store, &t, "taken").await.version,
        1,
        "the doomed creates changed nothing"
    );
}
