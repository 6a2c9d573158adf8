//! Cases for `commit`, `read`, `vread`, `exists_many` and `counts`.

use serde_json::json;

use super::*;
use crate::{HistoryQuery, HistoryScope, StoreError, WriteOutcome};

/// Instance history of one resource, first page of 100.
pub(super) async fn instance_history(store: &DynStore, rtype: &str, id: &str) -> Vec<(u64, bool)> {
    let page = store
        .history(HistoryQuery {
            scope: HistoryScope::Instance(rtype.to_owned(), id.to_owned()),
            since_micros: None,
            at_micros: None,
            snapshot: None,
            offset: 0,
            count: 100,
        })
        .await
        .unwrap_or_else(|e| panic!("history of {rtype}/{id}: {e}"));
    assert_eq!(
        page.total,
        page.entries.len() as u64,
        "total of {rtype}/{id}"
    );
    page.entries
        .iter()
        .map(|e| (e.version, e.deleted))
        .collect()
}

/// Create gives v1, update v2; both versions stay readable and `read` returns the newest.
pub async fn create_update_vread(store: &DynStore) {
    let t = unique_type("Cuv");
    let r1 = save(store, &t, "a", "one").await;
    assert_eq!((r1.version, r1.outcome), (1, WriteOutcome::Created));
    assert_eq!((r1.rtype.as_str(), r1.id.as_str()), (t.as_str(), "a"));
    let r2 = save(store, &t, "a", "two").await;
    assert_eq!((r2.version, r2.outcome), (2, WriteOutcome::Updated));

    let v1 = must_vread(store, &t, "a", 1).await;
    assert_eq!((v1.version, v1.deleted), (1, false));
    assert_eq!(marker(&v1.json), "one");
    assert_eq!(v1.json, r1.json, "vread returns the bytes commit returned");
    assert_eq!(v1.last_updated, r1.last_updated);
    let v2 = must_vread(store, &t, "a", 2).await;
    assert_eq!(marker(&v2.json), "two");
    assert_eq!(parse(&v2.json)["meta"]["versionId"], json!("2"));

    let cur = must_read(store, &t, "a").await;
    assert_eq!((cur.version, cur.deleted), (2, false));
    assert_eq!(cur.json, r2.json);
    assert_eq!(cur.last_updated, r2.last_updated);

    let none = store.vread(&t, "a", 3).await.expect("vread");
    assert!(none.is_none(), "no version 3 yet");
    assert!(store.vread(&t, "a", 0).await.expect("vread").is_none());
    assert!(is_absent(store, &t, "b").await);
    assert!(store.vread(&t, "b", 1).await.expect("vread").is_none());
}

/// Delete writes a tombstone version; a later put continues the numbering and counts as created.
pub async fn delete_and_recreate(store: &DynStore) {
    let t = unique_type("Del");
    save(store, &t, "a", "one").await;
    save(store, &t, "a", "two").await;
    let d = commit1(store, del(&t, "a", Precondition::None)).await;
    assert_eq!((d.version, d.outcome), (3, WriteOutcome::Deleted));
    assert!(d.json.is_empty(), "a delete returns no body");

    let cur = must_read(store, &t, "a").await;
    assert_eq!((cur.version, cur.deleted), (3, true));
    assert!(cur.json.is_empty(), "a tombstone has no body");
    assert_eq!(cur.last_updated, d.last_updated);
    let tomb = must_vread(store, &t, "a", 3).await;
    assert_eq!((tomb.version, tomb.deleted), (3, true));
    let v2 = must_vread(store, &t, "a", 2).await;
    assert_eq!((v2.deleted, marker(&v2.json)), (false, "two".to_owned()));

    let again = commit1(store, del(&t, "a", Precondition::None)).await;
    assert_eq!((again.version, again.outcome), (3, WriteOutcome::NoOp));

    let r = save(store, &t, "a", "four").await;
    assert_eq!((r.version, r.outcome), (4, WriteOutcome::Created));
    let cur = must_read(store, &t, "a").await;
    assert_eq!((cur.version, cur.deleted), (4, false));
    assert_eq!(marker(&cur.json), "four");
    assert_eq!(
        instance_history(store, &t, "a").await,
        vec![(4, false), (3, true), (2, false), (1, false)]
    );
}

