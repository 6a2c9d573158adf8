//! The booking KPIs of seed 001 (`Appointment/$kpi`) against a hand-computed table: two
//! clinics in two regions, four positions, three schedules, twelve slots in the period (two
//! more after it), four bookings with known waits and channels, and three refused ЕПГУ
//! attempts. Dates are relative to today, so that the refused attempts (recorded now) fall
//! in the period. Runs on SQLite and (in CI) PostgreSQL.

mod common;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use common::{expect, Server};
use serde_json::{json, Value};

/// The Monday at least two weeks ahead: the week the slots are in.
fn monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(14);
    while d.weekday().num_days_from_monday() != 0 {
        d += Duration::days(1);
    }
    d
}

fn template(day: NaiveDate, competitive: bool) -> Value {
    json!({"resourceType": "Parameters", "parameter": [
        {"name": "start", "valueDate": day.to_string()}, {"name": "end", "valueDate": (day + Duration::days(1)).to_string()},
        {"name": "day", "valueString": "mon-fri 08:00-09:00"}, {"name": "slotMinutes", "valueInteger": 30},
        {"name": "competitive", "valueBoolean": competitive}, {"name": "ruHolidays", "valueBoolean": false}]})
}

fn slot(schedule: &str, day: NaiveDate, hhmm: &str) -> String {
    format!("{schedule}-{}{hhmm}", day.format("%Y%m%d"))
}

fn at(day: NaiveDate, hhmm: &str) -> String {
    format!("{day}T{}:{}:00+03:00", &hhmm[..2], &hhmm[2..])
}

/// A booking request of `patient` for `slot_id` with the doctor `role`, made `days` before
/// the appointment (at the same time of day).
fn booking(
    patient: &str,
    role: &str,
    slot_id: &str,
    day: NaiveDate,
    hhmm: &str,
    days: i64,
) -> Value {
    json!({"resourceType": "Parameters", "parameter": [
        {"name": "appointment-resource", "resource": {"resourceType": "Appointment", "status": "proposed",
            "created": at(day - Duration::days(days), hhmm),
            "slot": [{"reference": format!("Slot/{slot_id}")}],
            "participant": [{"actor": {"reference": format!("PractitionerRole/{role}")}, "status": "needs-action"},
                            {"actor": {"reference": format!("Patient/{patient}")}, "status": "needs-action"}]}}]})
}

fn with_channel(mut b: Value, channel: &str) -> Value {
    b["parameter"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "channel", "valueCode": channel}));
    b
}

/// One KPI: its code, numerator and denominator counts, and score.
type Row = (String, Option<u64>, Option<u64>, Option<f64>);

/// The KPI groups by code: numerator / denominator counts and the score.
fn table(report: &Value) -> Vec<Row> {
    report["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let pop = |i: usize| g["population"][i]["count"].as_u64();
            (
                g["code"]["coding"][0]["code"].as_str().unwrap().to_string(),
                pop(0),
                pop(1),
                g["measureScore"]["value"].as_f64(),
            )
        })
        .collect()
}

