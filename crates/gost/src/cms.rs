//! Detached CMS SignedData verification (RFC 5652 sections 5.4 and 5.6).
//!
//! The structure is parsed with the RustCrypto `cms` and `x509-cert` crates; the bytes that were
//! actually signed (each SignerInfo's signed attributes) are cut from the input itself, since
//! `der` re-sorts SET OF elements on decoding and a re-encoding might not be what was signed.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Any, AnyRef, Decode, Encode, Tag, TagNumber};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use x509_cert::attr::Attribute;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::cert::{self, SignerKey};
use crate::{der_util, oid, Algorithm, Content, Error, Signer};

fn malformed(msg: impl Into<String>) -> Error {
    Error::Malformed(msg.into())
}

/// See [`crate::verify_detached`].
pub(crate) fn verify_detached(cms_der: &[u8], content: &Content) -> Result<Vec<Signer>, Error> {
    let info = ContentInfo::from_der(cms_der)
        .map_err(|e| malformed(format!("not a DER-encoded CMS ContentInfo: {e}")))?;
    if info.content_type != oid::SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not signedData",
            info.content_type
        )));
    }
    let signed = SignedData::from_der(
        &info
            .content
            .to_der()
            .map_err(|e| malformed(format!("signedData: {e}")))?,
    )
    .map_err(|e| malformed(format!("signedData does not decode: {e}")))?;
    if let Some(embedded) = &signed.encap_content_info.econtent {
        let embedded = decode_any::<OctetString>(embedded)
            .ok_or_else(|| malformed("embedded content is not an OCTET STRING"))?;
        if embedded.as_bytes() != content.bytes() {
            return Err(malformed(
                "the signature embeds content that differs from the document",
            ));
        }
    }
    let certs: Vec<&Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let raw = raw_signer_infos(cms_der).map_err(|e| malformed(format!("signerInfos: {e}")))?;
    if raw.is_empty() {
        return Err(Error::NoSigner);
    }
    let carried = raw_certificates(cms_der).map_err(|e| malformed(format!("certificates: {e}")))?;
    raw.iter()
        .map(|r| verify_signer(r, &signed, &certs, content, &carried))
        .collect()
}

/// The SignedData's content octets (inside ContentInfo's `[0] EXPLICIT`).
fn raw_signed_data(cms_der: &[u8]) -> der::Result<&[u8]> {
    let not_signed_data = || der::Error::from(der::ErrorKind::Failed);
    // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT SignedData }
    let (_, info) = der_util::split(cms_der)?;
    let explicit = *der_util::elements(info)?
        .get(1)
        .ok_or_else(not_signed_data)?;
    let (_, signed_tlv) = der_util::split(explicit)?;
    let (_, signed) = der_util::split(signed_tlv)?;
    Ok(signed)
}

/// The DER of every X.509 certificate in SignedData's `certificates [0] IMPLICIT`, as carried:
/// a certificate's signature covers its exact bytes, so they are not re-encoded.
fn raw_certificates(cms_der: &[u8]) -> der::Result<Vec<Vec<u8>>> {
    let certs_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    for element in der_util::elements(raw_signed_data(cms_der)?)? {
        let (tag, value) = der_util::split(element)?;
        if tag == certs_tag {
            return Ok(der_util::elements(value)?
                .into_iter()
                .filter(|c| c.first() == Some(&0x30))
                .map(<[u8]>::to_vec)
                .collect());
        }
    }
    Ok(Vec::new())
}

/// Decodes an `Any` as a concrete type via its DER encoding.
fn decode_any<T: for<'a> Decode<'a>>(value: &Any) -> Option<T> {
    T::from_der(&value.to_der().ok()?).ok()
}

/// The TLV bytes of every SignerInfo, in the order they appear in the input.
fn raw_signer_infos(cms_der: &[u8]) -> der::Result<Vec<&[u8]>> {
    let not_signed_data = || der::Error::from(der::ErrorKind::Failed);
    let signed = raw_signed_data(cms_der)?;
    // SignedData ::= SEQUENCE { ..., signerInfos SET OF SignerInfo } — always the last element.
    let last = *der_util::elements(signed)?
        .last()
        .ok_or_else(not_signed_data)?;
    let (tag, infos) = der_util::split(last)?;
    if tag != Tag::Set {
        return Err(not_signed_data());
    }
    der_util::elements(infos)
}

/// The DER of a SignerInfo's signed attributes as they are signed: the `[0] IMPLICIT` tag
/// replaced by the SET OF tag (RFC 5652 section 5.4), the content octets untouched.
fn raw_signed_attrs(signer_info: &[u8]) -> der::Result<Option<Vec<u8>>> {
    let (_, body) = der_util::split(signer_info)?;
    // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT OPTIONAL, ... }
    let Some(fourth) = der_util::elements(body)?.get(3).copied() else {
        return Ok(None);
    };
    let (tag, value) = der_util::split(fourth)?;
    let attrs_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    if tag != attrs_tag {
        return Ok(None);
    }
    Ok(Some(AnyRef::new(Tag::Set, value)?.to_der()?))
}

fn find_cert<'c>(sid: &SignerIdentifier, certs: &[&'c Certificate]) -> Option<&'c Certificate> {
    certs.iter().copied().find(|c| match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            c.tbs_certificate.issuer == ias.issuer
                && c.tbs_certificate.serial_number == ias.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            cert::subject_key_id(c).as_deref() == Some(ski.0.as_bytes())
        }
    })
}

