//! Bearer tokens: what the built-in issuer signs, and how any token becomes a [`Principal`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Role, Scopes, SigningKey};

/// Why a request is not authenticated or not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token (401).
    #[error("this request needs a bearer token (Authorization: Bearer ...)")]
    Missing,
    /// A token that does not verify or has expired (401).
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    /// A valid caller asking for what it may not do (403).
    #[error("{0}")]
    Forbidden(String),
}

/// The claims zdrav tokens carry (SMART's `patient` context is a bare id, like `organization`
/// and `practitioner` here).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: the user or client.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Token id.
    pub jti: String,
    /// The role name.
    pub role: String,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// The patient in context (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// The practitioner the user is (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<String>,
    /// The organisation the user acts for (id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The OAuth client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Who the user is as a FHIR reference (SMART `fhirUser`), e.g. the `RelatedPerson` of a
    /// legal representative acting for the patient in context.
    #[serde(default, rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Subject.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// Scopes.
    pub scopes: Scopes,
    /// The patient in context (id).
    pub patient: Option<String>,
    /// The practitioner the user is (id).
    pub practitioner: Option<String>,
    /// The organisation the user acts for (id).
    pub organization: Option<String>,
    /// The OAuth client.
    pub client_id: Option<String>,
    /// Who the user is as a FHIR reference (`RelatedPerson/ID` for a representative).
    pub fhir_user: Option<String>,
    /// The token id, for the audit trail.
    pub token_id: String,
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Subject.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// Scopes; `None` for the role's defaults.
    pub scope: Option<String>,
    /// Patient id.
    pub patient: Option<String>,
    /// Practitioner id.
    pub practitioner: Option<String>,
    /// Organisation id.
    pub organization: Option<String>,
    /// OAuth client.
    pub client_id: Option<String>,
    /// Who the user is as a FHIR reference (`Type/ID`).
    pub fhir_user: Option<String>,
    /// Lifetime.
    pub ttl: Duration,
}

