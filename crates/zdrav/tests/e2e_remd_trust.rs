//! РЭМД registration with trusted certification centres (issue 9): `serve --trusted-ca ROOT`
//! accepts documents signed under that root (root → intermediate → signer, made by `openssl ca`,
//! the intermediate carried in the signature) and refuses self-signed and other-CA signers
//! with the reason and the signature's place; with `--crl`, a revoked doctor's signature is
//! refused. Bad trust files fail startup. P-256 always; GOST with the OpenSSL GOST engine
//! (mandatory in CI). Runs on SQLite and (in CI) PostgreSQL.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::remd::{gost_engine, registration, Kind, Openssl, VALID};
use common::{expect, Server};

/// A 422 business-rule refusal whose diagnostics contain `words`, at `expression`.
fn refused_with(r: reqwest::blocking::Response, words: &str, expression: &str) {
    let v = expect(r, 422);
    assert_eq!(v["issue"][0]["code"], "business-rule", "{v}");
    let text = v["issue"][0]["diagnostics"].as_str().unwrap_or("");
    assert!(text.contains(words), "expected '{words}' in: {v}");
    assert_eq!(v["issue"][0]["expression"][0], expression, "{v}");
}

const DOCTOR_SIG: &str = "Bundle.entry[2].resource.signature[0].data";

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// Registrations under the trusted root pass; self-signed and other-CA signers do not.
fn trusted_and_untrusted(doctor_kind: Kind, clinic_kind: Kind, ca_kinds: (Kind, Kind)) {
    let o = Openssl::new();
    let root = o.root(ca_kinds.0, "/CN=Тестовый головной УЦ");
    let inter = o.intermediate(&root, ca_kinds.1, "/CN=Тестовый УЦ здравоохранения");
    let (doctor, clinic) = o.author_and_clinic_of(&inter, doctor_kind, clinic_kind);
    let s = Server::start_with(&["--trusted-ca", path(&root.cert)]);
    common::remd::clinic(&s, None);
    let body = "Протокол лабораторного исследования № 1\r\nГемоглобин 140 г/л\n".as_bytes();
    expect(
        s.post(
            "",
            &registration("ok1", body, &o.both(&doctor, &clinic, body), None),
        ),
        200,
    );

    // A self-signed doctor: the same СНИЛС, but nobody vouches for it.
    let selfsigned = o.signer(
        doctor_kind,
        "/SNILS=11223344595/CN=Иванов Иван",
        VALID.0,
        VALID.1,
    );
    let signed = vec![
        ("Practitioner/doc1", o.sign(&selfsigned, body)),
        ("Organization/org1", o.sign(&clinic, body)),
    ];
    refused_with(
        s.post("", &registration("bad1", body, &signed, None)),
        "the signer's certificate is not trusted: the root certificate «Иванов Иван» is not a trusted CA",
        DOCTOR_SIG,
    );
    // A doctor of another certification centre.
    let other_root = o.root(ca_kinds.0, "/CN=Посторонний УЦ");
    let other = o.signer_of(
        &other_root,
        doctor_kind,
        "/SNILS=11223344595/CN=Иванов Иван",
    );
    let signed = vec![
        ("Practitioner/doc1", o.sign(&other, body)),
        ("Organization/org1", o.sign(&clinic, body)),
    ];
    refused_with(
        s.post("", &registration("bad2", body, &signed, None)),
        "the issuer «Посторонний УЦ» of certificate «Иванов Иван» is unknown",
        DOCTOR_SIG,
    );
    for bad in ["bad1", "bad2"] {
        expect(s.get(&format!("DocumentReference/{bad}")), 404);
    }
    // The same signatures pass without --trusted-ca (the local/demo mode).
    let demo = Server::start();
    common::remd::clinic(&demo, None);
    expect(
        demo.post("", &registration("bad2", body, &signed, None)),
        200,
    );
}

#[test]
fn p256_chain_is_trusted_and_others_are_refused() {
    trusted_and_untrusted(Kind::P256, Kind::P256, (Kind::P256, Kind::P256));
}

#[test]
fn gost_chain_is_trusted_and_others_are_refused() {
    if !gost_engine() {
        eprintln!("\n*** SKIPPED: openssl gost engine not installed ***\n");
        return;
    }
    trusted_and_untrusted(Kind::Gost256, Kind::Gost512, (Kind::Gost512, Kind::Gost256));
}

#[test]
fn revoked_doctor_is_refused_with_the_crl() {
    let gost = gost_engine();
    let kind = if gost { Kind::Gost256 } else { Kind::P256 };
    let o = Openssl::new();
    let root = o.root(kind, "/CN=Тестовый головной УЦ");
    let inter = o.intermediate(&root, kind, "/CN=Тестовый УЦ здравоохранения");
    let (doctor, clinic) = o.author_and_clinic_of(&inter, kind, kind);
    let body = "Выписной эпикриз\nДиагноз: J18.9\n".as_bytes();
    let signed = o.both(&doctor, &clinic, body);
    let before = o.crl(&inter);
    let crl = o.revoke(&inter, &doctor);

    // With the CRL of before the revocation, the doctor still signs.
    let s = Server::start_with(&["--trusted-ca", path(&root.cert), "--crl", path(&before)]);
    common::remd::clinic(&s, None);
    expect(s.post("", &registration("d1", body, &signed, None)), 200);
    drop(s);

    let s = Server::start_with(&["--trusted-ca", path(&root.cert), "--crl", path(&crl)]);
    common::remd::clinic(&s, None);
    refused_with(
        s.post("", &registration("d2", body, &signed, None)),
        "is revoked by «Тестовый УЦ здравоохранения» since",
        DOCTOR_SIG,
    );
    expect(s.get("DocumentReference/d2"), 404);
    // A new certificate of the same doctor is not revoked.
    let renewed = o.signer_of(&inter, kind, "/SNILS=11223344595/CN=Иванов Иван");
    let signed = o.both(&renewed, &clinic, body);
    expect(s.post("", &registration("d3", body, &signed, None)), 200);
}

/// `zdrav serve` with `args` must exit at once, saying `words` on stderr.
fn fails_to_start(args: &[&str], words: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("z.db").display());
    let port = common::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(common::bin())
        .args(["serve", "--no-auth", "--listen", &listen, "--database", &db])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zdrav serve {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(words), "expected '{words}' in: {err}");
}

#[test]
fn bad_trust_files_fail_startup() {
    let o = Openssl::new();
    let root = o.root(Kind::P256, "/CN=Тестовый головной УЦ");
    let doctor = o.signer_of(&root, Kind::P256, "/SNILS=11223344595/CN=Иванов Иван");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let crl = o.crl(&root);
    fails_to_start(
        &["--trusted-ca", path(&doctor.cert)],
        "is not a CA certificate",
    );
    fails_to_start(
        &["--trusted-ca", path(&junk)],
        &format!("--trusted-ca {}", junk.display()),
    );
    fails_to_start(&["--trusted-ca", "/nonexistent/root.pem"], "cannot read");
    fails_to_start(&["--crl", path(&crl)], "needs --trusted-ca");
    // A CRL naming the trusted root but signed by another key of the same name.
    let impostor = o.root(Kind::P256, "/CN=Тестовый головной УЦ");
    fails_to_start(
        &[
            "--trusted-ca",
            path(&root.cert),
            "--crl",
            path(&o.crl(&impostor)),
        ],
        "does not verify with the key",
    );
}
