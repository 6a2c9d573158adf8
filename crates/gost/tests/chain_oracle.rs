//! Certification paths made by OpenSSL (`openssl ca`, with the GOST engine) checked by
//! [`TrustStore::check`], with `openssl verify` as the oracle where it has an opinion: root →
//! intermediate → signer for GOST-256, GOST-512, P-256 and a mixed path; an untrusted root; an
//! issuer that is not a CA; a tampered certificate signature; a revoked signer; CRLs signed by
//! another key; a stale CRL; an expired intermediate; the path-length limits.
//!
//! Skips loudly without the GOST engine unless `ZDRAV_REQUIRE_GOST=1` (CI).

mod pki;

use pki::{engine_or_skip, Id, Kind, Pki, VALID};
use zdrav_gost::{verify_detached, ChainError, TrustStore};

const BODY: &[u8] = "Протокол № 7\r\nГемоглобин 140 г/л\n".as_bytes();

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn store(roots: &[&Id]) -> TrustStore {
    let mut t = TrustStore::new();
    for r in roots {
        t.add_certificates(&std::fs::read(&r.cert).expect("read root"))
            .expect("root loads");
    }
    t
}

/// Root, intermediate and signer of the given kinds, valid now.
fn chain(p: &Pki, kinds: [Kind; 3]) -> (Id, Id, Id) {
    let root = p.root(kinds[0], "/CN=Тестовый головной УЦ/O=Минцифры", VALID);
    let inter = p.issue(
        &root,
        kinds[1],
        "/CN=Тестовый УЦ ГБУЗ/OGRN=1027700132195",
        "ca_ext",
        VALID,
    );
    let signer = p.issue(
        &inter,
        kinds[2],
        "/SNILS=11223344595/CN=Иванов Иван Иванович",
        "signer_ext",
        VALID,
    );
    (root, inter, signer)
}

/// Verifies the CMS of `signer` (carrying `carried`) and checks its chain in `trust` at `at`.
fn check(
    p: &Pki,
    trust: &TrustStore,
    signer: &Id,
    carried: &[&Id],
    at: i64,
) -> Result<Vec<String>, ChainError> {
    let sig = p.sign(signer, carried, BODY);
    let s = verify_detached(&sig, BODY)
        .expect("the CMS signature itself verifies")
        .remove(0);
    assert_eq!(
        s.certificate_der, signer.der,
        "the signer's certificate as carried"
    );
    assert_eq!(s.cms_certificates.len(), 1 + carried.len());
    trust
        .check(&s.certificate_der, &s.cms_certificates, at)
        .map(|c| c.subjects)
}

#[test]
fn accepted_chains_of_every_algorithm() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    for kinds in [
        [Kind::Gost256; 3],
        [Kind::Gost512; 3],
        [Kind::P256; 3],
        [Kind::Gost512, Kind::Gost256, Kind::Gost256],
    ] {
        let (root, inter, signer) = chain(&p, kinds);
        assert!(
            p.openssl_verifies(&root, &[&inter], &[], &signer),
            "{kinds:?}: openssl accepts"
        );
        let trust = store(&[&root]);
        let subjects = check(&p, &trust, &signer, &[&inter], now())
            .unwrap_or_else(|e| panic!("{kinds:?}: refused: {e}"));
        assert_eq!(
            subjects,
            [
                "«Иванов Иван Иванович»",
                "«Тестовый УЦ ГБУЗ»",
                "«Тестовый головной УЦ»"
            ],
            "{kinds:?}"
        );
        // The root carried in the CMS too changes nothing; the intermediate trusted directly
        // is enough without carrying it.
        assert!(check(&p, &trust, &signer, &[&inter, &root], now()).is_ok());
        assert!(check(&p, &store(&[&inter]), &signer, &[], now()).is_ok());
        // Without the intermediate, its issuer is unknown (to a store that has not checked
        // this signer's path before: a checked path is remembered).
        let e = check(&p, &store(&[&root]), &signer, &[], now()).expect_err("no intermediate");
        assert!(
            matches!(&e, ChainError::UnknownIssuer { issuer, .. } if issuer == "«Тестовый УЦ ГБУЗ»"),
            "{kinds:?}: {e}"
        );
        // Before the signer's notBefore nothing is valid.
        let e = check(&p, &trust, &signer, &[&inter], 1_600_000_000).expect_err("too early");
        assert!(matches!(e, ChainError::NotValidAt { .. }), "{e}");
    }
}

