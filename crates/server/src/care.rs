//! What a practitioner may reach: the patients in the care of their organisation, or who
//! consented to them, computed afresh for every request so that a new consent, a revoked one or
//! a closed episode takes effect at once. The set becomes [`Ctx::care`]; every search of the
//! request then runs with `SearchQuery::patients` (matches, totals, `_include`, `_revinclude`,
//! chains and `_has` stay inside it), reads outside it are 404 as if absent, and writes of other
//! patients' data are 403. An emergency (break-glass) lifts the limit for one request that states
//! its reason; the request's audit events carry the reason and a `BTG` tag for review.
//!
//! The care relationship, from the resources of the record itself:
//! - `Patient.managingOrganization` is the practitioner's organisation (прикрепление), or
//!   `Patient.generalPractitioner` names the practitioner or the organisation;
//! - an active `EpisodeOfCare` managed by the organisation;
//! - an in-progress `Encounter` whose `serviceProvider` is the organisation.
//!
//! Consent: an active `Consent` whose top-level provision permits and names the practitioner or
//! the organisation as `provision.actor`, with `provision.period` (if any) covering now.

use std::collections::BTreeSet;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use zdrav_auth::{Principal, Role};

use crate::error::ApiError;
use crate::rest::Ctx;

/// The header an emergency access states its reason in (percent-encoded UTF-8 allowed).
pub const BREAK_GLASS_HEADER: &str = "x-break-glass";

/// The shortest reason accepted for an emergency access.
const MIN_REASON: usize = 5;

/// The reach of a practitioner for one request.
#[derive(Debug, Clone, Default)]
pub struct Care {
    /// Ids of the patients in care or who consented.
    pub patients: BTreeSet<String>,
}

/// How a request of `p` is limited: `Ok(None)` when it is not (other roles, or a stated
/// emergency, whose reason is returned in the second place).
pub async fn of(
    ctx: &Ctx,
    p: &Principal,
    headers: &HeaderMap,
) -> Result<(Option<Care>, Option<String>), ApiError> {
    crate::represent::check(ctx, p).await?;
    let reason = break_glass(headers)?;
    if p.role != Role::Practitioner {
        if reason.is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only a practitioner can use emergency (break-glass) access",
            ));
        }
        return Ok((None, None));
    }
    if reason.is_some() {
        return Ok((None, reason));
    }
    Ok((Some(relationships(ctx, p).await?), None))
}

/// The stated reason of an emergency access, if the request makes one.
fn break_glass(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(BREAK_GLASS_HEADER) else {
        return Ok(None);
    };
    let raw = String::from_utf8_lossy(v.as_bytes());
    let reason: String = percent_encoding::percent_decode_str(&raw)
        .decode_utf8_lossy()
        .trim()
        .to_string();
    if reason.chars().count() < MIN_REASON {
        return Err(ApiError::bad_request(format!(
            "an emergency access must state its reason in {BREAK_GLASS_HEADER} (at least {MIN_REASON} characters)"
        )));
    }
    Ok(Some(reason))
}

/// A search for resources that relate a patient to the caller: (type, parameters, the field
/// naming the patient, `id` for the Patient itself).
type Criterion = (&'static str, Vec<(&'static str, String)>, &'static str);

/// The caller's organisation and practitioner as references.
fn references(p: &Principal) -> (Option<String>, Option<String>) {
    (
        p.organization
            .as_deref()
            .map(|o| format!("Organization/{o}")),
        p.practitioner
            .as_deref()
            .map(|d| format!("Practitioner/{d}")),
    )
}

