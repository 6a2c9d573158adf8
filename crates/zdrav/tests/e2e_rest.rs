//! The REST interactions of the R4 http page, driven over HTTP against the real binary.

mod common;

use common::{expect, json, Server};
use serde_json::{json, Value};

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family, "given": ["Иван"]}], "gender": "male", "birthDate": "1980-05-01"})
}

#[test]
fn create_read_update_delete_with_versions_and_headers() {
    let s = Server::start();
    // create: 201, Location, ETag, Last-Modified, server-assigned id, meta set
    let r = s.post("Patient", &patient("Петров"));
    assert_eq!(r.status(), 201);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with(&s.url("Patient/")) && loc.ends_with("/_history/1"),
        "{loc}"
    );
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    assert!(r.headers().contains_key("last-modified"));
    let created = json(r);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["meta"]["versionId"], "1");
    assert!(created["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(created["name"][0]["family"], "Петров");

    // read
    let r = s.get(&format!("Patient/{id}"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let read = json(r);
    assert_eq!(read, created);

    // update with If-Match
    let mut upd = read.clone();
    upd["name"][0]["family"] = json!("Сидоров");
    let r = s
        .client
        .put(s.url(&format!("Patient/{id}")))
        .header("content-type", "application/fhir+json")
        .header("if-match", "W/\"1\"")
        .body(upd.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "W/\"2\"");
    let v2 = json(r);
    assert_eq!(v2["meta"]["versionId"], "2");
    assert_eq!(v2["name"][0]["family"], "Сидоров");

    // stale If-Match: 412
    let r = s
        .client
        .put(s.url(&format!("Patient/{id}")))
        .header("content-type", "application/fhir+json")
        .header("if-match", "W/\"1\"")
        .body(upd.to_string())
        .send()
        .unwrap();
    let oo = expect(r, 412);
    assert_eq!(oo["resourceType"], "OperationOutcome");

    // vread both versions
    let v1 = expect(s.get(&format!("Patient/{id}/_history/1")), 200);
    assert_eq!(v1["name"][0]["family"], "Петров");
    let v2r = expect(s.get(&format!("Patient/{id}/_history/2")), 200);
    assert_eq!(v2r["name"][0]["family"], "Сидоров");
    expect(s.get(&format!("Patient/{id}/_history/9")), 404);

    // If-None-Match -> 304; If-Modified-Since in the future -> 304
    let r = s
        .client
        .get(s.url(&format!("Patient/{id}")))
        .header("if-none-match", "W/\"2\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = s
        .client
        .get(s.url(&format!("Patient/{id}")))
        .header("if-none-match", "W/\"1\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(s.url(&format!("Patient/{id}")))
        .header("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = s
        .client
        .get(s.url(&format!("Patient/{id}")))
        .header("if-modified-since", "Fri, 01 Jan 2010 00:00:00 GMT")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    // delete -> 410 on read, tombstone version 3, history keeps all
    let r = s.delete(&format!("Patient/{id}"));
    assert_eq!(r.status(), 200);
    let oo = expect(s.get(&format!("Patient/{id}")), 410);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let h = expect(s.get(&format!("Patient/{id}/_history")), 200);
    assert_eq!(h["type"], "history");
    assert_eq!(h["total"], 3);
    let methods: Vec<&str> = h["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"]);
    assert!(h["entry"][0].get("resource").is_none());
    // v1 is still readable after delete
    expect(s.get(&format!("Patient/{id}/_history/1")), 200);
    expect(s.get(&format!("Patient/{id}/_history/3")), 410);

    // re-create by update after delete continues the version numbers
    let mut again = patient("Новиков");
    again["id"] = json!(id);
    let r = s.put(&format!("Patient/{id}"), &again);
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["etag"], "W/\"4\"");
}

#[test]
fn create_on_update_prefer_and_id_rules() {
    let s = Server::start();
    let mut p = patient("Клиентов");
    p["id"] = json!("client-chosen-1");
    let r = s.put("Patient/client-chosen-1", &p);
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        s.url("Patient/client-chosen-1/_history/1")
    );
    // same again -> 200 version 2
    let r = s.put("Patient/client-chosen-1", &p);
    assert_eq!(r.status(), 200);
    // id mismatch -> 400 with expression
    let oo = expect(s.put("Patient/other-id", &p), 400);
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.id");
    // missing id -> 400
    expect(s.put("Patient/x1", &patient("Без")), 400);
    // Prefer: return=minimal -> empty body; OperationOutcome -> OO
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(patient("Мин").to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("location"));
    assert!(r.text().unwrap().is_empty());
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=OperationOutcome")
        .body(patient("Оо").to_string())
        .send()
        .unwrap();
    let oo = expect(r, 201);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    // the id in a POST body is ignored: the server assigns one
    let mut withid = patient("Ид");
    withid["id"] = json!("mine");
    let created = expect(s.post("Patient", &withid), 201);
    assert_ne!(created["id"], "mine");
}

#[test]
fn history_type_system_since_and_paging() {
    let s = Server::start();
    let mut ids = Vec::new();
    for i in 0..7 {
        let c = expect(s.post("Patient", &patient(&format!("Фамилия{i}"))), 201);
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let obs = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "вес"}, "subject": {"reference": format!("Patient/{}", ids[0])}});
    let o = expect(s.post("Observation", &obs), 201);
    let t_obs = o["meta"]["lastUpdated"].as_str().unwrap().to_string();

    let h = expect(s.get("Patient/_history?_count=3"), 200);
    assert_eq!(h["total"], 7);
    assert_eq!(h["entry"].as_array().unwrap().len(), 3);
    // newest first
    assert_eq!(h["entry"][0]["resource"]["id"], json!(ids[6]));
    let next = h["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    // a write between pages must not shift the next page
    expect(s.post("Patient", &patient("Поздний")), 201);
    let h2 = json(s.client.get(&next).send().unwrap());
    assert_eq!(h2["total"], 7);
    assert_eq!(h2["entry"][0]["resource"]["id"], json!(ids[3]));
    let prev = h2["link"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == "previous");
    assert!(prev);

    let sys = expect(s.get("_history"), 200);
    assert_eq!(sys["total"], 9);
    let since = expect(
        s.get(&format!("_history?_since={}", t_obs.replace('+', "%2B"))),
        200,
    );
    assert_eq!(since["total"], 2, "{since}");
    expect(s.get("_history?_since=not-a-date"), 400);
    // _at: the version current at an instant
    let oid = o["id"].as_str().unwrap().to_string();
    let mut o2 = o.clone();
    o2["status"] = json!("amended");
    let v2 = expect(s.put(&format!("Observation/{oid}"), &o2), 200);
    let at1 = expect(
        s.get(&format!(
            "Observation/{oid}/_history?_at={}",
            t_obs.replace('+', "%2B")
        )),
        200,
    );
    assert_eq!(at1["total"], 1, "{at1}");
    assert_eq!(at1["entry"][0]["resource"]["status"], "final");
    let t2 = v2["meta"]["lastUpdated"].as_str().unwrap().to_string();
    let at2 = expect(
        s.get(&format!(
            "Observation/{oid}/_history?_at={}",
            t2.replace('+', "%2B")
        )),
        200,
    );
    assert_eq!(at2["total"], 1);
    assert_eq!(at2["entry"][0]["resource"]["status"], "amended");
    expect(s.get("_history?_at=someday"), 400);
    expect(s.get("Patient/nope/_history"), 404);
}

#[test]
fn capabilities_negotiation_and_errors() {
    let s = Server::start();
    let cs = expect(s.get("metadata"), 200);
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let types = cs["rest"][0]["resource"].as_array().unwrap();
    assert!(types.len() >= 145);
    let patient_cs = types.iter().find(|r| r["type"] == "Patient").unwrap();
    let codes: Vec<&str> = patient_cs["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"read") && codes.contains(&"patch") && codes.contains(&"history-type"));
    // XML is not spoken: 406 for Accept/_format, 415 for a body
    let r = s
        .client
        .get(s.url("metadata"))
        .header("accept", "application/fhir+xml")
        .send()
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(json(r)["resourceType"], "OperationOutcome");
    assert_eq!(s.get("metadata?_format=xml").status(), 406);
    expect(s.get("metadata?_format=json"), 200);
    let r = s.raw(
        "POST",
        "Patient",
        "application/fhir+xml",
        b"<Patient/>".to_vec(),
    );
    assert_eq!(r.status(), 415);
    // unknown type 404, bad id 400, unknown path 404 — all OperationOutcomes
    assert_eq!(
        expect(s.get("Dragon/1"), 404)["resourceType"],
        "OperationOutcome"
    );
    expect(s.get("Patient/bad_id!"), 400);
    expect(s.get("Patient/does-not-exist"), 404);
    let r = s.client.get(format!("{}/nothing", s.root)).send().unwrap();
    assert_eq!(r.status(), 404);
    // health and metrics
    let h = s.client.get(format!("{}/health", s.root)).send().unwrap();
    assert_eq!(h.status(), 200);
    let m = s
        .client
        .get(format!("{}/metrics", s.root))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("zdrav_http_requests_total{method=\"GET\",status=\"4xx\"}"));
    assert!(m.contains("process_resident_memory_bytes"));
}

#[test]
fn validation_errors_point_at_the_element() {
    let s = Server::start();
    let bad = json!({"resourceType": "Patient", "birthDate": "1980-13-01"});
    let oo = expect(s.post("Patient", &bad), 400);
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.birthDate");
    let bad = json!({"resourceType": "Patient", "foo": 1});
    let oo = expect(s.post("Patient", &bad), 400);
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.foo");
    let bad = json!({"resourceType": "Patient", "gender": "unknown-gender"});
    let oo = expect(s.post("Patient", &bad), 400);
    assert_eq!(oo["issue"][0]["code"], "code-invalid");
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.gender");
    let bad = json!({"resourceType": "Observation", "code": {"text": "x"}});
    let oo = expect(s.post("Observation", &bad), 400);
    assert_eq!(oo["issue"][0]["expression"][0], "Observation.status");
    // dangling reference
    let bad = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "subject": {"reference": "Patient/nobody"}});
    let oo = expect(s.post("Observation", &bad), 400);
    assert_eq!(
        oo["issue"][0]["expression"][0],
        "Observation.subject.reference"
    );
    // $validate: type and instance level
    let oo = expect(
        s.post(
            "Patient/$validate",
            &json!({"resourceType": "Patient", "birthDate": "x"}),
        ),
        200,
    );
    assert_eq!(oo["issue"][0]["severity"], "error");
    // A valid resource without narrative: no error, only the dom-6 best-practice warning.
    let no_errors = |oo: &Value| {
        let is = oo["issue"].as_array().unwrap();
        !is.iter().any(|i| i["severity"] == "error")
            && is.iter().any(|i| {
                i["severity"] == "warning"
                    && i["diagnostics"].as_str().unwrap().starts_with("dom-6")
            })
    };
    let oo = expect(s.post("Patient/$validate", &patient("Годный")), 200);
    assert!(no_errors(&oo), "{oo}");
    let p = expect(s.post("Patient", &patient("Есть")), 201);
    let id = p["id"].as_str().unwrap();
    let oo = expect(s.get(&format!("Patient/{id}/$validate")), 200);
    assert!(no_errors(&oo), "{oo}");
    let params = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {"resourceType": "Patient", "active": "yes"}}]});
    let oo = expect(s.post("Patient/$validate", &params), 200);
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.active");
}