/// The built-in issuer: signs ES256 tokens with the database's key.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: SigningKey,
    iss: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Issuer {
    /// An issuer named `iss` (its URL) signing with `key`.
    pub fn new(key: SigningKey, iss: impl Into<String>) -> Issuer {
        Issuer {
            key,
            iss: iss.into(),
        }
    }

    /// The issuer URL.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs a token; checks that the request is coherent (the scopes parse, a citizen or a
    /// device has its patient, a practitioner its practitioner id).
    pub fn issue(&self, req: &TokenRequest) -> Result<(String, Claims), AuthError> {
        let scope = req
            .scope
            .clone()
            .unwrap_or_else(|| req.role.default_scopes().to_string());
        Scopes::parse(&scope).map_err(AuthError::Invalid)?;
        match req.role {
            Role::Citizen | Role::Device if req.patient.is_none() => {
                return Err(AuthError::Invalid(format!(
                    "a {} token needs its patient (--patient Patient/ID)",
                    req.role
                )))
            }
            Role::Practitioner if req.practitioner.is_none() => {
                return Err(AuthError::Invalid(
                    "a practitioner token needs its practitioner (--practitioner Practitioner/ID)"
                        .into(),
                ))
            }
            _ => {}
        }
        let iat = now_secs();
        let claims = Claims {
            iss: self.iss.clone(),
            sub: req.sub.clone(),
            exp: iat + req.ttl.as_secs().max(1),
            iat,
            jti: crate::random_token(16),
            role: req.role.as_str().to_string(),
            scope,
            patient: req.patient.clone(),
            practitioner: req.practitioner.clone(),
            organization: req.organization.clone(),
            client_id: req.client_id.clone(),
            fhir_user: req.fhir_user.clone(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key.kid().to_string());
        let token = jsonwebtoken::encode(&header, &claims, &self.key.encoding_key())
            .map_err(|e| AuthError::Invalid(format!("cannot sign: {e}")))?;
        Ok((token, claims))
    }
}

/// A key the verifier trusts.
#[derive(Clone)]
struct Trusted {
    iss: String,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens from the built-in issuer and from configured external issuers.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, Trusted>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Trusts the built-in issuer's key.
    pub fn trust_issuer(&mut self, issuer: &Issuer) -> Result<(), String> {
        self.keys.insert(
            issuer.key.kid().to_string(),
            Trusted {
                iss: issuer.iss.clone(),
                alg: Algorithm::ES256,
                key: issuer.key.decoding_key()?,
            },
        );
        Ok(())
    }

    /// Trusts the RS256 and ES256 keys of an external issuer's JWKS (`{"keys": [...]}`);
    /// returns how many keys were taken. Keys without a `kid` or of other algorithms are
    /// skipped: a token names its key, and only these two algorithms are accepted.
    pub fn trust_jwks(&mut self, iss: &str, jwks: &Value) -> Result<usize, String> {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
            .map_err(|e| format!("the JWKS of {iss} is not a JWK set: {e}"))?;
        let mut n = 0;
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec)
                    if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid}: {e}"))?;
            self.keys.insert(
                kid,
                Trusted {
                    iss: iss.to_string(),
                    alg,
                    key,
                },
            );
            n += 1;
        }
        Ok(n)
    }

    /// Verifies a token's signature, issuer and lifetime and reads its caller.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("the token names no key (kid)".into()))?;
        let trusted = self
            .keys
            .get(&kid)
            .ok_or_else(|| AuthError::Invalid(format!("key '{kid}' is not trusted")))?;
        if header.alg != trusted.alg {
            return Err(AuthError::Invalid(format!(
                "key '{kid}' signs with {:?}, not {:?}",
                trusted.alg, header.alg
            )));
        }
        let mut v = Validation::new(trusted.alg);
        v.set_issuer(&[&trusted.iss]);
        v.validate_aud = false;
        v.leeway = 30;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &trusted.key, &v).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                AuthError::Invalid("the token has expired".into())
            }
            _ => AuthError::Invalid(e.to_string()),
        })?;
        let c = data.claims;
        Ok(Principal {
            role: c.role.parse().map_err(AuthError::Invalid)?,
            scopes: Scopes::parse(&c.scope).map_err(AuthError::Invalid)?,
            sub: c.sub,
            patient: c.patient,
            practitioner: c.practitioner,
            organization: c.organization,
            client_id: c.client_id,
            fhir_user: c.fhir_user,
            token_id: c.jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(role: Role) -> TokenRequest {
        TokenRequest {
            sub: "u1".into(),
            role,
            scope: None,
            patient: Some("p1".into()),
            practitioner: None,
            organization: None,
            client_id: None,
            fhir_user: None,
            ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let issuer = Issuer::new(SigningKey::generate(), "http://localhost/auth");
        let mut v = Verifier::default();
        v.trust_issuer(&issuer).unwrap();
        let (token, _) = issuer.issue(&request(Role::Citizen)).unwrap();
        let p = v.verify(&token).unwrap();
        assert_eq!((p.role, p.patient.as_deref()), (Role::Citizen, Some("p1")));
        assert!(p
            .scopes
            .grant("Observation", crate::Interaction::Read)
            .is_some());

        // Another key, the same kid forged: the signature fails.
        let other = Issuer::new(SigningKey::generate(), "http://localhost/auth");
        let (forged, _) = other.issue(&request(Role::System)).unwrap();
        assert!(matches!(v.verify(&forged), Err(AuthError::Invalid(_))));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_body = forged.split('.').nth(1).unwrap();
        parts[1] = forged_body;
        assert!(
            v.verify(&parts.join(".")).is_err(),
            "payload swapped under a valid header"
        );
        assert!(v.verify("not.a.token").is_err());

        // Expired (beyond the leeway).
        let mut r = request(Role::Citizen);
        r.ttl = Duration::from_secs(1);
        let (_, mut c) = issuer.issue(&r).unwrap();
        c.exp = c.iat - 120;
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(issuer.key().kid().into());
        let t = jsonwebtoken::encode(&h, &c, &issuer.key().encoding_key()).unwrap();
        assert_eq!(
            v.verify(&t),
            Err(AuthError::Invalid("the token has expired".into()))
        );
    }

    #[test]
    fn incoherent_requests_are_refused() {
        let issuer = Issuer::new(SigningKey::generate(), "http://x");
        let mut r = request(Role::Citizen);
        r.patient = None;
        assert!(issuer.issue(&r).is_err());
        let mut r = request(Role::Practitioner);
        r.practitioner = None;
        assert!(issuer.issue(&r).is_err());
        let mut r = request(Role::System);
        r.scope = Some("patient/Observation.xyz".into());
        assert!(issuer.issue(&r).is_err());
    }

    #[test]
    fn external_jwks_keys_are_trusted_by_kid() {
        let external = Issuer::new(SigningKey::generate(), "https://idp.example/realms/zdrav");
        let jwks = serde_json::json!({"keys": [external.key().public_jwk()]});
        let mut v = Verifier::default();
        assert_eq!(v.trust_jwks(external.iss(), &jwks).unwrap(), 1);
        let (t, _) = external.issue(&request(Role::Citizen)).unwrap();
        assert_eq!(v.verify(&t).unwrap().sub, "u1");
        // The same key under another issuer name does not pass the issuer check.
        let mut w = Verifier::default();
        w.trust_jwks("https://other.example", &jwks).unwrap();
        assert!(w.verify(&t).is_err());
    }
}
