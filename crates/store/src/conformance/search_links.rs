//! Search cases across resources: chains, `_has`, compartments, `_include` / `_revinclude`,
//! and the resource-level conditions `_id` and `_lastUpdated`.

use zdrav_search::{Condition, Include, Modifier, ParamType, Prefix, SearchValue};

use super::search::{
    cond, dv, expect, ids, put_all, query, ref_row, run, string_row, sv, token_row, tv,
};
use super::*;

fn name_is(value: &str) -> Condition {
    cond("name", ParamType::String, Modifier::None, vec![sv(value)])
}

fn code_is(code: &str) -> Condition {
    cond(
        "code",
        ParamType::Token,
        Modifier::None,
        vec![tv(None, Some(code))],
    )
}

fn chain(param: &str, target_type: Option<&str>, inner: Condition) -> Condition {
    Condition::Chain {
        param: param.to_owned(),
        target_type: target_type.map(str::to_owned),
        condition: Box::new(inner),
    }
}

fn has(rtype: &str, param: &str, inner: Condition) -> Condition {
    Condition::Has {
        rtype: rtype.to_owned(),
        param: param.to_owned(),
        condition: Box::new(inner),
    }
}

/// Organizations, patients, encounters and observations linked by references.
struct World {
    org: String,
    pat: String,
    enc: String,
    obs: String,
}

async fn world(store: &DynStore, case: &str) -> World {
    let w = World {
        org: unique_type(&format!("{case}Org")),
        pat: unique_type(&format!("{case}Pat")),
        enc: unique_type(&format!("{case}Enc")),
        obs: unique_type(&format!("{case}Obs")),
    };
    let (org, pat, enc, obs) = (
        w.org.as_str(),
        w.pat.as_str(),
        w.enc.as_str(),
        w.obs.as_str(),
    );
    put_all(
        store,
        vec![
            (org, "o1", vec![string_row("name", "Acme")]),
            (org, "o2", vec![string_row("name", "Other")]),
            (
                pat,
                "p1",
                vec![
                    string_row("name", "Eve"),
                    ref_row("organization", org, "o1"),
                ],
            ),
            (
                pat,
                "p2",
                vec![
                    string_row("name", "Bob"),
                    ref_row("organization", org, "o2"),
                ],
            ),
            (pat, "p3", vec![string_row("name", "Eve")]),
            (enc, "e1", vec![ref_row("subject", pat, "p1")]),
            (enc, "e2", vec![ref_row("subject", pat, "p2")]),
            (
                obs,
                "x1",
                vec![
                    ref_row("subject", pat, "p1"),
                    ref_row("encounter", enc, "e1"),
                    token_row("code", None, "1234"),
                ],
            ),
            (
                obs,
                "x2",
                vec![
                    ref_row("subject", pat, "p2"),
                    token_row("code", None, "1234"),
                ],
            ),
            (
                obs,
                "x3",
                vec![
                    ref_row("subject", pat, "p1"),
                    token_row("code", None, "999"),
                ],
            ),
            (
                obs,
                "x4",
                vec![
                    ref_row("subject", pat, "p9"),
                    token_row("code", None, "999"),
                ],
            ),
            (obs, "x5", vec![ref_row("performer", org, "o1")]),
        ],
    )
    .await;
    w
}

