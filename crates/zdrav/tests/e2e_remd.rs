//! РЭМД registration (issue 9): a document of kind НСИ 1522 is registered in one transaction
//! with its body (Binary) and the signers' Provenances; it commits only with valid signatures of
//! the author (СНИЛС in the certificate) and the custodian organisation (ОГРН), made by
//! OpenSSL here as an independent signer. Registered documents never change; a correction
//! replaces the old one, which stays readable. ECDSA P-256 always; GOST R 34.10-2012 256 and 512
//! with the OpenSSL GOST engine (mandatory in CI). Runs on SQLite and (in CI) PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use common::{expect, Server};
use serde_json::{json, Value};

const KINDS: &str = "urn:oid:1.2.643.5.1.13.13.11.1522";

/// `openssl ca` configuration: self-signed certificates with chosen dates and Russian subject
/// attributes (a policy without the fields would drop them).
const CA_CONFIG: &str = "[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = default
policy = policy_any
x509_extensions = v3
unique_subject = no
[policy_any]
SNILS = optional
OGRN = optional
commonName = optional
[v3]
keyUsage = critical, digitalSignature, nonRepudiation
[req]
distinguished_name = dn
[dn]
";

#[derive(Clone, Copy)]
enum Kind {
    P256,
    Gost256,
    Gost512,
}

struct Signer {
    key: PathBuf,
    cert: PathBuf,
    kind: Kind,
}

struct Openssl {
    dir: tempfile::TempDir,
    n: std::cell::Cell<u32>,
}

