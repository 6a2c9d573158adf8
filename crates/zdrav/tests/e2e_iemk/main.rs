//! The integrated electronic record (ИЭМК, issue 9): `Patient/[id]/$timeline` lists a patient's
//! events from every organisation newest first, filtered by type and date, paged, and only to
//! those who may see the patient; registered document bodies download in native form, are
//! checked against their registered size and SHA-1 on every read (a body damaged in the
//! database itself is never served) and are bounded by `--max-document-bytes`. Runs on SQLite
//! and (in CI) PostgreSQL; the damage is done with SQL on either.

mod bodies;
#[path = "../common/mod.rs"]
mod common;

use common::remd::{registration_for, Kind, Openssl, Parties, Signer, DEFAULT_PARTIES, VALID};
use common::{expect, Server};
use reqwest::blocking::Response;
use serde_json::{json, Value};

/// The second clinic's ОГРН (the first, 1027700132195, is in `Openssl::author_and_clinic`).
const OGRN2: &str = "1037739010891";

/// The timeline of Patient/p1, newest first (see [`events`] and [`documents`]).
const TIMELINE: [&str; 12] = [
    "DocumentReference/doc-b",
    "DocumentReference/doc-a",
    "MedicationRequest/mr1",
    "Procedure/pr1",
    "Condition/c1",
    "DiagnosticReport/dr1",
    "Encounter/e1",
    "Encounter/e2",
    "Condition/c2",
    "Encounter/e3",
    "Immunization/im1",
    "DiagnosticReport/dr2",
];

/// The signers: the author doc1 and the two clinics.
struct Signers {
    o: Openssl,
    doctor: Signer,
    clinic1: Signer,
    clinic2: Signer,
}

fn signers() -> Signers {
    let o = Openssl::new();
    let (doctor, clinic1) = o.author_and_clinic(Kind::P256, Kind::P256);
    let clinic2 = o.signer(
        Kind::P256,
        &format!("/OGRN={OGRN2}/CN=ГБУЗ ГКБ 2"),
        VALID.0,
        VALID.1,
    );
    Signers {
        o,
        doctor,
        clinic1,
        clinic2,
    }
}

/// PUTs `body` at `path` (201) with `token`.
fn put(s: &Server, token: Option<&str>, path: &str, body: Value) {
    expect(s.call("PUT", path, token, Some(&body)), 201);
}

/// Two clinics with their ОГРН, the author doc1 with their СНИЛС, Patient/p1 attached to the
/// first clinic and Patient/p2.
fn setup(s: &Server, token: Option<&str>) {
    for (id, name, ogrn) in [
        ("org1", "ГБУЗ ГП 1", "1027700132195"),
        ("org2", "ГБУЗ ГКБ 2", OGRN2),
    ] {
        put(
            s,
            token,
            &format!("Organization/{id}"),
            json!({"resourceType": "Organization", "id": id, "name": name,
                "identifier": [{"system": "urn:identity:ogrn", "value": ogrn}]}),
        );
    }
    put(
        s,
        token,
        "Practitioner/doc1",
        json!({"resourceType": "Practitioner", "id": "doc1",
        "identifier": [{"system": "urn:identity:snils:Practitioner", "value": "112-233-445 95"}]}),
    );
    put(
        s,
        token,
        "Patient/p1",
        json!({"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/org1"}}),
    );
    put(
        s,
        token,
        "Patient/p2",
        json!({"resourceType": "Patient", "id": "p2"}),
    );
}

