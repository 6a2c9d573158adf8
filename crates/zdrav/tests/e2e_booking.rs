//! Booking is race-proof (issue 8): many clients booking the same free slots at once end with
//! each slot booked exactly once, the losers answered 409 with an OperationOutcome; cancelling
//! frees the slot for the next booking. Runs on SQLite and (in CI) PostgreSQL.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{expect, Server};
use serde_json::{json, Value};

const SLOTS: usize = 100;
const CLIENTS: usize = 1000;

/// Slot `i` is five minutes from 08:00 + 5·i.
fn at(minutes: usize) -> String {
    format!("2026-12-01T{:02}:{:02}:00Z", 8 + minutes / 60, minutes % 60)
}

fn appointment(slot: usize, patient: usize) -> Value {
    json!({"resourceType": "Appointment", "status": "booked",
        "slot": [{"reference": format!("Slot/s{slot}")}],
        "start": at(slot * 5),
        "end": at(slot * 5 + 5),
        "participant": [{"actor": {"reference": format!("Patient/p{patient}")}, "status": "accepted"}]})
}

#[test]
fn a_thousand_clients_book_a_hundred_slots_once_each() {
    let s = Server::start();
    let mut entries = vec![
        json!({"resource": {"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Хирургов"}]},
               "request": {"method": "PUT", "url": "Practitioner/dr"}}),
        json!({"resource": {"resourceType": "Schedule", "id": "sch", "actor": [{"reference": "Practitioner/dr"}]},
               "request": {"method": "PUT", "url": "Schedule/sch"}}),
    ];
    for p in 0..CLIENTS {
        entries.push(
            json!({"resource": {"resourceType": "Patient", "id": format!("p{p}")},
            "request": {"method": "PUT", "url": format!("Patient/p{p}")}}),
        );
    }
    for i in 0..SLOTS {
        let a = appointment(i, 0);
        entries.push(json!({"resource": {"resourceType": "Slot", "id": format!("s{i}"),
            "schedule": {"reference": "Schedule/sch"}, "status": "free", "start": a["start"], "end": a["end"]},
            "request": {"method": "PUT", "url": format!("Slot/s{i}")}}));
    }
    expect(
        s.post(
            "",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        ),
        200,
    );

    // Every slot is wanted by ten clients at once.
    let next = Arc::new(AtomicUsize::new(0));
    let (won, lost, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let base = s.url("Appointment");
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (next, won, lost, other, base) = (
                next.clone(),
                won.clone(),
                lost.clone(),
                other.clone(),
                base.clone(),
            );
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= CLIENTS {
                        break;
                    }
                    let body = appointment((k * 37) % SLOTS, k);
                    let r = client
                        .post(&base)
                        .header("content-type", "application/fhir+json")
                        .body(body.to_string())
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let text = r.text().unwrap_or_default();
                    match status {
                        201 => won.fetch_add(1, Ordering::SeqCst),
                        409 if text.contains("OperationOutcome")
                            && text.contains("already taken") =>
                        {
                            lost.fetch_add(1, Ordering::SeqCst)
                        }
                        _ => {
                            eprintln!("unexpected {status}: {text}");
                            other.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "booking race: {} booked, {} refused with 409, {} other",
        won.load(Ordering::SeqCst),
        lost.load(Ordering::SeqCst),
        other.load(Ordering::SeqCst)
    );
    assert_eq!(won.load(Ordering::SeqCst), SLOTS);
    assert_eq!(lost.load(Ordering::SeqCst), CLIENTS - SLOTS);
    assert_eq!(other.load(Ordering::SeqCst), 0);
    assert_eq!(
        expect(s.get("Appointment?_summary=count"), 200)["total"],
        SLOTS
    );
    assert_eq!(
        expect(s.get("Slot?status=busy&_summary=count"), 200)["total"],
        SLOTS
    );
    for i in 0..SLOTS {
        let b = expect(
            s.get(&format!("Appointment?slot=Slot/s{i}&_summary=count")),
            200,
        );
        assert_eq!(b["total"], 1, "Slot/s{i} is booked once");
    }

    // Cancelling frees the slot; the next booking gets it, and a second one does not.
    let held = expect(s.get("Appointment?slot=Slot/s5"), 200);
    let mut a = held["entry"][0]["resource"].clone();
    let id = a["id"].as_str().unwrap().to_string();
    a["status"] = json!("cancelled");
    expect(s.put(&format!("Appointment/{id}"), &a), 200);
    assert_eq!(expect(s.get("Slot/s5"), 200)["status"], "free");
    expect(s.post("Appointment", &appointment(5, 1)), 201);
    let r = expect(s.post("Appointment", &appointment(5, 2)), 409);
    assert_eq!(r["resourceType"], "OperationOutcome");
    assert_eq!(expect(s.get("Slot/s5"), 200)["status"], "busy");

    // A PATCH that cancels frees the slot too; a transaction cannot go around the rule.
    let held = expect(s.get("Appointment?slot=Slot/s5&status=booked"), 200);
    let id = held["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = json!([{"op": "replace", "path": "/status", "value": "cancelled"}]);
    let r = s.raw(
        "PATCH",
        &format!("Appointment/{id}"),
        "application/json-patch+json",
        patch.to_string().into_bytes(),
    );
    expect(r, 200);
    assert_eq!(expect(s.get("Slot/s5"), 200)["status"], "free");
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": appointment(5, 3), "request": {"method": "POST", "url": "Appointment"}}]});
    let r = expect(s.post("", &tx), 422);
    assert_eq!(r["issue"][0]["code"], "business-rule");
    assert_eq!(expect(s.get("Slot/s5"), 200)["status"], "free");
}

#[test]
fn find_then_book_through_a_channel() {
    let s = Server::start_with(&["--with-auth"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    let put = |path: &str, body: Value| {
        expect(s.call("PUT", path, Some(&system), Some(&body)), 201);
    };
    put(
        "Practitioner/dr",
        json!({"resourceType": "Practitioner", "id": "dr", "name": [{"family": "Терапевтов"}]}),
    );
    put(
        "Practitioner/dr2",
        json!({"resourceType": "Practitioner", "id": "dr2", "name": [{"family": "Окулистов"}]}),
    );
    put(
        "Schedule/sch",
        json!({"resourceType": "Schedule", "id": "sch", "actor": [{"reference": "Practitioner/dr"}]}),
    );
    put(
        "Schedule/sch2",
        json!({"resourceType": "Schedule", "id": "sch2", "actor": [{"reference": "Practitioner/dr2"}]}),
    );
    s.put_patients(&system, &["p1", "p2"]);
    let therapy = json!([{"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1066", "code": "76", "display": "Терапия"}]}]);
    for (i, sched, status) in [
        (0, "sch", "free"),
        (1, "sch", "busy"),
        (2, "sch", "free"),
        (3, "sch2", "free"),
        (4, "sch", "free"),
    ] {
        // Competitive: open to remote channels such as ЕПГУ.
        let mut slot = json!({"resourceType": "Slot", "id": format!("f{i}"), "schedule": {"reference": format!("Schedule/{sched}")},
            "meta": {"tag": [{"system": "urn:zdrav:CodeSystem:slot-access", "code": "competitive"}]},
            "status": status, "start": at(i * 30), "end": at(i * 30 + 15)});
        if sched == "sch" {
            slot["specialty"] = therapy.clone();
        }
        put(&format!("Slot/f{i}"), slot);
    }
    // Free therapy slots of the practitioner between 08:00 and 10:00 (f4 is at 10:00).
    let citizen = s.token(&[
        "--sub",
        "cit-1",
        "--role",
        "citizen",
        "--patient",
        "Patient/p1",
    ]);
    let found = expect(s.call("GET", "Appointment/$find?start=2026-12-01T08:00:00Z&end=2026-12-01T10:00:00Z&specialty=urn:oid:1.2.643.5.1.13.13.11.1066|76&actor=Practitioner/dr", Some(&citizen), None), 200);
    let slots: Vec<String> = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["slot"][0]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(slots, ["Slot/f0", "Slot/f2"]);
    assert_eq!(found["entry"][0]["resource"]["status"], "proposed");

    // The citizen books the first through ЕПГУ; for someone else they may not.
    let mut proposed = found["entry"][0]["resource"].clone();
    proposed["participant"]
        .as_array_mut()
        .unwrap()
        .push(json!({"actor": {"reference": "Patient/p1"}, "status": "needs-action"}));
    let book = |a: &Value, channel: &str| {
        json!({"resourceType": "Parameters", "parameter": [
        {"name": "appointment-resource", "resource": a}, {"name": "channel", "valueCode": channel}]})
    };
    let booked = expect(
        s.call(
            "POST",
            "Appointment/$book",
            Some(&citizen),
            Some(&book(&proposed, "epgu")),
        ),
        201,
    );
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["extension"][0]["valueCode"], "epgu");
    assert_eq!(
        expect(s.call("GET", "Slot/f0", Some(&system), None), 200)["status"],
        "busy"
    );
    let again = expect(
        s.call(
            "POST",
            "Appointment/$book",
            Some(&system),
            Some(&book(&proposed, "call-122")),
        ),
        409,
    );
    assert_eq!(again["resourceType"], "OperationOutcome");
    let mut other = found["entry"][1]["resource"].clone();
    other["participant"]
        .as_array_mut()
        .unwrap()
        .push(json!({"actor": {"reference": "Patient/p2"}}));
    expect(
        s.call(
            "POST",
            "Appointment/$book",
            Some(&citizen),
            Some(&book(&other, "epgu")),
        ),
        403,
    );
    expect(
        s.call(
            "POST",
            "Appointment/$book",
            Some(&system),
            Some(&book(&other, "fax")),
        ),
        400,
    );
    // A registrar books it for p2 at the desk; the slot no longer shows as free.
    let registrar = s.token(&["--sub", "reg-1", "--role", "registrar"]);
    let theirs = expect(
        s.call(
            "POST",
            "Appointment/$book",
            Some(&registrar),
            Some(&book(&other, "registry")),
        ),
        201,
    );
    let left = expect(s.call("GET", "Appointment/$find?start=2026-12-01T08:00:00Z&end=2026-12-01T10:00:00Z&actor=Practitioner/dr", Some(&citizen), None), 200);
    assert!(left.get("entry").is_none(), "{left}");

    // A citizen cancels their own booking; another patient's is not there for them.
    let reason = json!({"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "уезжаю"}]});
    let path = |a: &Value| format!("Appointment/{}/$cancel", a["id"].as_str().unwrap());
    expect(
        s.call("POST", &path(&theirs), Some(&citizen), Some(&reason)),
        404,
    );
    let mine = expect(
        s.call("POST", &path(&booked), Some(&citizen), Some(&reason)),
        200,
    );
    assert_eq!(mine["status"], "cancelled");
    assert_eq!(
        expect(s.call("GET", "Slot/f0", Some(&system), None), 200)["status"],
        "free"
    );
    // The regional authority reads the booking KPIs (aggregates), not the bookings.
    let regional = s.token(&["--sub", "minzdrav-77", "--role", "regional"]);
    let kpi = expect(
        s.call(
            "GET",
            "Appointment/$kpi?start=2026-01-01&end=2026-12-31",
            Some(&regional),
            None,
        ),
        200,
    );
    assert_eq!(kpi["resourceType"], "MeasureReport");
    expect(s.call("GET", "Appointment", Some(&regional), None), 403);
}
