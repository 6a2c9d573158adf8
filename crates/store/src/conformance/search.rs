//! Search cases, one value type at a time. Index rows are written by hand (not extracted), so
//! these cases test the executor against the model's documented semantics only.

use zdrav_search::{
    Condition, IndexRow, IndexValue, Modifier, ParamType, Prefix, SearchQuery, SearchValue,
    TotalMode,
};

use super::*;
use crate::SearchPage;

// ---- index rows ------------------------------------------------------------------------

pub(super) fn row(param: &str, value: IndexValue) -> IndexRow {
    IndexRow {
        param: param.to_owned(),
        value,
    }
}

/// A string row; the test data is already accent-free, so lower case is its normal form.
pub(super) fn string_row(param: &str, exact: &str) -> IndexRow {
    row(
        param,
        IndexValue::String {
            norm: exact.to_lowercase(),
            exact: exact.to_owned(),
        },
    )
}

pub(super) fn token_row(param: &str, system: Option<&str>, code: &str) -> IndexRow {
    row(param, token_value(system, code, None))
}

pub(super) fn token_value(system: Option<&str>, code: &str, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_owned),
        code: Some(code.to_owned()),
        text: text.map(str::to_owned),
        type_system: None,
        type_code: None,
    }
}

/// The range of a FHIR date/dateTime literal.
pub(super) fn range_of(s: &str) -> (i64, i64) {
    crate::parse_fhir_datetime_range(s).unwrap_or_else(|| panic!("bad test date {s}"))
}

pub(super) fn date_row(param: &str, s: &str) -> IndexRow {
    let (low, high) = range_of(s);
    row(param, IndexValue::Date { low, high })
}

pub(super) fn ref_row(param: &str, target_type: &str, id: &str) -> IndexRow {
    row(param, ref_value(Some(target_type), Some(id), None, None))
}

pub(super) fn ref_value(
    tt: Option<&str>,
    id: Option<&str>,
    ver: Option<&str>,
    url: Option<&str>,
) -> IndexValue {
    IndexValue::Reference {
        target_type: tt.map(str::to_owned),
        target_id: id.map(str::to_owned),
        version: ver.map(str::to_owned),
        url: url.map(str::to_owned),
        identifier_system: None,
        identifier_value: None,
    }
}

pub(super) fn number(value: f64, low: f64, high: f64) -> IndexValue {
    IndexValue::Number { value, low, high }
}

pub(super) const UCUM: &str = "http://unitsofmeasure.org";

pub(super) fn quantity(
    v: (f64, f64, f64),
    unit: &str,
    system: bool,
    canon: Option<(f64, &str)>,
) -> IndexValue {
    IndexValue::Quantity {
        value: v.0,
        low: v.1,
        high: v.2,
        system: system.then(|| UCUM.to_owned()),
        code: Some(unit.to_owned()),
        canonical_value: canon.map(|c| c.0),
        canonical_code: canon.map(|c| c.1.to_owned()),
    }
}

// ---- queries ---------------------------------------------------------------------------

/// A first page of 100 matches of `types` in creation order, counted exactly.
pub(super) fn query(types: &[&str], conditions: Vec<Condition>) -> SearchQuery {
    SearchQuery {
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        conditions,
        sort: Vec::new(),
        count: 100,
        offset: 0,
        total: TotalMode::Accurate,
        include: Vec::new(),
        revinclude: Vec::new(),
        snapshot: None,
        patients: None,
    }
}

pub(super) fn cond(
    param: &str,
    ptype: ParamType,
    modifier: Modifier,
    values: Vec<SearchValue>,
) -> Condition {
    Condition::Param {
        param: param.to_owned(),
        ptype,
        modifier,
        values,
    }
}

pub(super) fn sv(s: &str) -> SearchValue {
    SearchValue::String(s.to_owned())
}

