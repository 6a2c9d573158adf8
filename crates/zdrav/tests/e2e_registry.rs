//! Registries (issue 7), end to end: Russian identifiers are checked with their control
//! numbers on every write, stored in one normalised form, and found by any written form.

mod common;

use common::{expect, Server};
use serde_json::{json, Value};

fn issue(body: &Value) -> (String, String) {
    let i = &body["issue"][0];
    (
        i["expression"][0].as_str().unwrap_or_default().to_string(),
        i["diagnostics"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn russian_identifiers_are_checked_and_normalised() {
    let s = Server::start();
    // A СНИЛС typed without separators is stored as XXX-XXX-XXX YY, with a valid ЕНП beside it.
    let p = json!({"resourceType": "Patient", "name": [{"family": "Иванов"}], "identifier": [
        {"system": "urn:identity:snils:Patient", "value": "11223344595"},
        {"system": "urn:identity:enp:Patient", "value": "7700000000000016"}]});
    let created = expect(s.post("Patient", &p), 201);
    assert_eq!(created["identifier"][0]["value"], "112-233-445 95");
    let id = created["id"].as_str().unwrap().to_string();
    // Found by either written form.
    for form in ["112-233-445%2095", "11223344595"] {
        let found = expect(
            s.get(&format!(
                "Patient?identifier=urn:identity:snils:Patient|{form}"
            )),
            200,
        );
        assert_eq!(found["total"], 1, "{form}");
        assert_eq!(found["entry"][0]["resource"]["id"], id.as_str());
    }

    // Wrong control numbers are 400, naming the identifier and what is wrong.
    let cases = [
        (
            "Patient",
            "urn:identity:snils:Patient",
            "112-233-445 96",
            "95",
        ),
        (
            "Patient",
            "urn:identity:snils:Patient",
            "1122334459",
            "11 digits",
        ),
        (
            "Patient",
            "urn:identity:enp:Patient",
            "7700000000000013",
            "ЕНП",
        ),
        (
            "Practitioner",
            "urn:identity:snils:Practitioner",
            "087-654-303 01",
            "00",
        ),
        ("Organization", "urn:identity:ogrn", "1027700132194", "ОГРН"),
        ("Organization", "urn:identity:inn", "7707083894", "ИНН"),
        ("Organization", "urn:identity:kpp", "77360100", "КПП"),
        ("Organization", "urn:identity:frmo", "1.2.643.05", "OID"),
    ];
    for (rtype, system, value, says) in cases {
        let mut r = json!({"resourceType": rtype, "identifier": [
            {"system": "http://example.org/local", "value": "x"},
            {"system": system, "value": value}]});
        if rtype == "Organization" {
            r["name"] = json!("ГБУЗ ГП 1");
        }
        let body = expect(s.post(rtype, &r), 400);
        let (at, why) = issue(&body);
        assert_eq!(
            at,
            format!("{rtype}.identifier[1].value"),
            "{system} {value}"
        );
        assert!(why.contains(says), "{system} {value}: {why}");
    }
    // The valid ones of an organisation pass.
    let org = json!({"resourceType": "Organization", "name": "ПАО Сбербанк", "identifier": [
        {"system": "urn:identity:ogrn", "value": "1027700132195"},
        {"system": "urn:identity:inn", "value": "7707083893"},
        {"system": "urn:identity:kpp", "value": "773601001"},
        {"system": "urn:identity:frmo", "value": "1.2.643.5.1.13.13.12.1.77.1"}]});
    expect(s.post("Organization", &org), 201);
}

fn patient(family: &str, given: &[&str], birth: &str, gender: &str, ids: Value) -> Value {
    let mut p = json!({"resourceType": "Patient", "name": [{"use": "official", "family": family, "given": given}],
        "birthDate": birth, "gender": gender,
        "address": [{"city": "Москва", "postalCode": "101000"}]});
    if ids.as_array().is_some_and(|a| !a.is_empty()) {
        p["identifier"] = ids;
    }
    p
}

fn snils(v: &str) -> Value {
    json!([{"system": "urn:identity:snils:Patient", "value": v}])
}

fn matches(s: &Server, p: &Value, only_certain: bool) -> Vec<(String, String)> {
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": p},
        {"name": "onlyCertainMatches", "valueBoolean": only_certain},
        {"name": "count", "valueInteger": 5}]});
    let b = expect(s.post("Patient/$match", &body), 200);
    assert_eq!(b["type"], "searchset");
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["resource"]["id"].as_str().unwrap().to_string(),
                e["search"]["extension"][0]["valueCode"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn mpi_match_duplicates_merge_and_pix() {
    let s = Server::start();
    let put = |id: &str, mut p: Value| {
        p["id"] = json!(id);
        expect(s.put(&format!("Patient/{id}"), &p), 201);
    };
    let mut semenov = patient(
        "Семёнов",
        &["Пётр", "Алексеевич"],
        "1980-03-07",
        "male",
        snils("112-233-445 95"),
    );
    semenov["identifier"]
        .as_array_mut()
        .unwrap()
        .push(json!({"system": "urn:identity:enp:Patient", "value": "7700000000000016"}));
    put("semenov", semenov);
    put(
        "ivanov-1",
        patient(
            "Иванов",
            &["Иван", "Иванович"],
            "1975-05-05",
            "male",
            snils("087-654-303 00"),
        ),
    );
    put(
        "ivanov-2",
        patient(
            "Иванов",
            &["Иван", "Иванович"],
            "1975-05-05",
            "male",
            snils("123-456-789 64"),
        ),
    );
    put(
        "petrova",
        patient(
            "Петрова-Водкина",
            &["Анна"],
            "1990-01-02",
            "female",
            json!([]),
        ),
    );
    for i in 0..20 {
        let fam = format!("Кузнецов{}", "а".repeat(i % 3));
        put(
            &format!("noise-{i}"),
            patient(
                &fam,
                &["Олег"],
                &format!("19{:02}-0{}-1{}", 50 + i, 1 + i % 9, i % 10),
                "male",
                json!([]),
            ),
        );
    }

    // ё written as е, a Latin transliteration, day and month swapped: the same person.
    let first = |v: Vec<(String, String)>| v.into_iter().next().unwrap_or_default();
    let e = patient(
        "Семенов",
        &["Петр", "Алексеевич"],
        "1980-03-07",
        "male",
        json!([]),
    );
    assert_eq!(
        first(matches(&s, &e, false)),
        ("semenov".into(), "probable".into())
    );
    let latin = patient("Semenov", &["Petr"], "1980-03-07", "male", json!([]));
    assert_eq!(first(matches(&s, &latin, false)).0, "semenov");
    let swapped = patient(
        "Семенов",
        &["Петр", "Алексеевич"],
        "1980-07-03",
        "male",
        json!([]),
    );
    assert_eq!(first(matches(&s, &swapped, false)).0, "semenov");
    let short = patient("Петрова", &["Анна"], "1990-01-02", "female", json!([]));
    assert_eq!(first(matches(&s, &short, false)).0, "petrova");
    // With its СНИЛС (typed without separators) the match is certain.
    let with_id = patient(
        "Семенов",
        &["Петр"],
        "1980-03-07",
        "male",
        snils("11223344595"),
    );
    assert_eq!(
        matches(&s, &with_id, true),
        [("semenov".to_string(), "certain".to_string())]
    );

    // Two people with one name and birth date: never certain, and the СНИЛС tells them apart.
    let ivanov = patient(
        "Иванов",
        &["Иван", "Иванович"],
        "1975-05-05",
        "male",
        json!([]),
    );
    let both = matches(&s, &ivanov, false);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().all(|(_, g)| g == "probable"), "{both:?}");
    assert!(matches(&s, &ivanov, true).is_empty());
    let ivanov_1 = patient(
        "Иванов",
        &["Иван", "Иванович"],
        "1975-05-05",
        "male",
        snils("087-654-303 00"),
    );
    assert_eq!(
        matches(&s, &ivanov_1, false),
        [("ivanov-1".to_string(), "certain".to_string())]
    );

    // Creating a probable duplicate warns; with If-None-Exist a certain one is returned instead.
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=OperationOutcome")
        .body(e.to_string())
        .send()
        .unwrap();
    let dup_location = r.headers()["location"].to_str().unwrap().to_string();
    let oo = expect(r, 201);
    let warning = oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "duplicate")
        .expect("a duplicate warning");
    assert!(warning["diagnostics"]
        .as_str()
        .unwrap()
        .contains("Patient/semenov"));
    let dup = dup_location
        .split("/Patient/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let r = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", "identifier=urn:zdrav:none|0")
        .body(with_id.to_string())
        .send()
        .unwrap();
    assert_eq!(
        expect(r, 200)["id"],
        "semenov",
        "the registered patient, not a new one"
    );

    // Merge the duplicate into the original: its data follows, nothing dangles.
    for (t, body) in [
        (
            "Observation",
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "пульс"}, "subject": {"reference": format!("Patient/{dup}")}}),
        ),
        (
            "Encounter",
            json!({"resourceType": "Encounter", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "subject": {"reference": format!("Patient/{dup}")}}),
        ),
    ] {
        expect(s.post(t, &body), 201);
    }
    let merge = json!({"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": format!("Patient/{dup}")}},
        {"name": "target-patient", "valueReference": {"reference": "Patient/semenov"}}]});
    let out = expect(s.post("Patient/$merge", &merge), 200);
    assert!(out["parameter"][0]["resource"]["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("2 resources"));
    for t in ["Observation", "Encounter"] {
        let old = expect(s.get(&format!("{t}?subject=Patient/{dup}")), 200);
        assert_eq!(old["total"], 0, "{t} still refers to the merged record");
        let new = expect(s.get(&format!("{t}?subject=Patient/semenov")), 200);
        assert_eq!(new["total"], 1, "{t}");
    }
    let source = expect(s.get(&format!("Patient/{dup}")), 200);
    assert_eq!(source["active"], false);
    assert_eq!(source["link"][0]["type"], "replaced-by");
    let target = expect(s.get("Patient/semenov"), 200);
    assert_eq!(
        target["link"][0]["other"]["reference"],
        format!("Patient/{dup}")
    );
    assert_eq!(target["link"][0]["type"], "replaces");
    assert!(
        matches(&s, &e, false).iter().all(|(id, _)| *id != dup),
        "a merged record is not matched"
    );
    expect(s.post("Patient/$merge", &merge), 409);

    // PIXm: from a СНИЛС to the ЕНП and the record id.
    let pix = expect(s.get("Patient/$ihe-pix?sourceIdentifier=urn:identity:snils:Patient|11223344595&targetSystem=urn:identity:enp:Patient"), 200);
    let params = pix["parameter"].as_array().unwrap();
    assert_eq!(params.len(), 2, "{pix}");
    assert_eq!(params[0]["valueIdentifier"]["value"], "7700000000000016");
    assert_eq!(params[1]["valueReference"]["reference"], "Patient/semenov");
    expect(
        s.get("Patient/$ihe-pix?sourceIdentifier=urn:identity:snils:Patient|087-654-303%2001"),
        404,
    );
}
