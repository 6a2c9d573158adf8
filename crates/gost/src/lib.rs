//! Verification of the electronic signatures on zdrav's legally significant medical documents.
//!
//! A signed document (issue 9) arrives as its exact bytes plus a detached CMS/PKCS#7 signature
//! (DER, `application/pkcs7-signature`). [`verify_detached`] checks every SignerInfo in it with
//! the algorithms of Russian qualified signatures — GOST R 34.10-2012 (256- and 512-bit keys)
//! over GOST R 34.11-2012 "Streebog" digests — or ECDSA P-256 with SHA-256, including the
//! messageDigest signed attribute, and reports each signer certificate's subject identifiers
//! (СНИЛС, ОГРН, ИНН, ИНН ЮЛ, names) and validity period. Whether the certificate was issued
//! by a trusted certification centre (УЦ) and is not revoked is [`TrustStore::check`]: it builds
//! the path from the signer's certificate to a trusted CA certificate, with the certificates the
//! CMS carries ([`Signer::cms_certificates`]) as intermediates, verifies each certificate's
//! signature, validity, CA constraints and the loaded CRLs at a given time.
//! Pure: no HTTP, no SQL, no system crypto library. The GOST curve arithmetic is written here
//! (see `curve.rs` for why) and proven with the standard's own examples.

#![warn(missing_docs)]

mod cert;
mod chain;
mod cms;
mod curve;
mod der_util;
mod field;
mod oid;
mod params;
mod trust;

pub use chain::MAX_PATH;
pub use trust::{Chain, ChainError, LoadError, TrustStore};

use std::fmt;

use streebog::{Digest, Streebog256, Streebog512};

/// A signature algorithm this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// GOST R 34.10-2012 with a 256-bit key and GOST R 34.11-2012 (Streebog-256).
    Gost256,
    /// GOST R 34.10-2012 with a 512-bit key and GOST R 34.11-2012 (Streebog-512).
    Gost512,
    /// ECDSA over NIST P-256 with SHA-256.
    EcdsaP256,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Gost256 => "GOST R 34.10-2012 256-bit",
            Algorithm::Gost512 => "GOST R 34.10-2012 512-bit",
            Algorithm::EcdsaP256 => "ECDSA P-256",
        })
    }
}

/// A signer whose signature verified, as its certificate describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The algorithm of the signer's key and signature.
    pub algorithm: Algorithm,
    /// СНИЛС (subject attribute OID 1.2.643.100.3), as written in the certificate.
    pub subject_snils: Option<String>,
    /// ОГРН (OID 1.2.643.100.1) of the organisation the certificate was issued for.
    pub subject_ogrn: Option<String>,
    /// ИНН of the person (OID 1.2.643.3.131.1.1).
    pub subject_inn: Option<String>,
    /// ИНН ЮЛ, the legal entity's INN (OID 1.2.643.100.4).
    pub subject_inn_le: Option<String>,
    /// Subject commonName (2.5.4.3).
    pub common_name: Option<String>,
    /// Subject surname (2.5.4.4).
    pub surname: Option<String>,
    /// Subject givenName (2.5.4.42): in Russian certificates, first name and patronymic.
    pub given_name: Option<String>,
    /// Certificate notBefore, Unix seconds.
    pub not_before: i64,
    /// Certificate notAfter, Unix seconds.
    pub not_after: i64,
    /// The signingTime signed attribute (the signer's own claim), Unix seconds, if present.
    pub signing_time: Option<i64>,
    /// The signer certificate, DER, as the CMS carries it.
    pub certificate_der: Vec<u8>,
    /// Every certificate the CMS carries (the signer's and any intermediates), DER as carried:
    /// the candidate issuers for [`TrustStore::check`].
    pub cms_certificates: Vec<Vec<u8>>,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The CMS structure is not valid DER SignedData, or is inconsistent.
    #[error("malformed CMS signature: {0}")]
    Malformed(String),
    /// A key, curve, digest or signature algorithm this crate does not verify.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The document's digest differs from the signed messageDigest attribute.
    #[error("the document does not match the signature: its digest differs from the signed messageDigest")]
    DigestMismatch,
    /// The signature value does not verify with the signer certificate's public key.
    #[error("the signature value does not verify with the signer certificate's public key")]
    BadSignature,
    /// The SignedData has no SignerInfo.
    #[error("the CMS signature has no signer")]
    NoSigner,
    /// The certificate named by a SignerInfo is not among the CMS certificates.
    #[error("the signer's certificate is not included in the CMS signature")]
    MissingCertificate,
    /// The signer certificate's public key cannot be used.
    #[error("unusable signer certificate: {0}")]
    BadCertificate(String),
}

