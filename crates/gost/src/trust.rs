//! The trust store: the certification centres (УЦ) a relying party trusts, and their CRLs.
//!
//! Every certificate loaded is a trust anchor, trusted as given: a deployment loads the root
//! it trusts (e.g. the Минцифры head CA) or the accredited УЦ certificates themselves. Anchors
//! must be CA certificates with a key this crate verifies, so a wrong file (an end-entity
//! certificate, an RSA bundle) fails at load, not at the first registration. CRLs are kept as
//! loaded; one whose issuer is an anchor must verify with that anchor's key at load, and every
//! CRL is verified again with the key of the certificate it is used for (`chain.rs`).

use std::fmt;

use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::cert::{self, SignerKey};
use crate::der_util;

/// Why a certificate or CRL file could not be loaded into a [`TrustStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// A parsed certificate with the exact bytes that were signed.
pub(crate) struct Parsed {
    /// The certificate, DER, as given.
    pub der: Vec<u8>,
    /// The decoded certificate.
    pub cert: Certificate,
    /// The TBSCertificate DER cut from `der` (a re-encoding could differ from what was signed).
    pub tbs: Vec<u8>,
}

impl Parsed {
    /// Parses a DER certificate.
    pub(crate) fn new(der: &[u8]) -> Result<Parsed, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a DER certificate: {e}"))?;
        Ok(Parsed {
            der: der.to_vec(),
            cert,
            tbs: first_element(der)?,
        })
    }

    /// A readable name of the subject: its commonName, else the whole DN.
    pub(crate) fn subject(&self) -> String {
        describe(&self.cert.tbs_certificate.subject)
    }

    /// The subject public key.
    pub(crate) fn key(&self) -> Result<SignerKey, crate::Error> {
        cert::signer_key(&self.cert)
    }
}

/// A parsed CRL with the exact bytes that were signed.
pub(crate) struct Crl {
    /// The decoded list.
    pub list: CertificateList,
    /// The TBSCertList DER cut from the input.
    pub tbs: Vec<u8>,
}

impl Crl {
    /// Whether `key` signed this CRL.
    pub(crate) fn signed_by(&self, key: &SignerKey) -> bool {
        self.list.tbs_cert_list.signature.oid == self.list.signature_algorithm.oid
            && self.list.signature.as_bytes().is_some_and(|sig| {
                cert::verify_signed(key, self.list.signature_algorithm.oid, &self.tbs, sig).is_ok()
            })
    }

    /// The authorityKeyIdentifier of the CRL, if present.
    pub(crate) fn authority_key_id(&self) -> Option<Vec<u8>> {
        let ext = self
            .list
            .tbs_cert_list
            .crl_extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == crate::oid::AUTHORITY_KEY_ID)?;
        let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())
            .ok()?;
        Some(aki.key_identifier?.as_bytes().to_vec())
    }
}

/// The first element of a DER SEQUENCE: the signed part of a certificate or CRL.
fn first_element(der: &[u8]) -> Result<Vec<u8>, String> {
    let (_, body) = der_util::split(der).map_err(|e| format!("not DER: {e}"))?;
    der_util::elements(body)
        .map_err(|e| format!("not DER: {e}"))?
        .first()
        .map(|tbs| tbs.to_vec())
        .ok_or_else(|| "empty SEQUENCE".to_string())
}

/// A readable name: its first commonName, else the RFC 4514 string.
pub(crate) fn describe(name: &Name) -> String {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == crate::oid::COMMON_NAME {
                if let Some(cn) = cert::directory_string(&atv.value) {
                    return format!("«{cn}»");
                }
            }
        }
    }
    format!("«{name}»")
}