/// Deleting what does not exist writes nothing.
pub async fn delete_of_missing_is_noop(store: &DynStore) {
    let t = unique_type("Noop");
    let r = commit1(store, del(&t, "ghost", Precondition::None)).await;
    assert_eq!((r.version, r.outcome), (0, WriteOutcome::NoOp));
    assert!(r.json.is_empty());
    assert!(is_absent(store, &t, "ghost").await);
    assert_eq!(instance_history(store, &t, "ghost").await, vec![]);
    let exists = store
        .exists_many(vec![(t.clone(), "ghost".to_owned())])
        .await
        .expect("exists_many");
    assert_eq!(exists, vec![false]);
}

/// `VersionIs` passes only on the exact live version and reports the current one otherwise.
pub async fn version_is_precondition(store: &DynStore) {
    let t = unique_type("Vis");
    save(store, &t, "a", "one").await;
    let ok = commit1(
        store,
        put(&t, "a", body(&t, "two"), Precondition::VersionIs(1)),
    )
    .await;
    assert_eq!((ok.version, ok.outcome), (2, WriteOutcome::Updated));

    let err = store
        .commit(vec![put(
            &t,
            "a",
            body(&t, "x"),
            Precondition::VersionIs(1),
        )])
        .await
        .expect_err("stale VersionIs must fail");
    assert!(
        matches!(&err, StoreError::VersionConflict { index: 0, rtype, id, expected: 1, current: 2 }
            if *rtype == t && id == "a"),
        "{err:?}"
    );
    assert_eq!(marker(&must_read(store, &t, "a").await.json), "two");

    let err = store
        .commit(vec![put(
            &t,
            "missing",
            body(&t, "x"),
            Precondition::VersionIs(1),
        )])
        .await
        .expect_err("VersionIs on a missing resource must fail");
    assert!(
        matches!(
            &err,
            StoreError::VersionConflict {
                index: 0,
                expected: 1,
                current: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(is_absent(store, &t, "missing").await);

    let d = commit1(store, del(&t, "a", Precondition::VersionIs(2))).await;
    assert_eq!((d.version, d.outcome), (3, WriteOutcome::Deleted));
    // A tombstone never matches, not even its own version number.
    let err = store
        .commit(vec![put(
            &t,
            "a",
            body(&t, "x"),
            Precondition::VersionIs(3),
        )])
        .await
        .expect_err("VersionIs on a deleted resource must fail");
    assert!(
        matches!(
            &err,
            StoreError::VersionConflict {
                index: 0,
                expected: 3,
                current: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let err = store
        .commit(vec![del(&t, "a", Precondition::VersionIs(2))])
        .await
        .expect_err("stale VersionIs on delete must fail");
    assert!(
        matches!(
            &err,
            StoreError::VersionConflict {
                index: 0,
                expected: 2,
                current: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(must_read(store, &t, "a").await.version, 3);
}

/// `MustNotExist` passes only when the resource has no version at all.
pub async fn must_not_exist_precondition(store: &DynStore) {
    let t = unique_type("Mne");
    let r = commit1(
        store,
        put(&t, "a", body(&t, "one"), Precondition::MustNotExist),
    )
    .await;
    assert_eq!((r.version, r.outcome), (1, WriteOutcome::Created));
    let err = store
        .commit(vec![put(
            &t,
            "a",
            body(&t, "x"),
            Precondition::MustNotExist,
        )])
        .await
        .expect_err("MustNotExist on an existing resource must fail");
    assert!(
        matches!(&err, StoreError::AlreadyExists { index: 0, rtype, id } if *rtype == t && id == "a"),
        "{err:?}"
    );
    commit1(store, del(&t, "a", Precondition::None)).await;
    let err = store
        .commit(vec![put(
            &t,
            "a",
            body(&t, "x"),
            Precondition::MustNotExist,
        )])
        .await
        .expect_err("MustNotExist on a deleted resource must fail");
    assert!(
        matches!(&err, StoreError::AlreadyExists { index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(
        instance_history(store, &t, "a").await,
        vec![(2, true), (1, false)]
    );
}

/// Two ops on one key in one commit fail with the second op's index and write nothing.
pub async fn duplicate_key(store: &DynStore) {
    let t = unique_type("Dup");
    let err = store
        .commit(vec![
            put(&t, "a", body(&t, "1"), Precondition::None),
            put(&t, "b", body(&t, "2"), Precondition::None),
            put(&t, "a", body(&t, "3"), Precondition::None),
        ])
        .await
        .expect_err("a key written twice must fail");
    assert!(
        matches!(&err, StoreError::DuplicateKey { index: 2, rtype, id } if *rtype == t && id == "a"),
        "{err:?}"
    );
    assert!(is_absent(store, &t, "a").await);
    assert!(is_absent(store, &t, "b").await);

    save(store, &t, "c", "1").await;
    let err = store
        .commit(vec![
            put(&t, "c", body(&t, "2"), Precondition::None),
            del(&t, "c", Precondition::None),
        ])
        .await
        .expect_err("put and delete of one key must fail");
    assert!(
        matches!(&err, StoreError::DuplicateKey { index: 1, .. }),
        "{err:?}"
    );
    assert_eq!(must_read(store, &t, "c").await.version, 1);

    // The same id under another type is another resource.
    let u = unique_type("Dup");
    let results = store
        .commit(vec![
            put(&t, "d", body(&t, "1"), Precondition::None),
            put(&u, "d", body(&u, "1"), Precondition::None),
        ])
        .await
        .expect("same id, different types");
    assert_eq!(results.len(), 2);
}

/// A failing op in the middle of a commit rolls back the ops before it.
pub async fn failed_commit_leaves_nothing(store: &DynStore) {
    let t = unique_type("Atom");
    save(store, &t, "x", "one").await;
    let before = store.counts().await.expect("counts");

    let err = store
        .commit(vec![
            put(&t, "x", body(&t, "two"), Precondition::None),
            put(&t, "y", body(&t, "y"), Precondition::VersionIs(4)),
            put(&t, "z", body(&t, "z"), Precondition::None),
        ])
        .await
        .expect_err("the middle op must fail");
    assert!(
        matches!(&err, StoreError::VersionConflict { index: 1, rtype, id, expected: 4, current: 0 }
            if *rtype == t && id == "y"),
        "{err:?}"
    );
    let err = store
        .commit(vec![
            put(&t, "x2", body(&t, "x2"), Precondition::MustNotExist),
            put(&t, "x", body(&t, "again"), Precondition::MustNotExist),
            del(&t, "x", Precondition::None),
        ])
        .await
        .expect_err("the middle op must fail");
    assert!(
        matches!(&err, StoreError::AlreadyExists { index: 1, rtype, id } if *rtype == t && id == "x"),
        "{err:?}"
    );

    let x = must_read(store, &t, "x").await;
    assert_eq!((x.version, x.deleted), (1, false));
    assert_eq!(marker(&x.json), "one");
    assert!(is_absent(store, &t, "y").await);
    assert!(is_absent(store, &t, "z").await);
    assert!(is_absent(store, &t, "x2").await);
    assert!(store.vread(&t, "x", 2).await.expect("vread").is_none());
    assert_eq!(instance_history(store, &t, "x").await, vec![(1, false)]);
    let page = store
        .history(HistoryQuery {
            scope: HistoryScope::Type(t.clone()),
            since_micros: None,
            at_micros: None,
            snapshot: None,
            offset: 0,
            count: 10,
        })
        .await
        .expect("type history");
    assert_eq!(page.total, 1);
    assert_eq!(store.counts().await.expect("counts"), before);
}

/// The store sets `id`, `meta.versionId` and `meta.lastUpdated`, keeps other meta fields and
/// places `meta` right after `id`; returned and stored bytes are the same.
pub async fn meta_is_stamped(store: &DynStore) {
    let t = unique_type("Meta");
    let resource = json!({
        "active": true,
        "meta": {
            "versionId": "99",
            "lastUpdated": "1999-01-01T00:00:00Z",
            "profile": ["http://example.org/p"],
            "tag": [{ "system": "s", "code": "c" }],
        },
        "resourceType": t,
        "id": "not-this-one",
    });
    let r = commit1(store, put(&t, "m", resource, Precondition::None)).await;
    let stored = must_read(store, &t, "m").await;
    assert_eq!(stored.json, r.json, "returned and stored bytes differ");
    let v = parse(&r.json);
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, vec!["resourceType", "id", "meta", "active"]);
    assert_eq!(v["resourceType"], json!(t));
    assert_eq!(v["id"], json!("m"));
    assert_eq!(v["meta"]["versionId"], json!("1"));
    assert_eq!(v["meta"]["lastUpdated"], json!(r.last_updated));
    assert_eq!(v["meta"]["profile"], json!(["http://example.org/p"]));
    assert_eq!(v["meta"]["tag"], json!([{ "system": "s", "code": "c" }]));
    assert_eq!(v["active"], json!(true));
    assert!(r.last_updated.ends_with('Z'), "{}", r.last_updated);
    assert!(
        micros(&r.last_updated) > 1_700_000_000_000_000,
        "a recent instant"
    );

    let r2 = commit1(
        store,
        put(&t, "n", json!({ "resourceType": t }), Precondition::None),
    )
    .await;
    let v2 = parse(&r2.json);
    assert_eq!(v2["id"], json!("n"));
    assert_eq!(v2["meta"]["versionId"], json!("1"));
    assert_eq!(v2["meta"]["lastUpdated"], json!(r2.last_updated));
}

/// Every commit gets an instant strictly after the previous one; ops of one commit share it.
pub async fn last_updated_increases(store: &DynStore) {
    let t = unique_type("Time");
    let mut last = i64::MIN;
    for i in 0..5 {
        let results = store
            .commit(vec![
                put(&t, "a", body(&t, &i.to_string()), Precondition::None),
                put(&t, "b", body(&t, &i.to_string()), Precondition::None),
            ])
            .await
            .expect("commit");
        assert_eq!(results[0].last_updated, results[1].last_updated);
        let now = micros(&results[0].last_updated);
        assert!(now > last, "{now} after {last}");
        last = now;
        let b = must_read(store, &t, "b").await;
        assert_eq!(
            parse(&b.json)["meta"]["lastUpdated"],
            json!(results[0].last_updated)
        );
    }
}

/// `exists_many` answers per key, in order, for live resources only.
pub async fn exists_many(store: &DynStore) {
    let t = unique_type("Ex");
    let u = unique_type("Ex");
    save(store, &t, "a", "1").await;
    save(store, &t, "b", "1").await;
    commit1(store, del(&t, "b", Precondition::None)).await;
    let keys = vec![
        (t.clone(), "a".to_owned()),
        (t.clone(), "b".to_owned()),
        (t.clone(), "c".to_owned()),
        (u.clone(), "a".to_owned()),
        (t.clone(), "a".to_owned()),
    ];
    let got = store.exists_many(keys).await.expect("exists_many");
    assert_eq!(got, vec![true, false, false, false, true]);
    assert_eq!(
        store.exists_many(vec![]).await.expect("empty"),
        Vec::<bool>::new()
    );

    // Enough keys to cross any batching, every third one present.
    let ops: Vec<WriteOp> = (0..300)
        .filter(|i| i % 3 == 0)
        .map(|i| put(&u, &format!("k{i}"), body(&u, "k"), Precondition::None))
        .collect();
    store.commit(ops).await.expect("bulk commit");
    let keys: Vec<(String, String)> = (0..300).map(|i| (u.clone(), format!("k{i}"))).collect();
    let got = store.exists_many(keys).await.expect("exists_many");
    let want: Vec<bool> = (0..300).map(|i| i % 3 == 0).collect();
    assert_eq!(got, want);
}

/// `counts` reports live resources per type.
pub async fn counts(store: &DynStore) {
    let t = unique_type("Cnt");
    let u = unique_type("Cnt");
    let count_of = |counts: &[(String, u64)], rtype: &str| {
        counts
            .iter()
            .find(|(r, _)| r == rtype)
            .map_or(0, |(_, n)| *n)
    };
    for id in ["a", "b", "c"] {
        save(store, &t, id, "1").await;
    }
    save(store, &t, "a", "2").await;
    commit1(store, del(&t, "b", Precondition::None)).await;
    save(store, &u, "a", "1").await;
    let counts = store.counts().await.expect("counts");
    assert_eq!(count_of(&counts, &t), 2);
    assert_eq!(count_of(&counts, &u), 1);

    commit1(store, del(&u, "a", Precondition::None)).await;
    save(store, &t, "b", "again").await;
    let counts = store.counts().await.expect("counts");
    assert_eq!(count_of(&counts, &t), 3);
    assert_eq!(
        count_of(&counts, &u),
        0,
        "a type with no live resource counts 0 or is absent"
    );
}

/// `setting_or_init`: the first value stored wins, for every later and every concurrent caller.
pub async fn settings_first_value_wins(store: &DynStore) {
    let name = format!("conformance-{}", super::nonce());
    let first = store
        .setting_or_init(&name, b"one".to_vec())
        .await
        .expect("first setting");
    assert_eq!(first, b"one");
    let again = store
        .setting_or_init(&name, b"two".to_vec())
        .await
        .expect("second setting");
    assert_eq!(
        again, b"one",
        "a later value must not replace the stored one"
    );
    let racing = format!("{name}-race");
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            let racing = racing.clone();
            tokio::spawn(async move { store.setting_or_init(&racing, vec![i]).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.expect("task").expect("racing setting"));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "concurrent callers saw different values: {seen:?}"
    );
}
