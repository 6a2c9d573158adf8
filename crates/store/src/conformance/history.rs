//! Cases for `history` and for concurrent commits.

use std::sync::Arc;

use super::*;
use crate::{HistoryPage, HistoryQuery, HistoryScope, StoreError, WriteOutcome};

/// A first-page query of 100 entries for `scope`.
fn query(scope: HistoryScope) -> HistoryQuery {
    HistoryQuery {
        scope,
        since_micros: None,
        at_micros: None,
        snapshot: None,
        offset: 0,
        count: 100,
    }
}

async fn page(store: &DynStore, q: HistoryQuery) -> HistoryPage {
    let what = format!("{q:?}");
    store
        .history(q)
        .await
        .unwrap_or_else(|e| panic!("history {what}: {e}"))
}

/// `(id, version, deleted)` of each entry, in page order.
fn entries(page: &HistoryPage) -> Vec<(String, u64, bool)> {
    page.entries
        .iter()
        .map(|e| (e.id.clone(), e.version, e.deleted))
        .collect()
}

fn e(id: &str, version: u64, deleted: bool) -> (String, u64, bool) {
    (id.to_owned(), version, deleted)
}

/// Instance, type and system history list versions newest first, page by offset and count.
pub async fn instance_type_system_history(store: &DynStore) {
    let t = unique_type("Hist");
    let before = page(
        store,
        HistoryQuery {
            count: 1,
            ..query(HistoryScope::System)
        },
    )
    .await;
    let a1 = save(store, &t, "a", "a1").await;
    save(store, &t, "b", "b1").await;
    save(store, &t, "a", "a2").await;
    let b2 = commit1(store, del(&t, "b", Precondition::None)).await;

    let inst = page(
        store,
        query(HistoryScope::Instance(t.clone(), "a".to_owned())),
    )
    .await;
    assert_eq!(entries(&inst), vec![e("a", 2, false), e("a", 1, false)]);
    assert_eq!(inst.total, 2);
    let oldest = &inst.entries[1];
    assert_eq!(oldest.rtype, t);
    assert_eq!(
        (&oldest.json, &oldest.last_updated),
        (&a1.json, &a1.last_updated)
    );

    let all = vec![
        e("b", 2, true),
        e("a", 2, false),
        e("b", 1, false),
        e("a", 1, false),
    ];
    let ty = page(store, query(HistoryScope::Type(t.clone()))).await;
    assert_eq!((entries(&ty), ty.total), (all.clone(), 4));
    assert_eq!(ty.entries[0].last_updated, b2.last_updated);
    assert!(ty.entries[0].json.is_empty(), "tombstones carry no body");
    for (offset, want) in [(0, &all[0..2]), (2, &all[2..4]), (4, &all[4..])] {
        let p = page(
            store,
            HistoryQuery {
                offset,
                count: 2,
                snapshot: Some(ty.snapshot),
                ..query(HistoryScope::Type(t.clone()))
            },
        )
        .await;
        assert_eq!(
            (entries(&p), p.total),
            (want.to_vec(), 4),
            "offset {offset}"
        );
    }

    let sys = page(
        store,
        HistoryQuery {
            count: 4,
            ..query(HistoryScope::System)
        },
    )
    .await;
    assert_eq!(entries(&sys), all);
    assert!(sys.entries.iter().all(|x| x.rtype == t));
    assert_eq!(sys.total, before.total + 4);
    assert!(sys.snapshot > before.snapshot);
}

/// `since` keeps versions committed at or after the instant.
pub async fn history_since(store: &DynStore) {
    let t = unique_type("Since");
    let c1 = save(store, &t, "a", "1").await;
    let c2 = save(store, &t, "b", "1").await;
    let c3 = save(store, &t, "a", "2").await;
    let since = |micros: i64| HistoryQuery {
        since_micros: Some(micros),
        ..query(HistoryScope::Type(t.clone()))
    };
    let t2 = micros(&c2.last_updated);
    let p = page(store, since(t2)).await;
    assert_eq!(
        (entries(&p), p.total),
        (vec![e("a", 2, false), e("b", 1, false)], 2)
    );
    let p = page(store, since(t2 + 1)).await;
    assert_eq!((entries(&p), p.total), (vec![e("a", 2, false)], 1));
    let p = page(store, since(micros(&c1.last_updated))).await;
    assert_eq!(p.total, 3);
    let p = page(store, since(micros(&c3.last_updated) + 1)).await;
    assert_eq!((entries(&p), p.total), (vec![], 0));
    let p = page(
        store,
        HistoryQuery {
            since_micros: Some(t2),
            ..query(HistoryScope::Instance(t.clone(), "a".to_owned()))
        },
    )
    .await;
    assert_eq!((entries(&p), p.total), (vec![e("a", 2, false)], 1));
}

