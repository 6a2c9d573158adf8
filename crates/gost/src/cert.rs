//! What is read from a certificate: the subject's Russian identifiers, the validity period, the
//! key identifiers and the public key, and the check of a signature made with that key over a
//! signed structure (a certificate or CRL issued by it). Chains, trust and revocation are
//! `trust.rs`/`chain.rs`.

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Any, Decode, Tag, Tagged};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::curve::{GostCurve, GostKey};
use crate::{der_util, oid, params, Algorithm, Error};

/// The subject attributes reported for a signer.
#[derive(Debug, Default)]
pub(crate) struct Subject {
    pub snils: Option<String>,
    pub ogrn: Option<String>,
    pub inn: Option<String>,
    pub inn_le: Option<String>,
    pub common_name: Option<String>,
    pub surname: Option<String>,
    pub given_name: Option<String>,
}

/// Reads the subject's identifiers and names (first occurrence of each attribute wins).
pub(crate) fn subject(cert: &Certificate) -> Subject {
    let mut out = Subject::default();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            let slot = match atv.oid {
                o if o == oid::SNILS => &mut out.snils,
                o if o == oid::OGRN => &mut out.ogrn,
                o if o == oid::INN => &mut out.inn,
                o if o == oid::INN_LE => &mut out.inn_le,
                o if o == oid::COMMON_NAME => &mut out.common_name,
                o if o == oid::SURNAME => &mut out.surname,
                o if o == oid::GIVEN_NAME => &mut out.given_name,
                _ => continue,
            };
            if slot.is_none() {
                *slot = directory_string(&atv.value);
            }
        }
    }
    out
}

/// The text of an attribute value in any of the string types certificates use.
pub(crate) fn directory_string(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::NumericString
        | Tag::Ia5String
        | Tag::VisibleString => String::from_utf8(bytes.to_vec()).ok(),
        // T.61 in theory; in practice Latin-1 when it is used at all.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// notBefore and notAfter in Unix seconds.
pub(crate) fn validity(cert: &Certificate) -> (i64, i64) {
    let secs = |t: x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    let v = &cert.tbs_certificate.validity;
    (secs(v.not_before), secs(v.not_after))
}

/// The subjectKeyIdentifier extension's key identifier, if any.
pub(crate) fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid::SUBJECT_KEY_ID)?;
    let id = OctetString::from_der(ext.extn_value.as_bytes()).ok()?;
    Some(id.as_bytes().to_vec())
}

/// The authorityKeyIdentifier extension's key identifier, if any.
pub(crate) fn authority_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid::AUTHORITY_KEY_ID)?;
    let aki =
        x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes()).ok()?;
    Some(aki.key_identifier?.as_bytes().to_vec())
}

/// Verifies an X.509 `signatureValue` (certificate or CRL) made by `key` over the exact DER of
/// the signed part (`tbs`), under signature algorithm `alg`. GOST values are s‖r big-endian over
/// the Streebog digest read little-endian, as OpenSSL and CryptoPro write them: the same
/// convention as CMS signature values (RFC 9215 section 4), so `curve.rs` serves both.
pub(crate) fn verify_signed(
    key: &SignerKey,
    alg: ObjectIdentifier,
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let accepted: &[ObjectIdentifier] = match key.algorithm() {
        Algorithm::Gost256 => &[oid::GOST_256_SIGN],
        Algorithm::Gost512 => &[oid::GOST_512_SIGN],
        Algorithm::EcdsaP256 => &[oid::ECDSA_SHA256],
    };
    if !accepted.contains(&alg) {
        return Err(Error::UnsupportedAlgorithm(format!(
            "signature algorithm {alg} with a {} key",
            key.algorithm()
        )));
    }
    match key {
        SignerKey::Gost { curve, key, .. } => {
            let digest = match curve.len() {
                32 => crate::streebog256(tbs).to_vec(),
                _ => crate::streebog512(tbs).to_vec(),
            };
            if curve.verify_digest(key, &digest, signature) {
                Ok(())
            } else {
                Err(Error::BadSignature)
            }
        }
        SignerKey::P256(key) => {
            let sig =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| Error::BadSignature)?;
            key.verify_prehash(&Sha256::digest(tbs), &sig)
                .map_err(|_| Error::BadSignature)
        }
    }
}

/// A certificate's public key, ready to verify with.
pub(crate) enum SignerKey {
    /// GOST R 34.10-2012 with its curve.
    Gost {
        algorithm: Algorithm,
        curve: GostCurve,
        key: GostKey,
    },
    /// ECDSA over P-256.
    P256(VerifyingKey),
}

impl SignerKey {
    /// The algorithm this key signs with.
    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            SignerKey::Gost { algorithm, .. } => *algorithm,
            SignerKey::P256(_) => Algorithm::EcdsaP256,
        }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::BadCertificate(msg.into())
}

/// Decodes the subject public key: GOST R 34.10-2012 (256 or 512) or EC P-256.
pub(crate) fn signer_key(cert: &Certificate) -> Result<SignerKey, Error> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let alg = spki.algorithm.oid;
    let key_bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| bad("public key BIT STRING has unused bits"))?;
    let params = spki.algorithm.parameters.as_ref();
    if alg == oid::EC_PUBLIC_KEY {
        let curve = params
            .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
            .ok_or_else(|| bad("EC public key without a named curve"))?;
        if curve != oid::P256 {
            return Err(Error::UnsupportedAlgorithm(format!(
                "elliptic curve {curve} (only P-256 is supported for ECDSA)"
            )));
        }
        let key = VerifyingKey::from_sec1_bytes(key_bits)
            .map_err(|_| bad("EC P-256 public key is not a valid curve point"))?;
        return Ok(SignerKey::P256(key));
    }
    let (algorithm, bits) = if alg == oid::GOST_256_KEY {
        (Algorithm::Gost256, 256)
    } else if alg == oid::GOST_512_KEY {
        (Algorithm::Gost512, 512)
    } else {
        return Err(Error::UnsupportedAlgorithm(format!(
            "public key algorithm {alg}"
        )));
    };
    // GostR3410-2012-PublicKeyParameters ::= SEQUENCE { publicKeyParamSet OID, digestParamSet
    // OID OPTIONAL, ... }; only the curve matters (the digest follows from the key size).
    let params = params.ok_or_else(|| bad("GOST public key without parameters"))?;
    if params.tag() != Tag::Sequence {
        return Err(bad("GOST public key parameters are not a SEQUENCE"));
    }
    let first = der_util::elements(params.value())
        .ok()
        .and_then(|e| e.first().copied())
        .ok_or_else(|| bad("GOST public key parameters are empty"))?;
    let set_oid = const_oid::ObjectIdentifier::from_der(first)
        .map_err(|_| bad("GOST publicKeyParamSet is not an OID"))?;
    let set = params::by_oid(&set_oid.to_string()).ok_or_else(|| {
        Error::UnsupportedAlgorithm(format!("GOST R 34.10-2012 parameter set {set_oid}"))
    })?;
    if set.bits != bits {
        return Err(bad(format!(
            "{} is a {}-bit parameter set on a {bits}-bit key",
            set.name, set.bits
        )));
    }
    let point = OctetString::from_der(key_bits)
        .map_err(|_| bad("GOST public key is not an OCTET STRING"))?;
    let curve = GostCurve::new(set);
    let key = curve
        .public_key_le(point.as_bytes())
        .ok_or_else(|| bad(format!("GOST public key is not a point of {}", set.name)))?;
    Ok(SignerKey::Gost {
        algorithm,
        curve,
        key,
    })
}
