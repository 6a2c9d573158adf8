//! Search cases for number, quantity, reference, uri and composite parameters.

use zdrav_search::{IndexValue, Modifier, ParamType, Prefix, SearchValue};

use super::search::{
    cond, expect, missing, number, nv, put_all, quantity, query, ref_row, ref_value, row, rv,
    token_value, tv, UCUM,
};
use super::*;

/// number and quantity: prefixes on implicit ranges, `ap` ±10 %, and quantity matching by
/// canonical unit (mg/dL against g/L), by unit, or by value alone.
pub async fn search_number_quantity(store: &DynStore) {
    let t = unique_type("SNum");
    let n = |v: f64, l: f64, h: f64| row("n", number(v, l, h));
    let mg = |v, canon| quantity(v, "mg/dL", true, canon);
    put_all(
        store,
        vec![
            (
                t.as_str(),
                "a",
                vec![
                    n(100.0, 99.5, 100.5),
                    row("q", mg((5.4, 5.35, 5.45), Some((54.0, "g.m-3")))),
                ],
            ),
            (
                &t,
                "b",
                vec![
                    n(100.4, 100.35, 100.45),
                    row(
                        "q",
                        quantity(
                            (0.054, 0.05395, 0.05405),
                            "g/L",
                            true,
                            Some((54.0, "g.m-3")),
                        ),
                    ),
                ],
            ),
            (
                &t,
                "c",
                vec![
                    n(101.0, 100.5, 101.5),
                    row(
                        "q",
                        quantity((5.4, 5.35, 5.45), "mmol/L", true, Some((5.4, "mol.m-3"))),
                    ),
                ],
            ),
            (
                &t,
                "d",
                vec![
                    n(99.0, 98.5, 99.5),
                    row("q", quantity((5.4, 5.35, 5.45), "mg/dL", false, None)),
                ],
            ),
            (
                &t,
                "e",
                vec![
                    n(5.5, 5.45, 5.55),
                    row("q", mg((7.0, 6.5, 7.5), Some((70.0, "g.m-3")))),
                ],
            ),
        ],
    )
    .await;
    let hundred = |prefix| nv(prefix, 100.0, 99.5, 100.5);
    let cases: [(Prefix, &[&str]); 9] = [
        (Prefix::Eq, &["a", "b"]),
        (Prefix::Ne, &["c", "d", "e"]),
        (Prefix::Gt, &["c"]),
        (Prefix::Lt, &["d", "e"]),
        (Prefix::Ge, &["a", "b", "c"]),
        (Prefix::Le, &["a", "b", "d", "e"]),
        (Prefix::Sa, &["c"]),
        (Prefix::Eb, &["d", "e"]),
        (Prefix::Ap, &["a", "b", "c", "d"]),
    ];
    for (prefix, expected) in cases {
        let q = query(
            &[&t],
            vec![cond(
                "n",
                ParamType::Number,
                Modifier::None,
                vec![hundred(prefix)],
            )],
        );
        expect(store, &format!("n={prefix:?}100"), q, expected).await;
    }
    let or = vec![hundred(Prefix::Gt), nv(Prefix::Eq, 5.5, 5.45, 5.55)];
    let q = query(
        &[&t],
        vec![cond("n", ParamType::Number, Modifier::None, or)],
    );
    expect(store, "n=gt100,5.5", q, &["c", "e"]).await;

    let qv = |prefix,
              v: (f64, f64, f64),
              system: bool,
              code: Option<&str>,
              canon: Option<(f64, &str)>| {
        let value = SearchValue::Quantity {
            prefix,
            value: v.0,
            low: v.1,
            high: v.2,
            system: system.then(|| UCUM.to_owned()),
            code: code.map(str::to_owned),
            canonical_value: canon.map(|c| c.0),
            canonical_code: canon.map(|c| c.1.to_owned()),
        };
        query(
            &[&t],
            vec![cond("q", ParamType::Quantity, Modifier::None, vec![value])],
        )
    };
    let v54 = (5.4, 5.35, 5.45);
    let canon = Some((54.0, "g.m-3"));
    let q = qv(Prefix::Eq, v54, true, Some("mg/dL"), canon);
    expect(store, "q=5.4|ucum|mg/dL (canonical)", q, &["a", "b"]).await;
    let q = qv(Prefix::Eq, v54, false, Some("mg/dL"), canon);
    expect(store, "q=5.4||mg/dL", q, &["a", "b", "d"]).await;
    let q = qv(Prefix::Eq, v54, false, Some("mg/dL"), None);
    expect(store, "q=5.4||mg/dL without canonical", q, &["a", "d"]).await;
    let q = qv(Prefix::Eq, v54, false, None, None);
    expect(store, "q=5.4", q, &["a", "c", "d"]).await;
    let q = qv(
        Prefix::Gt,
        (6.0, 5.5, 6.5),
        false,
        Some("mg/dL"),
        Some((60.0, "g.m-3")),
    );
    expect(store, "q=gt6||mg/dL", q, &["e"]).await;
    let q = qv(
        Prefix::Lt,
        (6.0, 5.5, 6.5),
        true,
        Some("mg/dL"),
        Some((60.0, "g.m-3")),
    );
    expect(store, "q=lt6|ucum|mg/dL", q, &["a", "b"]).await;
}

