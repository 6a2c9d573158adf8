//! The audit trail end to end: every read of patient data leaves exactly one AuditEvent, which
//! the patient can see and no other citizen can; writes carry theirs in the same commit;
//! refusals are recorded; the trail cannot be changed through the API.

mod common;

use common::{expect, Server};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn send(s: &Server, method: &str, path: &str, token: &str, body: Option<&Value>) -> Response {
    s.call(method, path, Some(token), body)
}

fn total(s: &Server, token: &str, query: &str) -> u64 {
    let b = expect(send(s, "GET", query, token, None), 200);
    b["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {b}"))
}

/// Waits until `query` counts `n` (the read trail is written in the background), then checks
/// that it stays at exactly `n`.
fn settles_at(s: &Server, token: &str, query: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = total(s, token, query);
    while last < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        last = total(s, token, query);
    }
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(total(s, token, query), n, "{query}");
}

#[test]
fn reads_writes_and_refusals_are_audited() {
    let s = Server::start_with(&["--with-auth"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    s.put_patients(&system, &["p1", "p2"]);
    for (id, p) in [("o1", "p1"), ("o3", "p2")] {
        let obs = json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"text": "pulse"}, "subject": {"reference": format!("Patient/{p}")}});
        expect(
            send(&s, "PUT", &format!("Observation/{id}"), &system, Some(&obs)),
            201,
        );
    }
    // Writes: the AuditEvent is committed with the write, so it is there at once.
    assert_eq!(
        total(
            &s,
            &system,
            "AuditEvent?entity=Observation/o1&_summary=count"
        ),
        1
    );
    // PUT is the update interaction, also when it creates.
    assert_eq!(
        total(
            &s,
            &system,
            "AuditEvent?patient=p1&subtype=update&action=U&_summary=count"
        ),
        2
    );

    // Both patients are in the care of the doctor's organisation (an active episode each).
    let org0 = json!({"resourceType": "Organization", "id": "org0", "name": "Поликлиника 1"});
    expect(
        send(&s, "PUT", "Organization/org0", &system, Some(&org0)),
        201,
    );
    for p in ["p1", "p2"] {
        let episode = json!({"resourceType": "EpisodeOfCare", "status": "active",
            "patient": {"reference": format!("Patient/{p}")},
            "managingOrganization": {"reference": "Organization/org0"}});
        expect(
            send(&s, "POST", "EpisodeOfCare", &system, Some(&episode)),
            201,
        );
    }

    // N reads by a doctor: exactly N events, each naming the patient.
    let doctor = s.token(&[
        "--sub",
        "dr-petrov",
        "--role",
        "practitioner",
        "--practitioner",
        "Practitioner/pr1",
        "--org",
        "Organization/org0",
    ]);
    for _ in 0..5 {
        expect(send(&s, "GET", "Observation/o1", &doctor, None), 200);
    }
    expect(send(&s, "GET", "Patient/p1", &doctor, None), 200);
    expect(send(&s, "GET", "Patient/p1", &doctor, None), 200);
    for _ in 0..3 {
        expect(send(&s, "GET", "Observation/o3", &doctor, None), 200);
    }
    settles_at(
        &s,
        &system,
        "AuditEvent?patient=p1&subtype=read&_summary=count",
        7,
    );
    settles_at(
        &s,
        &system,
        "AuditEvent?patient=p2&subtype=read&_summary=count",
        3,
    );
    // A search touching p1's data is one more event.
    expect(
        send(&s, "GET", "Observation?subject=Patient/p1", &doctor, None),
        200,
    );
    settles_at(
        &s,
        &system,
        "AuditEvent?patient=p1&subtype=search-type&_summary=count",
        1,
    );
    // Reading data of no patient leaves no trail.
    expect(
        send(
            &s,
            "PUT",
            "Organization/org1",
            &system,
            Some(&json!({"resourceType": "Organization", "id": "org1", "name": "ГКБ 1"})),
        ),
        201,
    );
    expect(send(&s, "GET", "Organization/org1", &doctor, None), 200);

    // Each citizen sees who read their record, and only theirs.
    let p1 = s.token(&[
        "--sub",
        "ivanov",
        "--role",
        "citizen",
        "--patient",
        "Patient/p1",
    ]);
    let p2 = s.token(&[
        "--sub",
        "petrova",
        "--role",
        "citizen",
        "--patient",
        "Patient/p2",
    ]);
    let mine = expect(send(&s, "GET", "AuditEvent?subtype=read", &p1, None), 200);
    assert_eq!(mine["total"], 7);
    for e in mine["entry"].as_array().unwrap() {
        let ev = &e["resource"];
        assert_eq!(ev["agent"][0]["who"]["reference"], "Practitioner/pr1");
        assert_eq!(ev["agent"][0]["altId"], "dr-petrov");
        assert!(ev["entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["what"]["reference"] == "Patient/p1"));
    }
    let theirs = expect(send(&s, "GET", "AuditEvent?subtype=read", &p2, None), 200);
    assert_eq!(theirs["total"], 3);
    let one_of_p1 = mine["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect(
        send(&s, "GET", &format!("AuditEvent/{one_of_p1}"), &p1, None),
        200,
    );
    expect(
        send(&s, "GET", &format!("AuditEvent/{one_of_p1}"), &p2, None),
        404,
    );

    // A refused look at someone else's record is recorded, and that patient sees it.
    expect(send(&s, "GET", "Observation/o3", &p1, None), 404);
    settles_at(
        &s,
        &p2,
        "AuditEvent?outcome=4&entity=Observation/o3&_summary=count",
        1,
    );
    // Refused by scope: recorded with a minor-failure outcome.
    let narrow = s.token(&[
        "--sub",
        "lab",
        "--role",
        "system",
        "--scope",
        "system/Observation.rs",
    ]);
    expect(send(&s, "GET", "Patient/p1", &narrow, None), 403);
    settles_at(
        &s,
        &system,
        "AuditEvent?agent=urn:zdrav:sub|lab&outcome=4&_summary=count",
        0,
    );
    settles_at(
        &s,
        &system,
        "AuditEvent?altid=lab&outcome=4&_summary=count",
        1,
    );

    // Append-only, for everyone. (The write event of Observation/o1 names only resources that
    // exist, so the PUT below passes reference checks and meets the store's create-only rule.)
    let written = expect(
        send(
            &s,
            "GET",
            "AuditEvent?entity=Observation/o1&action=U",
            &system,
            None,
        ),
        200,
    );
    let any = written["entry"][0]["resource"].clone();
    let one_of_p1 = any["id"].as_str().unwrap().to_string();
    let r = send(&s, "POST", "AuditEvent/$validate", &system, Some(&any));
    let oo = expect(r, 200);
    assert!(
        oo["issue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["severity"] != "error"),
        "the server's own AuditEvents must be valid: {oo}"
    );
    assert_eq!(
        send(
            &s,
            "PUT",
            &format!("AuditEvent/{one_of_p1}"),
            &system,
            Some(&any)
        )
        .status(),
        409
    );
    assert_eq!(
        send(
            &s,
            "DELETE",
            &format!("AuditEvent/{one_of_p1}"),
            &system,
            None
        )
        .status(),
        405
    );
    assert_eq!(
        send(&s, "DELETE", "AuditEvent?patient=p1", &system, None).status(),
        405
    );
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": format!("AuditEvent/{one_of_p1}")}}]});
    expect(send(&s, "POST", "", &system, Some(&tx)), 405);
}