/// Verifies a detached CMS signature over `content`; returns every signer (all must verify).
///
/// `cms_der` is a DER ContentInfo of type signedData whose signer certificates are embedded.
/// If it also embeds content, that content must equal `content`.
pub fn verify_detached(cms_der: &[u8], content: &[u8]) -> Result<Vec<Signer>, Error> {
    cms::verify_detached(cms_der, &Content::new(content))
}

/// [`verify_detached`] of one of several signatures over the same content: its digests are
/// made once for all of them (a document carries the doctor's and the organisation's).
pub fn verify_detached_content(cms_der: &[u8], content: &Content) -> Result<Vec<Signer>, Error> {
    cms::verify_detached(cms_der, content)
}

/// Signed content, with each digest of it computed on first use and then remembered.
pub struct Content<'a> {
    bytes: &'a [u8],
    digests: [std::sync::OnceLock<Vec<u8>>; 3],
}

impl<'a> Content<'a> {
    /// The content `bytes`, no digest made yet.
    pub fn new(bytes: &'a [u8]) -> Content<'a> {
        Content {
            bytes,
            digests: Default::default(),
        }
    }

    /// The content itself.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The content's digest by the hash of `algorithm`.
    pub fn digest(&self, algorithm: Algorithm) -> &[u8] {
        let slot = match algorithm {
            Algorithm::Gost256 => 0,
            Algorithm::Gost512 => 1,
            Algorithm::EcdsaP256 => 2,
        };
        self.digests[slot].get_or_init(|| cms::hash(algorithm, self.bytes))
    }
}

/// GOST R 34.11-2012 (Streebog) 256-bit digest, in the byte order OpenSSL and CMS use.
pub fn streebog256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Streebog256::digest(data));
    out
}

/// GOST R 34.11-2012 (Streebog) 512-bit digest, in the byte order OpenSSL and CMS use.
pub fn streebog512(data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(&Streebog512::digest(data));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// GOST R 34.11-2012 appendix A, message M1 ("0123…012", 63 bytes). The standard prints
    /// digests as big-endian numbers; the byte output is the reverse.
    const M1: &[u8] = b"012345678901234567890123456789012345678901234567890123456789012";

    #[test]
    fn streebog_m1_256() {
        assert_eq!(
            hex(&streebog256(M1)),
            "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"
        );
        let mut standard = streebog256(M1);
        standard.reverse();
        assert_eq!(
            hex(&standard),
            "00557be5e584fd52a449b16b0251d05d27f94ab76cbaa6da890b59d8ef1e159d"
        );
    }

    #[test]
    fn streebog_m1_512() {
        assert_eq!(
            hex(&streebog512(M1)),
            "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa\
             00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
        );
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            verify_detached(b"", b"x"),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            verify_detached(&[0x30, 0x03, 0x02, 0x01, 0x01], b"x"),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn errors_display_in_english() {
        assert_eq!(
            Error::BadSignature.to_string(),
            "the signature value does not verify with the signer certificate's public key"
        );
        assert_eq!(Algorithm::Gost512.to_string(), "GOST R 34.10-2012 512-bit");
    }
}