pub(super) fn tv(system: Option<Option<&str>>, code: Option<&str>) -> SearchValue {
    SearchValue::Token {
        system: system.map(|s| s.map(str::to_owned)),
        code: code.map(str::to_owned),
        type_system: None,
        type_code: None,
    }
}

pub(super) fn dv(prefix: Prefix, s: &str) -> SearchValue {
    let (low, high) = range_of(s);
    SearchValue::Date { prefix, low, high }
}

pub(super) fn nv(prefix: Prefix, value: f64, low: f64, high: f64) -> SearchValue {
    SearchValue::Number {
        prefix,
        value,
        low,
        high,
    }
}

pub(super) fn rv(target_type: Option<&str>, id: &str) -> SearchValue {
    SearchValue::Reference {
        target_type: target_type.map(str::to_owned),
        target_id: Some(id.to_owned()),
        version: None,
        url: None,
        identifier: None,
    }
}

pub(super) fn missing(param: &str, ptype: ParamType, yes: bool) -> Condition {
    cond(
        param,
        ptype,
        Modifier::Missing,
        vec![SearchValue::Missing(yes)],
    )
}

// ---- running ---------------------------------------------------------------------------

/// Creates each `(type, id, rows)` in one commit, in order (so creation order is list order).
pub(super) async fn put_all(store: &DynStore, resources: Vec<(&str, &str, Vec<IndexRow>)>) {
    let ops = resources
        .into_iter()
        .map(|(rtype, id, index)| WriteOp::Put {
            rtype: rtype.to_owned(),
            id: id.to_owned(),
            resource: serde_json::json!({ "resourceType": rtype }),
            precondition: Precondition::None,
            index,
        })
        .collect();
    store
        .commit(ops)
        .await
        .unwrap_or_else(|e| panic!("commit failed: {e}"));
}

pub(super) async fn run(store: &DynStore, q: &SearchQuery) -> SearchPage {
    store
        .search(q)
        .await
        .unwrap_or_else(|e| panic!("search {q:?} failed: {e}"))
}

pub(super) fn ids(resources: &[StoredResource]) -> Vec<String> {
    resources.iter().map(|r| r.id.clone()).collect()
}

/// Asserts that `q` matches exactly `expected`, in that order, and counts them.
pub(super) async fn expect(store: &DynStore, what: &str, q: SearchQuery, expected: &[&str]) {
    let page = run(store, &q).await;
    assert_eq!(ids(&page.matches), expected, "{what}");
    assert_eq!(page.total, Some(expected.len() as u64), "total of {what}");
    assert!(page.included.is_empty(), "{what}: nothing included");
    for m in &page.matches {
        assert!(!m.deleted && !m.json.is_empty(), "{what}: {} is live", m.id);
    }
}

// ---- cases -----------------------------------------------------------------------------

