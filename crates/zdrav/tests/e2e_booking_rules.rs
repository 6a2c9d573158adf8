//! Booking as a service (issue 8): schedules generated from templates, `$find` by
//! organisation, region and channel, the patient rules (no overlap, one open appointment per
//! specialty, a per-patient limit), `$cancel` and `$reschedule`, channels (competitive slots,
//! extraterritorial schedules, referrals), atomic multi-booking, and the waiting list served
//! through the outbox, also across a restart. Runs on SQLite and (in CI) PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{expect, refused, Server};
use serde_json::{json, Value};

const NSI_SPEC: &str = "urn:oid:1.2.643.5.1.13.13.11.1066";

fn spec(code: &str) -> Value {
    json!([{"coding": [{"system": NSI_SPEC, "code": code}]}])
}

/// Two clinics in two regions, three doctors, four patients, and the slots of 1–4 December
/// 2026 (Tue–Fri, 08:00–10:00, 30 minutes): therapy and cardiology competitive, ophthalmology
/// for the desk only.
fn clinic(s: &Server) {
    let put = |path: &str, body: Value| expect(s.put(path, &body), 201);
    for (id, region) in [("org-a", "77"), ("org-b", "50")] {
        put(
            &format!("Organization/{id}"),
            json!({"resourceType": "Organization", "id": id, "name": id, "address": [{"state": region}]}),
        );
    }
    for (role, doctor, org, code) in [
        ("r-ter", "ter", "org-a", "76"),
        ("r-oku", "oku", "org-a", "65"),
        ("r-kar", "kar", "org-b", "27"),
    ] {
        put(
            &format!("Practitioner/{doctor}"),
            json!({"resourceType": "Practitioner", "id": doctor}),
        );
        put(
            &format!("PractitionerRole/{role}"),
            json!({"resourceType": "PractitionerRole", "id": role, "active": true,
                "practitioner": {"reference": format!("Practitioner/{doctor}")},
                "organization": {"reference": format!("Organization/{org}")}, "specialty": spec(code)}),
        );
        put(
            &format!("Schedule/s-{doctor}"),
            json!({"resourceType": "Schedule", "id": format!("s-{doctor}"),
                "actor": [{"reference": format!("PractitionerRole/{role}")}], "specialty": spec(code)}),
        );
        let r = expect(
            s.post(
                &format!("Schedule/s-{doctor}/$generate"),
                &template("2026-12-01", "2026-12-04", doctor != "oku"),
            ),
            200,
        );
        assert_eq!(r["parameter"][0]["valueInteger"], 16, "{r}");
    }
    for (p, org) in [
        ("p1", "org-a"),
        ("p2", "org-a"),
        ("p3", "org-b"),
        ("p4", "org-a"),
    ] {
        put(
            &format!("Patient/{p}"),
            json!({"resourceType": "Patient", "id": p, "managingOrganization": {"reference": format!("Organization/{org}")}}),
        );
    }
}

fn template(start: &str, end: &str, competitive: bool) -> Value {
    json!({"resourceType": "Parameters", "parameter": [
        {"name": "start", "valueDate": start}, {"name": "end", "valueDate": end},
        {"name": "day", "valueString": "mon-fri 08:00-10:00"}, {"name": "slotMinutes", "valueInteger": 30},
        {"name": "competitive", "valueBoolean": competitive}]})
}

/// The id of the slot of `doctor` on December `day` at `hhmm`.
fn slot(doctor: &str, day: u32, hhmm: &str) -> String {
    format!("s-{doctor}-202612{day:02}{hhmm}")
}

fn proposal(patient: &str, slot_id: &str) -> Value {
    json!({"resourceType": "Appointment", "status": "proposed",
        "slot": [{"reference": format!("Slot/{slot_id}")}],
        "participant": [{"actor": {"reference": format!("Patient/{patient}")}, "status": "needs-action"}]})
}

fn book(appointments: &[Value], channel: &str) -> Value {
    let mut p: Vec<Value> = appointments
        .iter()
        .map(|a| json!({"name": "appointment-resource", "resource": a}))
        .collect();
    p.push(json!({"name": "channel", "valueCode": channel}));
    json!({"resourceType": "Parameters", "parameter": p})
}