/// Chains of one and two levels, with and without a target type; `_has`, nested `_has`, and
/// `_has` together with other conditions; targets that are missing or deleted never match.
pub async fn search_chain_has(store: &DynStore) {
    let w = world(store, "Ch").await;
    let (org, pat, enc, obs) = (
        w.org.as_str(),
        w.pat.as_str(),
        w.enc.as_str(),
        w.obs.as_str(),
    );
    let q = query(&[obs], vec![chain("subject", None, name_is("eve"))]);
    expect(store, "subject.name=eve", q, &["x1", "x3"]).await;
    let q = query(&[obs], vec![chain("subject", Some(pat), name_is("eve"))]);
    expect(store, "subject:Patient.name=eve", q, &["x1", "x3"]).await;
    let q = query(&[obs], vec![chain("subject", Some(enc), name_is("eve"))]);
    expect(store, "subject:Encounter.name=eve", q, &[]).await;
    let two = chain(
        "subject",
        None,
        chain("organization", None, name_is("acme")),
    );
    expect(
        store,
        "subject.organization.name=acme",
        query(&[obs], vec![two]),
        &["x1", "x3"],
    )
    .await;
    let two = chain(
        "encounter",
        Some(enc),
        chain("subject", Some(pat), name_is("eve")),
    );
    expect(
        store,
        "encounter.subject.name=eve",
        query(&[obs], vec![two]),
        &["x1"],
    )
    .await;
    let q = query(
        &[obs],
        vec![chain("subject", None, name_is("eve")), code_is("999")],
    );
    expect(store, "subject.name=eve&code=999", q, &["x3"]).await;
    let q = query(
        &[obs],
        vec![chain("subject", None, Condition::Id(vec!["p9".into()]))],
    );
    expect(store, "subject._id=p9 (missing target)", q, &[]).await;

    let q = query(&[pat], vec![has(obs, "subject", code_is("1234"))]);
    expect(store, "_has:Obs:subject:code=1234", q, &["p1", "p2"]).await;
    let q = query(&[pat], vec![has(obs, "subject", code_is("999"))]);
    expect(store, "_has:Obs:subject:code=999", q, &["p1"]).await;
    let q = query(
        &[pat],
        vec![has(obs, "subject", code_is("1234")), name_is("bob")],
    );
    expect(store, "_has…&name=bob", q, &["p2"]).await;
    let nested = has(pat, "organization", has(obs, "subject", code_is("999")));
    expect(store, "nested _has", query(&[org], vec![nested]), &["o1"]).await;
    let q = query(
        &[pat],
        vec![has(enc, "subject", Condition::Id(vec!["e2".into()]))],
    );
    expect(store, "_has:Enc:subject:_id=e2", q, &["p2"]).await;
    let chained_has = has(
        obs,
        "subject",
        chain("encounter", None, Condition::Id(vec!["e1".into()])),
    );
    expect(
        store,
        "_has with a chain inside",
        query(&[pat], vec![chained_has]),
        &["p1"],
    )
    .await;

    commit1(store, del(pat, "p2", Precondition::None)).await;
    let q = query(&[obs], vec![chain("subject", None, name_is("bob"))]);
    expect(store, "chain to a deleted target", q, &[]).await;
    let q = query(&[pat], vec![has(obs, "subject", code_is("1234"))]);
    expect(store, "_has finds no deleted resource", q, &["p1"]).await;
    commit1(store, del(obs, "x1", Precondition::None)).await;
    let q = query(&[pat], vec![has(obs, "subject", code_is("1234"))]);
    expect(store, "_has from a deleted referrer", q, &[]).await;
}

