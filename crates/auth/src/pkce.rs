//! PKCE (RFC 7636) for the authorization-code flow: only the S256 method, as SMART requires.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The S256 challenge of a verifier: BASE64URL(SHA-256(verifier)).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a verifier's form (43–128 characters of `[A-Za-z0-9-._~]`) and that it matches the
/// challenge given at authorisation.
pub fn verify(verifier: &str, challenge_sent: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(ok_char) {
        return Err("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~".into());
    }
    if challenge(verifier) != challenge_sent {
        return Err("code_verifier does not match the code_challenge".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636, appendix B.
    #[test]
    fn rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_ok());
        assert!(verify(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN").is_err());
        assert!(verify("short", &challenge("short")).is_err());
    }
}