/// string: starts-with (default and `:text`), `:contains`, `:exact`, OR, AND, `:missing`, and
/// values with quotes and LIKE wildcards matching literally.
pub async fn search_string(store: &DynStore) {
    let t = unique_type("SStr");
    put_all(
        store,
        vec![
            (t.as_str(), "a", vec![string_row("name", "Eve Smith")]),
            (&t, "b", vec![string_row("name", "Evelyn")]),
            (&t, "c", vec![string_row("name", "Steve")]),
            (&t, "d", vec![]),
            (&t, "e", vec![string_row("name", "O'Brien 100%_x")]),
            (&t, "f", vec![string_row("name", "O'Brien 100ab")]),
        ],
    )
    .await;
    let name = |m: Modifier, v: &[&str]| {
        let values = v.iter().map(|s| sv(s)).collect();
        query(&[&t], vec![cond("name", ParamType::String, m, values)])
    };
    expect(
        store,
        "name=eve",
        name(Modifier::None, &["eve"]),
        &["a", "b"],
    )
    .await;
    expect(
        store,
        "name:text=eve",
        name(Modifier::Text, &["eve"]),
        &["a", "b"],
    )
    .await;
    expect(store, "name=smith", name(Modifier::None, &["smith"]), &[]).await;
    let contains = name(Modifier::Contains, &["eve"]);
    expect(store, "name:contains=eve", contains, &["a", "b", "c"]).await;
    let exact = name(Modifier::Exact, &["Eve Smith"]);
    expect(store, "name:exact=Eve Smith", exact, &["a"]).await;
    let exact = name(Modifier::Exact, &["eve smith"]);
    expect(store, "name:exact is case-sensitive", exact, &[]).await;
    expect(
        store,
        "name:exact=Eve",
        name(Modifier::Exact, &["Eve"]),
        &[],
    )
    .await;
    let or = name(Modifier::None, &["evel", "steve"]);
    expect(store, "name=evel,steve", or, &["b", "c"]).await;
    let and = query(
        &[&t],
        vec![
            cond("name", ParamType::String, Modifier::None, vec![sv("eve")]),
            cond(
                "name",
                ParamType::String,
                Modifier::Contains,
                vec![sv("smith")],
            ),
        ],
    );
    expect(store, "name=eve&name:contains=smith", and, &["a"]).await;
    let q = query(&[&t], vec![missing("name", ParamType::String, true)]);
    expect(store, "name:missing=true", q, &["d"]).await;
    let q = query(&[&t], vec![missing("name", ParamType::String, false)]);
    expect(store, "name:missing=false", q, &["a", "b", "c", "e", "f"]).await;

    // Quotes and LIKE wildcards are plain characters.
    let q = name(Modifier::None, &["o'brien 100%"]);
    expect(store, "name=o'brien 100%", q, &["e"]).await;
    expect(
        store,
        "name:contains=%_",
        name(Modifier::Contains, &["%_"]),
        &["e"],
    )
    .await;
    expect(
        store,
        "name:contains=_",
        name(Modifier::Contains, &["_"]),
        &["e"],
    )
    .await;
    expect(store, "name=%", name(Modifier::None, &["%"]), &[]).await;
    expect(store, "name=_", name(Modifier::None, &["_"]), &[]).await;
    let q = name(Modifier::None, &["x' or '1'='1"]);
    expect(store, "quote injection", q, &[]).await;
    let q = name(Modifier::Exact, &["O'Brien 100%_x"]);
    expect(store, "name:exact with quote", q, &["e"]).await;
}

