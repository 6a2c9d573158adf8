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
/// one that does), and one in six writing an id that PostgreSQL refuses in the database itself:
/// exactly the others are stored, each with its own instant.
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
                // Text PostgreSQL cannot store (NUL) fails in the database itself, not in the
                // commit's checks: there the commit fails alone; SQLite stores it.
                1 => ops.push(put(
                    &t,
                    &format!("nul\0{i}"),
                    body(&t, "n"),
                    Precondition::None,
                )),
                3 => outbox.ack.push(i64::MAX - i),
                5 => outbox.ack.extend([twice, twice]),
                _ => {}
            }
            gate.wait().await;
            store.commit_with_outbox(ops, outbox).await
        }));
    }
    let mut instants = HashSet::new();
    let mut stored = Vec::new();
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
            (1, Err(StoreError::Backend(_))) => {
                assert!(
                    is_absent(store, &t, &id).await,
                    "{id}: a failed commit left its write"
                );
            }
            (k, Ok(w)) => {
                assert_eq!(
                    (w.len(), w[0].version, w[0].outcome),
                    (if k == 1 { 2 } else { 1 }, 1, WriteOutcome::Created),
                    "{id}"
                );
                stored.push(id.clone());
                assert!(
                    instants.insert(w[0].last_updated.clone()),
                    "{id}: an instant shared with another commit"
                );
                assert_eq!(must_read(store, &t, &id).await.version, 1);
            }
            (_, Err(e)) => panic!("{id}: {e}"),
        }
    }
    let sure = (0..48).filter(|i| [2, 4].contains(&(i % 6))).count();
    assert!(stored.len() >= sure, "every commit not doomed is stored");
    assert_eq!(instants.len(), stored.len());
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

/// 16 concurrent updates of one resource, and a create and delete of another in the same
/// moment: every update is its own version (one group decides each against the one before
/// it), each version stays current exactly until the next one's instant, the index holds only
/// the last version's value, and the deleted resource leaves no index row.
pub async fn concurrent_updates_of_one_resource(store: &DynStore) {
    use crate::{HistoryQuery, HistoryScope, WriteOp};
    let t = unique_type("Same");
    let tagged = |id: &str, code: &str| {
        let mut op = put(&t, id, body(&t, code), Precondition::None);
        if let WriteOp::Put { index, .. } = &mut op {
            index.push(token_row("code", None, code));
        }
        op
    };
    store
        .commit(vec![tagged("one", "v0")])
        .await
        .expect("first version");
    let gate = Arc::new(tokio::sync::Barrier::new(18));
    let mut tasks = Vec::new();
    for i in 0..18 {
        let (store, gate) = (Arc::clone(store), Arc::clone(&gate));
        let ops = match i {
            16 => vec![tagged("gone", "gone")],
            17 => vec![super::del(&t, "gone", Precondition::None)],
            _ => vec![tagged("one", &format!("v{}", i + 1))],
        };
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            store.commit(ops).await
        }));
    }
    let mut versions = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let w = task.await.expect("commit task").expect("commit");
        if i < 16 {
            assert_eq!(w[0].outcome, WriteOutcome::Updated);
            versions.push((w[0].version, w[0].last_updated.clone()));
        }
    }
    versions.sort();
    let numbers: Vec<u64> = versions.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        numbers,
        (2..=17).collect::<Vec<u64>>(),
        "one version per update"
    );
    let current = must_read(store, &t, "one").await;
    assert_eq!(current.version, 17);
    let last_code = super::marker(&current.json);
    // Each version is the one current at its own instant, and only then.
    for (v, instant) in &versions {
        let at = super::micros(instant);
        let p = store
            .history(HistoryQuery {
                scope: HistoryScope::Instance(t.clone(), "one".to_owned()),
                since_micros: None,
                at_micros: Some((at, at + 1)),
                snapshot: None,
                offset: 0,
                count: 10,
            })
            .await
            .expect("history at");
        let found: Vec<u64> = p.entries.iter().map(|e| e.version).collect();
        assert_eq!(found, vec![*v], "current at {instant}");
    }
    let code = |c: &str| {
        query(
            &[&t],
            vec![cond(
                "code",
                zdrav_search::ParamType::Token,
                zdrav_search::Modifier::None,
                vec![tv(None, Some(c))],
            )],
        )
    };
    assert_eq!(
        ids(&run(store, &code(&last_code)).await.matches),
        vec!["one".to_owned()],
        "the last version's index value"
    );
    for old in ["v0", "v1", "v2"].iter().filter(|c| **c != last_code) {
        assert!(
            run(store, &code(old)).await.matches.is_empty(),
            "an earlier version's index value {old} is gone"
        );
    }
    let gone = run(store, &code("gone")).await.matches;
    let deleted = store
        .read(&t, "gone")
        .await
        .expect("read")
        .map(|r| r.deleted);
    assert!(
        deleted != Some(true) || gone.is_empty(),
        "a deleted resource leaves no index row"
    );
}
