//! The patient restriction of a search (`SearchQuery::patients`), which access control uses to
//! confine a caller to the patients it may see: matches, counts and includes alike.

use zdrav_search::{Condition, Include};

use super::search::{ids, put_all, query, ref_row, run};
use super::*;

fn inc(source: &str, param: &str, iterate: bool) -> Include {
    Include {
        source_type: source.to_owned(),
        param: param.to_owned(),
        target_type: None,
        iterate,
    }
}

/// Only resources owned by the allowed patients, or by no patient, are matched, counted or
/// included; `_include`, `_revinclude` and `:iterate` cannot reach past the restriction.
pub async fn search_restricted_to_patients(store: &DynStore) {
    let n = nonce();
    let (pa, pb, oa, ob, org, enc_b) = (
        format!("pa{n}"),
        format!("pb{n}"),
        format!("oa{n}"),
        format!("ob{n}"),
        format!("org{n}"),
        format!("eb{n}"),
    );
    // Real types: the owner comes from the Patient CompartmentDefinition.
    put_all(
        store,
        vec![
            ("Organization", org.as_str(), vec![]),
            (
                "Patient",
                pa.as_str(),
                vec![ref_row("organization", "Organization", &org)],
            ),
            (
                "Patient",
                pb.as_str(),
                vec![ref_row("organization", "Organization", &org)],
            ),
            (
                "Observation",
                oa.as_str(),
                vec![ref_row("subject", "Patient", &pa)],
            ),
            (
                "Observation",
                ob.as_str(),
                vec![
                    ref_row("subject", "Patient", &pb),
                    ref_row("encounter", "Encounter", &enc_b),
                ],
            ),
            (
                "Encounter",
                enc_b.as_str(),
                vec![ref_row("subject", "Patient", &pb)],
            ),
        ],
    )
    .await;
    let only = |types: &[&str], wanted: &[&String], allowed: &[&String]| {
        let mut q = query(
            types,
            vec![Condition::Id(wanted.iter().map(|s| (*s).clone()).collect())],
        );
        q.patients = Some(allowed.iter().map(|s| (*s).clone()).collect());
        q
    };
    // Matches and totals.
    let page = run(store, &only(&["Observation"], &[&oa, &ob], &[&pa])).await;
    assert_eq!(ids(&page.matches), [oa.as_str()]);
    assert_eq!(page.total, Some(1));
    let page = run(store, &only(&["Observation"], &[&oa, &ob], &[])).await;
    assert!(page.matches.is_empty(), "nobody allowed, no patient data");
    let page = run(store, &only(&["Patient"], &[&pa, &pb], &[&pb])).await;
    assert_eq!(ids(&page.matches), [pb.as_str()]);
    // Data of no patient stays visible.
    let page = run(store, &only(&["Organization"], &[&org], &[])).await;
    assert_eq!(ids(&page.matches), [org.as_str()]);
    // _revinclude from the organisation: only the allowed patient comes along.
    let mut q = only(&["Organization"], &[&org], &[&pa]);
    q.revinclude = vec![inc("Patient", "organization", false)];
    let page = run(store, &q).await;
    assert_eq!(ids(&page.included), [pa.as_str()]);
    // _revinclude:iterate from there cannot reach the other patient's Observations.
    q.revinclude.push(inc("Observation", "subject", true));
    let page = run(store, &q).await;
    assert_eq!(ids(&page.included), [pa.clone(), oa.clone()]);
    // _include of a forbidden target is dropped; without a restriction it is there.
    let mut q = only(&["Observation"], &[&ob], &[&pb]);
    q.include = vec![inc("Observation", "*", false)];
    let page = run(store, &q).await;
    assert_eq!(ids(&page.included), [pb.clone(), enc_b.clone()]);
    q.patients = Some(vec![pa.clone()]);
    let page = run(store, &q).await;
    assert!(page.matches.is_empty() && page.included.is_empty());
    q.patients = None;
    q.conditions = vec![Condition::Id(vec![ob.clone()])];
    let page = run(store, &q).await;
    assert_eq!(ids(&page.included), [pb.clone(), enc_b.clone()]);
    // `_has` looks only at allowed patients' data: the organisation is not found through a
    // patient the caller may not see, so a search cannot test facts about that patient.
    let has = |allowed: &[&String]| {
        let through_pb = Condition::Has {
            rtype: "Patient".into(),
            param: "organization".into(),
            condition: Box::new(Condition::Id(vec![pb.clone()])),
        };
        let mut q = query(&["Organization"], vec![through_pb]);
        q.patients = Some(allowed.iter().map(|s| (*s).clone()).collect());
        q
    };
    assert!(run(store, &has(&[&pa])).await.matches.is_empty());
    assert_eq!(ids(&run(store, &has(&[&pb])).await.matches), [org.as_str()]);
}