fn channels(report: &Value) -> Vec<(String, u64)> {
    let g = report["group"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["code"]["coding"][0]["code"] == "bookings-by-channel")
        .unwrap();
    g["stratifier"][0]["stratum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"]["text"].as_str().unwrap().to_string(),
                s["population"][0]["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(code: &str, n: Option<u64>, d: Option<u64>, score: Option<f64>) -> Row {
    (code.to_string(), n, d, score)
}

#[test]
fn kpis_match_the_hand_computed_table() {
    let s = Server::start();
    let d0 = monday();
    let d1 = d0 + Duration::days(1);
    let put = |path: &str, body: Value| expect(s.put(path, &body), 201);
    for (id, region) in [("org-a", "77"), ("org-b", "50")] {
        put(
            &format!("Organization/{id}"),
            json!({"resourceType": "Organization", "id": id, "name": id, "address": [{"state": region}]}),
        );
    }
    // Positions: r1 1, r2 0.5, r3 1 (no schedule) at org-a; r4 1 at org-b.
    for (role, doctor, org, rate) in [
        ("r1", "ter", "org-a", "1"),
        ("r2", "oku", "org-a", "0.5"),
        ("r3", "hir", "org-a", "1"),
        ("r4", "kar", "org-b", "1"),
    ] {
        put(
            &format!("Practitioner/{doctor}"),
            json!({"resourceType": "Practitioner", "id": doctor}),
        );
        let mut r = json!({"resourceType": "PractitionerRole", "id": role, "active": true,
            "practitioner": {"reference": format!("Practitioner/{doctor}")},
            "organization": {"reference": format!("Organization/{org}")}});
        if rate != "1" {
            r["extension"] =
                json!([{"url": "urn:zdrav:StructureDefinition:staff-rate", "valueDecimal": 0.5}]);
        }
        put(&format!("PractitionerRole/{role}"), r);
    }
    // Four slots each on d0 and d1: s1 and s4 competitive, s2 for the desk; s1 also has two
    // slots two months later, outside the period.
    for (sched, role, competitive) in [("s1", "r1", true), ("s2", "r2", false), ("s4", "r4", true)]
    {
        put(
            &format!("Schedule/{sched}"),
            json!({"resourceType": "Schedule", "id": sched, "actor": [{"reference": format!("PractitionerRole/{role}")}]}),
        );
        expect(
            s.post(
                &format!("Schedule/{sched}/$generate"),
                &template(d0, competitive),
            ),
            200,
        );
    }
    let later = d0 + Duration::days(63);
    let mut t = template(later, true);
    t["parameter"][1]["valueDate"] = json!(later.to_string());
    expect(s.post("Schedule/s1/$generate", &t), 200);
    for (p, org) in [
        ("p1", "org-a"),
        ("p2", "org-a"),
        ("p3", "org-a"),
        ("p4", "org-b"),
        ("p5", "org-a"),
        ("p6", "org-b"),
    ] {
        put(
            &format!("Patient/{p}"),
            json!({"resourceType": "Patient", "id": p, "managingOrganization": {"reference": format!("Organization/{org}")}}),
        );
    }
    // Bookings: waits 3, 1, 2 (org-a) and 5 days (org-b).
    let ok = |b: Value| expect(s.post("Appointment/$book", &b), 201);
    ok(with_channel(
        booking("p1", "r1", &slot("s1", d0, "0800"), d0, "0800", 3),
        "epgu",
    ));
    ok(with_channel(
        booking("p2", "r1", &slot("s1", d0, "0830"), d0, "0830", 1),
        "epgu",
    ));
    ok(with_channel(
        booking("p3", "r2", &slot("s2", d0, "0800"), d0, "0800", 2),
        "registry",
    ));
    ok(with_channel(
        booking("p4", "r4", &slot("s4", d1, "0800"), d1, "0800", 5),
        "call-122",
    ));
    // Refused ЕПГУ attempts: a desk-only slot and a taken one at org-a, a taken one at org-b.
    let no = |b: Value, status: u16| expect(s.post("Appointment/$book", &b), status);
    no(
        with_channel(
            booking("p5", "r2", &slot("s2", d1, "0800"), d1, "0800", 1),
            "epgu",
        ),
        422,
    );
    no(
        with_channel(
            booking("p5", "r1", &slot("s1", d0, "0800"), d0, "0800", 1),
            "epgu",
        ),
        409,
    );
    no(
        with_channel(
            booking("p6", "r4", &slot("s4", d1, "0800"), d1, "0800", 1),
            "epgu",
        ),
        409,
    );

    let start = Utc::now().date_naive() - Duration::days(20);
    let end = d0 + Duration::days(6);
    let kpi = |filter: &str| {
        expect(
            s.get(&format!("Appointment/$kpi?start={start}&end={end}{filter}")),
            200,
        )
    };

    let a = kpi("&organization=Organization/org-a");
    assert_eq!(a["resourceType"], "MeasureReport");
    assert_eq!(a["reporter"]["reference"], "Organization/org-a");
    assert_eq!(
        table(&a),
        [
            row("competitive-slots", Some(4), Some(8), Some(0.5)),
            row("doctors-with-schedule", Some(2), Some(3), Some(0.6667)),
            row("slots-per-position", Some(8), None, Some(3.2)),
            row("epgu-success", Some(2), Some(4), Some(0.5)),
            row("average-wait-days", Some(3), None, Some(2.0)),
            row("bookings-by-channel", Some(3), None, None),
        ]
    );
    assert_eq!(
        channels(&a),
        [("epgu".to_string(), 2), ("registry".to_string(), 1)]
    );
    // The region of org-a gives the same table.
    assert_eq!(table(&kpi("&region=77")), table(&a));

    let b = kpi("&organization=org-b");
    assert_eq!(
        table(&b),
        [
            row("competitive-slots", Some(4), Some(4), Some(1.0)),
            row("doctors-with-schedule", Some(1), Some(1), Some(1.0)),
            row("slots-per-position", Some(4), None, Some(4.0)),
            row("epgu-success", Some(0), Some(1), Some(0.0)),
            row("average-wait-days", Some(1), None, Some(5.0)),
            row("bookings-by-channel", Some(1), None, None),
        ]
    );
    assert_eq!(channels(&b), [("call-122".to_string(), 1)]);

    // One doctor.
    let ter = kpi("&practitioner=Practitioner/ter");
    assert_eq!(
        table(&ter),
        [
            row("competitive-slots", Some(4), Some(4), Some(1.0)),
            row("doctors-with-schedule", Some(1), Some(1), Some(1.0)),
            row("slots-per-position", Some(4), None, Some(4.0)),
            row("epgu-success", Some(2), Some(3), Some(0.6667)),
            row("average-wait-days", Some(2), None, Some(2.0)),
            row("bookings-by-channel", Some(2), None, None),
        ]
    );

    // Everything: 12 slots (8 competitive), 3 of 4 doctors, 3.5 positions, 2 of 5 ЕПГУ
    // attempts, waits 3 + 1 + 2 + 5.
    let all = kpi("");
    assert_eq!(
        table(&all),
        [
            row("competitive-slots", Some(8), Some(12), Some(0.6667)),
            row("doctors-with-schedule", Some(3), Some(4), Some(0.75)),
            row("slots-per-position", Some(12), None, Some(3.4286)),
            row("epgu-success", Some(2), Some(5), Some(0.4)),
            row("average-wait-days", Some(4), None, Some(2.75)),
            row("bookings-by-channel", Some(4), None, None),
        ]
    );
    assert_eq!(
        channels(&all),
        [
            ("call-122".to_string(), 1),
            ("epgu".to_string(), 2),
            ("registry".to_string(), 1)
        ]
    );

    // A period before the bookings were made counts none of them.
    let before = expect(
        s.get("Appointment/$kpi?start=2020-01-01&end=2020-01-31"),
        200,
    );
    assert_eq!(
        table(&before)[5],
        row("bookings-by-channel", Some(0), None, None)
    );
    expect(
        s.get("Appointment/$kpi?start=2026-12-31&end=2026-12-01"),
        400,
    );
    expect(s.get("Appointment/$kpi?start=soon&end=2026-12-01"), 400);
}
