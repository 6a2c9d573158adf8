//! Identity for zdrav. A caller is a [`Principal`]: who (`sub`), in which [`Role`], on whose
//! behalf (patient, practitioner, organisation) and with which SMART v2 [`Scopes`]. Principals
//! come from bearer tokens (JWT): the built-in issuer signs them with an ES256 key kept in the
//! database ([`SigningKey`], [`Issuer`]), and the [`Verifier`] accepts those and, when an external
//! identity provider is configured, RS256 or ES256 tokens from its JWKS. PKCE ([`pkce`]) serves
//! the SMART authorization-code flow. No HTTP and no SQL here: the server crate serves the
//! endpoints and the store keeps the key.

mod keys;
pub mod pkce;
mod role;
mod scopes;
mod token;

pub use keys::SigningKey;
pub use role::Role;
pub use scopes::{Interaction, Scope, ScopeContext, Scopes};
pub use token::{AuthError, Claims, Issuer, Principal, TokenRequest, Verifier};

/// A random URL-safe string of `bytes` bytes of entropy (codes, token ids, client secrets).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
