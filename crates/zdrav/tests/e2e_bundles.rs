//! Batch and transaction Bundles over HTTP: atomicity, processing order, urn:uuid rewriting,
//! and loading the synthetic patients.

mod common;

use common::{expect, shared, Server};
use serde_json::{json, Value};

fn tx(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[test]
fn transaction_rewrites_urn_uuid_references() {
    let s = Server::start();
    let b = tx(vec![
        json!({"fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
               "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "пульс"},
                            "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},
               "request": {"method": "POST", "url": "Observation"}}),
        json!({"fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
               "resource": {"resourceType": "Patient", "name": [{"family": "Транзакциев"}]},
               "request": {"method": "POST", "url": "Patient"}}),
    ]);
    let out = expect(s.post("", &b), 200);
    assert_eq!(out["type"], "transaction-response");
    let e = out["entry"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert!(e[0]["response"]["status"]
        .as_str()
        .unwrap()
        .starts_with("201"));
    let obs_loc = e[0]["response"]["location"].as_str().unwrap();
    let pat_loc = e[1]["response"]["location"].as_str().unwrap();
    let pat_ref = pat_loc.split("/_history").next().unwrap();
    let obs = expect(s.get(obs_loc.split("/_history").next().unwrap()), 200);
    assert_eq!(obs["subject"]["reference"], json!(pat_ref));
    expect(s.get(pat_ref), 200);
}

#[test]
fn transaction_with_one_failing_entry_leaves_nothing() {
    let s = Server::start();
    let before = expect(s.get("_history"), 200)["total"].as_u64().unwrap();
    let b = tx(vec![
        json!({"resource": {"resourceType": "Patient", "name": [{"family": "Первый"}]},
               "request": {"method": "POST", "url": "Patient"}}),
        json!({"resource": {"resourceType": "Patient", "id": "p2", "name": [{"family": "Второй"}]},
               "request": {"method": "PUT", "url": "Patient/p2"}}),
        json!({"resource": {"resourceType": "Patient", "birthDate": "not-a-date"},
               "request": {"method": "POST", "url": "Patient"}}),
    ]);
    let oo = expect(s.post("", &b), 400);
    assert_eq!(
        oo["issue"][0]["expression"][0],
        "Bundle.entry[2].resource.birthDate"
    );
    assert_eq!(
        expect(s.get("_history"), 200)["total"].as_u64().unwrap(),
        before
    );
    expect(s.get("Patient/p2"), 404);

    // a version conflict in the last entry also rolls back the others
    let mut p = json!({"resourceType": "Patient", "id": "v1", "name": [{"family": "Версия"}]});
    expect(s.put("Patient/v1", &p), 201);
    p["gender"] = json!("female");
    let b = tx(vec![
        json!({"resource": {"resourceType": "Patient", "name": [{"family": "Лишний"}]},
               "request": {"method": "POST", "url": "Patient"}}),
        json!({"resource": p, "request": {"method": "PUT", "url": "Patient/v1", "ifMatch": "W/\"7\""}}),
    ]);
    let oo = expect(s.post("", &b), 412);
    assert_eq!(oo["issue"][0]["expression"][0], "Bundle.entry[1]");
    assert_eq!(expect(s.get("Patient/_history"), 200)["total"], 1);
}

#[test]
fn transaction_processing_order_and_get_entries() {
    let s = Server::start();
    expect(
        s.put(
            "Patient/gone",
            &json!({"resourceType": "Patient", "id": "gone", "active": true}),
        ),
        201,
    );
    // DELETE runs before POST/PUT, GET runs last and sees the transaction's writes
    let b = tx(vec![
        json!({"request": {"method": "GET", "url": "Patient/kept"}}),
        json!({"resource": {"resourceType": "Patient", "id": "kept", "active": true},
               "request": {"method": "PUT", "url": "Patient/kept"}}),
        json!({"request": {"method": "DELETE", "url": "Patient/gone"}}),
    ]);
    let out = expect(s.post("", &b), 200);
    assert_eq!(out["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(out["entry"][0]["resource"]["id"], "kept");
    assert_eq!(out["entry"][1]["response"]["status"], "201 Created");
    expect(s.get("Patient/gone"), 410);
    // a reference to something the transaction deletes is refused
    let b = tx(vec![
        json!({"request": {"method": "DELETE", "url": "Patient/kept"}}),
        json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
               "subject": {"reference": "Patient/kept"}}, "request": {"method": "POST", "url": "Observation"}}),
    ]);
    expect(s.post("", &b), 400);
    expect(s.get("Patient/kept"), 200);
}

#[test]
fn batch_entries_succeed_or_fail_independently() {
    let s = Server::start();
    let b = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "active": true}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "active": "no"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
    ]});
    let out = expect(s.post("", &b), 200);
    assert_eq!(out["type"], "batch-response");
    assert_eq!(out["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(out["entry"][1]["response"]["status"], "400 Bad Request");
    assert_eq!(
        out["entry"][1]["response"]["outcome"]["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.active"
    );
    assert_eq!(out["entry"][2]["response"]["status"], "404 Not Found");
    assert_eq!(expect(s.get("Patient/_history"), 200)["total"], 1);
}

#[test]
fn synthetic_bundles_load_with_references_rewritten() {
    let Some(shared) = shared() else { return };
    let s = Server::start();
    let dir = shared.join("data/synthetic");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files.iter().take(3) {
        let body: Value = serde_json::from_slice(&common::read_gz(f)).unwrap();
        let n = body["entry"].as_array().unwrap().len();
        let r = s
            .client
            .post(s.url(""))
            .header("content-type", "application/fhir+json")
            .header("prefer", "return=minimal")
            .body(body.to_string())
            .send()
            .unwrap();
        let out = expect(r, 200);
        let entries = out["entry"].as_array().unwrap();
        assert_eq!(entries.len(), n);
        assert!(entries
            .iter()
            .all(|e| e["response"]["status"] == "201 Created"));
        // every reference in a loaded resource points at a real resource, none at urn:uuid
        for e in entries.iter().step_by(37) {
            let loc = e["response"]["location"].as_str().unwrap();
            let v = expect(s.get(loc.split("/_history").next().unwrap()), 200);
            let text = v.to_string();
            assert!(!text.contains("urn:uuid:"), "{text}");
            collect_refs(&v, &mut |r| {
                if !r.starts_with('#') && !r.starts_with("http") {
                    expect(s.get(r), 200);
                }
            });
        }
    }
}

fn collect_refs(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => f(r),
                    _ => collect_refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, f)),
        _ => {}
    }
}