#[test]
fn untrusted_roots_are_refused() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    let (root, _, _) = chain(&p, [Kind::Gost256; 3]);
    let (other_root, other_inter, other_signer) = chain(&p, [Kind::Gost256; 3]);
    let trust = store(&[&root]);
    assert!(!p.openssl_verifies(&root, &[&other_inter], &[], &other_signer));
    // Same names as the trusted CAs, other keys: the key identifiers tell them apart.
    let e = check(
        &p,
        &trust,
        &other_signer,
        &[&other_inter, &other_root],
        now(),
    )
    .expect_err("other root");
    assert_eq!(
        e,
        ChainError::UntrustedRoot {
            subject: "«Тестовый головной УЦ»".into()
        },
        "{e}"
    );
    let e = check(&p, &trust, &other_signer, &[&other_inter], now()).expect_err("other root");
    assert!(matches!(e, ChainError::UnknownIssuer { .. }), "{e}");
    // A self-signed signer.
    let selfsigned = p.root(Kind::Gost256, "/SNILS=11223344595/CN=Сам Себе", VALID);
    let e = check(&p, &trust, &selfsigned, &[], now()).expect_err("self-signed");
    assert_eq!(
        e.to_string(),
        "the root certificate «Сам Себе» is not a trusted CA"
    );
}

#[test]
fn issuer_that_is_not_a_ca_is_refused() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    for kind in [Kind::Gost256, Kind::P256] {
        let root = p.root(kind, "/CN=Корневой УЦ", VALID);
        let fake = p.issue(&root, kind, "/CN=Не УЦ", "not_ca_ext", VALID);
        let signer = p.issue(
            &fake,
            kind,
            "/SNILS=11223344595/CN=Врач",
            "signer_ext",
            VALID,
        );
        assert!(
            !p.openssl_verifies(&root, &[&fake], &[], &signer),
            "openssl refuses too"
        );
        let e = check(&p, &store(&[&root]), &signer, &[&fake], now()).expect_err("not a CA");
        assert!(
            matches!(&e, ChainError::NotCa { subject, .. } if subject == "«Не УЦ»"),
            "{kind:?}: {e}"
        );
        assert!(
            e.to_string().contains("basicConstraints cA is false"),
            "{e}"
        );
        // Nor can it be trusted as a CA.
        let refused = TrustStore::new()
            .add_certificates(&fake.der)
            .expect_err("not a CA");
        assert!(
            refused.to_string().contains("not a CA certificate"),
            "{refused}"
        );
    }
}

#[test]
fn tampered_certificate_signature_is_refused() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    for kinds in [[Kind::Gost256; 3], [Kind::Gost512; 3], [Kind::P256; 3]] {
        let (root, inter, signer) = chain(&p, kinds);
        let trust = store(&[&root]);
        let mut bad = signer.der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let e = trust
            .check(&bad, std::slice::from_ref(&inter.der), now())
            .expect_err("tampered signer");
        assert_eq!(
            e,
            ChainError::BadSignature {
                subject: "«Иванов Иван Иванович»".into(),
                issuer: "«Тестовый УЦ ГБУЗ»".into()
            },
            "{kinds:?}"
        );
        // A changed byte of the signed part (the serial) breaks the intermediate's signature.
        let mut changed = inter.der.clone();
        // Certificate and TBSCertificate SEQUENCEs (4 bytes each), version [0] (5), then serial.
        assert_eq!(changed[13], 0x02, "serial INTEGER");
        let last_of_serial = 14 + usize::from(changed[14]);
        changed[last_of_serial] ^= 0x40;
        let e = trust
            .check(&signer.der, &[changed], now())
            .expect_err("tampered intermediate");
        assert!(
            matches!(&e, ChainError::BadSignature { subject, .. } if subject == "«Тестовый УЦ ГБУЗ»"),
            "{kinds:?}: {e}"
        );
    }
}

#[test]
fn revoked_signer_is_refused() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    for kinds in [[Kind::Gost256; 3], [Kind::Gost512; 3], [Kind::P256; 3]] {
        let (root, inter, signer) = chain(&p, kinds);
        let root_crl = p.crl(&root, 48, true);
        let good_crl = p.crl(&inter, 48, true);
        let mut trust = store(&[&root]);
        trust
            .add_crls(&std::fs::read(&root_crl).expect("crl"))
            .expect("root CRL loads");
        trust
            .add_crls(&std::fs::read(&good_crl).expect("crl"))
            .expect("CRL loads");
        assert!(
            check(&p, &trust, &signer, &[&inter], now()).is_ok(),
            "{kinds:?}: not yet revoked"
        );

        p.revoke(&inter, &signer);
        let crl = p.crl(&inter, 48, true);
        assert!(
            !p.openssl_verifies(&root, &[&inter], &[&root_crl, &crl], &signer),
            "openssl refuses"
        );
        let mut trust = store(&[&root]);
        trust
            .add_crls(&std::fs::read(&crl).expect("crl"))
            .expect("CRL loads");
        let e = check(&p, &trust, &signer, &[&inter], now()).expect_err("revoked");
        let ChainError::Revoked {
            subject,
            serial,
            issuer,
            revoked_at,
        } = &e
        else {
            panic!("{kinds:?}: {e}");
        };
        assert_eq!(subject, "«Иванов Иван Иванович»");
        assert_eq!(issuer, "«Тестовый УЦ ГБУЗ»");
        let openssl_serial = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(&signer.cert)
            .output()
            .expect("openssl x509");
        assert_eq!(
            format!("serial={serial}"),
            String::from_utf8_lossy(&openssl_serial.stdout).trim()
        );
        assert!(revoked_at.starts_with("20"), "{revoked_at}");
        assert!(
            e.to_string()
                .contains("is revoked by «Тестовый УЦ ГБУЗ» since"),
            "{e}"
        );
    }
}

