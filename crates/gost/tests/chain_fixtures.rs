//! A certification path made once by OpenSSL with the GOST engine (see `data/chain/README.md`),
//! so chain checking is tested where the engine is not installed.

use zdrav_gost::{verify_detached, ChainError, TrustStore};

const BODY: &[u8] = include_bytes!("data/body.txt");
const ROOT_DER: &[u8] = include_bytes!("data/chain/root.der");
const ROOT_PEM: &[u8] = include_bytes!("data/chain/root.pem");
const INTER: &[u8] = include_bytes!("data/chain/inter.der");
const SIGNER: &[u8] = include_bytes!("data/chain/signer.der");
const SIG: &[u8] = include_bytes!("data/chain/chain256.p7s");
const CRL: &[u8] = include_bytes!("data/chain/inter-revoked.crl");
/// 2027-01-15, inside every validity period and the CRL's.
const AT: i64 = 1_800_000_000;

fn trusted() -> TrustStore {
    let mut t = TrustStore::new();
    assert_eq!(
        t.add_certificates(ROOT_PEM),
        Ok(1),
        "PEM after openssl's text"
    );
    t
}

#[test]
fn carried_intermediate_completes_the_path() {
    let s = verify_detached(SIG, BODY).expect("verifies").remove(0);
    assert_eq!(s.certificate_der, SIGNER);
    assert_eq!(s.cms_certificates.len(), 2);
    assert!(s.cms_certificates.iter().any(|c| c == INTER));
    let chain = trusted()
        .check(&s.certificate_der, &s.cms_certificates, AT)
        .expect("trusted");
    assert_eq!(chain.certificates, [SIGNER, INTER, ROOT_DER]);
    assert_eq!(
        chain.subjects,
        [
            "«Иванов Иван Иванович»",
            "«Тестовый УЦ ГБУЗ»",
            "«Тестовый головной УЦ»"
        ]
    );
    // DER loads the same.
    let mut der = TrustStore::new();
    der.add_certificates(ROOT_DER).expect("DER root");
    assert!(der.check(SIGNER, &[INTER.to_vec()], AT).is_ok());
}

#[test]
fn empty_store_and_missing_intermediate_are_refused() {
    assert!(matches!(
        TrustStore::new().check(SIGNER, &[INTER.to_vec()], AT),
        Err(ChainError::UntrustedRoot { .. }) | Err(ChainError::UnknownIssuer { .. })
    ));
    assert_eq!(
        trusted().check(SIGNER, &[], AT).map(|c| c.subjects),
        Err(ChainError::UnknownIssuer {
            subject: "«Иванов Иван Иванович»".into(),
            issuer: "«Тестовый УЦ ГБУЗ»".into()
        })
    );
}

#[test]
fn every_signature_of_the_path_counts() {
    // The last byte of each certificate is its signature value's.
    for (which, name) in [
        (SIGNER, "«Иванов Иван Иванович»"),
        (INTER, "«Тестовый УЦ ГБУЗ»"),
    ] {
        let mut bad = which.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let (signer, inter) = if which == SIGNER {
            (bad, INTER.to_vec())
        } else {
            (SIGNER.to_vec(), bad)
        };
        match trusted().check(&signer, &[inter], AT) {
            Err(ChainError::BadSignature { subject, .. }) => assert_eq!(subject, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let e = trusted()
        .check(SIGNER, &[INTER.to_vec()], 2_400_000_000)
        .expect_err("2046");
    assert_eq!(
        e.to_string(),
        "certificate «Иванов Иван Иванович» was not valid at 2046-01-19T18:40:00Z (valid 2024-01-01T00:00:00Z to 2044-01-01T00:00:00Z)"
    );
}

#[test]
fn revoked_signer_is_refused() {
    let mut t = trusted();
    assert_eq!(t.add_crls(CRL), Ok(1));
    let e = t.check(SIGNER, &[INTER.to_vec()], AT).expect_err("revoked");
    let ChainError::Revoked { serial, issuer, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(serial, "2000");
    assert_eq!(issuer, "«Тестовый УЦ ГБУЗ»");
    // The CRL only counts if signed by the intermediate: a changed signature refuses the path.
    let mut forged = CRL.to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let mut t = trusted();
    t.add_crls(&forged)
        .expect("an intermediate's CRL is verified when used");
    assert_eq!(
        t.check(SIGNER, &[INTER.to_vec()], AT),
        Err(ChainError::BadCrlSignature {
            issuer: "«Тестовый УЦ ГБУЗ»".into()
        })
    );
}

#[test]
fn bad_files_are_refused_at_load() {
    let mut t = TrustStore::new();
    assert!(t.add_certificates(b"junk").is_err());
    let e = t.add_certificates(SIGNER).expect_err("not a CA");
    assert!(e.to_string().contains("is not a CA certificate"), "{e}");
    let e = t
        .add_crls(ROOT_PEM)
        .expect_err("a certificate is not a CRL");
    assert!(e.to_string().contains("expected X509 CRL"), "{e}");
    assert!(t.is_empty());
}

/// A path checked once is remembered for its signer, but only inside the times it holds for:
/// before or after the certificates' validity the full check runs again and refuses, and a
/// missing intermediate is still needed the first time.
#[test]
fn remembered_paths_hold_only_where_they_were_valid() {
    let t = trusted();
    assert!(t.check(SIGNER, &[], AT).is_err(), "nothing remembered yet");
    let first = t.check(SIGNER, &[INTER.to_vec()], AT).expect("trusted");
    // The same signer again, now without the intermediate: the remembered path answers.
    assert_eq!(t.check(SIGNER, &[], AT + 86_400), Ok(first.clone()));
    // 2045 is after every certificate of the path: refused, remembered or not.
    assert!(matches!(
        t.check(SIGNER, &[INTER.to_vec()], 2_366_841_600),
        Err(ChainError::NotValidAt { .. })
    ));
    // 2020 is before them.
    assert!(matches!(
        t.check(SIGNER, &[], 1_577_836_800),
        Err(ChainError::NotValidAt { .. })
    ));
    // Another store does not share the memory.
    assert!(trusted().check(SIGNER, &[], AT).is_err());
}