/// The digest algorithm each key type signs with, and the signature algorithm OIDs accepted
/// in SignerInfo for it (OpenSSL and CryptoPro write the key OID, others the sign-with-digest one).
fn expected_oids(algorithm: Algorithm) -> (ObjectIdentifier, [ObjectIdentifier; 2]) {
    match algorithm {
        Algorithm::Gost256 => (oid::STREEBOG_256, [oid::GOST_256_KEY, oid::GOST_256_SIGN]),
        Algorithm::Gost512 => (oid::STREEBOG_512, [oid::GOST_512_KEY, oid::GOST_512_SIGN]),
        Algorithm::EcdsaP256 => (oid::SHA_256, [oid::ECDSA_SHA256, oid::EC_PUBLIC_KEY]),
    }
}

pub(crate) fn hash(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::Gost256 => crate::streebog256(data).to_vec(),
        Algorithm::Gost512 => crate::streebog512(data).to_vec(),
        Algorithm::EcdsaP256 => Sha256::digest(data).to_vec(),
    }
}

/// The single value of a signed attribute; `None` if absent, an error if repeated or multi-valued.
fn single_value(attrs: &[Attribute], wanted: ObjectIdentifier) -> Result<Option<&Any>, Error> {
    let mut found = attrs.iter().filter(|a| a.oid == wanted);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || attr.values.len() != 1 {
        return Err(malformed(format!(
            "signed attribute {wanted} must occur once with one value"
        )));
    }
    Ok(attr.values.iter().next())
}

/// Checks messageDigest (and contentType when present); returns the signingTime if any.
fn check_signed_attrs(
    info: &SignerInfo,
    content_digest: &[u8],
    content_type: ObjectIdentifier,
) -> Result<Option<i64>, Error> {
    let attrs: Vec<Attribute> = info
        .signed_attrs
        .as_ref()
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default();
    let digest = single_value(&attrs, oid::MESSAGE_DIGEST)?
        .ok_or_else(|| malformed("signed attributes lack messageDigest"))?;
    let digest = decode_any::<OctetString>(digest)
        .ok_or_else(|| malformed("messageDigest is not an OCTET STRING"))?;
    if digest.as_bytes() != content_digest {
        return Err(Error::DigestMismatch);
    }
    if let Some(ct) = single_value(&attrs, oid::CONTENT_TYPE)? {
        let ct = decode_any::<ObjectIdentifier>(ct)
            .ok_or_else(|| malformed("contentType attribute is not an OID"))?;
        if ct != content_type {
            return Err(malformed(format!(
                "contentType attribute {ct} differs from the encapsulated type {content_type}"
            )));
        }
    }
    Ok(match single_value(&attrs, oid::SIGNING_TIME)? {
        Some(t) => {
            let t = decode_any::<Time>(t).ok_or_else(|| malformed("signingTime is not a Time"))?;
            Some(i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX))
        }
        None => None,
    })
}

fn verify_signer(
    raw: &[u8],
    signed: &SignedData,
    certs: &[&Certificate],
    content: &Content,
    carried: &[Vec<u8>],
) -> Result<Signer, Error> {
    let info = SignerInfo::from_der(raw).map_err(|e| malformed(format!("SignerInfo: {e}")))?;
    let cert = find_cert(&info.sid, certs).ok_or(Error::MissingCertificate)?;
    let key = cert::signer_key(cert)?;
    let algorithm = key.algorithm();
    let (digest_oid, signature_oids) = expected_oids(algorithm);
    if info.digest_alg.oid != digest_oid {
        return Err(Error::UnsupportedAlgorithm(format!(
            "digest algorithm {} with a {algorithm} key (expected {digest_oid})",
            info.digest_alg.oid
        )));
    }
    if !signature_oids.contains(&info.signature_algorithm.oid) {
        return Err(Error::UnsupportedAlgorithm(format!(
            "signature algorithm {} with a {algorithm} key",
            info.signature_algorithm.oid
        )));
    }
    let content_digest = content.digest(algorithm).to_vec();
    let signed_attrs = raw_signed_attrs(raw).map_err(|e| malformed(format!("signedAttrs: {e}")))?;
    let (signed_digest, signing_time) = match signed_attrs {
        Some(der) => {
            let time = check_signed_attrs(
                &info,
                &content_digest,
                signed.encap_content_info.econtent_type,
            )?;
            (hash(algorithm, &der), time)
        }
        None => (content_digest, None),
    };
    let signature = info.signature.as_bytes();
    match &key {
        SignerKey::Gost { curve, key, .. } => {
            if signature.len() != 2 * curve.len() {
                return Err(malformed(format!(
                    "{algorithm} signature is {} bytes, expected {}",
                    signature.len(),
                    2 * curve.len()
                )));
            }
            if !curve.verify_digest(key, &signed_digest, signature) {
                return Err(Error::BadSignature);
            }
        }
        SignerKey::P256(key) => {
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| malformed("ECDSA signature is not a DER Ecdsa-Sig-Value"))?;
            key.verify_prehash(&signed_digest, &sig)
                .map_err(|_| Error::BadSignature)?;
        }
    }
    let subject = cert::subject(cert);
    let (not_before, not_after) = cert::validity(cert);
    Ok(Signer {
        algorithm,
        subject_snils: subject.snils,
        subject_ogrn: subject.ogrn,
        subject_inn: subject.inn,
        subject_inn_le: subject.inn_le,
        common_name: subject.common_name,
        surname: subject.surname,
        given_name: subject.given_name,
        not_before,
        not_after,
        signing_time,
        // The carried bytes when found (they are what the issuer signed), else a re-encoding.
        certificate_der: match carried
            .iter()
            .find(|d| Certificate::from_der(d).is_ok_and(|c| &c == cert))
        {
            Some(d) => d.clone(),
            None => cert
                .to_der()
                .map_err(|e| malformed(format!("signer certificate: {e}")))?,
        },
        cms_certificates: carried.to_vec(),
    })
}
