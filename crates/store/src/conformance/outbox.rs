//! The outbox: messages commit and disappear with the writes they ride with, in order, and a
//! message is handled at most once however many handlers race for it.

use serde_json::json;

use super::{body, is_absent, nonce, put, unique_type};
use crate::{DynStore, OutboxMessage, OutboxOps, Precondition, StoreError};

/// The pending messages of one topic.
async fn pending(store: &DynStore, topic: &str) -> Vec<OutboxMessage> {
    store
        .outbox_pending(10_000)
        .await
        .unwrap_or_else(|e| panic!("outbox_pending: {e}"))
        .into_iter()
        .filter(|m| m.topic == topic)
        .collect()
}

fn enqueue(topic: &str, n: i64) -> OutboxOps {
    OutboxOps {
        enqueue: (0..n)
            .map(|i| (topic.to_owned(), json!({"n": i})))
            .collect(),
        ack: Vec::new(),
    }
}

/// Messages are stored with their commit, dropped with a failed one, acknowledged exactly once.
pub async fn outbox_exactly_once(store: &DynStore) {
    let rtype = unique_type("Outbox");
    let topic = format!("topic-{}", nonce());
    let ops = vec![put(
        &rtype,
        "a",
        body(&rtype, "a1"),
        Precondition::MustNotExist,
    )];
    store
        .commit_with_outbox(ops, enqueue(&topic, 3))
        .await
        .unwrap_or_else(|e| panic!("commit with messages: {e}"));
    let msgs = pending(store, &topic).await;
    assert_eq!(msgs.len(), 3, "three messages committed");
    let payloads: Vec<_> = msgs.iter().map(|m| m.payload["n"].as_i64()).collect();
    assert_eq!(payloads, [Some(0), Some(1), Some(2)], "oldest first");
    assert!(msgs.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(msgs.iter().all(|m| m.created_micros > 0));

    // A failed commit leaves no message behind.
    let ops = vec![put(
        &rtype,
        "a",
        body(&rtype, "x"),
        Precondition::MustNotExist,
    )];
    let e = store.commit_with_outbox(ops, enqueue(&topic, 1)).await;
    assert!(matches!(e, Err(StoreError::AlreadyExists { .. })), "{e:?}");
    assert_eq!(
        pending(store, &topic).await.len(),
        3,
        "nothing from a failed commit"
    );

    // The handler's write and the acknowledgement land together.
    let ack = |seq| OutboxOps {
        enqueue: Vec::new(),
        ack: vec![seq],
    };
    let ops = vec![put(
        &rtype,
        "b",
        body(&rtype, "b1"),
        Precondition::MustNotExist,
    )];
    store
        .commit_with_outbox(ops, ack(msgs[0].seq))
        .await
        .unwrap_or_else(|e| panic!("ack: {e}"));
    assert_eq!(pending(store, &topic).await.len(), 2);

    // A second acknowledgement of the same message fails and writes nothing.
    let ops = vec![put(
        &rtype,
        "c",
        body(&rtype, "c1"),
        Precondition::MustNotExist,
    )];
    let e = store.commit_with_outbox(ops, ack(msgs[0].seq)).await;
    assert!(
        matches!(e, Err(StoreError::OutboxGone { seq }) if seq == msgs[0].seq),
        "{e:?}"
    );
    assert!(
        is_absent(store, &rtype, "c").await,
        "the handler's write rolled back"
    );

    // Racing handlers: exactly one wins each message.
    let mut tasks = Vec::new();
    for k in 0..4 {
        let (store, rtype, seq) = (store.clone(), rtype.clone(), msgs[1].seq);
        tasks.push(tokio::spawn(async move {
            let ops = vec![put(
                &rtype,
                &format!("race{k}"),
                body(&rtype, "r"),
                Precondition::MustNotExist,
            )];
            store.commit_with_outbox(ops, ack(seq)).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(_) => won += 1,
            Err(StoreError::OutboxGone { .. }) => {}
            Err(e) => panic!("unexpected failure of a racing handler: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one handler acknowledges a message");

    // An acknowledgement alone, with no writes, is a commit too.
    store
        .commit_with_outbox(Vec::new(), ack(msgs[2].seq))
        .await
        .unwrap_or_else(|e| panic!("ack alone: {e}"));
    assert!(pending(store, &topic).await.is_empty());
}
