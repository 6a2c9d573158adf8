//! Certification path building and validation (a subset of RFC 5280 section 6 that Russian
//! qualified certificates need): from the signer's certificate, issuers are sought among the
//! trusted certificates first, then among the certificates the CMS carries, by subject DN =
//! issuer DN and, when both are present, subjectKeyIdentifier = authorityKeyIdentifier. Each
//! link checks that the issuer is a CA (basicConstraints cA, keyCertSign when keyUsage is
//! present, pathLenConstraint), that the child's signature verifies with the issuer's key, and
//! that the child is not on a CRL of that issuer. Every certificate of the path, the trusted
//! one included, must be valid at the time checked. Alternatives (two issuers of one name, as
//! around a CA key change) are tried in turn; the first failure is reported if none succeeds.
//!
//! Revocation choices: a certificate listed on a CRL is refused whatever its revocationDate,
//! since the time checked is usually the signer's own signingTime claim, which a holder of a
//! stolen key could backdate (a trusted timestamp would be needed to honour earlier dates). An
//! issuer with no CRL loaded is not checked for revocation. CRLs naming the issuer but none
//! verifying with its key refuse the path ([`ChainError::BadCrlSignature`]): a forged or
//! misfiled CRL must not pass for a check. The newest verified CRL past its nextUpdate refuses
//! the path ([`ChainError::StaleCrl`]): the CA may have revoked since. Not supported: delta and
//! indirect CRLs, OCSP, name constraints, policies.

use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use der::Decode;

use crate::cert;
use crate::trust::{describe, instant, serial_hex, Chain, ChainError, Checked, Parsed, TrustStore};
use crate::{oid, Error};
use sha2::Digest;

/// The most certificates a path may have (signer, intermediates and the trusted CA).
pub const MAX_PATH: usize = 8;

/// basicConstraints of a certificate, if present and decodable.
fn basic_constraints(cert: &Certificate) -> Option<BasicConstraints> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid::BASIC_CONSTRAINTS)?;
    BasicConstraints::from_der(ext.extn_value.as_bytes()).ok()
}

/// keyUsage of a certificate: `None` if absent, `Some(None)` if it does not decode.
fn key_usage(cert: &Certificate) -> Option<Option<KeyUsage>> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid::KEY_USAGE)?;
    Some(KeyUsage::from_der(ext.extn_value.as_bytes()).ok())
}

/// Whether a certificate says it is a CA (basicConstraints cA = true).
pub(crate) fn is_ca(cert: &Certificate) -> bool {
    basic_constraints(cert).is_some_and(|b| b.ca)
}

/// Whether `issuer` is named as the issuer of `child` (DN, and key identifiers when both exist).
fn names_issuer(child: &Parsed, issuer: &Parsed) -> bool {
    if child.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
        return false;
    }
    match (
        cert::authority_key_id(&child.cert),
        cert::subject_key_id(&issuer.cert),
    ) {
        (Some(aki), Some(ski)) => aki == ski,
        _ => true,
    }
}

/// Validity of `p` at `at`.
fn valid_at(p: &Parsed, at: i64) -> Result<(), ChainError> {
    let (not_before, not_after) = cert::validity(&p.cert);
    if at < not_before || at > not_after {
        return Err(ChainError::NotValidAt {
            subject: p.subject(),
            at: instant(at),
            not_before: instant(not_before),
            not_after: instant(not_after),
        });
    }
    Ok(())
}

/// Signing certificates whose checked paths are remembered at most.
const MAX_CHECKED: usize = 100_000;

