//! Cases for [`crate::Store::scan`], the keyset walk behind bulk export.

use super::*;
use crate::ScanQuery;

/// Walks a type page by page: creation order, current versions only, deleted resources left
/// out, the `since` filter on the current version's time, and the end of the walk.
pub async fn scan_pages(store: &DynStore) {
    let t = unique_type("Scan");
    for i in 0..7 {
        save(store, &t, &format!("r{i}"), "1").await;
    }
    let mid = save(store, &t, "r2", "2").await;
    commit1(store, del(&t, "r4", Precondition::None)).await;
    let other = unique_type("Scan");
    save(store, &other, "x", "1").await;

    let walk = |since: Option<i64>, limit: usize| {
        let t = t.clone();
        async move {
            let mut after = 0;
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let page = store
                    .scan(ScanQuery {
                        rtype: t.clone(),
                        since_micros: since,
                        after,
                        limit,
                    })
                    .await
                    .expect("scan");
                pages += 1;
                assert!(page.resources.len() <= limit);
                for r in &page.resources {
                    assert!(!r.deleted);
                    assert_eq!(r.rtype, t);
                    seen.push((r.id.clone(), r.version, marker(&r.json)));
                }
                match page.next {
                    Some(n) => after = n,
                    None => break,
                }
                assert!(pages < 100, "the walk does not end");
            }
            seen
        }
    };
    let all = walk(None, 3).await;
    let ids: Vec<&str> = all.iter().map(|(i, ..)| i.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r5", "r6"], "creation order");
    assert_eq!(
        all[2],
        ("r2".to_owned(), 2, "2".to_owned()),
        "current version"
    );
    assert_eq!(
        walk(None, 100).await,
        all,
        "page size does not change the walk"
    );
    let recent = walk(Some(micros(&mid.last_updated)), 2).await;
    assert_eq!(recent, [("r2".to_owned(), 2, "2".to_owned())]);
    let empty = store
        .scan(ScanQuery {
            rtype: unique_type("Scan"),
            since_micros: None,
            after: 0,
            limit: 10,
        })
        .await
        .expect("scan of an unknown type");
    assert!(empty.resources.is_empty() && empty.next.is_none());
}