#[test]
fn crl_of_another_key_and_stale_crl() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    let (root, inter, signer) = chain(&p, [Kind::Gost256; 3]);
    // An impostor CA with the intermediate's name and another key.
    let impostor = p.root(
        Kind::Gost256,
        "/CN=Тестовый УЦ ГБУЗ/OGRN=1027700132195",
        VALID,
    );
    p.revoke(&impostor, &signer);
    // Without a key identifier the impostor's CRL names the intermediate and cannot be
    // trusted: the path is refused rather than checked against nothing.
    let mut trust = store(&[&root]);
    trust
        .add_crls(&std::fs::read(p.crl(&impostor, 48, false)).expect("crl"))
        .expect("an intermediate's CRL is checked when used");
    let e = check(&p, &trust, &signer, &[&inter], now()).expect_err("forged CRL");
    assert_eq!(
        e,
        ChainError::BadCrlSignature {
            issuer: "«Тестовый УЦ ГБУЗ»".into()
        }
    );
    // With its key identifier it is about another key's certificates: ignored.
    let mut trust = store(&[&root]);
    trust
        .add_crls(&std::fs::read(p.crl(&impostor, 48, true)).expect("crl"))
        .expect("loads");
    assert!(check(&p, &trust, &signer, &[&inter], now()).is_ok());
    // A CRL naming a trusted CA must verify with its key at load.
    let fake_root = p.root(Kind::Gost256, "/CN=Тестовый головной УЦ/O=Минцифры", VALID);
    let e = store(&[&root])
        .add_crls(&std::fs::read(p.crl(&fake_root, 48, true)).expect("crl"))
        .expect_err("forged root CRL");
    assert!(
        e.to_string().contains("does not verify with the key"),
        "{e}"
    );

    // A CRL of one hour, checked two days later: stale.
    let mut trust = store(&[&root]);
    trust
        .add_crls(&std::fs::read(p.crl(&inter, 1, true)).expect("crl"))
        .expect("loads");
    assert!(check(&p, &trust, &signer, &[&inter], now()).is_ok());
    let e = check(&p, &trust, &signer, &[&inter], now() + 2 * 86_400).expect_err("stale");
    assert!(matches!(e, ChainError::StaleCrl { .. }), "{e}");
    assert!(e.to_string().contains("is out of date"), "{e}");
}

#[test]
fn expired_intermediate_is_refused() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    for kind in [Kind::Gost256, Kind::Gost512, Kind::P256] {
        let root = p.root(kind, "/CN=Корневой УЦ", VALID);
        let old = p.issue(
            &root,
            kind,
            "/CN=Старый УЦ",
            "ca_ext",
            ("20200101000000Z", "20230101000000Z"),
        );
        let signer = p.issue(
            &old,
            kind,
            "/SNILS=11223344595/CN=Врач",
            "signer_ext",
            VALID,
        );
        assert!(
            !p.openssl_verifies(&root, &[&old], &[], &signer),
            "openssl refuses"
        );
        let e = check(&p, &store(&[&root]), &signer, &[&old], now()).expect_err("expired CA");
        assert!(
            matches!(&e, ChainError::NotValidAt { subject, not_after, .. }
                if subject == "«Старый УЦ»" && not_after == "2023-01-01T00:00:00Z"),
            "{kind:?}: {e}"
        );
    }
}

#[test]
fn path_length_is_limited() {
    if !engine_or_skip() {
        return;
    }
    let p = Pki::new();
    let root = p.root(Kind::P256, "/CN=Корень", VALID);
    let mut cas = vec![root];
    for n in 0..8 {
        let parent = cas.last().expect("a CA");
        let next = p.issue(parent, Kind::P256, &format!("/CN=УЦ {n}"), "ca_ext", VALID);
        cas.push(next);
    }
    let signer = p.issue(
        cas.last().expect("a CA"),
        Kind::P256,
        "/CN=Врач",
        "signer_ext",
        VALID,
    );
    let trust = store(&[&cas[0]]);
    let carried: Vec<&Id> = cas[1..].iter().collect();
    let e = check(&p, &trust, &signer, &carried, now()).expect_err("too long");
    assert!(matches!(e, ChainError::PathTooLong(_)), "{e}");
    // Trusting a CA deeper down shortens the path to within the limit.
    let trust = store(&[&cas[3]]);
    assert!(check(&p, &trust, &signer, &carried, now()).is_ok());
}