impl TrustStore {
    /// Builds and checks the path from `signer_der` to a trusted CA at `at` (Unix seconds),
    /// with `extra_certs` (DER, e.g. [`crate::Signer::cms_certificates`]) as candidate
    /// intermediates; see the `chain` module documentation for what is checked.
    pub fn check(
        &self,
        signer_der: &[u8],
        extra_certs: &[Vec<u8>],
        at: i64,
    ) -> Result<Chain, ChainError> {
        // A doctor signs many documents with one certificate. The store's CAs and CRLs do not
        // change after loading, so a path that passed holds at any time inside the validity
        // of all its certificates and before any loaded CRL goes stale: such repeats skip the
        // signature checks (a path costs about 330 µs on GOST-256, more than a verification).
        let digest: [u8; 32] = sha2::Sha256::digest(signer_der).into();
        if let Some(hit) = self
            .checked
            .lock()
            .ok()
            .and_then(|c| c.get(&digest).cloned())
            .filter(|c| c.from <= at && at <= c.until)
        {
            return Ok(hit.chain);
        }
        let chain = self.check_path(signer_der, extra_certs, at)?;
        let mut from = i64::MIN;
        let mut until = i64::MAX;
        for der in &chain.certificates {
            if let Ok(p) = Parsed::new(der) {
                let (not_before, not_after) = cert::validity(&p.cert);
                from = from.max(not_before);
                until = until.min(not_after);
            }
        }
        for crl in &self.crls {
            if let Some(next) = crl.list.tbs_cert_list.next_update {
                until =
                    until.min(i64::try_from(next.to_unix_duration().as_secs()).unwrap_or(i64::MAX));
            }
        }
        if let Ok(mut cache) = self.checked.lock() {
            // Bounded by the number of signing certificates in use; a full cache starts over.
            if cache.len() >= MAX_CHECKED {
                cache.clear();
            }
            cache.insert(
                digest,
                Checked {
                    chain: chain.clone(),
                    from,
                    until,
                },
            );
        }
        Ok(chain)
    }

    /// [`TrustStore::check`] without the cache.
    fn check_path(
        &self,
        signer_der: &[u8],
        extra_certs: &[Vec<u8>],
        at: i64,
    ) -> Result<Chain, ChainError> {
        let signer = Parsed::new(signer_der).map_err(ChainError::Malformed)?;
        // Certificates that fail to decode cannot be issuers: the CMS parser already refused
        // malformed ones, so skipping is only for odd but irrelevant extras.
        let extra: Vec<Parsed> = extra_certs
            .iter()
            .filter(|d| d.as_slice() != signer_der)
            .filter(|d| !self.anchors.iter().any(|a| a.der == **d))
            .filter_map(|d| Parsed::new(d).ok())
            .collect();
        valid_at(&signer, at)?;
        let mut path = vec![&signer];
        self.extend(&mut path, &extra, at)?;
        Ok(Chain {
            certificates: path.iter().map(|p| p.der.clone()).collect(),
            subjects: path.iter().map(|p| p.subject()).collect(),
        })
    }