fn gost_engine() -> bool {
    let ok = Command::new("openssl")
        .args(["engine", "gost"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("ZDRAV_REQUIRE_GOST").as_deref() == Ok("1") {
        panic!("ZDRAV_REQUIRE_GOST=1 but the openssl gost engine is not installed");
    }
    ok
}

impl Openssl {
    fn new() -> Openssl {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(dir.path().join("index.txt"), "").unwrap();
        std::fs::write(dir.path().join("serial"), "01\n").unwrap();
        Openssl {
            dir,
            n: std::cell::Cell::new(0),
        }
    }

    fn path(&self, stem: &str) -> PathBuf {
        self.n.set(self.n.get() + 1);
        self.dir.path().join(format!("{}-{stem}", self.n.get()))
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A key and a self-signed certificate for `subject`, valid from `start` to `end`
    /// (YYYYMMDDHHMMSSZ).
    fn signer(&self, kind: Kind, subject: &str, start: &str, end: &str) -> Signer {
        let (key, csr, cert) = (self.path("key.pem"), self.path("r.csr"), self.path("c.pem"));
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let (alg, opt, md): (&str, &str, &str) = match kind {
            Kind::P256 => ("EC", "ec_paramgen_curve:P-256", "-sha256"),
            Kind::Gost256 => ("gost2012_256", "paramset:A", "-md_gost12_256"),
            Kind::Gost512 => ("gost2012_512", "paramset:A", "-md_gost12_512"),
        };
        let engine: &[&str] = match kind {
            Kind::P256 => &[],
            _ => &["-engine", "gost"],
        };
        let (k, c, r) = (s(&key), s(&cert), s(&csr));
        let mut a = vec!["genpkey"];
        a.extend(engine);
        a.extend(["-algorithm", alg, "-pkeyopt", opt, "-out", &k]);
        self.run(&a);
        let mut a = vec![
            "req", "-config", "ca.cnf", "-new", "-key", &k, "-utf8", "-subj", subject, md, "-out",
            &r,
        ];
        a.extend(engine);
        self.run(&a);
        let mut a = vec![
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            &k,
            "-in",
            &r,
            "-startdate",
            start,
            "-enddate",
            end,
            "-utf8",
            "-md",
            &md[1..],
            "-out",
            &c,
        ];
        a.extend(engine);
        self.run(&a);
        Signer { key, cert, kind }
    }

    /// The author's (СНИЛС 112-233-445 95) and the clinic's (ОГРН 1027700132195) identities,
    /// valid now.
    fn author_and_clinic(&self, doctor: Kind, clinic: Kind) -> (Signer, Signer) {
        (
            self.signer(
                doctor,
                "/SNILS=11223344595/CN=Иванов Иван",
                VALID.0,
                VALID.1,
            ),
            self.signer(clinic, "/OGRN=1027700132195/CN=ГБУЗ ГП 1", VALID.0, VALID.1),
        )
    }

    /// The author's and the clinic's signatures of `body`, with their Provenance agents.
    fn both(&self, doctor: &Signer, clinic: &Signer, body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("Practitioner/doc1", self.sign(doctor, body)),
            ("Organization/org1", self.sign(clinic, body)),
        ]
    }

    /// A detached CMS signature (DER) of `body`.
    fn sign(&self, who: &Signer, body: &[u8]) -> Vec<u8> {
        let (input, out) = (self.path("body.bin"), self.path("sig.der"));
        std::fs::write(&input, body).unwrap();
        let md = match who.kind {
            Kind::P256 => "sha256",
            Kind::Gost256 => "md_gost12_256",
            Kind::Gost512 => "md_gost12_512",
        };
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let (i, o, c, k) = (s(&input), s(&out), s(&who.cert), s(&who.key));
        let mut a = vec![
            "cms", "-sign", "-binary", "-md", md, "-in", &i, "-signer", &c, "-inkey", &k,
            "-outform", "DER", "-out", &o,
        ];
        if !matches!(who.kind, Kind::P256) {
            a.extend(["-engine", "gost"]);
        }
        self.run(&a);
        std::fs::read(&out).unwrap()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha1_b64(bytes: &[u8]) -> String {
    use sha1::Digest;
    b64(&sha1::Sha1::digest(bytes))
}

/// A registration transaction: body `Binary/<n>-body`, `DocumentReference/<n>`, one
/// Provenance per (agent, signature).
fn registration(n: &str, body: &[u8], signed: &[(&str, Vec<u8>)], replaces: Option<&str>) -> Value {
    let mut doc = json!({"resourceType": "DocumentReference", "id": n, "status": "current",
        "type": {"coding": [{"system": KINDS, "code": "7", "display": "Протокол лабораторного исследования"}]},
        "subject": {"reference": "Patient/p1"}, "date": "2026-11-23T10:00:00+03:00",
        "author": [{"reference": "Practitioner/doc1"}], "custodian": {"reference": "Organization/org1"},
        "content": [{"attachment": {"contentType": "application/pdf", "url": format!("Binary/{n}-body"),
            "size": body.len(), "hash": sha1_b64(body)}}]});
    if let Some(old) = replaces {
        doc["relatesTo"] = json!([{"code": "replaces", "target": {"reference": format!("DocumentReference/{old}")}}]);
    }
    let mut entries = vec![
        json!({"resource": {"resourceType": "Binary", "id": format!("{n}-body"), "contentType": "application/pdf", "data": b64(body)},
               "request": {"method": "PUT", "url": format!("Binary/{n}-body")}}),
        json!({"resource": doc, "request": {"method": "PUT", "url": format!("DocumentReference/{n}")}}),
    ];
    for (k, (agent, der)) in signed.iter().enumerate() {
        let id = format!("{n}-sig{k}");
        entries.push(json!({"resource": {"resourceType": "Provenance", "id": id,
            "target": [{"reference": format!("DocumentReference/{n}")}], "recorded": "2026-11-23T10:00:00+03:00",
            "agent": [{"who": {"reference": agent}}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": "2026-11-23T10:00:00+03:00", "who": {"reference": agent},
                "sigFormat": "application/pkcs7-signature", "data": b64(der)}]},
            "request": {"method": "PUT", "url": format!("Provenance/{id}")}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// The clinic with its ОГРН, the patient attached to it and the author with their СНИЛС;
/// `token` for a server with authentication.
fn setup(s: &Server, token: Option<&str>) {
    let put = |path: &str, body: Value| expect(s.call("PUT", path, token, Some(&body)), 201);
    put(
        "Organization/org1",
        json!({"resourceType": "Organization", "id": "org1", "name": "ГБУЗ ГП 1",
        "identifier": [{"system": "urn:identity:ogrn", "value": "1027700132195"}]}),
    );
    put(
        "Patient/p1",
        json!({"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/org1"}}),
    );
    put(
        "Practitioner/doc1",
        json!({"resourceType": "Practitioner", "id": "doc1",
        "identifier": [{"system": "urn:identity:snils:Practitioner", "value": "112-233-445 95"}]}),
    );
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

const VALID: (&str, &str) = ("20250101000000Z", "20350101000000Z");

#[test]
fn signed_documents_register_and_never_change() {
    let s = Server::start();
    setup(&s, None);
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
    setup(&s, None);
    let o = Openssl::new();
    let (doctor, clinic) = o.author_and_clinic(Kind::Gost256, Kind::Gost512);
    let body = "Выписной эпикриз\nДиагноз: J18.9\n".as_bytes();
    let signed = o.both(&doctor, &clinic, body);
    expect(s.post("", &registration("gost1", body, &signed, None)), 200);
    let tampered = registration("gost2", b"other", &signed, None);
    let mut tampered = tampered;
    tampered["entry"][1]["resource"]["content"][0]["attachment"]["hash"] =
        json!(sha1_b64(b"other"));
    tampered["entry"][1]["resource"]["content"][0]["attachment"]["size"] = json!(5);
    refused_with(s.post("", &tampered), "does not verify");
}

/// The integrated record's documents are seen by whom they concern: the citizen reads their
/// own documents and bodies, not another's; a practitioner reads those of patients in care;
/// a body is as private as the document it belongs to.
#[test]
fn documents_and_bodies_follow_the_access_rules() {
    let s = Server::start_with(&["--with-auth", "--rate-limit", "0"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    setup(&s, Some(&system));
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

    let practitioner = |id: &str, org: &str| {
        s.token(&[
            "--sub",
            id,
            "--role",
            "practitioner",
            "--practitioner",
            &format!("Practitioner/{id}"),
            "--org",
            &format!("Organization/{org}"),
        ])
    };
    let (d1, d9) = (practitioner("doc1", "org1"), practitioner("doc9", "org9"));
    assert_eq!(
        expect(s.call("GET", "Binary/cert1-body", Some(&d1), None), 200)["data"],
        b64(body)
    );
    expect(s.call("GET", "Binary/cert1-body", Some(&d9), None), 404);
    expect(s.call("GET", "Binary?_id=cert1-body", Some(&d9), None), 403);
}