/// token: system|code combinations, `:text`, `:not` (matching resources with no value),
/// `:of-type`, `:missing`, OR.
pub async fn search_token(store: &DynStore) {
    let t = unique_type("STok");
    let loinc = Some("http://loinc.org");
    let snomed = Some("http://snomed.info/sct");
    let mrn = IndexValue::Token {
        system: Some("urn:mrn".to_owned()),
        code: Some("123".to_owned()),
        text: Some("medical record number".to_owned()),
        type_system: Some("http://terminology.hl7.org/CodeSystem/v2-0203".to_owned()),
        type_code: Some("MR".to_owned()),
    };
    put_all(
        store,
        vec![
            (
                t.as_str(),
                "a",
                vec![
                    row("code", token_value(loinc, "1234-5", Some("body weight"))),
                    row("identifier", mrn),
                ],
            ),
            (
                &t,
                "b",
                vec![row("code", token_value(snomed, "1234-5", Some("weight")))],
            ),
            (&t, "c", vec![token_row("code", None, "1234-5")]),
            (&t, "d", vec![token_row("code", loinc, "999")]),
            (&t, "e", vec![]),
        ],
    )
    .await;
    let code =
        |m: Modifier, v: Vec<SearchValue>| query(&[&t], vec![cond("code", ParamType::Token, m, v)]);
    let any = code(Modifier::None, vec![tv(None, Some("1234-5"))]);
    expect(store, "code=1234-5", any, &["a", "b", "c"]).await;
    let both = code(Modifier::None, vec![tv(Some(loinc), Some("1234-5"))]);
    expect(store, "code=loinc|1234-5", both, &["a"]).await;
    let no_system = code(Modifier::None, vec![tv(Some(None), Some("1234-5"))]);
    expect(store, "code=|1234-5", no_system, &["c"]).await;
    let system_only = code(Modifier::None, vec![tv(Some(loinc), None)]);
    expect(store, "code=loinc|", system_only, &["a", "d"]).await;
    let or = code(
        Modifier::None,
        vec![tv(Some(snomed), Some("1234-5")), tv(None, Some("999"))],
    );
    expect(store, "code=snomed|1234-5,999", or, &["b", "d"]).await;
    expect(
        store,
        "code=nope",
        code(Modifier::None, vec![tv(None, Some("nope"))]),
        &[],
    )
    .await;

    let text = code(Modifier::Text, vec![tv(None, Some("body"))]);
    expect(store, "code:text=body", text, &["a"]).await;
    let text = code(Modifier::Text, vec![tv(None, Some("weight"))]);
    expect(store, "code:text=weight", text, &["b"]).await;

    let not = code(Modifier::Not, vec![tv(None, Some("1234-5"))]);
    expect(store, "code:not=1234-5", not, &["d", "e"]).await;
    let not = code(Modifier::Not, vec![tv(Some(loinc), Some("1234-5"))]);
    expect(store, "code:not=loinc|1234-5", not, &["b", "c", "d", "e"]).await;
    let not = code(
        Modifier::Not,
        vec![tv(None, Some("1234-5")), tv(None, Some("999"))],
    );
    expect(store, "code:not=1234-5,999", not, &["e"]).await;

    let q = query(&[&t], vec![missing("code", ParamType::Token, true)]);
    expect(store, "code:missing=true", q, &["e"]).await;
    let q = query(&[&t], vec![missing("code", ParamType::Token, false)]);
    expect(store, "code:missing=false", q, &["a", "b", "c", "d"]).await;

    let of_type = |ts: &str, tc: &str, value: &str| {
        let v = SearchValue::Token {
            system: None,
            code: Some(value.to_owned()),
            type_system: Some(ts.to_owned()),
            type_code: Some(tc.to_owned()),
        };
        query(
            &[&t],
            vec![cond(
                "identifier",
                ParamType::Token,
                Modifier::OfType,
                vec![v],
            )],
        )
    };
    let v2 = "http://terminology.hl7.org/CodeSystem/v2-0203";
    expect(
        store,
        "identifier:of-type",
        of_type(v2, "MR", "123"),
        &["a"],
    )
    .await;
    expect(store, "of-type other type", of_type(v2, "SS", "123"), &[]).await;
    expect(store, "of-type other value", of_type(v2, "MR", "124"), &[]).await;
}