/// reference (type/id, id alone, `:Type`, version, URL, canonical version, `:identifier`,
/// `:missing`) and uri (exact, `:below`, `:above`, `:contains`).
pub async fn search_reference_uri(store: &DynStore) {
    let t = unique_type("SRef");
    let pt = unique_type("SRefPat");
    let gt = unique_type("SRefGrp");
    let ident = IndexValue::Reference {
        target_type: None,
        target_id: None,
        version: None,
        url: None,
        identifier_system: Some("urn:mrn".to_owned()),
        identifier_value: Some("123".to_owned()),
    };
    let url = "http://other.org/fhir/Patient/9";
    let canonical = "http://x.org/Questionnaire/q";
    let uri = |u: &str| row("url", IndexValue::Uri { uri: u.to_owned() });
    put_all(
        store,
        vec![
            (
                t.as_str(),
                "a",
                vec![
                    ref_row("subject", &pt, "p1"),
                    uri("http://acme.org/fhir/ValueSet/123"),
                ],
            ),
            (
                &t,
                "b",
                vec![ref_row("subject", &pt, "p2"), uri("http://acme.org/fhir/")],
            ),
            (
                &t,
                "c",
                vec![
                    ref_row("subject", &gt, "p1"),
                    uri("http://acme.org/fhir/ValueSet/1234"),
                ],
            ),
            (
                &t,
                "d",
                vec![
                    row("subject", ref_value(None, None, None, Some(url))),
                    uri("urn:oid:1.2.3"),
                ],
            ),
            (&t, "e", vec![row("subject", ident)]),
            (
                &t,
                "f",
                vec![row(
                    "subject",
                    ref_value(Some(&pt), Some("p1"), Some("2"), None),
                )],
            ),
            (&t, "g", vec![]),
            (
                &t,
                "h",
                vec![row(
                    "subject",
                    ref_value(None, None, Some("1.0"), Some(canonical)),
                )],
            ),
        ],
    )
    .await;
    let subject = |m: Modifier, v: SearchValue| {
        query(
            &[&t],
            vec![cond("subject", ParamType::Reference, m, vec![v])],
        )
    };
    expect(
        store,
        "subject=Patient/p1",
        subject(Modifier::None, rv(Some(&pt), "p1")),
        &["a", "f"],
    )
    .await;
    expect(
        store,
        "subject=p1",
        subject(Modifier::None, rv(None, "p1")),
        &["a", "c", "f"],
    )
    .await;
    let typed = subject(Modifier::Type(pt.clone()), rv(None, "p1"));
    expect(store, "subject:Patient=p1", typed, &["a", "f"]).await;
    let versioned = SearchValue::Reference {
        target_type: Some(pt.clone()),
        target_id: Some("p1".to_owned()),
        version: Some("2".to_owned()),
        url: None,
        identifier: None,
    };
    expect(
        store,
        "subject=Patient/p1/_history/2",
        subject(Modifier::None, versioned),
        &["f"],
    )
    .await;
    let by_url = |u: &str, ver: Option<&str>| SearchValue::Reference {
        target_type: None,
        target_id: None,
        version: ver.map(str::to_owned),
        url: Some(u.to_owned()),
        identifier: None,
    };
    expect(
        store,
        "subject=<url>",
        subject(Modifier::None, by_url(url, None)),
        &["d"],
    )
    .await;
    expect(
        store,
        "subject=<canonical>",
        subject(Modifier::None, by_url(canonical, None)),
        &["h"],
    )
    .await;
    let q = subject(Modifier::None, by_url(canonical, Some("1.0")));
    expect(store, "subject=<canonical>|1.0", q, &["h"]).await;
    let q = subject(Modifier::None, by_url(canonical, Some("2.0")));
    expect(store, "subject=<canonical>|2.0", q, &[]).await;
    let by_ident = |system: Option<&str>, value: &str| SearchValue::Reference {
        target_type: None,
        target_id: None,
        version: None,
        url: None,
        identifier: Some((system.map(str::to_owned), value.to_owned())),
    };
    let q = subject(Modifier::Identifier, by_ident(Some("urn:mrn"), "123"));
    expect(store, "subject:identifier=urn:mrn|123", q, &["e"]).await;
    let q = subject(Modifier::Identifier, by_ident(None, "123"));
    expect(store, "subject:identifier=123", q, &["e"]).await;
    let q = subject(Modifier::Identifier, by_ident(Some("urn:other"), "123"));
    expect(store, "subject:identifier=urn:other|123", q, &[]).await;
    let q = query(&[&t], vec![missing("subject", ParamType::Reference, true)]);
    expect(store, "subject:missing=true", q, &["g"]).await;

    let url_q = |m: Modifier, u: &str| {
        let v = vec![SearchValue::Uri(u.to_owned())];
        query(&[&t], vec![cond("url", ParamType::Uri, m, v)])
    };
    let vs = "http://acme.org/fhir/ValueSet/123";
    expect(store, "url=", url_q(Modifier::None, vs), &["a"]).await;
    let q = url_q(Modifier::Below, "http://acme.org/fhir/ValueSet/");
    expect(store, "url:below=.../ValueSet/", q, &["a", "c"]).await;
    let q = url_q(Modifier::Below, "http://acme.org/fhir/");
    expect(store, "url:below=.../fhir/", q, &["a", "b", "c"]).await;
    let q = url_q(
        Modifier::Above,
        "http://acme.org/fhir/ValueSet/123/_history/5",
    );
    expect(store, "url:above", q, &["a", "b"]).await;
    expect(
        store,
        "url:contains=oid",
        url_q(Modifier::Contains, "oid"),
        &["d"],
    )
    .await;
    let q = query(&[&t], vec![missing("url", ParamType::Uri, true)]);
    expect(store, "url:missing=true", q, &["e", "f", "g", "h"]).await;
}