/// `at` keeps versions that were current at some moment of `[start, end)`.
pub async fn history_at(store: &DynStore) {
    let t = unique_type("At");
    let t1 = micros(&save(store, &t, "a", "1").await.last_updated);
    let tb = micros(&save(store, &t, "b", "1").await.last_updated);
    let t2 = micros(&save(store, &t, "a", "2").await.last_updated);
    let t3 = micros(
        &commit1(store, del(&t, "a", Precondition::None))
            .await
            .last_updated,
    );
    let cases = [
        ((t1 - 1_000_000, t1), vec![]),
        ((t1, t1 + 1), vec![e("a", 1, false)]),
        ((tb, tb + 1), vec![e("b", 1, false), e("a", 1, false)]),
        ((t2 - 1, t2), vec![e("b", 1, false), e("a", 1, false)]),
        ((t2, t2 + 1), vec![e("a", 2, false), e("b", 1, false)]),
        (
            (t1, t3),
            vec![e("a", 2, false), e("b", 1, false), e("a", 1, false)],
        ),
        ((t3, t3 + 1), vec![e("a", 3, true), e("b", 1, false)]),
        ((t3 + 1, i64::MAX), vec![e("a", 3, true), e("b", 1, false)]),
    ];
    for (range, want) in cases {
        let p = page(
            store,
            HistoryQuery {
                at_micros: Some(range),
                ..query(HistoryScope::Type(t.clone()))
            },
        )
        .await;
        assert_eq!(
            entries(&p),
            want,
            "at {range:?} (t1 {t1}, tb {tb}, t2 {t2}, t3 {t3})"
        );
        assert_eq!(p.total, want.len() as u64);
    }
    let p = page(
        store,
        HistoryQuery {
            at_micros: Some((t2, t3)),
            ..query(HistoryScope::Instance(t.clone(), "a".to_owned()))
        },
    )
    .await;
    assert_eq!(entries(&p), vec![e("a", 2, false)]);
}

/// Pages of one snapshot stay the same while new versions are written.
pub async fn snapshot_paging(store: &DynStore) {
    let t = unique_type("Snap");
    for (id, m) in [("a", "1"), ("b", "1"), ("a", "2"), ("c", "1"), ("b", "2")] {
        save(store, &t, id, m).await;
    }
    let ty = |offset: usize, snapshot: Option<i64>| HistoryQuery {
        offset,
        count: 2,
        snapshot,
        ..query(HistoryScope::Type(t.clone()))
    };
    let p1 = page(store, ty(0, None)).await;
    assert_eq!(
        (entries(&p1), p1.total),
        (vec![e("b", 2, false), e("c", 1, false)], 5)
    );
    let s = p1.snapshot;
    let sys1 = page(
        store,
        HistoryQuery {
            snapshot: Some(s),
            ..query(HistoryScope::System)
        },
    )
    .await;
    // An `_at` window after every write so far: only current versions match.
    let later = micros(&must_read(store, &t, "b").await.last_updated) + 3_600_000_000;
    let at = HistoryQuery {
        at_micros: Some((later, later + 1)),
        snapshot: Some(s),
        ..query(HistoryScope::Type(t.clone()))
    };
    let at1 = page(store, at.clone()).await;
    assert_eq!(
        entries(&at1),
        vec![e("b", 2, false), e("c", 1, false), e("a", 2, false)]
    );

    save(store, &t, "a", "3").await;
    save(store, &t, "d", "1").await;
    commit1(store, del(&t, "c", Precondition::None)).await;

    let p2 = page(store, ty(2, Some(s))).await;
    assert_eq!(
        (entries(&p2), p2.total),
        (vec![e("a", 2, false), e("b", 1, false)], 5)
    );
    assert_eq!(p2.snapshot, s);
    let p3 = page(store, ty(4, Some(s))).await;
    assert_eq!((entries(&p3), p3.total), (vec![e("a", 1, false)], 5));
    let again = page(store, ty(0, Some(s))).await;
    assert_eq!(entries(&again), entries(&p1));
    let sys2 = page(
        store,
        HistoryQuery {
            snapshot: Some(s),
            ..query(HistoryScope::System)
        },
    )
    .await;
    assert_eq!(sys2.total, sys1.total);
    let inst = page(
        store,
        HistoryQuery {
            snapshot: Some(s),
            ..query(HistoryScope::Instance(t.clone(), "a".to_owned()))
        },
    )
    .await;
    assert_eq!(entries(&inst), vec![e("a", 2, false), e("a", 1, false)]);
    assert_eq!(
        entries(&page(store, at).await),
        entries(&at1),
        "_at within a snapshot"
    );

    let fresh = page(store, ty(0, None)).await;
    assert!(fresh.snapshot > s);
    assert_eq!(fresh.total, 8);
    assert_eq!(entries(&fresh), vec![e("c", 2, true), e("d", 1, false)]);
}

