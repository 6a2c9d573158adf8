//! The built-in issuer's signing key: ECDSA P-256 (ES256), kept by the store as PKCS#8 DER so
//! that `zdrav token` and a server on the same database sign and verify with the same key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// An ES256 signing key with its public half's coordinates and key id.
#[derive(Clone)]
pub struct SigningKey {
    der: Vec<u8>,
    x: String,
    y: String,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> SigningKey {
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        // Encoding a freshly generated key cannot fail; the fallback keeps this infallible.
        let der = secret
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        SigningKey::from_secret(&secret, der)
    }

    /// A key from its PKCS#8 DER form (as [`SigningKey::to_pkcs8_der`] wrote it).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, String> {
        let secret = p256::SecretKey::from_pkcs8_der(der)
            .map_err(|e| format!("the stored signing key is not a P-256 PKCS#8 key: {e}"))?;
        Ok(SigningKey::from_secret(&secret, der.to_vec()))
    }

    fn from_secret(secret: &p256::SecretKey, der: Vec<u8>) -> SigningKey {
        let point = secret.public_key().to_encoded_point(false);
        let coord =
            |c: Option<&p256::FieldBytes>| c.map(|b| URL_SAFE_NO_PAD.encode(b)).unwrap_or_default();
        let (x, y) = (coord(point.x()), coord(point.y()));
        // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        SigningKey { der, x, y, kid }
    }

    /// The PKCS#8 DER form, for storage.
    pub fn to_pkcs8_der(&self) -> &[u8] {
        &self.der
    }

    /// The key id (the RFC 7638 thumbprint of the public key).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, for the issuer's JWKS.
    pub fn public_jwk(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
               "kid": self.kid, "use": "sig", "alg": "ES256"})
    }

    pub(crate) fn encoding_key(&self) -> EncodingKey {
        EncodingKey::from_ec_der(&self.der)
    }

    pub(crate) fn decoding_key(&self) -> Result<DecodingKey, String> {
        DecodingKey::from_ec_components(&self.x, &self.y).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_der() {
        let k = SigningKey::generate();
        let again = SigningKey::from_pkcs8_der(k.to_pkcs8_der()).unwrap();
        assert_eq!(k.kid(), again.kid());
        assert_eq!(k.public_jwk(), again.public_jwk());
        assert_ne!(k.kid(), SigningKey::generate().kid());
        assert!(SigningKey::from_pkcs8_der(b"junk").is_err());
    }
}