/// Books one proposal of `patient` for `slot_id` through `channel`, expecting `status`.
fn book_one(s: &Server, patient: &str, slot_id: &str, channel: &str, status: u16) -> Value {
    expect(
        s.post(
            "Appointment/$book",
            &book(&[proposal(patient, slot_id)], channel),
        ),
        status,
    )
}

fn slot_status(s: &Server, id: &str) -> String {
    expect(s.get(&format!("Slot/{id}")), 200)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn diagnostics(v: &Value) -> String {
    v["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn schedules_come_from_templates() {
    let s = Server::start();
    clinic(&s);
    // Running a template again creates only what is missing.
    let r = expect(
        s.post(
            "Schedule/s-ter/$generate",
            &template("2026-12-01", "2026-12-07", true),
        ),
        200,
    );
    assert_eq!(
        r["parameter"][0]["valueInteger"], 4,
        "Monday 7 December only: {r}"
    );
    assert_eq!(r["parameter"][1]["valueInteger"], 16);
    let one = expect(s.get(&format!("Slot/{}", slot("ter", 1, "0800"))), 200);
    assert_eq!(one["start"], "2026-12-01T08:00:00+03:00");
    assert_eq!(one["end"], "2026-12-01T08:30:00+03:00");
    assert_eq!(one["specialty"], spec("76"));
    assert_eq!(one["meta"]["tag"][0]["code"], "competitive");
    // New-year holidays: 31 December and 11 January work, 1–8 January do not.
    let r = expect(
        s.post(
            "Schedule/s-kar/$generate",
            &template("2026-12-31", "2027-01-11", true),
        ),
        200,
    );
    assert_eq!(r["parameter"][0]["valueInteger"], 8, "{r}");
    assert_eq!(
        r["parameter"][2]["valueInstant"],
        "2026-12-31T08:00:00+03:00"
    );
    assert_eq!(
        r["parameter"][3]["valueInstant"],
        "2027-01-11T09:30:00+03:00"
    );
    // A break: no slot overlaps it.
    let mut t = template("2026-12-08", "2026-12-08", true);
    t["parameter"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "break", "valueString": "08:30-09:00"}));
    let r = expect(s.post("Schedule/s-oku/$generate", &t), 200);
    assert_eq!(r["parameter"][0]["valueInteger"], 3);
    expect(s.get("Slot/s-oku-202612080830"), 404);
    // Bad templates are 400s that say where.
    let mut bad = template("2026-12-10", "2026-12-01", true);
    let r = expect(s.post("Schedule/s-ter/$generate", &bad), 400);
    assert!(
        r["issue"][0]["expression"][0]
            .as_str()
            .unwrap_or("")
            .contains("parameter[1]"),
        "{r}"
    );
    bad["parameter"][1]["valueDate"] = json!("2026-12-11");
    bad["parameter"][2]["valueString"] = json!("someday 08:00-10:00");
    assert_eq!(
        refused(s.post("Schedule/s-ter/$generate", &bad), 400),
        "invalid"
    );
    expect(
        s.post(
            "Schedule/nope/$generate",
            &template("2026-12-01", "2026-12-01", true),
        ),
        404,
    );
}