/// date: every prefix on the R4 range table, partial dates as implicit ranges, periods with
/// open ends, ge/le/sa/eb boundaries, `ap` relative to now, OR, AND and `:missing`.
pub async fn search_date(store: &DynStore) {
    let t = unique_type("SDate");
    let (apr1, _) = range_of("2024-04-01");
    let (_, jun2) = range_of("2024-06-01");
    let (may3, _) = range_of("2024-05-03");
    let period = |low, high| row("date", IndexValue::Date { low, high });
    put_all(
        store,
        vec![
            (t.as_str(), "a", vec![date_row("date", "2024-05-03")]),
            (&t, "b", vec![date_row("date", "2024-05-02T23:00:00Z")]),
            (&t, "c", vec![date_row("date", "2024-05-04")]),
            (&t, "d", vec![date_row("date", "2023")]),
            (&t, "e", vec![period(apr1, jun2)]),
            (&t, "f", vec![period(may3, i64::MAX)]),
            (&t, "g", vec![]),
        ],
    )
    .await;
    let date = |values: Vec<SearchValue>| {
        query(
            &[&t],
            vec![cond("date", ParamType::Date, Modifier::None, values)],
        )
    };
    let day = "2024-05-03";
    let cases: [(Prefix, &str, &[&str]); 11] = [
        (Prefix::Eq, day, &["a"]),
        (Prefix::Eq, "2024", &["a", "b", "c", "e"]),
        (Prefix::Eq, "2024-05", &["a", "b", "c"]),
        (Prefix::Ne, day, &["b", "c", "d", "e", "f"]),
        (Prefix::Gt, day, &["c", "e", "f"]),
        (Prefix::Lt, day, &["b", "d", "e"]),
        (Prefix::Ge, day, &["a", "c", "e", "f"]),
        (Prefix::Le, day, &["a", "b", "d", "e"]),
        (Prefix::Sa, day, &["c"]),
        (Prefix::Eb, day, &["b", "d"]),
        (Prefix::Eq, "2024-05-03T10:00:00Z", &[]),
    ];
    for (prefix, value, expected) in cases {
        let what = format!("date={prefix:?}{value}");
        expect(store, &what, date(vec![dv(prefix, value)]), expected).await;
    }
    // Boundaries: a day ends where the next begins; sa/eb are strict about overlap.
    expect(
        store,
        "ge2024-05-04",
        date(vec![dv(Prefix::Ge, "2024-05-04")]),
        &["c", "e", "f"],
    )
    .await;
    expect(
        store,
        "le2024-05-02",
        date(vec![dv(Prefix::Le, "2024-05-02")]),
        &["b", "d", "e"],
    )
    .await;
    expect(
        store,
        "sa2024-05-02",
        date(vec![dv(Prefix::Sa, "2024-05-02")]),
        &["a", "c", "f"],
    )
    .await;
    expect(
        store,
        "eb2024-01-01",
        date(vec![dv(Prefix::Eb, "2024-01-01")]),
        &["d"],
    )
    .await;
    let or = date(vec![dv(Prefix::Eq, day), dv(Prefix::Eq, "2023")]);
    expect(store, "date=2024-05-03,2023", or, &["a", "d"]).await;
    let and = query(
        &[&t],
        vec![
            cond(
                "date",
                ParamType::Date,
                Modifier::None,
                vec![dv(Prefix::Ge, "2024-05-03")],
            ),
            cond(
                "date",
                ParamType::Date,
                Modifier::None,
                vec![dv(Prefix::Lt, "2024-05-04")],
            ),
        ],
    );
    expect(
        store,
        "date=ge2024-05-03&date=lt2024-05-04",
        and,
        &["a", "e", "f"],
    )
    .await;
    let q = query(&[&t], vec![missing("date", ParamType::Date, true)]);
    expect(store, "date:missing=true", q, &["g"]).await;

    // ap: the query day is 100 days ago, so it widens by about 10 days either side.
    let day_us = 86_400_000_000i64;
    let now = chrono::Utc::now().timestamp_micros();
    let q_low = (now / day_us - 100) * day_us;
    let at = |offset_days: i64| {
        let low = q_low + offset_days * day_us;
        row(
            "ap",
            IndexValue::Date {
                low,
                high: low + day_us,
            },
        )
    };
    let t2 = unique_type("SDateAp");
    put_all(
        store,
        vec![
            (t2.as_str(), "near-after", vec![at(5)]),
            (&t2, "far-after", vec![at(30)]),
            (&t2, "near-before", vec![at(-5)]),
            (&t2, "far-before", vec![at(-30)]),
        ],
    )
    .await;
    let ap = SearchValue::Date {
        prefix: Prefix::Ap,
        low: q_low,
        high: q_low + day_us,
    };
    let q = query(
        &[&t2],
        vec![cond("ap", ParamType::Date, Modifier::None, vec![ap])],
    );
    expect(store, "ap", q, &["near-after", "near-before"]).await;
}
