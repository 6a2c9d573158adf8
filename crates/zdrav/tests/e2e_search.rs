//! FHIR search over HTTP on a small known data set: every parameter type and modifier with the
//! exact expected ids, chains, `_has`, includes, sorting, paging, compartments, `$everything`,
//! strict/lenient handling and conditional interactions.

mod common;

use common::{expect, Server};
use serde_json::{json, Value};

fn tx(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn put(r: Value) -> Value {
    let url = format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap(),
        r["id"].as_str().unwrap()
    );
    json!({"resource": r, "request": {"method": "PUT", "url": url}})
}

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";

fn obs(id: &str, subject: &str, code: &str, value: Value, when: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject}, "valueQuantity": value});
    for (k, v) in when.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

thread_local! {
    static CURRENT: std::cell::Cell<Option<&'static Server>> = const { std::cell::Cell::new(None) };
}

/// The server of the running test (set by `with_data`).
fn server() -> &'static Server {
    CURRENT.with(|c| c.get()).expect("no server")
}

/// Starts a server with the data set. It lives in a test-owned box so it is killed when the
/// test ends (a static would outlive the test process's pipes and hang the runner).
fn start_with_data() -> Server {
    {
        let s = Server::start();
        let data = tx(vec![
            put(
                json!({"resourceType": "Organization", "id": "org1", "name": "Городская поликлиника №1",
                "identifier": [{"system": "urn:identity:ogrn", "value": "1027700000008"}]}),
            ),
            put(
                json!({"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Сидоров", "given": ["Пётр"]}]}),
            ),
            put(
                json!({"resourceType": "Patient", "id": "p1", "active": true, "gender": "male", "birthDate": "1980-05-01",
                "name": [{"family": "Иванов", "given": ["Иван"]}],
                "identifier": [{"system": "urn:identity:snils:Patient", "value": "123-456-789 64"}],
                "telecom": [{"system": "phone", "value": "+7 900 000-00-01"}],
                "address": [{"city": "Москва"}]}),
            ),
            put(
                json!({"resourceType": "Patient", "id": "p2", "active": false, "gender": "female", "birthDate": "1990-12-31",
                "name": [{"family": "Петрова", "given": ["Анна"]}], "address": [{"city": "Казань"}],
                "managingOrganization": {"reference": "Organization/org1"}}),
            ),
            put(
                json!({"resourceType": "Patient", "id": "p3", "gender": "female", "birthDate": "1985",
                "name": [{"family": "Ёлкина", "given": ["Мария", "Ивановна"]}]}),
            ),
            put(obs(
                "o1",
                "Patient/p1",
                "29463-7",
                json!({"value": 80, "unit": "kg", "system": UCUM, "code": "kg"}),
                json!({"effectiveDateTime": "2024-01-15T10:00:00Z", "performer": [{"reference": "Practitioner/pr1"}]}),
            )),
            put(obs(
                "o2",
                "Patient/p1",
                "8867-4",
                json!({"value": 72, "unit": "/min", "system": UCUM, "code": "/min"}),
                json!({"effectiveDateTime": "2024-03-01"}),
            )),
            put(obs(
                "o3",
                "Patient/p2",
                "2339-0",
                json!({"value": 97, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}),
                json!({"effectiveDateTime": "2023-06-10"}),
            )),
            put(obs(
                "o5",
                "Patient/p3",
                "8867-4",
                json!({"value": 95, "unit": "/min", "system": UCUM, "code": "/min"}),
                json!({"effectivePeriod": {"start": "2024-02-01", "end": "2024-02-03"}}),
            )),
            put(
                json!({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"}}),
            ),
            put(
                json!({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1005", "code": "I10"}]}}),
            ),
        ]);
        expect(s.post("", &data), 200);
        s
    }
}

/// The ids of the `match` entries of a search, in order.
fn ids(path: &str) -> Vec<String> {
    let b = expect(server().get(path), 200);
    assert_eq!(b["type"], "searchset", "{b}");
    b["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|x| x["search"]["mode"] == "match")
                .map(|x| x["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn string_parameters() {
    assert_eq!(sorted(ids("Patient?name=иван")), ["p1", "p3"]);
    assert_eq!(ids("Patient?name:exact=Иванов"), ["p1"]);
    assert_eq!(ids("Patient?name:exact=иванов"), Vec::<String>::new());
    assert_eq!(sorted(ids("Patient?name:contains=ван")), ["p1", "p3"]);
    assert_eq!(ids("Patient?family=елкина"), ["p3"]);
    assert_eq!(ids("Patient?address-city=москва"), ["p1"]);
    assert_eq!(sorted(ids("Patient?name=иван,анна")), ["p1", "p2", "p3"]);
    assert_eq!(ids("Patient?name=иван&gender=male"), ["p1"]);
}

fn token_parameters() {
    assert_eq!(sorted(ids("Patient?gender=female")), ["p2", "p3"]);
    assert_eq!(ids("Patient?gender:not=female"), ["p1"]);
    assert_eq!(
        ids("Patient?identifier=urn:identity:snils:Patient|123-456-789%2064"),
        ["p1"]
    );
    assert_eq!(ids("Patient?identifier=123-456-789%2064"), ["p1"]);
    assert_eq!(
        sorted(ids("Observation?code=http://loinc.org|8867-4")),
        ["o2", "o5"]
    );
    assert_eq!(sorted(ids("Observation?code=8867-4")), ["o2", "o5"]);
    assert_eq!(ids("Observation?code=|8867-4"), Vec::<String>::new());
    assert_eq!(ids("Patient?active=true"), ["p1"]);
    assert_eq!(
        ids("Condition?code=urn:oid:1.2.643.5.1.13.13.11.1005|I10"),
        ["c1"]
    );
    assert_eq!(
        ids("Organization?identifier=urn:identity:ogrn|1027700000008"),
        ["org1"]
    );
}

fn date_parameters() {
    assert_eq!(ids("Patient?birthdate=1980"), ["p1"]);
    assert_eq!(ids("Patient?birthdate=1980-05-01"), ["p1"]);
    assert_eq!(sorted(ids("Patient?birthdate=ge1985")), ["p2", "p3"]);
    assert_eq!(ids("Patient?birthdate=lt1985-01-01"), ["p1"]);
    assert_eq!(ids("Observation?date=2024-02"), ["o5"]);
    assert_eq!(
        sorted(ids("Observation?date=ge2024-01-01&date=lt2024-03-01")),
        ["o1", "o5"]
    );
    assert_eq!(ids("Observation?date=lt2024"), ["o3"]);
    expect(server().get("Patient?birthdate=notadate"), 400);
}

fn quantity_and_reference_parameters() {
    assert_eq!(
        ids("Observation?value-quantity=gt75|http://unitsofmeasure.org|kg"),
        ["o1"]
    );
    assert_eq!(
        ids("Observation?value-quantity=gt79000|http://unitsofmeasure.org|g"),
        ["o1"]
    );
    // 97 mg/dL is 0.97 g/L in UCUM canonical units
    assert_eq!(
        ids("Observation?value-quantity=0.97|http://unitsofmeasure.org|g/L"),
        ["o3"]
    );
    assert_eq!(
        sorted(ids("Observation?value-quantity=ge72||/min")),
        ["o2", "o5"]
    );
    assert_eq!(sorted(ids("Observation?subject=Patient/p1")), ["o1", "o2"]);
    assert_eq!(sorted(ids("Observation?subject:Patient=p1")), ["o1", "o2"]);
    assert_eq!(sorted(ids("Observation?patient=p1")), ["o1", "o2"]);
    assert_eq!(ids("Patient?organization=Organization/org1"), ["p2"]);
    assert_eq!(
        sorted(ids("Patient?birthdate:missing=false&gender=female")),
        ["p2", "p3"]
    );
    assert_eq!(ids("Patient?organization:missing=false"), ["p2"]);
}

fn chains_has_and_includes() {
    assert_eq!(ids("Observation?subject:Patient.name=петрова"), ["o3"]);
    assert_eq!(
        ids("Observation?subject:Patient.organization.name=городская"),
        ["o3"]
    );
    assert_eq!(
        sorted(ids("Patient?_has:Observation:subject:code=8867-4")),
        ["p1", "p3"]
    );
    let b = expect(
        server().get("Observation?code=29463-7&_include=Observation:subject"),
        200,
    );
    let modes: Vec<(String, String)> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["search"]["mode"].as_str().unwrap().into(),
                e["resource"]["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("match".to_string(), "o1".to_string()),
            ("include".into(), "p1".into())
        ]
    );
    let b = expect(
        server().get("Patient?_id=p1&_revinclude=Observation:subject"),
        200,
    );
    let mut inc: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    inc.sort();
    assert_eq!(inc, ["o1", "o2"]);
}

fn sorting_paging_totals_and_summary() {
    assert_eq!(ids("Patient?_sort=birthdate"), ["p1", "p3", "p2"]);
    assert_eq!(ids("Patient?_sort=-birthdate"), ["p2", "p3", "p1"]);
    assert_eq!(ids("Patient?_sort=gender,-birthdate"), ["p2", "p3", "p1"]);
    let b = expect(server().get("Patient?_count=2&_sort=birthdate"), 200);
    assert_eq!(b["total"], 3);
    assert_eq!(b["entry"].as_array().unwrap().len(), 2);
    let next = b["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let b2: Value = server().client.get(&next).send().unwrap().json().unwrap();
    assert_eq!(b2["entry"][0]["resource"]["id"], "p2");
    let b = expect(server().get("Patient?_summary=count"), 200);
    assert_eq!(b["total"], 3);
    assert!(b.get("entry").is_none());
    let b = expect(server().get("Patient?_total=none&_id=p1"), 200);
    assert!(b.get("total").is_none());
    let b = expect(server().get("Patient?_id=p1&_elements=gender"), 200);
    assert!(b["entry"][0]["resource"].get("name").is_none());
    assert_eq!(b["entry"][0]["resource"]["gender"], "male");
    let b = expect(server().get("Patient?_id=p1&_summary=true"), 200);
    assert!(b["entry"][0]["resource"].get("telecom").is_some());
}

fn compartment_everything_and_system_search() {
    assert_eq!(sorted(ids("Patient/p1/Observation")), ["o1", "o2"]);
    assert_eq!(ids("Patient/p1/Observation?code=8867-4"), ["o2"]);
    let b = expect(server().get("Patient/p1/$everything"), 200);
    let mut got: Vec<String> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "Condition/c1",
            "Encounter/e1",
            "Observation/o1",
            "Observation/o2",
            "Patient/p1",
            "Practitioner/pr1"
        ]
    );
    let b = expect(
        server().get("Patient/p1/$everything?_type=Observation"),
        200,
    );
    assert_eq!(b["total"], 2);
    assert_eq!(
        sorted(ids("?_type=Patient,Organization&_id=p1,org1")),
        ["org1", "p1"]
    );
}

fn unknown_parameters_strict_and_lenient() {
    let s = server();
    let r = s
        .client
        .get(s.url("Patient?foo=bar&gender=male"))
        .header("prefer", "handling=strict")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let b = expect(s.get("Patient?foo=bar&gender=male"), 200);
    let entries = b["entry"].as_array().unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .count(),
        1
    );
    let outcome = entries
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .unwrap();
    assert!(outcome["resource"]["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("foo"));
    let selfl = b["link"][0]["url"].as_str().unwrap();
    assert!(
        selfl.contains("gender=male") && !selfl.contains("foo"),
        "{selfl}"
    );
    // POST _search with a form body
    let r = s
        .client
        .post(s.url("Patient/_search"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("gender=male")
        .send()
        .unwrap();
    let b = expect(r, 200);
    assert_eq!(b["entry"][0]["resource"]["id"], "p1");
}

#[test]
fn conditional_create_update_delete() {
    let s = Server::start();
    let p = json!({"resourceType": "Patient", "identifier": [{"system": "urn:identity:snils:Patient", "value": "111-222-333 72"}]});
    let create = |s: &Server| {
        s.client
            .post(s.url("Patient"))
            .header("content-type", "application/fhir+json")
            .header(
                "if-none-exist",
                "identifier=urn:identity:snils:Patient|111-222-333 72",
            )
            .body(p.to_string())
            .send()
            .unwrap()
    };
    let first = expect(create(&s), 201);
    let again = expect(create(&s), 200);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(expect(s.get("Patient?_summary=count"), 200)["total"], 1);
    // conditional update: one match -> update it
    let mut upd = p.clone();
    upd["gender"] = json!("male");
    let r = s
        .client
        .put(s.url("Patient?identifier=urn:identity:snils:Patient|111-222-333%2072"))
        .header("content-type", "application/fhir+json")
        .body(upd.to_string())
        .send()
        .unwrap();
    let v = expect(r, 200);
    assert_eq!(v["id"], first["id"]);
    assert_eq!(v["meta"]["versionId"], "2");
    // no match -> create
    let r = s
        .client
        .put(s.url("Patient?identifier=urn:identity:snils:Patient|999-999-999%2099"))
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Patient", "active": true}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    // two matches -> 412
    let r = s
        .client
        .delete(s.url("Patient?_lastUpdated=gt2000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = s
        .client
        .delete(s.url("Patient?gender=male"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        expect(
            s.get(&format!("Patient/{}", first["id"].as_str().unwrap())),
            410
        )["resourceType"],
        "OperationOutcome"
    );
    // transaction: ifNoneExist and a conditional reference
    let b = tx(vec![
        json!({"fullUrl": "urn:uuid:9a7f7a32-8f3e-4a2e-9f44-55f1b1f0aa01",
               "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:identity:enp:Patient", "value": "7700000000000008"}]},
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:identity:enp:Patient|7700000000000008"}}),
        json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "вес"},
               "subject": {"reference": "Patient?identifier=urn:identity:enp:Patient|7700000000000008"}},
               "request": {"method": "POST", "url": "Observation"}}),
    ]);
    let out = expect(s.post("", &b), 412);
    assert_eq!(out["resourceType"], "OperationOutcome");
    let b2 = tx(vec![
        json!({"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:identity:enp:Patient", "value": "7700000000000008"}]},
               "request": {"method": "POST", "url": "Patient"}}),
    ]);
    expect(s.post("", &b2), 200);
    let out = expect(s.post("", &b), 200);
    assert_eq!(out["entry"][0]["response"]["status"], "200 OK");
    let obs_loc = out["entry"][1]["response"]["location"].as_str().unwrap();
    let o = expect(s.get(obs_loc.split("/_history").next().unwrap()), 200);
    let pid = out["entry"][0]["response"]["location"].as_str().unwrap();
    assert!(
        pid.starts_with(o["subject"]["reference"].as_str().unwrap()),
        "{pid} {o}"
    );
}

#[test]
fn search_on_known_data() {
    let s: &'static Server = Box::leak(Box::new(start_with_data()));
    CURRENT.with(|c| c.set(Some(s)));
    let checks: [(&str, fn()); 8] = [
        ("string_parameters", string_parameters),
        ("token_parameters", token_parameters),
        ("date_parameters", date_parameters),
        (
            "quantity_and_reference_parameters",
            quantity_and_reference_parameters,
        ),
        ("chains_has_and_includes", chains_has_and_includes),
        (
            "sorting_paging_totals_and_summary",
            sorting_paging_totals_and_summary,
        ),
        (
            "compartment_everything_and_system_search",
            compartment_everything_and_system_search,
        ),
        (
            "unknown_parameters_strict_and_lenient",
            unknown_parameters_strict_and_lenient,
        ),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        if std::panic::catch_unwind(check).is_err() {
            failed.push(name);
        }
    }
    // The leaked server is killed explicitly: its process must not outlive the test.
    let ptr = s as *const Server as *mut Server;
    // SAFETY: no other reference to the server is used after this point.
    unsafe { (*ptr).kill() };
    assert!(failed.is_empty(), "failed search checks: {failed:?}");
}