/// composite: all components must match within one composite value (pairs and a triple).
pub async fn search_composite(store: &DynStore) {
    let t = unique_type("SComp");
    let loinc = Some("http://loinc.org");
    let mmhg = |v: f64| quantity((v, v - 0.5, v + 0.5), "mm[Hg]", true, None);
    let cvq = |code: &str, v: f64| {
        row(
            "code-value-quantity",
            IndexValue::Composite(vec![token_value(loinc, code, None), mmhg(v)]),
        )
    };
    let coord = |chr: &str, start: f64, end: f64| {
        row(
            "coordinate",
            IndexValue::Composite(vec![
                token_value(None, chr, None),
                number(start, start - 0.5, start + 0.5),
                number(end, end - 0.5, end + 0.5),
            ]),
        )
    };
    put_all(
        store,
        vec![
            (
                t.as_str(),
                "a",
                vec![
                    cvq("8480-6", 120.0),
                    cvq("8462-4", 80.0),
                    coord("1", 10.0, 20.0),
                ],
            ),
            (
                &t,
                "b",
                vec![
                    cvq("8480-6", 80.0),
                    cvq("8462-4", 120.0),
                    coord("2", 10.0, 20.0),
                ],
            ),
        ],
    )
    .await;
    let comp = |param: &str, parts: Vec<SearchValue>| {
        let v = vec![SearchValue::Composite(parts)];
        query(
            &[&t],
            vec![cond(param, ParamType::Composite, Modifier::None, v)],
        )
    };
    let qty = |prefix, v: f64| SearchValue::Quantity {
        prefix,
        value: v,
        low: v - 0.5,
        high: v + 0.5,
        system: None,
        code: None,
        canonical_value: None,
        canonical_code: None,
    };
    let systolic = tv(Some(loinc), Some("8480-6"));
    let q = comp(
        "code-value-quantity",
        vec![systolic.clone(), qty(Prefix::Gt, 100.0)],
    );
    expect(store, "code-value-quantity=8480-6$gt100", q, &["a"]).await;
    let q = comp(
        "code-value-quantity",
        vec![systolic, qty(Prefix::Lt, 100.0)],
    );
    expect(store, "code-value-quantity=8480-6$lt100", q, &["b"]).await;
    let q = comp(
        "code-value-quantity",
        vec![tv(None, Some("8462-4")), qty(Prefix::Eq, 80.0)],
    );
    expect(store, "code-value-quantity=8462-4$80", q, &["a"]).await;
    let q = comp(
        "coordinate",
        vec![
            tv(None, Some("1")),
            nv(Prefix::Ge, 5.0, 4.5, 5.5),
            nv(Prefix::Le, 25.0, 24.5, 25.5),
        ],
    );
    expect(store, "coordinate=1$ge5$le25", q, &["a"]).await;
    let q = comp(
        "coordinate",
        vec![tv(None, Some("1")), nv(Prefix::Ge, 15.0, 14.5, 15.5)],
    );
    expect(store, "coordinate=1$ge15", q, &[]).await;
    let q = query(
        &[&t],
        vec![missing("coordinate", ParamType::Composite, false)],
    );
    expect(store, "coordinate:missing=false", q, &["a", "b"]).await;
}