    /// Extends `path` (whose last certificate is already checked valid) to a trusted CA.
    fn extend<'a>(
        &'a self,
        path: &mut Vec<&'a Parsed>,
        extra: &'a [Parsed],
        at: i64,
    ) -> Result<(), ChainError> {
        let Some(child) = path.last().copied() else {
            return Err(ChainError::Malformed("empty certification path".into()));
        };
        let mut first_error = None;
        for anchor in self.anchors.iter().filter(|a| names_issuer(child, a)) {
            match self.link(child, anchor, path.len() - 1, at) {
                Ok(()) => {
                    path.push(anchor);
                    return Ok(());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for issuer in extra.iter().filter(|c| names_issuer(child, c)) {
            if path.iter().any(|p| p.der == issuer.der) {
                continue;
            }
            if path.len() + 1 >= MAX_PATH {
                first_error.get_or_insert(ChainError::PathTooLong(format!(
                    "no trusted CA within {MAX_PATH} certificates"
                )));
                continue;
            }
            let step = self.link(child, issuer, path.len() - 1, at).and_then(|()| {
                path.push(issuer);
                let rest = self.extend(path, extra, at);
                if rest.is_err() {
                    path.pop();
                }
                rest
            });
            match step {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            let tbs = &child.cert.tbs_certificate;
            if tbs.issuer == tbs.subject {
                ChainError::UntrustedRoot {
                    subject: child.subject(),
                }
            } else {
                ChainError::UnknownIssuer {
                    subject: child.subject(),
                    issuer: describe(&tbs.issuer),
                }
            }
        }))
    }

    /// Checks that `issuer` issued `child`, with `below` CA certificates under `issuer` (the
    /// intermediates between it and the signer), and that `child` is not revoked by it.
    fn link(
        &self,
        child: &Parsed,
        issuer: &Parsed,
        below: usize,
        at: i64,
    ) -> Result<(), ChainError> {
        let not_ca = |reason: &str| ChainError::NotCa {
            subject: issuer.subject(),
            child: child.subject(),
            reason: reason.into(),
        };
        let bc = basic_constraints(&issuer.cert)
            .ok_or_else(|| not_ca("it has no basicConstraints extension"))?;
        if !bc.ca {
            return Err(not_ca("its basicConstraints cA is false"));
        }
        match key_usage(&issuer.cert) {
            Some(Some(ku)) if !ku.0.contains(KeyUsages::KeyCertSign) => {
                return Err(not_ca("its keyUsage lacks keyCertSign"))
            }
            Some(None) => return Err(not_ca("its keyUsage does not decode")),
            _ => {}
        }
        if let Some(max) = bc.path_len_constraint {
            if below > usize::from(max) {
                return Err(ChainError::PathTooLong(format!(
                    "{} allows {max} intermediate CA certificates below it, the path has {below}",
                    issuer.subject()
                )));
            }
        }
        let key = issuer.key().map_err(|e| ChainError::Unsupported {
            subject: issuer.subject(),
            reason: e.to_string(),
        })?;
        let alg = child.cert.signature_algorithm.oid;
        if child.cert.tbs_certificate.signature.oid != alg {
            return Err(ChainError::Malformed(format!(
                "{}: the signature algorithm inside and outside the signed part differ",
                child.subject()
            )));
        }
        let signature = child.cert.signature.as_bytes().unwrap_or_default();
        match cert::verify_signed(&key, alg, &child.tbs, signature) {
            Ok(()) => {}
            Err(Error::UnsupportedAlgorithm(reason)) => {
                return Err(ChainError::Unsupported {
                    subject: child.subject(),
                    reason,
                })
            }
            Err(_) => {
                return Err(ChainError::BadSignature {
                    subject: child.subject(),
                    issuer: issuer.subject(),
                })
            }
        }
        valid_at(issuer, at)?;
        self.not_revoked(child, issuer, &key, at)
    }

    /// Checks `child` against the CRLs of `issuer` (see the module documentation).
    fn not_revoked(
        &self,
        child: &Parsed,
        issuer: &Parsed,
        key: &cert::SignerKey,
        at: i64,
    ) -> Result<(), ChainError> {
        let ski = cert::subject_key_id(&issuer.cert);
        let named: Vec<_> = self
            .crls
            .iter()
            .filter(|c| c.list.tbs_cert_list.issuer == issuer.cert.tbs_certificate.subject)
            .filter(|c| match (c.authority_key_id(), &ski) {
                (Some(aki), Some(ski)) => &aki == ski,
                _ => true,
            })
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let verified: Vec<_> = named.into_iter().filter(|c| c.signed_by(key)).collect();
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let serial = &child.cert.tbs_certificate.serial_number;
        for crl in &verified {
            let listed = crl
                .list
                .tbs_cert_list
                .revoked_certificates
                .iter()
                .flatten()
                .find(|r| &r.serial_number == serial);
            if let Some(entry) = listed {
                return Err(ChainError::Revoked {
                    subject: child.subject(),
                    serial: serial_hex(&child.cert),
                    issuer: issuer.subject(),
                    revoked_at: instant(secs(entry.revocation_date)),
                });
            }
        }
        let newest = verified
            .iter()
            .max_by_key(|c| secs(c.list.tbs_cert_list.this_update))
            .ok_or_else(|| ChainError::BadCrlSignature {
                issuer: issuer.subject(),
            })?;
        if let Some(next) = newest.list.tbs_cert_list.next_update {
            if secs(next) < at {
                return Err(ChainError::StaleCrl {
                    issuer: issuer.subject(),
                    next_update: instant(secs(next)),
                    at: instant(at),
                });
            }
        }
        Ok(())
    }
}