/// Runs `ops_a` and `ops_b` as two commits on separate tasks released at the same moment.
async fn race(
    store: &DynStore,
    ops_a: Vec<WriteOp>,
    ops_b: Vec<WriteOp>,
) -> [Result<Vec<WriteResult>, StoreError>; 2] {
    let gate = Arc::new(tokio::sync::Barrier::new(2));
    let spawn = |ops: Vec<WriteOp>| {
        let store = Arc::clone(store);
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            gate.wait().await;
            store.commit(ops).await
        })
    };
    let (a, b) = (spawn(ops_a), spawn(ops_b));
    [
        a.await.expect("commit task panicked"),
        b.await.expect("commit task panicked"),
    ]
}

/// Of two concurrent `VersionIs(1)` updates exactly one wins; the other sees version 2.
pub async fn concurrent_version_conflict(store: &DynStore) {
    for round in 0..5 {
        let t = unique_type("Race");
        save(store, &t, "a", "v1").await;
        let results = race(
            store,
            vec![put(&t, "a", body(&t, "A"), Precondition::VersionIs(1))],
            vec![put(&t, "a", body(&t, "B"), Precondition::VersionIs(1))],
        )
        .await;
        let mut winners = Vec::new();
        for (who, result) in ["A", "B"].into_iter().zip(results) {
            match result {
                Ok(r) => {
                    assert_eq!((r[0].version, r[0].outcome), (2, WriteOutcome::Updated));
                    winners.push(who);
                }
                Err(err) => assert!(
                    matches!(
                        &err,
                        StoreError::VersionConflict {
                            index: 0,
                            expected: 1,
                            current: 2,
                            ..
                        }
                    ),
                    "round {round}: {err:?}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner");
        let cur = must_read(store, &t, "a").await;
        assert_eq!((cur.version, marker(&cur.json)), (2, winners[0].to_owned()));
        assert_eq!(
            super::writes::instance_history(store, &t, "a").await,
            vec![(2, false), (1, false)]
        );
    }
}

/// Of two concurrent `MustNotExist` creates exactly one wins.
pub async fn concurrent_must_not_exist(store: &DynStore) {
    for round in 0..5 {
        let t = unique_type("Race");
        let results = race(
            store,
            vec![put(&t, "a", body(&t, "A"), Precondition::MustNotExist)],
            vec![put(&t, "a", body(&t, "B"), Precondition::MustNotExist)],
        )
        .await;
        let created = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(created, 1, "round {round}: exactly one create");
        for result in results {
            match result {
                Ok(r) => assert_eq!((r[0].version, r[0].outcome), (1, WriteOutcome::Created)),
                Err(err) => assert!(
                    matches!(&err, StoreError::AlreadyExists { index: 0, .. }),
                    "round {round}: {err:?}"
                ),
            }
        }
        assert_eq!(must_read(store, &t, "a").await.version, 1);
    }
}
