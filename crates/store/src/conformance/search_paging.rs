//! Search cases for order, pages, totals, and index rows following updates and deletes.

use zdrav_search::{Direction, Modifier, ParamType, SearchQuery, SearchValue, SortKey, TotalMode};

use super::search::{
    cond, date_row, expect, ids, put_all, query, run, string_row, sv, token_row, tv,
};
use super::*;

fn key(param: &str, ptype: ParamType, direction: Direction) -> SortKey {
    SortKey {
        param: param.to_owned(),
        ptype,
        direction,
    }
}

/// Sorting by string, token, date, `_id` and `_lastUpdated`, ascending and descending, several
/// keys, ties and missing values; the default order is creation order, which updates keep.
pub async fn search_sort(store: &DynStore) {
    let t = unique_type("SSort");
    let a_rows = || {
        vec![
            string_row("name", "b"),
            string_row("name", "z"),
            date_row("date", "2024-03"),
            token_row("code", None, "x2"),
        ]
    };
    put_all(
        store,
        vec![
            (t.as_str(), "a", a_rows()),
            (
                &t,
                "b",
                vec![
                    string_row("name", "a"),
                    date_row("date", "2024-01"),
                    token_row("code", None, "x1"),
                ],
            ),
            (
                &t,
                "c",
                vec![string_row("name", "c"), date_row("date", "2024-01")],
            ),
            (
                &t,
                "d",
                vec![date_row("date", "2024-02"), token_row("code", None, "x3")],
            ),
        ],
    )
    .await;
    // A later version of `a`: newest by lastUpdated, still first by creation.
    put_all(store, vec![(&t, "a", a_rows())]).await;
    let sorted = |keys: Vec<SortKey>| {
        let mut q = query(&[&t], vec![]);
        q.sort = keys;
        q
    };
    use Direction::{Asc, Desc};
    let cases: Vec<(&str, Vec<SortKey>, [&str; 4])> = vec![
        ("default", vec![], ["a", "b", "c", "d"]),
        (
            "name",
            vec![key("name", ParamType::String, Asc)],
            ["b", "a", "c", "d"],
        ),
        (
            "-name",
            vec![key("name", ParamType::String, Desc)],
            ["a", "c", "b", "d"],
        ),
        (
            "date,-name",
            vec![
                key("date", ParamType::Date, Asc),
                key("name", ParamType::String, Desc),
            ],
            ["c", "b", "d", "a"],
        ),
        (
            "-date",
            vec![key("date", ParamType::Date, Desc)],
            ["a", "d", "b", "c"],
        ),
        (
            "code",
            vec![key("code", ParamType::Token, Asc)],
            ["b", "a", "d", "c"],
        ),
        (
            "-_id",
            vec![key("_id", ParamType::Token, Desc)],
            ["d", "c", "b", "a"],
        ),
        (
            "_lastUpdated",
            vec![key("_lastUpdated", ParamType::Date, Asc)],
            ["b", "c", "d", "a"],
        ),
        (
            "-_lastUpdated",
            vec![key("_lastUpdated", ParamType::Date, Desc)],
            ["a", "b", "c", "d"],
        ),
    ];
    for (what, keys, expected) in cases {
        expect(store, &format!("_sort={what}"), sorted(keys), &expected).await;
    }
}

