//! РЭМД registration (issue 9): a document of kind НСИ 1522 is registered in one transaction
//! with its body (Binary) and the signers' Provenances; it commits only with valid signatures of
//! the author (СНИЛС in the certificate) and the custodian organisation (ОГРН), made by
//! OpenSSL here as an independent signer. Registered documents never change; a correction
//! replaces the old one, which stays readable. ECDSA P-256 always; GOST R 34.10-2012 256 and 512
//! with the OpenSSL GOST engine (mandatory in CI). Runs on SQLite and (in CI) PostgreSQL.

mod common;

use common::remd::{b64, gost_engine, registration, sha1_b64, Kind, Openssl, KINDS, VALID};
use common::{expect, Server};
use serde_json::{json, Value};
use zdrav_server::remd::STREEBOG_HASH;

/// The body's GOST R 34.11-2012 256-bit hash by `openssl dgst` with the GOST engine (the
/// independent oracle).
fn openssl_streebog256(o: &Openssl, body: &[u8]) -> Vec<u8> {
    let (file, out) = (o.path("body"), o.path("dgst"));
    std::fs::write(&file, body).unwrap();
    let (f, d) = (file.to_str().unwrap(), out.to_str().unwrap());
    o.run(&[
        "dgst",
        "-engine",
        "gost",
        "-md_gost12_256",
        "-binary",
        "-out",
        d,
        f,
    ]);
    std::fs::read(&out).unwrap()
}

/// The [`STREEBOG_HASH`] a DocumentReference's attachment states, if exactly one.
fn streebog_of(doc: &Value) -> Option<&str> {
    let all: Vec<&str> = doc["content"][0]["attachment"]["extension"]
        .as_array()?
        .iter()
        .filter(|e| e["url"] == STREEBOG_HASH)
        .filter_map(|e| e["valueBase64Binary"].as_str())
        .collect();
    (all.len() == 1).then(|| all[0])
}

