//! Who is calling, and may they. Every `/fhir` request (unless the server runs with `--no-auth`)
//! carries a bearer token that [`Security::authenticate`] turns into a [`Principal`]; [`guard`]
//! then checks the interaction against the token's SMART scopes and decides whether the caller
//! is confined to one patient's compartment (a `patient/` scope: citizens, devices). Confined
//! callers read only resources of their compartment (others are 404, as if absent), search only
//! inside it (a type search runs as the compartment search, and `_include`d resources of other
//! patients are dropped), and write only resources that belong to it. The practitioner's
//! relationship rules are in [`crate::care`], representatives in [`crate::represent`].

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use zdrav_auth::{AuthError, Interaction, Issuer, Principal, ScopeContext, SigningKey, Verifier};
use zdrav_fhir::Definitions;
use zdrav_store::DynStore;

use crate::error::ApiError;
use crate::rest::Ctx;

/// The store setting that holds the built-in issuer's key.
pub const SIGNING_KEY_SETTING: &str = "auth.issuer.es256";

/// The built-in issuer's name (`iss`): the same for `zdrav token` and every server on the
/// database, whatever address the server listens on.
pub const BUILT_IN_ISSUER: &str = "urn:zdrav:issuer";

/// The identity side of a server: the issuer and the keys it trusts.
#[derive(Debug, Clone)]
pub struct Security {
    /// The built-in issuer.
    pub issuer: Issuer,
    /// Trusted keys.
    pub verifier: Verifier,
    /// Clients and users of the built-in authorization server.
    pub config: crate::smart::AuthConfig,
}

impl Security {
    /// The built-in issuer of `store` (its key created on first use), trusted by the verifier.
    pub async fn open(store: &DynStore) -> Result<Security, String> {
        let fresh = SigningKey::generate();
        let der = store
            .setting_or_init(SIGNING_KEY_SETTING, fresh.to_pkcs8_der().to_vec())
            .await
            .map_err(|e| format!("cannot read the signing key: {e}"))?;
        let key = SigningKey::from_pkcs8_der(&der)?;
        let issuer = Issuer::new(key, BUILT_IN_ISSUER);
        let mut verifier = Verifier::default();
        verifier.trust_issuer(&issuer)?;
        Ok(Security {
            issuer,
            verifier,
            config: crate::smart::AuthConfig::default(),
        })
    }

    /// The caller of a request, from its `Authorization: Bearer` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)
            .map_err(unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                unauthorized(AuthError::Invalid(
                    "the Authorization header must be 'Bearer <token>'".into(),
                ))
            })?;
        self.verifier.verify(token.trim()).map_err(unauthorized)
    }
}

/// A 401 (or 403) OperationOutcome for an authentication failure.
pub fn unauthorized(e: AuthError) -> ApiError {
    match e {
        AuthError::Forbidden(msg) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
        AuthError::Missing => ApiError::new(StatusCode::UNAUTHORIZED, "login", e.to_string()),
        AuthError::Invalid(_) => ApiError::new(StatusCode::UNAUTHORIZED, "security", e.to_string()),
    }
}

/// Who a request runs as.
#[derive(Debug, Clone, Default)]
pub enum Caller {
    /// No authentication (`--no-auth`, and the command-line loader): everything is allowed.
    #[default]
    Unrestricted,
    /// An authenticated caller.
    Principal(Arc<Principal>),
}

/// What a request may reach once its scopes allow the interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Whatever the interaction names.
    All,
    /// Only the compartment of this patient (id).
    Patient(String),
}

/// Checks `interaction` on `rtype` against the caller's scopes.
pub fn guard(ctx: &Ctx, rtype: &str, interaction: Interaction) -> Result<Reach, ApiError> {
    let Caller::Principal(p) = &ctx.caller else {
        return Ok(Reach::All);
    };
    match p.scopes.grant(rtype, interaction) {
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token's scopes do not allow '{}' on {rtype}",
                interaction.letter()
            ),
        )),
        Some(ScopeContext::Patient) => match &p.patient {
            Some(id) => Ok(Reach::Patient(id.clone())),
            None => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a patient/ scope needs a patient in the token's context",
            )),
        },
        Some(_) => Ok(Reach::All),
    }
}

/// Refuses an interaction a confined caller cannot be limited to its compartment for.
pub fn unconfinable(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{what} is not available with patient/ scopes"),
    )
}

/// True if `resource` (of type `rtype`, id `id`) may be seen by a caller confined to patient
/// `own`: the patient itself, a resource in its compartment, or a resource of a type that holds
/// no patient data (not in the Patient compartment at all).
pub fn in_reach(defs: &Definitions, own: &str, rtype: &str, id: &str, resource: &Value) -> bool {
    if rtype == "Patient" {
        return id == own;
    }
    if !crate::export::engine::in_patient_compartment(defs, rtype) {
        return true;
    }
    crate::export::engine::compartment_patients(defs, rtype, resource)
        .iter()
        .any(|p| p == own)
}

/// The 404 a confined caller gets for a resource outside its compartment: it must not learn
/// that the resource exists.
pub fn hidden(rtype: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("{rtype}/{id} is not known"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reach_of_a_confined_caller() {
        let defs = zdrav_fhir::r4();
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}});
        assert!(in_reach(defs, "p1", "Observation", "o", &obs));
        assert!(!in_reach(defs, "p2", "Observation", "o", &obs));
        assert!(in_reach(defs, "p1", "Patient", "p1", &json!({})));
        assert!(!in_reach(defs, "p1", "Patient", "p2", &json!({})));
        let org = json!({"resourceType": "Organization", "name": "x"});
        assert!(in_reach(defs, "p1", "Organization", "o", &org));
    }
}