/// Pages by offset and count; a snapshot keeps pages and totals stable while resources are
/// created (updates stay visible); totals per mode; a page of zero still counts.
pub async fn search_paging(store: &DynStore) {
    let t = unique_type("SPage");
    put_all(
        store,
        vec![
            (t.as_str(), "a", vec![string_row("name", "b")]),
            (&t, "b", vec![string_row("name", "a")]),
            (&t, "c", vec![string_row("name", "c")]),
            (&t, "d", vec![string_row("name", "d")]),
        ],
    )
    .await;
    let page_of = |offset: usize, snapshot: Option<i64>, by_name: bool| {
        let mut q = query(&[&t], vec![]);
        q.count = 2;
        q.offset = offset;
        q.snapshot = snapshot;
        if by_name {
            q.sort = vec![key("name", ParamType::String, Direction::Asc)];
        }
        q
    };
    let first = run(store, &page_of(0, None, false)).await;
    assert_eq!(ids(&first.matches), ["a", "b"], "page 1");
    assert_eq!(first.total, Some(4));
    let snap = first.snapshot;
    let by_name = run(store, &page_of(0, Some(snap), true)).await;
    assert_eq!(ids(&by_name.matches), ["b", "a"], "page 1 by name");

    // Others write between pages: `e` would sort first by name; `c` changes.
    put_all(store, vec![(&t, "e", vec![string_row("name", "a")])]).await;
    put_all(store, vec![(&t, "c", vec![string_row("name", "cc")])]).await;
    let second = run(store, &page_of(2, Some(snap), false)).await;
    assert_eq!(ids(&second.matches), ["c", "d"], "page 2 in the snapshot");
    assert_eq!((second.total, second.snapshot), (Some(4), snap));
    let stored = parse(&second.matches[0].json);
    assert_eq!(
        stored["meta"]["versionId"], "2",
        "updates show through the snapshot"
    );
    let second = run(store, &page_of(2, Some(snap), true)).await;
    assert_eq!(
        ids(&second.matches),
        ["c", "d"],
        "page 2 by name in the snapshot"
    );
    let fresh = run(store, &page_of(0, None, true)).await;
    assert_eq!(
        ids(&fresh.matches),
        ["b", "e"],
        "a new first page sees the new resource"
    );
    assert_eq!(fresh.total, Some(5));
    assert!(fresh.snapshot > snap);
    let beyond = run(store, &page_of(10, None, false)).await;
    assert!(beyond.matches.is_empty(), "past the end");
    assert_eq!(beyond.total, Some(5));

    commit1(store, del(&t, "d", Precondition::None)).await;
    let second = run(store, &page_of(2, Some(snap), false)).await;
    assert_eq!(
        ids(&second.matches),
        ["c"],
        "a deleted resource leaves its page"
    );
    assert_eq!(second.total, Some(3));

    // Counts with conditions (read from the index rows alone) keep to the snapshot too, and
    // repeated or intersected conditions count each resource once.
    let named = |values: &[&str], snapshot: Option<i64>| {
        let values = values.iter().map(|v| sv(v)).collect();
        let mut q = query(
            &[&t],
            vec![cond("name", ParamType::String, Modifier::None, values)],
        );
        q.snapshot = snapshot;
        q.count = 0;
        q
    };
    let total = |q: SearchQuery| async move { run(store, &q).await.total };
    assert_eq!(
        total(named(&["a"], Some(snap))).await,
        Some(1),
        "e is newer"
    );
    assert_eq!(total(named(&["a"], None)).await, Some(2));
    assert_eq!(total(named(&["d"], None)).await, Some(0), "d is deleted");
    assert_eq!(total(named(&["a", "c", "b"], None)).await, Some(4));
    let mut both = named(&["a", "b"], None);
    both.conditions.push(cond(
        "name",
        ParamType::String,
        Modifier::None,
        vec![sv("b")],
    ));
    assert_eq!(total(both).await, Some(1), "a AND b: only `a` (named b)");

    let mut q = query(&[&t], vec![]);
    q.total = TotalMode::None;
    let page = run(store, &q).await;
    assert_eq!((page.matches.len(), page.total), (4, None), "_total=none");
    q.total = TotalMode::Estimate;
    assert!(run(store, &q).await.total.is_some(), "_total=estimate");
    q.total = TotalMode::Accurate;
    q.count = 0;
    let page = run(store, &q).await;
    assert_eq!((page.matches.len(), page.total), (0, Some(4)), "_count=0");
}

/// An update replaces the resource's index rows, a delete removes them, and a resource created
/// again after a delete is found again (in its original creation order).
pub async fn search_after_updates(store: &DynStore) {
    let t = unique_type("SUpdIdx");
    let code = |c: &str| vec![token_row("code", None, c)];
    let is = |c: &str| {
        query(
            &[&t],
            vec![cond(
                "code",
                ParamType::Token,
                Modifier::None,
                vec![tv(None, Some(c))],
            )],
        )
    };
    put_all(
        store,
        vec![(t.as_str(), "a", code("X")), (&t, "b", code("X"))],
    )
    .await;
    expect(store, "before", is("X"), &["a", "b"]).await;
    put_all(store, vec![(&t, "a", code("Y"))]).await;
    expect(store, "old rows gone", is("X"), &["b"]).await;
    expect(store, "new rows there", is("Y"), &["a"]).await;
    put_all(store, vec![(&t, "b", vec![])]).await;
    let missing = cond(
        "code",
        ParamType::Token,
        Modifier::Missing,
        vec![SearchValue::Missing(true)],
    );
    expect(
        store,
        "updated without rows",
        query(&[&t], vec![missing]),
        &["b"],
    )
    .await;
    commit1(store, del(&t, "a", Precondition::None)).await;
    expect(store, "deleted", is("Y"), &[]).await;
    expect(
        store,
        "deleted, no conditions",
        query(&[&t], vec![]),
        &["b"],
    )
    .await;
    put_all(store, vec![(&t, "a", code("X")), (&t, "c", code("X"))]).await;
    expect(store, "created again", is("X"), &["a", "c"]).await;
    expect(store, "all", query(&[&t], vec![]), &["a", "b", "c"]).await;
}