#[test]
fn find_by_organisation_region_and_channel() {
    let s = Server::start();
    clinic(&s);
    let find = |q: &str| {
        expect(
            s.get(&format!(
                "Appointment/$find?start=2026-12-01&end=2026-12-05&_count=100&_total=accurate&{q}"
            )),
            200,
        )
    };
    assert_eq!(find("organization=Organization/org-a")["total"], 32);
    assert_eq!(find("region=50")["total"], 16);
    assert_eq!(find("region=99")["total"], 0);
    assert_eq!(
        find("organization=org-a&channel=epgu")["total"],
        16,
        "ophthalmology is for the desk"
    );
    assert_eq!(find("organization=org-a&channel=registry")["total"], 32);
    assert_eq!(find("practitioner=Practitioner/oku")["total"], 16);
    let r = find(&format!("specialty={NSI_SPEC}|27"));
    assert_eq!(r["total"], 16);
    let first = &r["entry"][0]["resource"];
    assert_eq!(
        first["participant"][0]["actor"]["reference"],
        "PractitionerRole/r-kar"
    );
    assert_eq!(first["start"], "2026-12-01T08:00:00+03:00");
    refused(
        s.get("Appointment/$find?start=2026-12-01&end=2026-12-05&channel=fax"),
        400,
    );
    // The CapabilityStatement lists the booking operations.
    let cs = expect(s.get("metadata"), 200);
    let ops = |t: &str| -> Vec<String> {
        cs["rest"][0]["resource"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == t)
            .map(|r| {
                r["operation"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for op in ["find", "book", "cancel", "reschedule", "kpi"] {
        assert!(ops("Appointment").contains(&op.to_string()), "{op}");
    }
    assert!(ops("Schedule").contains(&"generate".to_string()));
    // Without _total=accurate there is no count, only the page.
    let page = expect(
        s.get("Appointment/$find?start=2026-12-01&end=2026-12-05&region=50&_count=5"),
        200,
    );
    assert!(page.get("total").is_none(), "{page}");
    assert_eq!(page["entry"].as_array().map(Vec::len), Some(5));
}

#[test]
fn patient_rules_cancel_and_reschedule() {
    let s = Server::start_with(&["--max-open-appointments", "2"]);
    clinic(&s);
    let first = book_one(&s, "p1", &slot("ter", 1, "0800"), "registry", 201);
    assert_eq!(
        first["start"], "2026-12-01T08:00:00+03:00",
        "time comes from the slot"
    );
    assert_eq!(first["specialty"], spec("76"));
    assert!(first["created"].as_str().is_some());
    // Overlapping another of p1's appointments.
    let r = book_one(&s, "p1", &slot("oku", 1, "0800"), "registry", 422);
    assert!(diagnostics(&r).contains("overlap"), "{r}");
    // A second open therapy appointment.
    let r = book_one(&s, "p1", &slot("ter", 2, "0800"), "registry", 422);
    assert!(diagnostics(&r).contains("specialty"), "{r}");
    assert_eq!(slot_status(&s, &slot("ter", 2, "0800")), "free");
    book_one(&s, "p1", &slot("oku", 1, "0830"), "registry", 201);
    // The third open appointment is over the limit of two.
    let r = book_one(&s, "p1", &slot("kar", 3, "0800"), "registry", 422);
    assert!(diagnostics(&r).contains("at most 2"), "{r}");

    // $cancel frees the slot and the specialty.
    let id = first["id"].as_str().unwrap();
    let cancel = json!({"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "заболел"}]});
    let c = expect(s.post(&format!("Appointment/{id}/$cancel"), &cancel), 200);
    assert_eq!(c["status"], "cancelled");
    assert_eq!(c["cancelationReason"]["text"], "заболел");
    assert_eq!(slot_status(&s, &slot("ter", 1, "0800")), "free");
    let again = book_one(&s, "p1", &slot("ter", 2, "0800"), "registry", 201);

    // $reschedule moves it in one commit; a taken slot is 409 and nothing moves.
    let id = again["id"].as_str().unwrap();
    let to = |slot_id: &str| json!({"resourceType": "Parameters", "parameter": [{"name": "slot", "valueReference": {"reference": format!("Slot/{slot_id}")}}]});
    let moved = expect(
        s.post(
            &format!("Appointment/{id}/$reschedule"),
            &to(&slot("ter", 3, "0900")),
        ),
        200,
    );
    assert_eq!(moved["start"], "2026-12-03T09:00:00+03:00");
    assert_eq!(slot_status(&s, &slot("ter", 2, "0800")), "free");
    assert_eq!(slot_status(&s, &slot("ter", 3, "0900")), "busy");
    book_one(&s, "p2", &slot("ter", 4, "0800"), "registry", 201);
    refused(
        s.post(
            &format!("Appointment/{id}/$reschedule"),
            &to(&slot("ter", 4, "0800")),
        ),
        409,
    );
    assert_eq!(slot_status(&s, &slot("ter", 3, "0900")), "busy");
    // Cancelling twice is harmless; a missing appointment is 404.
    expect(s.post(&format!("Appointment/{id}/$cancel"), &cancel), 200);
    expect(s.post(&format!("Appointment/{id}/$cancel"), &cancel), 200);
    assert_eq!(slot_status(&s, &slot("ter", 3, "0900")), "free");
    expect(s.post("Appointment/nope/$cancel", &cancel), 404);
}

#[test]
fn channels_referrals_and_check_up_sets() {
    let s = Server::start();
    clinic(&s);
    // ЕПГУ books only competitive slots.
    let r = book_one(&s, "p1", &slot("oku", 1, "0800"), "epgu", 422);
    assert!(diagnostics(&r).contains("remote"), "{r}");
    // Extraterritorial: p1 belongs to org-a, cardiology is at org-b.
    let r = book_one(&s, "p1", &slot("kar", 1, "0800"), "epgu", 422);
    assert!(diagnostics(&r).contains("extraterritorial"), "{r}");
    let mut sched = expect(s.get("Schedule/s-kar"), 200);
    sched["extension"] =
        json!([{"url": "urn:zdrav:StructureDefinition:extraterritorial", "valueBoolean": true}]);
    expect(s.put("Schedule/s-kar", &sched), 200);
    let ok = book_one(&s, "p1", &slot("kar", 1, "0800"), "epgu", 201);
    assert_eq!(ok["extension"][0]["valueCode"], "epgu");
    // The refused ЕПГУ attempts are on record for the KPIs.
    let attempts = expect(
        s.get("AuditEvent?subtype=urn:zdrav:CodeSystem:booking-attempt|epgu&_summary=count"),
        200,
    );
    assert_eq!(attempts["total"], 2);

    // A referral needs an active ServiceRequest of the same patient.
    let mut referral = proposal("p3", &slot("ter", 1, "0800"));
    let r = expect(
        s.post("Appointment/$book", &book(&[referral.clone()], "referral")),
        422,
    );
    assert!(diagnostics(&r).contains("ServiceRequest"), "{r}");
    for (id, subject) in [("sr3", "p3"), ("sr1", "p1")] {
        expect(
            s.put(
                &format!("ServiceRequest/{id}"),
                &json!({"resourceType": "ServiceRequest", "id": id, "status": "active", "intent": "order",
                    "subject": {"reference": format!("Patient/{subject}")}}),
            ),
            201,
        );
    }
    referral["basedOn"] = json!([{"reference": "ServiceRequest/sr1"}]);
    expect(
        s.post("Appointment/$book", &book(&[referral.clone()], "referral")),
        422,
    );
    referral["basedOn"] = json!([{"reference": "ServiceRequest/sr3"}]);
    let r = expect(
        s.post("Appointment/$book", &book(&[referral], "referral")),
        201,
    );
    assert_eq!(r["basedOn"][0]["reference"], "ServiceRequest/sr3");

    // A check-up's set is booked whole or not at all.
    let set = [
        proposal("p2", &slot("ter", 2, "0800")),
        proposal("p2", &slot("oku", 2, "0830")),
    ];
    let taken = [
        proposal("p4", &slot("ter", 3, "0800")),
        proposal("p4", &slot("ter", 1, "0800")),
    ];
    refused(s.post("Appointment/$book", &book(&taken, "registry")), 409);
    assert_eq!(
        slot_status(&s, &slot("ter", 3, "0800")),
        "free",
        "nothing of a refused set"
    );
    let both = expect(s.post("Appointment/$book", &book(&set, "registry")), 200);
    assert_eq!(both["entry"].as_array().map(Vec::len), Some(2));
    assert_eq!(slot_status(&s, &slot("oku", 2, "0830")), "busy");
    // Two appointments of one set may not overlap either.
    let clash = [
        proposal("p4", &slot("ter", 4, "0800")),
        proposal("p4", &slot("oku", 4, "0800")),
    ];
    refused(s.post("Appointment/$book", &book(&clash, "registry")), 422);
}

/// Polls `Appointment/id` until its status is `want`.
fn wait_status(s: &Server, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = expect(s.get(&format!("Appointment/{id}")), 200);
        if a["status"] == want || Instant::now() > deadline {
            assert_eq!(a["status"], want, "{a}");
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_waiting_list_gets_freed_slots_even_across_a_restart() {
    let mut s = Server::start_with(&["--no-outbox-worker"]);
    clinic(&s);
    let only = slot("ter", 1, "0800");
    let held = book_one(&s, "p1", &only, "registry", 201);
    let wait = |p: &str| {
        let a = json!({"resourceType": "Appointment", "status": "waitlist", "specialty": spec("76"),
            "requestedPeriod": [{"start": "2026-12-01", "end": "2026-12-02"}],
            "participant": [{"actor": {"reference": format!("Patient/{p}")}, "status": "needs-action"}]});
        expect(s.post("Appointment", &a), 201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (w2, w3) = (wait("p2"), wait("p3"));
    // p1 cancels; no worker runs in this process, so the message waits in the outbox.
    expect(
        s.post(
            &format!("Appointment/{}/$cancel", held["id"].as_str().unwrap()),
            &json!({"resourceType": "Parameters"}),
        ),
        200,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        expect(s.get(&format!("Appointment/{w2}")), 200)["status"],
        "waitlist"
    );

    // After a restart with the worker on, the first in line is offered the slot.
    s.restart(&[]);
    let offer = wait_status(&s, &w2, "pending");
    assert_eq!(offer["slot"][0]["reference"], format!("Slot/{only}"));
    assert_eq!(offer["start"], "2026-12-01T08:00:00+03:00");
    assert_eq!(slot_status(&s, &only), "busy-tentative");
    assert_eq!(
        expect(s.get(&format!("Appointment/{w3}")), 200)["status"],
        "waitlist"
    );

    // p2 declines: the slot goes to p3, who accepts.
    expect(
        s.post(
            &format!("Appointment/{w2}/$cancel"),
            &json!({"resourceType": "Parameters"}),
        ),
        200,
    );
    let mut offer = wait_status(&s, &w3, "pending");
    offer["status"] = json!("booked");
    expect(s.put(&format!("Appointment/{w3}"), &offer), 200);
    assert_eq!(slot_status(&s, &only), "busy");
    assert_eq!(
        expect(s.get(&format!("Appointment/{w2}")), 200)["status"],
        "cancelled"
    );
}

#[test]
fn an_unanswered_offer_goes_to_the_next_patient() {
    let s = Server::start_with(&["--waitlist-offer-seconds", "1"]);
    clinic(&s);
    let only = slot("ter", 2, "0800");
    let held = book_one(&s, "p1", &only, "registry", 201);
    let wait = |p: &str| {
        let a = json!({"resourceType": "Appointment", "status": "waitlist", "specialty": spec("76"),
            "participant": [{"actor": {"reference": format!("Patient/{p}")}, "status": "needs-action"}]});
        expect(s.post("Appointment", &a), 201)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (w2, w3) = (wait("p2"), wait("p3"));
    let id = held["id"].as_str().unwrap();
    expect(
        s.post(
            &format!("Appointment/{id}/$cancel"),
            &json!({"resourceType": "Parameters"}),
        ),
        200,
    );
    let offer = wait_status(&s, &w2, "pending");
    assert_eq!(offer["meta"]["tag"][0]["code"], "waitlist-offer");
    // p2 does not answer: after a second the offer is withdrawn and p3 gets the slot.
    let gone = wait_status(&s, &w2, "cancelled");
    assert!(gone["cancelationReason"]["text"]
        .as_str()
        .unwrap_or("")
        .contains("не принято"));
    let next = wait_status(&s, &w3, "pending");
    assert_eq!(next["slot"][0]["reference"], format!("Slot/{only}"));
    assert_eq!(slot_status(&s, &only), "busy-tentative");
}
