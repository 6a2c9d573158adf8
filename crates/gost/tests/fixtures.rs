//! Signatures made once by OpenSSL 3.0 + gost-engine 3.0.1 (see `data/README.md`), so the CMS
//! path is tested even where the engine is not installed.

use zdrav_gost::{verify_detached, Algorithm, Error};

const BODY: &[u8] = include_bytes!("data/body.txt");

fn check(sig: &[u8], algorithm: Algorithm) {
    let signers = verify_detached(sig, BODY).expect("fixture verifies");
    assert_eq!(signers.len(), 1);
    let s = &signers[0];
    assert_eq!(s.algorithm, algorithm);
    assert_eq!(s.subject_snils.as_deref(), Some("11223344595"));
    assert_eq!(s.subject_ogrn.as_deref(), Some("1027700132195"));
    assert_eq!(s.not_after - s.not_before, 365 * 86_400);
    let t = s.signing_time.expect("signingTime");
    assert!(s.not_before <= t && t <= s.not_after);

    let mut changed = BODY.to_vec();
    changed.push(b'\n');
    assert_eq!(verify_detached(sig, &changed), Err(Error::DigestMismatch));
    // A flipped bit in the last byte of the DER: the signature value itself.
    let mut bad = sig.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    assert_eq!(verify_detached(&bad, BODY), Err(Error::BadSignature));
    // Truncated DER.
    assert!(matches!(
        verify_detached(&sig[..sig.len() - 10], BODY),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn gost_256_cryptopro_a() {
    check(include_bytes!("data/gost256.p7s"), Algorithm::Gost256);
}

#[test]
fn gost_512_tc26_a() {
    check(include_bytes!("data/gost512.p7s"), Algorithm::Gost512);
}

#[test]
fn ecdsa_p256_sha256() {
    check(include_bytes!("data/p256.p7s"), Algorithm::EcdsaP256);
}

#[test]
fn gost_subject_names() {
    let s = verify_detached(include_bytes!("data/gost512.p7s"), BODY)
        .expect("verifies")
        .remove(0);
    assert_eq!(s.subject_inn.as_deref(), Some("007707083893"));
    assert_eq!(s.subject_inn_le.as_deref(), Some("7707083893"));
    assert_eq!(s.common_name.as_deref(), Some("Иванов Иван Иванович"));
    assert_eq!(s.surname.as_deref(), Some("Иванов"));
    assert_eq!(s.given_name.as_deref(), Some("Иван Иванович"));
}

#[test]
fn signature_of_another_document_is_refused() {
    let sig = include_bytes!("data/gost256.p7s");
    assert_eq!(verify_detached(sig, b""), Err(Error::DigestMismatch));
}
