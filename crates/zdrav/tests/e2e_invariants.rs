//! The FHIRPath invariants of the StructureDefinitions are part of write validation: a resource
//! that breaks an error-level constraint is refused with 400 at the node, in a plain write and in
//! a transaction; `$validate` reports the warning-level ones too.

mod common;

use common::{expect, Server};
use serde_json::{json, Value};

fn issues(oo: &Value) -> Vec<(String, String, String)> {
    oo["issue"]
        .as_array()
        .map(|is| {
            is.iter()
                .map(|i| {
                    (
                        i["severity"].as_str().unwrap_or("").to_string(),
                        i["diagnostics"]
                            .as_str()
                            .unwrap_or("")
                            .split(':')
                            .next()
                            .unwrap_or("")
                            .to_string(),
                        i["expression"][0].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn refused_at(oo: &Value, key: &str, at: &str) -> bool {
    issues(oo)
        .iter()
        .any(|(sev, k, e)| sev == "error" && k == key && e == at)
}

#[test]
fn invariants_refuse_writes_and_show_in_validate() {
    let s = Server::start();

    // per-1 on a nested Period: create, update and transaction all refuse it.
    let bad_period = json!({
        "resourceType": "Patient",
        "identifier": [{"value": "1"}, {"value": "2", "period": {"start": "2020-01-02", "end": "2020-01-01"}}]
    });
    let oo = expect(s.post("Patient", &bad_period), 400);
    assert!(
        refused_at(&oo, "per-1", "Patient.identifier[1].period"),
        "{oo}"
    );
    let mut with_id = bad_period.clone();
    with_id["id"] = json!("p1");
    let oo = expect(s.put("Patient/p1", &with_id), 400);
    assert!(
        refused_at(&oo, "per-1", "Patient.identifier[1].period"),
        "{oo}"
    );
    expect(s.get("Patient/p1"), 404);

    // obs-6: a value and a dataAbsentReason together.
    let obs = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": 70, "unit": "kg"},
        "dataAbsentReason": {"text": "not asked"}
    });
    let oo = expect(s.post("Observation", &obs), 400);
    assert!(refused_at(&oo, "obs-6", "Observation"), "{oo}");

    // In a transaction the whole bundle is refused and the location names the entry.
    let tx = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:1b5a3f9e-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Patient", "name": [{"family": "Иванов"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": obs, "request": {"method": "POST", "url": "Observation"}}
        ]
    });
    let oo = expect(s.post("", &tx), 400);
    assert!(
        issues(&oo)
            .iter()
            .any(|(_, k, e)| k == "obs-6" && e.starts_with("Bundle.entry[1].resource")),
        "{oo}"
    );
    let all = expect(s.get("Patient?_summary=count"), 200);
    assert_eq!(
        all["total"], 0,
        "nothing of the refused transaction was written"
    );

    // A valid resource is accepted; $validate on it reports dom-6 (no narrative) as a warning.
    let good = json!({"resourceType": "Patient", "name": [{"family": "Петрова"}]});
    expect(s.post("Patient", &good), 201);
    let oo = expect(s.post("Patient/$validate", &good), 200);
    let found = issues(&oo);
    assert!(
        found
            .iter()
            .any(|(sev, k, e)| sev == "warning" && k == "dom-6" && e == "Patient"),
        "{oo}"
    );
    assert!(!found.iter().any(|(sev, _, _)| sev == "error"), "{oo}");

    // $validate of a broken resource lists the invariant error, still with 200.
    let oo = expect(s.post("Patient/$validate", &bad_period), 200);
    assert!(
        refused_at(&oo, "per-1", "Patient.identifier[1].period"),
        "{oo}"
    );

    // The warning stays out of the write itself.
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=OperationOutcome")
        .body(good.to_string())
        .send()
        .unwrap();
    let oo = expect(r, 201);
    assert!(!issues(&oo).iter().any(|(_, k, _)| k == "dom-6"), "{oo}");
}