/// Unix seconds as an RFC 3339 UTC instant (the number itself if out of range).
pub(crate) fn instant(secs: i64) -> String {
    u64::try_from(secs)
        .ok()
        .and_then(|s| der::DateTime::from_unix_duration(std::time::Duration::from_secs(s)).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{secs} (Unix seconds)"))
}

/// The position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The DER documents of a file: the whole file if it is DER (a SEQUENCE), else each PEM block,
/// which must have label `label`. Text around the blocks is skipped: `openssl ca` and many
/// bundles print the decoded certificate before its PEM.
fn documents(bytes: &[u8], label: &str) -> Result<Vec<Vec<u8>>, LoadError> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, b"-----BEGIN ") {
        let block = &rest[start..];
        // The end line is "-----END <label>-----": find it, then the end of its dashes.
        let end = find(block, b"-----END ")
            .and_then(|e| find(&block[e + 9..], b"-----").map(|d| e + 9 + d + 5))
            .ok_or_else(|| LoadError(format!("PEM block {} has no END line", out.len() + 1)))?;
        let (found, der) = der::pem::decode_vec(&block[..end])
            .map_err(|e| LoadError(format!("PEM block {}: {e}", out.len() + 1)))?;
        if found != label {
            return Err(LoadError(format!(
                "PEM block {} is a {found}, expected {label}",
                out.len() + 1
            )));
        }
        out.push(der);
        rest = &block[end..];
    }
    if out.is_empty() {
        return Err(LoadError(format!(
            "neither DER nor PEM with a {label} block"
        )));
    }
    Ok(out)
}

/// The CA certificates and CRLs a relying party trusts; see the module documentation.
#[derive(Default)]
pub struct TrustStore {
    pub(crate) anchors: Vec<Parsed>,
    pub(crate) crls: Vec<Crl>,
    /// Paths already checked, by the SHA-256 of the signer's certificate, with the span of
    /// times the verdict holds for; see [`TrustStore::check`].
    pub(crate) checked: std::sync::Mutex<std::collections::HashMap<[u8; 32], Checked>>,
}

/// A path checked once, and the times (Unix seconds) at which the same check would pass.
#[derive(Clone)]
pub(crate) struct Checked {
    pub chain: Chain,
    pub from: i64,
    pub until: i64,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.anchors.iter().map(Parsed::subject).collect();
        f.debug_struct("TrustStore")
            .field("anchors", &names)
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl TrustStore {
    /// An empty store (which trusts nothing).
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Adds the CA certificates of a PEM bundle (`CERTIFICATE` blocks) or of one DER
    /// certificate; returns how many. Each must be a CA certificate (basicConstraints cA) with
    /// a GOST R 34.10-2012 or P-256 key.
    pub fn add_certificates(&mut self, pem_or_der: &[u8]) -> Result<usize, LoadError> {
        let docs = documents(pem_or_der, "CERTIFICATE")?;
        let mut parsed = Vec::new();
        for (n, der) in docs.iter().enumerate() {
            let at = |msg: String| LoadError(format!("certificate {}: {msg}", n + 1));
            let p = Parsed::new(der).map_err(at)?;
            p.key()
                .map_err(|e| at(format!("{} has an unusable key: {e}", p.subject())))?;
            if !crate::chain::is_ca(&p.cert) {
                return Err(at(format!(
                    "{} is not a CA certificate (basicConstraints cA is not true)",
                    p.subject()
                )));
            }
            parsed.push(p);
        }
        if parsed.is_empty() {
            return Err(LoadError("no certificate found".into()));
        }
        let n = parsed.len();
        self.anchors.extend(parsed);
        Ok(n)
    }

    /// Adds the CRLs of a PEM file (`X509 CRL` blocks) or one DER CRL; returns how many. A CRL
    /// whose issuer is a trusted certificate must verify with its key; others are verified
    /// when used, against the intermediate certificate they are for.
    pub fn add_crls(&mut self, pem_or_der: &[u8]) -> Result<usize, LoadError> {
        let docs = documents(pem_or_der, "X509 CRL")?;
        let mut parsed = Vec::new();
        for (n, der) in docs.iter().enumerate() {
            let at = |msg: String| LoadError(format!("CRL {}: {msg}", n + 1));
            let list =
                CertificateList::from_der(der).map_err(|e| at(format!("not a DER CRL: {e}")))?;
            let crl = Crl {
                tbs: first_element(der).map_err(at)?,
                list,
            };
            let issuer = &crl.list.tbs_cert_list.issuer;
            let same_name: Vec<&Parsed> = self
                .anchors
                .iter()
                .filter(|a| &a.cert.tbs_certificate.subject == issuer)
                .collect();
            if !same_name.is_empty()
                && !same_name
                    .iter()
                    .any(|a| a.key().is_ok_and(|k| crl.signed_by(&k)))
            {
                return Err(at(format!(
                    "the CRL of {} does not verify with the key of the trusted certificate of that name",
                    describe(issuer)
                )));
            }
            parsed.push(crl);
        }
        if parsed.is_empty() {
            return Err(LoadError("no CRL found".into()));
        }
        let n = parsed.len();
        self.crls.extend(parsed);
        Ok(n)
    }

    /// How many trusted CA certificates the store holds.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether the store trusts no certificate.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// How many CRLs the store holds.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// The subjects of the trusted certificates, for logs.
    pub fn subjects(&self) -> Vec<String> {
        self.anchors.iter().map(Parsed::subject).collect()
    }
}

/// A verified certification path, from the signer's certificate to a trusted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The certificates, DER: the signer's first, the trusted CA certificate last.
    pub certificates: Vec<Vec<u8>>,
    /// Their subjects (commonName, else the DN), in the same order.
    pub subjects: Vec<String>,
}

