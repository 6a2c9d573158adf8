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
        {"system": "urn:identity:enp:Patient", "value": "7700000000000016"},
        {"system": "urn:identity:passport-rf:Patient", "value": "45 09 123456"},
        {"system": "urn:identity:birth-certificate:Patient", "value": "iv-мю №123456"}]});
    let created = expect(s.post("Patient", &p), 201);
    assert_eq!(created["identifier"][0]["value"], "112-233-445 95");
    assert_eq!(created["identifier"][2]["value"], "4509 123456");
    assert_eq!(created["identifier"][3]["value"], "IV-МЮ 123456");
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
            "Patient",
            "urn:identity:passport-rf:Patient",
            "4509 12345",
            "passport",
        ),
        (
            "Patient",
            "urn:identity:birth-certificate:Patient",
            "IV-MU 123456",
            "birth certificate",
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

/// The registries of organisations (ФРМО) and of medical workers (ФРМР) as FHIR resources:
/// the hierarchy of a medical organisation, its units and departments (`partOf`), buildings and
/// rooms (Location), licences (`urn:identity:license` with a period), equipment (Device), and a
/// worker's digital profile (Practitioner with СНИЛС, PractitionerRole with position and
/// specialty, qualifications); found by region, type, licence, specialty and СНИЛС.
#[test]
fn frmo_and_frmr() {
    let s = Server::start();
    let put = |path: &str, body: Value| {
        expect(s.put(path, &body), 201);
    };
    put(
        "Organization/gkb1",
        json!({"resourceType": "Organization", "id": "gkb1", "name": "ГБУЗ «Городская клиническая больница № 1»",
        "type": [{"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1462", "code": "1", "display": "Медицинская организация"}]}],
        "identifier": [
            {"system": "urn:identity:ogrn", "value": "1027700132195"},
            {"system": "urn:identity:inn", "value": "7707083893"},
            {"system": "urn:identity:kpp", "value": "773601001"},
            {"system": "urn:identity:frmo", "value": "1.2.643.5.1.13.13.12.2.77.7701"},
            {"system": "urn:identity:license", "value": "ЛО-77-01-012345",
             "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MD"}]},
             "period": {"start": "2019-04-01"}}],
        "address": [{"state": "77", "city": "Москва", "text": "Москва, ул. Лечебная, 1"}]}),
    );
    put(
        "Organization/gkb1-surgery",
        json!({"resourceType": "Organization", "id": "gkb1-surgery", "name": "Хирургический корпус",
        "identifier": [{"system": "urn:identity:frmo", "value": "1.2.643.5.1.13.13.12.2.77.7701.1"}],
        "partOf": {"reference": "Organization/gkb1"}, "address": [{"state": "77"}]}),
    );
    put(
        "Organization/gkb1-surgery-dept",
        json!({"resourceType": "Organization", "id": "gkb1-surgery-dept", "name": "Отделение общей хирургии",
        "partOf": {"reference": "Organization/gkb1-surgery"}}),
    );
    put(
        "Organization/crb2",
        json!({"resourceType": "Organization", "id": "crb2", "name": "БУ «Центральная районная больница»",
        "identifier": [{"system": "urn:identity:license", "value": "ЛО-21-01-000777", "period": {"start": "2015-01-01", "end": "2020-01-01"}}],
        "address": [{"state": "21", "city": "Чебоксары"}]}),
    );
    put(
        "Location/building-a",
        json!({"resourceType": "Location", "id": "building-a", "name": "Корпус А",
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "bu"}]},
        "managingOrganization": {"reference": "Organization/gkb1-surgery"}}),
    );
    put(
        "Location/room-101",
        json!({"resourceType": "Location", "id": "room-101", "name": "Операционная 101",
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "ro"}]},
        "partOf": {"reference": "Location/building-a"}, "managingOrganization": {"reference": "Organization/gkb1-surgery-dept"}}),
    );
    put(
        "Device/mri-1",
        json!({"resourceType": "Device", "id": "mri-1", "deviceName": [{"name": "МРТ 1,5 Тл", "type": "user-friendly-name"}],
        "owner": {"reference": "Organization/gkb1"}, "location": {"reference": "Location/building-a"}}),
    );
    put(
        "Practitioner/dr-sidorov",
        json!({"resourceType": "Practitioner", "id": "dr-sidorov",
        "identifier": [{"system": "urn:identity:snils:Practitioner", "value": "08765430300"}],
        "name": [{"family": "Сидоров", "given": ["Пётр", "Ильич"]}],
        "qualification": [{"code": {"text": "Хирургия: свидетельство об аккредитации"},
            "identifier": [{"system": "urn:zdrav:accreditation", "value": "7723 012345678"}],
            "period": {"start": "2022-06-01", "end": "2027-06-01"}}]}),
    );
    put(
        "PractitionerRole/sidorov-surgeon",
        json!({"resourceType": "PractitionerRole", "id": "sidorov-surgeon", "active": true,
        "practitioner": {"reference": "Practitioner/dr-sidorov"}, "organization": {"reference": "Organization/gkb1-surgery-dept"},
        "code": [{"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1002", "code": "109", "display": "врач-хирург"}]}],
        "specialty": [{"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1066", "code": "46", "display": "Хирургия"}]}]}),
    );

    let ids = |path: &str| -> Vec<String> {
        let b = expect(s.get(path), 200);
        let mut v: Vec<String> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["resource"]["resourceType"] != "OperationOutcome")
            .map(|e| {
                format!(
                    "{}/{}",
                    e["resource"]["resourceType"].as_str().unwrap(),
                    e["resource"]["id"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    };
    // The whole hierarchy of the hospital in one search.
    assert_eq!(
        ids("Organization?_id=gkb1&_revinclude:iterate=Organization:partof"),
        [
            "Organization/gkb1",
            "Organization/gkb1-surgery",
            "Organization/gkb1-surgery-dept"
        ]
    );
    assert_eq!(
        ids("Organization?partof=Organization/gkb1"),
        ["Organization/gkb1-surgery"]
    );
    // By region, by type, by licence number, by ФРМО OID, by ОГРН typed without care.
    assert_eq!(
        ids("Organization?address-state=77&partof:missing=true"),
        ["Organization/gkb1"]
    );
    assert_eq!(
        ids("Organization?type=urn:oid:1.2.643.5.1.13.13.11.1462|1"),
        ["Organization/gkb1"]
    );
    assert_eq!(
        ids("Organization?identifier=urn:identity:license|ЛО-21-01-000777"),
        ["Organization/crb2"]
    );
    assert_eq!(
        ids("Organization?identifier=urn:identity:frmo|1.2.643.5.1.13.13.12.2.77.7701.1"),
        ["Organization/gkb1-surgery"]
    );
    // Buildings and rooms; equipment of the hospital.
    assert_eq!(
        ids("Location?partof=Location/building-a"),
        ["Location/room-101"]
    );
    assert_eq!(
        ids("Location?type:missing=true&organization=Organization/gkb1-surgery-dept"),
        ["Location/room-101"]
    );
    assert_eq!(
        ids("Device?organization=Organization/gkb1"),
        ["Device/mri-1"]
    );
    // ФРМР: the worker by СНИЛС (either form), by specialty, and where they work.
    assert_eq!(
        ids("Practitioner?identifier=urn:identity:snils:Practitioner|087-654-303%2000"),
        ["Practitioner/dr-sidorov"]
    );
    assert_eq!(ids("PractitionerRole?specialty=urn:oid:1.2.643.5.1.13.13.11.1066|46&_include=PractitionerRole:practitioner&_include=PractitionerRole:organization"),
        ["Organization/gkb1-surgery-dept", "Practitioner/dr-sidorov", "PractitionerRole/sidorov-surgeon"]);
    let dr = expect(s.get("Practitioner/dr-sidorov"), 200);
    assert_eq!(
        dr["identifier"][0]["value"], "087-654-303 00",
        "stored normalised"
    );
    // A licence whose period ends before it starts is refused (per-1).
    let bad = json!({"resourceType": "Organization", "name": "x", "identifier": [{"system": "urn:identity:license", "value": "1",
        "period": {"start": "2020-01-01", "end": "2019-01-01"}}]});
    expect(s.post("Organization", &bad), 400);
}