/// Patient/p1's clinical events in both clinics (and some that are not on the timeline), and
/// one encounter of Patient/p2.
fn events(s: &Server, token: Option<&str>) {
    let p1 = json!({"reference": "Patient/p1"});
    let code = |text: &str| json!({"text": text});
    let amb = json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"});
    let resources = [
        json!({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": amb.clone(),
            "subject": p1.clone(), "serviceProvider": {"reference": "Organization/org1"},
            "period": {"start": "2020-03-01T09:00:00+03:00", "end": "2020-03-01T10:00:00+03:00"}}),
        // A long stay: it ends after pr1 but starts before everything of 2020, and is placed
        // by its start.
        json!({"resourceType": "Encounter", "id": "e2", "status": "finished", "class": amb.clone(),
            "subject": p1.clone(), "serviceProvider": {"reference": "Organization/org2"},
            "period": {"start": "2019-01-01T12:00:00Z", "end": "2021-06-01T12:00:00Z"}}),
        json!({"resourceType": "Encounter", "id": "e3", "status": "finished", "class": amb.clone(),
            "subject": p1.clone(), "serviceProvider": {"reference": "Organization/org2"},
            "period": {"start": "2018-01-01T12:00:00Z", "end": "2022-12-31T12:00:00Z"}}),
        json!({"resourceType": "Condition", "id": "c1", "subject": p1.clone(),
            "code": code("Гипертензия"), "recordedDate": "2020-05-10"}),
        json!({"resourceType": "Condition", "id": "c2", "subject": p1.clone(),
            "code": code("Бронхит"), "onsetDateTime": "2018-07-01"}),
        json!({"resourceType": "Condition", "id": "c3", "subject": p1.clone(),
            "code": code("Аллергия"), "onsetString": "в детстве"}),
        json!({"resourceType": "Procedure", "id": "pr1", "status": "completed", "subject": p1.clone(),
            "code": code("Аппендэктомия"),
            "performedPeriod": {"start": "2021-02-01T08:00:00Z", "end": "2021-02-01T09:00:00Z"}}),
        json!({"resourceType": "Immunization", "id": "im1", "status": "completed",
            "vaccineCode": code("Спутник V"), "patient": p1.clone(), "occurrenceDateTime": "2017-09-15"}),
        json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active",
            "intent": "order", "medicationCodeableConcept": code("Эналаприл"), "subject": p1.clone(),
            "authoredOn": "2022-01-20"}),
        json!({"resourceType": "DiagnosticReport", "id": "dr1", "status": "final",
            "code": code("Общий анализ крови"), "subject": p1.clone(),
            "effectiveDateTime": "2020-03-01T09:30:00+03:00"}),
        json!({"resourceType": "DiagnosticReport", "id": "dr2", "status": "final",
            "code": code("Рентгенография"), "subject": p1.clone(), "issued": "2016-02-02T10:00:00Z"}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": code("Давление"), "subject": p1.clone(), "effectiveDateTime": "2025-01-01"}),
        json!({"resourceType": "Encounter", "id": "e9", "status": "finished", "class": amb.clone(),
            "subject": {"reference": "Patient/p2"},
            "period": {"start": "2025-01-01T09:00:00Z"}}),
    ];
    for r in resources {
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        put(s, token, &path, r);
    }
}

/// Registers `DocumentReference/<n>` of Patient/p1 by doc1 with `custodian` (`org1` or
/// `org2`) and `body`, dated `date`; returns the response.
fn register(
    s: &Server,
    token: Option<&str>,
    sg: &Signers,
    n: &str,
    custodian: &str,
    date: &str,
    body: &[u8],
) -> Response {
    let clinic = if custodian == "org1" {
        &sg.clinic1
    } else {
        &sg.clinic2
    };
    let custodian = format!("Organization/{custodian}");
    let signed = vec![
        ("Practitioner/doc1", sg.o.sign(&sg.doctor, body)),
        (custodian.as_str(), sg.o.sign(clinic, body)),
    ];
    let parties = Parties {
        custodian: &custodian,
        date,
        ..DEFAULT_PARTIES
    };
    let tx = registration_for(n, body, &signed, None, &parties);
    s.call("POST", "", token, Some(&tx))
}

/// Both documents of Patient/p1: doc-a of the first clinic, doc-b of the second.
fn documents(s: &Server, token: Option<&str>, sg: &Signers) {
    let a = "Протокол № 1".as_bytes();
    let b = "Выписной эпикриз".as_bytes();
    let at = "2023-01-10T10:00:00+03:00";
    expect(register(s, token, sg, "doc-a", "org1", at, a), 200);
    let bt = "2024-05-05T10:00:00+03:00";
    expect(register(s, token, sg, "doc-b", "org2", bt, b), 200);
}