async fn relationships(ctx: &Ctx, p: &Principal) -> Result<Care, ApiError> {
    let mut care = Care::default();
    let (org, me) = references(p);
    let actors: Vec<String> = org.iter().chain(me.iter()).cloned().collect();
    if actors.is_empty() {
        return Ok(care);
    }
    let any = actors.join(",");
    let mut criteria: Vec<Criterion> = vec![
        ("Patient", vec![("general-practitioner", any.clone())], "id"),
        (
            "Consent",
            vec![("actor", any), ("status", "active".into())],
            "patient",
        ),
    ];
    if let Some(org) = &org {
        criteria.push(("Patient", vec![("organization", org.clone())], "id"));
        criteria.push((
            "EpisodeOfCare",
            vec![("organization", org.clone()), ("status", "active".into())],
            "patient",
        ));
        criteria.push((
            "Encounter",
            vec![
                ("service-provider", org.clone()),
                ("status", "in-progress".into()),
            ],
            "subject",
        ));
    }
    let now = chrono::Utc::now().timestamp_micros();
    for (rtype, params, field) in criteria {
        for r in crate::search::unrestricted(ctx, rtype, &params, usize::MAX).await? {
            if rtype == "Consent" && !permits(&r, &actors, now) {
                continue;
            }
            let id = if field == "id" {
                r.get("id").and_then(Value::as_str).map(str::to_string)
            } else {
                r.get(field)
                    .and_then(|v| v.get("reference"))
                    .and_then(Value::as_str)
                    .and_then(|s| s.strip_prefix("Patient/"))
                    .map(str::to_string)
            };
            care.patients.extend(id);
        }
    }
    Ok(care)
}

/// True if the Consent's top-level provision permits one of `actors` at `now`.
fn permits(consent: &Value, actors: &[String], now: i64) -> bool {
    let Some(provision) = consent.get("provision") else {
        return false;
    };
    if provision.get("type").and_then(Value::as_str) != Some("permit") {
        return false;
    }
    let named = provision
        .get("actor")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.pointer("/reference/reference").and_then(Value::as_str))
        .any(|r| actors.iter().any(|a| a == r));
    let bound = |k: &str, end: bool| {
        provision
            .pointer(&format!("/period/{k}"))
            .and_then(Value::as_str)
            .and_then(zdrav_store::parse_fhir_datetime_range)
            .map(|(lo, hi)| if end { hi } else { lo })
    };
    let started = bound("start", false).is_none_or(|s| s <= now);
    let not_ended = bound("end", true).is_none_or(|e| now < e);
    named && started && not_ended
}

/// True if `resource` holds no patient data, or data of a patient in `care`.
pub fn sees(ctx: &Ctx, care: &Care, resource: &Value) -> bool {
    let patients = crate::audit::patients_of(ctx, resource);
    patients.is_empty() || patients.iter().any(|p| care.patients.contains(p))
}

/// For a limited practitioner: 404 (as if absent) unless the stored resource is within reach;
/// the refusal is audited for the patients concerned.
pub async fn check_read(ctx: &Ctx, rtype: &str, id: &str, json: &[u8]) -> Result<(), ApiError> {
    let Some(care) = &ctx.care else {
        return Ok(());
    };
    let resource: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let seen = if rtype == "Binary" {
        // A body is as private as what its securityContext names.
        match crate::remd::binary_context(ctx, &resource).await? {
            Some((t, _, v)) => t != "Binary" && sees(ctx, care, &v),
            None => false,
        }
    } else {
        sees(ctx, care, &resource)
    };
    if seen {
        return Ok(());
    }
    let mut event = crate::audit::Event::new("R", "read");
    event.outcome = "4";
    event.outcome_desc = Some(format!("{rtype}/{id}: no care relationship or consent"));
    event.entities.push(format!("{rtype}/{id}"));
    event.patients = crate::audit::patients_of(ctx, &resource)
        .into_iter()
        .collect();
    crate::audit::record(ctx, event).await;
    Err(not_in_care(rtype, id))
}

/// The 404 of a resource outside a practitioner's reach.
pub fn not_in_care(rtype: &str, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "{rtype}/{id} is not known, or not of a patient in your care or who consented; \
         in an emergency state the reason in the {BREAK_GLASS_HEADER} header"
    ))
}