fn refused_with(r: reqwest::blocking::Response, words: &str) -> Value {
    let v = expect(r, 422);
    let text = v["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(text.contains(words), "expected '{words}' in: {v}");
    v
}

#[test]
fn signed_documents_register_and_never_change() {
    let s = Server::start();
    common::remd::clinic(&s, None);
    let o = Openssl::new();
    let (doctor, clinic) = o.author_and_clinic(Kind::P256, Kind::P256);
    let body = "Протокол лабораторного исследования № 1\r\nГемоглобин 140 г/л\n".as_bytes();
    let both = |b: &[u8]| o.both(&doctor, &clinic, b);

    // Refusals first: each names what is wrong and where.
    let mut tampered = registration("bad1", b"another body", &both(body), None);
    tampered["entry"][1]["resource"]["content"][0]["attachment"]["hash"] =
        json!(sha1_b64(b"another body"));
    let v = refused_with(s.post("", &tampered), "does not verify");
    assert!(
        v["issue"][0]["expression"][0]
            .as_str()
            .unwrap_or("")
            .contains("signature[0].data"),
        "{v}"
    );
    let only_doctor = vec![("Practitioner/doc1", o.sign(&doctor, body))];
    refused_with(
        s.post("", &registration("bad2", body, &only_doctor, None)),
        "organisation's signature is missing",
    );
    let other = o.signer(
        Kind::P256,
        "/SNILS=12345678964/CN=Петров Пётр",
        VALID.0,
        VALID.1,
    );
    let wrong_doctor = vec![
        ("Practitioner/doc1", o.sign(&other, body)),
        ("Organization/org1", o.sign(&clinic, body)),
    ];
    refused_with(
        s.post("", &registration("bad3", body, &wrong_doctor, None)),
        "names СНИЛС 12345678964",
    );
    let old = o.signer(
        Kind::P256,
        "/SNILS=11223344595/CN=Иванов Иван",
        "20200101000000Z",
        "20210101000000Z",
    );
    let expired = vec![
        ("Practitioner/doc1", o.sign(&old, body)),
        ("Organization/org1", o.sign(&clinic, body)),
    ];
    refused_with(
        s.post("", &registration("bad4", body, &expired, None)),
        "not valid when it signed",
    );
    let mut swapped = both(body);
    swapped[1].0 = "Practitioner/doc1";
    swapped[0].0 = "Organization/org1";
    refused_with(
        s.post("", &registration("bad5", body, &swapped, None)),
        "names",
    );
    let mut flipped = both(body);
    let last = flipped[0].1.len() - 1;
    flipped[0].1[last] ^= 1;
    refused_with(
        s.post("", &registration("bad6", body, &flipped, None)),
        "does not verify",
    );
    let mut bad_hash = registration("bad7", body, &both(body), None);
    bad_hash["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = json!(sha1_b64(b"x"));
    refused_with(s.post("", &bad_hash), "SHA-1");
    for bad in ["bad1", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7"] {
        expect(s.get(&format!("DocumentReference/{bad}")), 404);
        expect(s.get(&format!("Binary/{bad}-body")), 404);
    }
    // A kind-1522 document cannot be created on its own.
    let alone = registration("x", body, &[], None)["entry"][1]["resource"].clone();
    refused_with(s.post("DocumentReference", &alone), "one transaction");

    // The valid registration.
    expect(
        s.post("", &registration("lab1", body, &both(body), None)),
        200,
    );
    let doc = expect(s.get("DocumentReference/lab1"), 200);
    assert_eq!(doc["meta"]["tag"][0]["system"], "urn:zdrav:CodeSystem:remd");
    let bin = expect(s.get("Binary/lab1-body"), 200);
    assert_eq!(bin["data"], b64(body));

    // Never changes: update, patch and delete of the document or its body are refused.
    let mut changed = doc.clone();
    changed["status"] = json!("entered-in-error");
    expect(s.put("DocumentReference/lab1", &changed), 409);
    expect(s.delete("Binary/lab1-body"), 409);
    let patch = json!([{"op": "replace", "path": "/status", "value": "superseded"}]);
    let r = s.raw(
        "PATCH",
        "DocumentReference/lab1",
        "application/json-patch+json",
        patch.to_string().into_bytes(),
    );
    expect(r, 409);
    let retry = registration("lab1", body, &both(body), None);
    expect(s.post("", &retry), 409);

    // A correction replaces it; the old one stays readable, superseded, with its signatures.
    let fixed =
        "Протокол лабораторного исследования № 1 (исправленный)\nГемоглобин 141 г/л\n".as_bytes();
    expect(
        s.post("", &registration("lab2", fixed, &both(fixed), Some("lab1"))),
        200,
    );
    let old_doc = expect(s.get("DocumentReference/lab1"), 200);
    assert_eq!(old_doc["status"], "superseded");
    assert_eq!(
        expect(s.get("DocumentReference/lab1/_history/1"), 200)["status"],
        "current"
    );
    assert_eq!(expect(s.get("Binary/lab1-body"), 200)["data"], b64(body));
    assert_eq!(
        expect(
            s.get("Provenance?target=DocumentReference/lab1&_summary=count"),
            200
        )["total"],
        2
    );
    refused_with(
        s.post("", &registration("lab3", fixed, &both(fixed), Some("lab1"))),
        "already been replaced",
    );
    // The registry finds them by patient, kind and status.
    let found = expect(
        s.get(&format!(
            "DocumentReference?patient=Patient/p1&type={KINDS}|7&_summary=count"
        )),
        200,
    );
    assert_eq!(found["total"], 2);
    let current = expect(
        s.get("DocumentReference?patient=Patient/p1&status=current"),
        200,
    );
    assert_eq!(current["total"], 1);
    assert_eq!(current["entry"][0]["resource"]["id"], "lab2");
}

#[test]
fn gost_signatures_register() {
    if !gost_engine() {
        eprintln!("\n*** SKIPPED: openssl gost engine not installed ***\n");
        return;
    }
    let s = Server::start();
    common::remd::clinic(&s, None);
    let o = Openssl::new();
    let (doctor, clinic) = o.author_and_clinic(Kind::Gost256, Kind::Gost512);
    let body = "Выписной эпикриз\nДиагноз: J18.9\n".as_bytes();
    let signed = o.both(&doctor, &clinic, body);
    expect(s.post("", &registration("gost1", body, &signed, None)), 200);
    // The server states the body's Streebog-256 hash, as OpenSSL's GOST engine computes it.
    let doc = expect(s.get("DocumentReference/gost1"), 200);
    let want = b64(&openssl_streebog256(&o, body));
    assert_eq!(streebog_of(&doc), Some(want.as_str()), "{doc}");
    // A sender may state it; a wrong one is refused, named where it is.
    let mut stated = registration("gost3", body, &signed, None);
    let ext = json!([{"url": STREEBOG_HASH, "valueBase64Binary": want}]);
    stated["entry"][1]["resource"]["content"][0]["attachment"]["extension"] = ext;
    expect(s.post("", &stated), 200);
    let doc = expect(s.get("DocumentReference/gost3"), 200);
    assert_eq!(streebog_of(&doc), Some(want.as_str()), "stated once: {doc}");
    let mut wrong = registration("gost4", body, &signed, None);
    let ext = json!([{"url": STREEBOG_HASH, "valueBase64Binary": b64(&[7u8; 32])}]);
    wrong["entry"][1]["resource"]["content"][0]["attachment"]["extension"] = ext;
    let v = refused_with(s.post("", &wrong), "Streebog-256");
    assert_eq!(
        v["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.content[0].attachment.extension[0]",
        "{v}"
    );
    let tampered = registration("gost2", b"other", &signed, None);
    let mut tampered = tampered;
    tampered["entry"][1]["resource"]["content"][0]["attachment"]["hash"] =
        json!(sha1_b64(b"other"));
    tampered["entry"][1]["resource"]["content"][0]["attachment"]["size"] = json!(5);
    refused_with(s.post("", &tampered), "does not verify");
}

/// The kind of a document comes from НСИ 1522: the kinds citizens see are known by name even
/// without the dictionary (a sender may give the code alone), a code zdrav does not know is
/// accepted while only the built-in fragment is there, and refused once the whole dictionary
/// is imported.
#[test]
fn document_kinds_come_from_nsi_1522() {
    let s = Server::start();
    common::remd::clinic(&s, None);
    let o = Openssl::new();
    let (doctor, clinic) = o.author_and_clinic(Kind::P256, Kind::P256);
    let with_kind = |n: &str, code: &str| {
        let body = format!("Документ {n}\n");
        let mut r = registration(
            n,
            body.as_bytes(),
            &o.both(&doctor, &clinic, body.as_bytes()),
            None,
        );
        r["entry"][1]["resource"]["type"] = json!({"coding": [{"system": KINDS, "code": code}]});
        r
    };
    expect(s.post("", &with_kind("mse1", "34")), 200);
    let doc = expect(s.get("DocumentReference/mse1"), 200);
    assert_eq!(
        doc["type"]["coding"][0]["display"],
        "Направление на медико-социальную экспертизу"
    );
    let system = KINDS.replace(':', "%3A");
    let found = expect(
        s.get(&format!("CodeSystem/$lookup?system={system}&code=88")),
        200,
    );
    assert!(found
        .to_string()
        .contains("Справка об отсутствии контактов с инфекционными больными"));
    let unknown = expect(
        s.get(&format!("CodeSystem/$validate-code?url={system}&code=9999")),
        200,
    );
    assert_eq!(unknown["parameter"][0]["valueBoolean"], false);
    assert!(
        unknown.to_string().contains("content fragment"),
        "{unknown}"
    );
    // Not known here, but the dictionary is held only in part: accepted.
    expect(s.post("", &with_kind("odd1", "9999")), 200);
    // The whole dictionary imported (a newer version than the fragment) decides.
    let imported = json!({"resourceType": "CodeSystem", "url": KINDS, "version": "5.1",
        "status": "active", "content": "complete", "concept": [
            {"code": "7", "display": "Протокол лабораторного исследования"},
            {"code": "34", "display": "Направление на медико-социальную экспертизу"}]});
    expect(s.post("CodeSystem", &imported), 201);
    let v = refused_with(
        s.post("", &with_kind("odd2", "9999")),
        "not a kind of document",
    );
    assert_eq!(
        v["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.type.coding[0].code"
    );
    expect(s.get("DocumentReference/odd2"), 404);
    expect(s.post("", &with_kind("lab9", "7")), 200);
}

/// The integrated record's documents are seen by whom they concern: the citizen reads their
/// own documents and bodies, not another's; a practitioner reads those of patients in care;
/// a body is as private as the document it belongs to.
#[test]
fn documents_and_bodies_follow_the_access_rules() {
    let s = Server::start_with(&["--with-auth", "--rate-limit", "0"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    common::remd::clinic(&s, Some(&system));
    let put =
        |path: &str, body: Value| expect(s.call("PUT", path, Some(&system), Some(&body)), 201);
    put(
        "Organization/org9",
        json!({"resourceType": "Organization", "id": "org9", "name": "ГБУЗ ГП 9"}),
    );
    put("Patient/p2", json!({"resourceType": "Patient", "id": "p2"}));
    put(
        "Practitioner/doc9",
        json!({"resourceType": "Practitioner", "id": "doc9"}),
    );
    put(
        "Binary/loose",
        json!({"resourceType": "Binary", "id": "loose", "contentType": "text/plain", "data": b64(b"no context")}),
    );
    let o = Openssl::new();
    let (doctor, clinic) = o.author_and_clinic(Kind::P256, Kind::P256);
    let body = "Справка об отсутствии контактов с инфекционными больными\n".as_bytes();
    let signed = o.both(&doctor, &clinic, body);
    expect(
        s.call(
            "POST",
            "",
            Some(&system),
            Some(&registration("cert1", body, &signed, None)),
        ),
        200,
    );
    let bin = expect(s.call("GET", "Binary/cert1-body", Some(&system), None), 200);
    assert_eq!(
        bin["securityContext"]["reference"],
        "DocumentReference/cert1"
    );

    let citizen = |p: &str| {
        s.token(&[
            "--sub",
            &format!("cit-{p}"),
            "--role",
            "citizen",
            "--patient",
            &format!("Patient/{p}"),
        ])
    };
    let (c1, c2) = (citizen("p1"), citizen("p2"));
    let mine = expect(
        s.call(
            "GET",
            "DocumentReference?patient=Patient/p1",
            Some(&c1),
            None,
        ),
        200,
    );
    assert_eq!(mine["entry"][0]["resource"]["id"], "cert1");
    assert_eq!(
        expect(s.call("GET", "Binary/cert1-body", Some(&c1), None), 200)["data"],
        b64(body)
    );
    expect(
        s.call("GET", "DocumentReference/cert1", Some(&c2), None),
        404,
    );
    expect(s.call("GET", "Binary/cert1-body", Some(&c2), None), 404);
    expect(s.call("GET", "Binary/loose", Some(&c1), None), 404);
    expect(s.call("GET", "Binary?_id=cert1-body", Some(&c2), None), 403);

    let practitioner = |id: &str, org: &str| common::remd::practitioner_token(&s, id, org);
    let (d1, d9) = (practitioner("doc1", "org1"), practitioner("doc9", "org9"));
    assert_eq!(
        expect(s.call("GET", "Binary/cert1-body", Some(&d1), None), 200)["data"],
        b64(body)
    );
    expect(s.call("GET", "Binary/cert1-body", Some(&d9), None), 404);
    expect(s.call("GET", "Binary?_id=cert1-body", Some(&d9), None), 403);
}
