//! Cases for [`crate::Store::open`] and [`crate::Store::read_json_at`], the piecewise reading
//! of stored JSON too large to hold whole.

use super::*;

/// The JSON under `o.key` from `from` on, gathered from pieces of `piece` bytes (every piece
/// but the last full), with a pause longer than a reader waits after the first piece when
/// `pause`.
async fn gather(
    store: &DynStore,
    o: &crate::Opened,
    from: u64,
    piece: usize,
    pause: bool,
) -> Vec<u8> {
    let mut rx = store.json_pieces(o.key, from, piece);
    let mut out = Vec::new();
    let mut short = false;
    while let Some(b) = rx.recv().await {
        let b = b.expect("a piece");
        assert!(b.len() <= piece, "a piece is at most the length asked");
        assert!(!short, "only the last piece is short");
        short = b.len() < piece;
        out.extend_from_slice(&b);
        if pause && out.len() == b.len() {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        }
    }
    out
}

/// A large version is opened without its JSON, which then reads back exactly in pieces (of any
/// size, the last one short, from any offset, paused or dropped by the receiver) for the current version and for an older one; a small one comes
/// whole; tombstones and missing resources are told apart as by `read`.
pub async fn large_json_in_pieces(store: &DynStore) {
    let t = unique_type("Pieces");
    let big: String = (0..300_000u32)
        .map(|i| char::from(b'A' + (i % 26) as u8))
        .collect();
    let first = commit1(
        store,
        put(
            &t,
            "big",
            serde_json::json!({"resourceType": t, "data": big}),
            Precondition::None,
        ),
    )
    .await;
    let current = commit1(
        store,
        put(
            &t,
            "big",
            serde_json::json!({"resourceType": t, "data": format!("{big}{big}")}),
            Precondition::None,
        ),
    )
    .await;
    for (version, want) in [(None, &current), (Some(1), &first), (Some(2), &current)] {
        let o = store
            .open(&t, "big", version, 64 * 1024)
            .await
            .expect("open")
            .expect("the version is found");
        assert!(!o.whole, "a JSON over the inline size is not read");
        assert!(o.resource.json.is_empty());
        assert_eq!(o.len, want.json.len() as u64, "the stored size");
        assert_eq!(o.resource.version, want.version);
        assert_eq!(o.resource.last_updated, want.last_updated);
        assert!(!o.resource.deleted);
        for piece in [65_536, 100_003] {
            assert_eq!(
                gather(store, &o, 0, piece, false).await,
                &want.json[..],
                "pieces of {piece} bytes give back the stored JSON"
            );
        }
        let tail = gather(store, &o, o.len - 5, 64, false).await;
        assert_eq!(&tail[..], &want.json[want.json.len() - 5..]);
        assert!(
            gather(store, &o, o.len + 10, 64, false).await.is_empty(),
            "nothing lies past the end"
        );
        // A receiver that stops taking pieces a while and one that goes away.
        if version.is_none() {
            let paused = gather(store, &o, 1000, 100_000, true).await;
            assert_eq!(
                &paused[..],
                &want.json[1000..],
                "a paused read resumes where it was"
            );
            let mut rx = store.json_pieces(o.key, 0, 4096);
            assert!(rx.recv().await.is_some());
            drop(rx);
        }
    }
    let whole = store
        .open(&t, "big", None, 10 * 1024 * 1024)
        .await
        .expect("open")
        .expect("found");
    assert!(whole.whole);
    assert_eq!(
        whole.resource.json, current.json,
        "read whole when small enough"
    );

    save(store, &t, "small", "s").await;
    commit1(store, del(&t, "small", Precondition::None)).await;
    let gone = store
        .open(&t, "small", None, 1024)
        .await
        .expect("open")
        .expect("a tombstone is found");
    assert!(gone.resource.deleted && gone.whole);
    let v1 = store
        .open(&t, "small", Some(1), 1024)
        .await
        .expect("open")
        .expect("version 1");
    assert!(v1.whole && !v1.resource.deleted);
    assert_eq!(marker(&v1.resource.json), "s");
    assert!(store
        .open(&t, "none", None, 1024)
        .await
        .expect("open")
        .is_none());
    assert!(store
        .open(&t, "small", Some(9), 1024)
        .await
        .expect("open")
        .is_none());
}

/// Pages are bounded in bytes as well as entries: four resources of 25 MiB make a search or
/// history page of three too costly (refused, so it is never held), while two pass, and a scan
/// page ends once it holds the limit, its cursor resuming after it.
pub async fn pages_are_bounded_in_bytes(store: &DynStore) {
    use super::search::{ids, query};
    use crate::{HistoryQuery, HistoryScope, ScanQuery, StoreError};
    let t = unique_type("Bytes");
    let big = "B".repeat(25 << 20);
    for i in 0..4 {
        let r = serde_json::json!({"resourceType": t, "data": big});
        commit1(store, put(&t, &format!("b{i}"), r, Precondition::None)).await;
    }
    drop(big);
    let costly = |r: Result<(), StoreError>, what: &str| match r {
        Err(StoreError::TooCostly { limit, .. }) => assert_eq!(limit, crate::PAGE_BYTES),
        other => panic!("{what}: expected TooCostly, got {other:?}"),
    };
    let mut q = query(&[&t], Vec::new());
    q.count = 3;
    costly(store.search(&q).await.map(|_| ()), "a search page of three");
    q.count = 2;
    let page = store.search(&q).await.expect("a search page of two");
    assert_eq!(ids(&page.matches), ["b0", "b1"]);
    let history = |count: usize| HistoryQuery {
        scope: HistoryScope::Type(t.clone()),
        since_micros: None,
        at_micros: None,
        snapshot: None,
        offset: 0,
        count,
    };
    costly(
        store.history(history(3)).await.map(|_| ()),
        "a history page of three",
    );
    assert_eq!(
        store
            .history(history(2))
            .await
            .expect("history")
            .entries
            .len(),
        2
    );
    let scan = |after: i64| ScanQuery {
        rtype: t.clone(),
        since_micros: None,
        after,
        limit: 10,
    };
    let first = store.scan(scan(0)).await.expect("scan");
    assert_eq!(
        ids(&first.resources),
        ["b0", "b1", "b2"],
        "the page ends at the limit"
    );
    let next = first.next.expect("a page that ended early has a next page");
    let rest = store.scan(scan(next)).await.expect("scan on");
    assert_eq!(ids(&rest.resources), ["b3"]);
    assert_eq!(rest.next, None);
}