/// Why a certificate does not chain to a trusted CA, or is revoked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A certificate does not decode.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// No trusted or carried certificate is the issuer of `subject`.
    #[error("the issuer {issuer} of certificate {subject} is unknown: it is neither a trusted CA nor among the certificates in the signature")]
    UnknownIssuer {
        /// The certificate whose issuer is missing.
        subject: String,
        /// Its issuer's name.
        issuer: String,
    },
    /// The path ends at a self-signed certificate that is not trusted.
    #[error("the root certificate {subject} is not a trusted CA")]
    UntrustedRoot {
        /// The self-signed certificate.
        subject: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("the signature of certificate {subject} does not verify with the key of its issuer {issuer}")]
    BadSignature {
        /// The certificate whose signature fails.
        subject: String,
        /// The issuer whose key was tried.
        issuer: String,
    },
    /// A certificate of the path is outside its validity period at the time checked.
    #[error("certificate {subject} was not valid at {at} (valid {not_before} to {not_after})")]
    NotValidAt {
        /// The certificate.
        subject: String,
        /// The time checked, RFC 3339.
        at: String,
        /// notBefore, RFC 3339.
        not_before: String,
        /// notAfter, RFC 3339.
        not_after: String,
    },
    /// An issuer of the path is not a CA certificate.
    #[error("certificate {subject} issued {child} but is not a CA certificate ({reason})")]
    NotCa {
        /// The would-be issuer.
        subject: String,
        /// The certificate it issued.
        child: String,
        /// basicConstraints or keyUsage, what lacks.
        reason: String,
    },
    /// The path is longer than an issuer's pathLenConstraint, or than the limit.
    #[error("the certification path is too long: {0}")]
    PathTooLong(String),
    /// A certificate of the path is on its issuer's CRL.
    #[error("certificate {subject} (serial {serial}) is revoked by {issuer} since {revoked_at}")]
    Revoked {
        /// The revoked certificate.
        subject: String,
        /// Its serial number, hex.
        serial: String,
        /// The CA whose CRL lists it.
        issuer: String,
        /// The revocationDate, RFC 3339.
        revoked_at: String,
    },
    /// The newest CRL of an issuer is past its nextUpdate at the time checked.
    #[error("the CRL of {issuer} is out of date: its nextUpdate {next_update} is before {at}; load a current CRL")]
    StaleCrl {
        /// The CA of the CRL.
        issuer: String,
        /// nextUpdate, RFC 3339.
        next_update: String,
        /// The time checked, RFC 3339.
        at: String,
    },
    /// CRLs name an issuer but none verifies with its key: revocation cannot be checked.
    #[error("the CRL of {issuer} does not verify with its key, so revocation cannot be checked")]
    BadCrlSignature {
        /// The CA named by the CRL.
        issuer: String,
    },
    /// A key or signature algorithm of the path is not supported.
    #[error("certificate {subject}: {reason}")]
    Unsupported {
        /// The certificate.
        subject: String,
        /// What is not supported.
        reason: String,
    },
}

/// The serial number of a certificate in hex, as OpenSSL prints it.
pub(crate) fn serial_hex(cert: &Certificate) -> String {
    let bytes = cert.tbs_certificate.serial_number.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    // A leading 00 only keeps the DER INTEGER positive.
    hex.strip_prefix("00")
        .filter(|h| !h.is_empty())
        .unwrap_or(&hex)
        .to_string()
}