/// Patient compartment: the patient itself plus resources whose compartment parameters point at
/// it; `_id` (several ids, several types, all types) and `_lastUpdated` prefixes.
pub async fn search_compartment_id_updated(store: &DynStore) {
    let w = world(store, "Cmp").await;
    let (org, pat, enc, obs) = (
        w.org.as_str(),
        w.pat.as_str(),
        w.enc.as_str(),
        w.obs.as_str(),
    );
    let compartment = |params: &[&str]| Condition::Compartment {
        compartment: pat.to_owned(),
        id: "p1".to_owned(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
    };
    let q = query(&[obs], vec![compartment(&["subject", "performer"])]);
    expect(store, "Patient/p1/Obs", q, &["x1", "x3"]).await;
    let q = query(&[pat, enc, obs], vec![compartment(&["subject"])]);
    expect(store, "Patient/p1/*", q, &["p1", "e1", "x1", "x3"]).await;
    let q = query(&[obs], vec![compartment(&["subject"]), code_is("999")]);
    expect(store, "Patient/p1/Obs?code=999", q, &["x3"]).await;
    let q = query(&[org], vec![compartment(&[])]);
    expect(store, "no compartment params", q, &[]).await;

    let q = query(
        &[pat],
        vec![Condition::Id(vec!["p3".into(), "p1".into(), "zz".into()])],
    );
    expect(store, "_id=p3,p1,zz", q, &["p1", "p3"]).await;
    let q = query(
        &[pat, obs],
        vec![Condition::Id(vec!["p1".into(), "x2".into()])],
    );
    expect(store, "_type=Pat,Obs&_id=p1,x2", q, &["p1", "x2"]).await;
    // All types: an id no other case uses.
    let unique = format!("only-{}", nonce());
    put_all(store, vec![(enc, unique.as_str(), vec![])]).await;
    let q = query(&[], vec![Condition::Id(vec![unique.clone()])]);
    expect(store, "system search by _id", q, &[unique.as_str()]).await;

    let t = unique_type("SUpd");
    let a = save(store, &t, "a", "a").await;
    let b = save(store, &t, "b", "b").await;
    let c = save(store, &t, "c", "c").await;
    let at = |prefix, instant: &str| {
        let (low, high) = super::search::range_of(instant);
        assert_eq!(high - low, 1, "instants are exact to the microsecond");
        query(
            &[&t],
            vec![Condition::LastUpdated(vec![SearchValue::Date {
                prefix,
                low,
                high,
            }])],
        )
    };
    let (ta, tb) = (a.last_updated.as_str(), b.last_updated.as_str());
    expect(store, "_lastUpdated=eq b", at(Prefix::Eq, tb), &["b"]).await;
    expect(store, "_lastUpdated=ge b", at(Prefix::Ge, tb), &["b", "c"]).await;
    expect(store, "_lastUpdated=gt b", at(Prefix::Gt, tb), &["c"]).await;
    expect(store, "_lastUpdated=le b", at(Prefix::Le, tb), &["a", "b"]).await;
    expect(store, "_lastUpdated=lt b", at(Prefix::Lt, tb), &["a"]).await;
    expect(store, "_lastUpdated=ne a", at(Prefix::Ne, ta), &["b", "c"]).await;
    expect(store, "_lastUpdated=sa a", at(Prefix::Sa, ta), &["b", "c"]).await;
    expect(store, "_lastUpdated=eb b", at(Prefix::Eb, tb), &["a"]).await;
    let day = &c.last_updated[..10];
    let q = query(
        &[&t],
        vec![Condition::LastUpdated(vec![dv(Prefix::Eq, day)])],
    );
    let page = run(store, &q).await;
    assert!(
        ids(&page.matches).contains(&"c".to_owned()),
        "_lastUpdated={day}"
    );
}

fn inc(source: &str, param: &str, target: Option<&str>, iterate: bool) -> Include {
    Include {
        source_type: source.to_owned(),
        param: param.to_owned(),
        target_type: target.map(str::to_owned),
        iterate,
    }
}

/// `_include` (one parameter, `*`, a target type, `:iterate`), `_revinclude` (one parameter,
/// `*:*`, `:iterate`), each resource once, never a match again, never a deleted one.
pub async fn search_include(store: &DynStore) {
    let w = world(store, "Inc").await;
    let (org, pat, enc, obs) = (
        w.org.as_str(),
        w.pat.as_str(),
        w.enc.as_str(),
        w.obs.as_str(),
    );
    let included = |matches: &[&str], types: &[&str], include: Vec<Include>, rev: Vec<Include>| {
        let mut q = query(
            types,
            vec![Condition::Id(
                matches.iter().map(|m| (*m).to_owned()).collect(),
            )],
        );
        q.include = include;
        q.revinclude = rev;
        q
    };
    type Ids = &'static [&'static str];
    let check = |what: &'static str, q, m: Ids, i: Ids| async move {
        let page = run(store, &q).await;
        assert_eq!(ids(&page.matches), m, "matches of {what}");
        assert_eq!(ids(&page.included), i, "included by {what}");
    };
    check(
        "O:subject",
        included(
            &["x1"],
            &[obs],
            vec![inc(obs, "subject", None, false)],
            vec![],
        ),
        &["x1"],
        &["p1"],
    )
    .await;
    let q = included(
        &["x1", "x3"],
        &[obs],
        vec![inc(obs, "subject", None, false)],
        vec![],
    );
    check("O:subject twice", q, &["x1", "x3"], &["p1"]).await;
    let q = included(
        &["x1", "x2", "x3", "x4", "x5"],
        &[obs],
        vec![inc(obs, "*", None, false)],
        vec![],
    );
    check(
        "O:*",
        q,
        &["x1", "x2", "x3", "x4", "x5"],
        &["p1", "e1", "p2", "o1"],
    )
    .await;
    let q = included(
        &["x1", "x5"],
        &[obs],
        vec![inc("*", "*", Some(org), false)],
        vec![],
    );
    check("*:*:Org", q, &["x1", "x5"], &["o1"]).await;
    let q = included(
        &["x1"],
        &[obs],
        vec![
            inc(obs, "subject", None, false),
            inc(pat, "organization", None, true),
        ],
        vec![],
    );
    check(
        "O:subject + iterate P:organization",
        q,
        &["x1"],
        &["p1", "o1"],
    )
    .await;
    let q = included(
        &["x1"],
        &[obs],
        vec![
            inc(obs, "subject", None, false),
            inc(pat, "organization", None, false),
        ],
        vec![],
    );
    check("without iterate", q, &["x1"], &["p1"]).await;
    let q = included(
        &["x1"],
        &[obs],
        vec![
            inc(obs, "encounter", None, false),
            inc(enc, "subject", None, true),
            inc(pat, "organization", None, true),
        ],
        vec![],
    );
    check("iterate two levels", q, &["x1"], &["e1", "p1", "o1"]).await;
    let q = included(
        &["p1", "x1"],
        &[pat, obs],
        vec![inc(obs, "subject", None, false)],
        vec![],
    );
    check("a match is not included", q, &["p1", "x1"], &[]).await;

    let q = included(
        &["p1"],
        &[pat],
        vec![],
        vec![inc(obs, "subject", None, false)],
    );
    check("_revinclude=O:subject", q, &["p1"], &["x1", "x3"]).await;
    let q = included(&["p1"], &[pat], vec![], vec![inc("*", "*", None, false)]);
    check("_revinclude=*:*", q, &["p1"], &["e1", "x1", "x3"]).await;
    let q = included(
        &["p1"],
        &[pat],
        vec![],
        vec![
            inc(enc, "subject", None, false),
            inc(obs, "encounter", None, true),
        ],
    );
    check("_revinclude iterate", q, &["p1"], &["e1", "x1"]).await;
    let q = included(
        &["o1"],
        &[org],
        vec![inc(obs, "subject", None, true)],
        vec![
            inc(pat, "organization", None, false),
            inc(obs, "subject", None, true),
        ],
    );
    check("revinclude then iterate", q, &["o1"], &["p1", "x1", "x3"]).await;
    let q = included(
        &["p1"],
        &[pat],
        vec![inc(pat, "organization", None, false)],
        vec![inc(obs, "subject", None, false)],
    );
    check("include and revinclude", q, &["p1"], &["o1", "x1", "x3"]).await;

    commit1(store, del(org, "o1", Precondition::None)).await;
    let q = included(
        &["x1", "p1"],
        &[obs, pat],
        vec![inc("*", "*", None, false)],
        vec![],
    );
    check(
        "deleted targets are not included",
        q,
        &["p1", "x1"],
        &["e1"],
    )
    .await;
}
