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