/// `Type/id` of the entries of `mode` (`match` or `include`).
fn entries(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or(""),
                e["resource"]["id"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn link(bundle: &Value, rel: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == rel)?["url"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn the_timeline_is_newest_first_across_organisations() {
    let s = Server::start();
    setup(&s, None);
    events(&s, None);
    let sg = signers();
    documents(&s, None, &sg);

    let full = expect(s.get("Patient/p1/$timeline"), 200);
    assert_eq!(full["type"], "searchset");
    assert_eq!(entries(&full, "match"), TIMELINE, "{full}");
    let mut orgs = entries(&full, "include");
    orgs.sort();
    assert_eq!(orgs, ["Organization/org1", "Organization/org2"]);
    let dated = |bundle: &Value, k: usize| {
        bundle["entry"][k]["search"]["extension"][0]["valueDateTime"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(dated(&full, 0), "2024-05-05T10:00:00+03:00");
    assert_eq!(
        dated(&full, 7),
        "2019-01-01T12:00:00Z",
        "a period counts from its start"
    );
    assert_eq!(
        full["entry"][0]["search"]["extension"][0]["url"],
        "urn:zdrav:StructureDefinition:timeline-date"
    );
    assert!(link(&full, "next").is_none());

    let only = |q: &str| {
        entries(
            &expect(s.get(&format!("Patient/p1/$timeline?{q}")), 200),
            "match",
        )
    };
    assert_eq!(
        only("type=Condition,DiagnosticReport"),
        [
            "Condition/c1",
            "DiagnosticReport/dr1",
            "Condition/c2",
            "DiagnosticReport/dr2"
        ]
    );
    assert_eq!(
        only("date=ge2020-01-01&date=le2021-12-31"),
        [
            "Procedure/pr1",
            "Condition/c1",
            "DiagnosticReport/dr1",
            "Encounter/e1"
        ],
        "e2 overlaps 2020 but started in 2019"
    );
    assert_eq!(
        only("date=2020-03-01"),
        ["DiagnosticReport/dr1", "Encounter/e1"]
    );
    assert_eq!(only("date=lt2017-09-15"), ["DiagnosticReport/dr2"]);
    assert_eq!(only("type=Encounter&date=gt2019-01-01"), ["Encounter/e1"]);
    // The store sorts e3 and e2 (long stays) before e1 by their ends: the first batch of the
    // page bound holds only them, and e1 must still come first.
    assert_eq!(only("type=Encounter&_count=1"), ["Encounter/e1"]);
    let docs_only = expect(
        s.get("Patient/p1/$timeline?type=DocumentReference&_count=1"),
        200,
    );
    assert_eq!(entries(&docs_only, "match"), ["DocumentReference/doc-b"]);
    assert_eq!(
        entries(&docs_only, "include"),
        ["Organization/org2"],
        "only the custodians of the page's documents"
    );

    // Paging: the pages, followed by their links, are the timeline.
    let mut seen = Vec::new();
    let mut page = expect(s.get("Patient/p1/$timeline?_count=4"), 200);
    let mut pages = 1;
    loop {
        let got = entries(&page, "match");
        assert!(got.len() <= 4);
        seen.extend(got);
        if pages > 1 {
            assert!(link(&page, "previous").is_some());
        }
        let Some(next) = link(&page, "next") else {
            break;
        };
        page = expect(s.client.get(next).send().unwrap(), 200);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, TIMELINE);
    assert_eq!(
        only("_count=4&_offset=4"),
        &TIMELINE[4..8],
        "an offset page on its own"
    );
    assert!(only("_count=0").is_empty());

    // Another patient's timeline has none of this.
    assert_eq!(only_of(&s, "p2"), ["Encounter/e9"]);

    for bad in [
        "type=Observation",
        "date=ap2020",
        "date=2020-13-45",
        "_count=many",
        "_sort=date",
    ] {
        let v = expect(s.get(&format!("Patient/p1/$timeline?{bad}")), 400);
        assert_eq!(v["resourceType"], "OperationOutcome", "{bad}: {v}");
    }
    expect(s.get("Patient/nobody/$timeline"), 404);
    let meta = expect(s.get("metadata"), 200);
    let patient = meta["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap()
        .clone();
    assert!(
        patient["operation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "timeline"),
        "{patient}"
    );
}

fn only_of(s: &Server, patient: &str) -> Vec<String> {
    entries(
        &expect(s.get(&format!("Patient/{patient}/$timeline")), 200),
        "match",
    )
}

/// `GET path` with a token, `Accept` and extra headers.
fn get_with(s: &Server, path: &str, token: &str, headers: &[(&str, &str)]) -> Response {
    let mut r = s.client.get(s.url(path)).bearer_auth(token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().unwrap()
}

#[test]
fn the_timeline_and_bodies_show_only_what_the_caller_may_see() {
    let s = Server::start_with(&["--with-auth", "--rate-limit", "0"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    setup(&s, Some(&system));
    events(&s, Some(&system));
    put(
        &s,
        Some(&system),
        "Organization/org9",
        json!({"resourceType": "Organization", "id": "org9", "name": "ГБУЗ ГП 9"}),
    );
    put(
        &s,
        Some(&system),
        "Practitioner/doc9",
        json!({"resourceType": "Practitioner", "id": "doc9"}),
    );
    let sg = signers();
    documents(&s, Some(&system), &sg);
    let citizen = |p: &str| {
        s.token(&[
            "--sub",
            &format!("cit-{p}"),
            "--role",
            "citizen",
            "--patient",
            &format!("Patient/{p}"),
        ])
    };
    let practitioner = |id: &str, org: &str| common::remd::practitioner_token(&s, id, org);
    let (c1, c2) = (citizen("p1"), citizen("p2"));
    let (d1, d9) = (practitioner("doc1", "org1"), practitioner("doc9", "org9"));
    let timeline = |token: &str, headers: &[(&str, &str)]| {
        get_with(&s, "Patient/p1/$timeline", token, headers)
    };

    // The citizen and the doctor of the clinic they are attached to see both clinics' records.
    for who in [&c1, &d1] {
        let v = expect(timeline(who, &[]), 200);
        assert_eq!(entries(&v, "match"), TIMELINE);
        assert_eq!(entries(&v, "include").len(), 2);
    }
    // Another citizen and an unrelated doctor learn nothing, not even that p1 exists.
    expect(timeline(&c2, &[]), 404);
    expect(timeline(&d9, &[]), 404);
    let own = expect(get_with(&s, "Patient/p2/$timeline", &c2, &[]), 200);
    assert_eq!(entries(&own, "match"), ["Encounter/e9"]);
    // The regional authority sees counts only.
    let regional = s.token(&["--sub", "region", "--role", "regional"]);
    expect(timeline(&regional, &[]), 403);
    // An emergency opens it for one request, and is flagged in the audit trail.
    let reason = [("x-break-glass", "без сознания, ДТП")];
    let v = expect(timeline(&d9, &reason), 200);
    assert_eq!(entries(&v, "match"), TIMELINE);
    expect(timeline(&d9, &[]), 404);
    let btg =
        "AuditEvent?_tag=http://terminology.hl7.org/CodeSystem/v3-ActReason|BTG&patient=Patient/p1";
    assert!(
        poll_total(&s, &system, btg, 1) >= 1,
        "the emergency access is audited"
    );

    // Bodies download in native form to whom may read the document, and to no one else.
    let pdf = [("accept", "application/pdf")];
    for who in [&c1, &d1] {
        let r = get_with(&s, "Binary/doc-a-body", who, &pdf);
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.bytes().unwrap().as_ref(), "Протокол № 1".as_bytes());
    }
    for who in [&c2, &d9] {
        let r = get_with(&s, "Binary/doc-a-body", who, &pdf);
        assert_eq!(r.status().as_u16(), 404);
        let v: Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
        assert_eq!(v["resourceType"], "OperationOutcome");
    }
    // A body read is audited as access to its patient's data.
    let audited = "AuditEvent?entity=Binary/doc-a-body&patient=Patient/p1";
    assert!(
        poll_total(&s, &system, audited, 2) >= 2,
        "both reads are audited"
    );

    // So is a body large enough to be served from the store a piece at a time.
    let big: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let big_b64 = common::remd::b64(&big);
    assert!(big_b64.len() as u64 > zdrav_server::stored_body::INLINE);
    let at = "2025-02-01T10:00:00+03:00";
    expect(
        register(&s, Some(&system), &sg, "doc-big", "org1", at, &big),
        200,
    );
    for who in [&c1, &d1] {
        let r = get_with(&s, "Binary/doc-big-body", who, &pdf);
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.bytes().unwrap().as_ref() == big.as_slice());
        let v = expect(
            get_with(&s, "Binary/doc-big-body/_history/1", who, &[]),
            200,
        );
        assert!(v["data"] == big_b64.as_str());
    }
    for who in [&c2, &d9] {
        for accept in [&pdf[..], &[]] {
            let r = get_with(&s, "Binary/doc-big-body", who, accept);
            assert_eq!(r.status().as_u16(), 404);
            let v: Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
            assert_eq!(v["resourceType"], "OperationOutcome");
        }
    }
    let audited = "AuditEvent?entity=Binary/doc-big-body&patient=Patient/p1&outcome=0";
    assert!(
        poll_total(&s, &system, audited, 4) >= 4,
        "the reads of the large body are audited"
    );
}

/// The `total` of a search once it reaches `min`, polled while the audit writer catches up (it
/// commits in batches); what it is after five seconds otherwise.
fn poll_total(s: &Server, token: &str, path: &str, min: u64) -> u64 {
    let mut total = 0;
    for _ in 0..50 {
        let v = expect(get_with(s, path, token, &[]), 200);
        total = v["total"].as_u64().unwrap_or(0);
        if total >= min {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    total
}