#[test]
fn patch_json_and_fhir() {
    let s = Server::start();
    let p = expect(s.post("Patient", &patient("Патчев")), 201);
    let id = p["id"].as_str().unwrap();
    let jp = json!([{"op": "replace", "path": "/gender", "value": "female"},
                    {"op": "add", "path": "/active", "value": true}]);
    let r = s.raw(
        "PATCH",
        &format!("Patient/{id}"),
        "application/json-patch+json",
        jp.to_string().into_bytes(),
    );
    let v = expect(r, 200);
    assert_eq!(v["gender"], "female");
    assert_eq!(v["active"], true);
    assert_eq!(v["meta"]["versionId"], "2");
    let fp = json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "Patient.birthDate"},
        {"name": "value", "valueDate": "1990-01-02"}]}]});
    let r = s.raw(
        "PATCH",
        &format!("Patient/{id}"),
        "application/fhir+json",
        fp.to_string().into_bytes(),
    );
    let v = expect(r, 200);
    assert_eq!(v["birthDate"], "1990-01-02");
    assert_eq!(v["meta"]["versionId"], "3");
    // a patch producing an invalid resource is refused and nothing changes
    let bad = json!([{"op": "replace", "path": "/gender", "value": "robot"}]);
    let r = s.raw(
        "PATCH",
        &format!("Patient/{id}"),
        "application/json-patch+json",
        bad.to_string().into_bytes(),
    );
    assert_eq!(r.status(), 422);
    let cur = expect(s.get(&format!("Patient/{id}")), 200);
    assert_eq!(cur["meta"]["versionId"], "3");
    // a failing test op is 422
    let t = json!([{"op": "test", "path": "/gender", "value": "male"}]);
    let r = s.raw(
        "PATCH",
        &format!("Patient/{id}"),
        "application/json-patch+json",
        t.to_string().into_bytes(),
    );
    assert_eq!(r.status(), 422);
}

#[test]
fn summary_and_elements_on_read() {
    let s = Server::start();
    let mut p = patient("Кратков");
    p["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Кратков</div>"});
    p["photo"] = json!([{"contentType": "image/png", "data": "aGVsbG8="}]);
    let c = expect(s.post("Patient", &p), 201);
    let id = c["id"].as_str().unwrap();
    let v = expect(s.get(&format!("Patient/{id}?_summary=true")), 200);
    assert!(v.get("photo").is_none(), "{v}");
    assert!(v.get("text").is_none());
    assert_eq!(v["name"][0]["family"], "Кратков");
    assert!(v["meta"]["tag"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["code"] == "SUBSETTED"));
    let v = expect(s.get(&format!("Patient/{id}?_elements=gender")), 200);
    assert_eq!(v["gender"], "male");
    assert!(v.get("name").is_none());
    assert!(v.get("birthDate").is_none());
    let v = expect(s.get(&format!("Patient/{id}?_summary=data")), 200);
    assert!(v.get("text").is_none());
    assert!(v.get("photo").is_some());
    expect(s.get(&format!("Patient/{id}?_summary=bogus")), 400);
}