/// For a limited practitioner: 403 unless a resource to be written is of a patient in reach,
/// holds no patient data, or is a Patient entering the care of the practitioner's organisation.
pub fn check_write(ctx: &Ctx, rtype: &str, resource: &Value) -> Result<(), ApiError> {
    let Some(care) = &ctx.care else {
        return Ok(());
    };
    if sees(ctx, care, resource) || (rtype == "Patient" && enters_care(ctx, resource)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this {rtype} is of a patient who is not in your care and has not consented"),
    ))
}

/// True if a Patient names the caller's organisation or the caller as responsible for them.
fn enters_care(ctx: &Ctx, patient: &Value) -> bool {
    let crate::auth::Caller::Principal(p) = &ctx.caller else {
        return false;
    };
    let (org, me) = references(p);
    let refs = patient
        .pointer("/managingOrganization/reference")
        .into_iter()
        .chain(
            patient
                .get("generalPractitioner")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|g| g.get("reference")),
        )
        .filter_map(Value::as_str);
    refs.into_iter()
        .any(|r| Some(r) == org.as_deref() || Some(r) == me.as_deref())
}

/// For a limited practitioner changing `[type]/[id]` (PUT, PATCH, DELETE): the current
/// resource must be within reach, else 404 as for a read.
pub async fn check_existing(ctx: &Ctx, m: &str, seg: &[&str]) -> Result<(), ApiError> {
    let (Some(_), "PUT" | "PATCH" | "DELETE", [t, id]) = (&ctx.care, m, seg) else {
        return Ok(());
    };
    if !ctx.defs.is_resource_type(t) {
        return Ok(());
    }
    match ctx.store.read(t, id).await? {
        Some(cur) if !cur.deleted => check_read(ctx, t, id, &cur.json).await,
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consent_permits_named_actors_within_its_period() {
        let now = chrono::Utc::now().timestamp_micros();
        let actors = vec!["Practitioner/d1".to_string()];
        let consent = |kind: &str, who: &str, period: Value| {
            json!({"provision": {"type": kind, "period": period,
                "actor": [{"role": {"text": "x"}, "reference": {"reference": who}}]}})
        };
        let open = json!({"start": "2000-01-01"});
        assert!(permits(
            &consent("permit", "Practitioner/d1", open.clone()),
            &actors,
            now
        ));
        assert!(!permits(
            &consent("deny", "Practitioner/d1", open.clone()),
            &actors,
            now
        ));
        assert!(!permits(
            &consent("permit", "Practitioner/d2", open),
            &actors,
            now
        ));
        let past = json!({"start": "2000-01-01", "end": "2001-01-01"});
        assert!(!permits(
            &consent("permit", "Practitioner/d1", past),
            &actors,
            now
        ));
        let future = json!({"start": "2999-01-01"});
        assert!(!permits(
            &consent("permit", "Practitioner/d1", future),
            &actors,
            now
        ));
        let today = json!({"end": chrono::Utc::now().format("%Y-%m-%d").to_string()});
        assert!(
            permits(&consent("permit", "Practitioner/d1", today), &actors, now),
            "an end date covers the whole day"
        );
        assert!(!permits(&json!({}), &actors, now));
    }

    #[test]
    fn break_glass_needs_a_reason() {
        let mut h = HeaderMap::new();
        assert_eq!(break_glass(&h).ok(), Some(None));
        h.insert(BREAK_GLASS_HEADER, "x".parse().unwrap());
        assert!(break_glass(&h).is_err());
        h.insert(
            BREAK_GLASS_HEADER,
            "%D0%BA%D0%BE%D0%BC%D0%B0%20%D0%B2%20%D0%BF%D1%80%D0%B8%D1%91%D0%BC%D0%BD%D0%BE%D0%BC"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            break_glass(&h).ok().flatten().as_deref(),
            Some("кома в приёмном")
        );
    }
}
