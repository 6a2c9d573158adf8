//! Citizens acting for those they legally represent (a parent for a child, a guardian for a
//! ward, an attorney for the principal). The token names the represented patient as its patient
//! context and the representative as `fhirUser` = `RelatedPerson/ID`; every request checks that
//! this RelatedPerson is, now, a legal representative of that patient, so ending the relation
//! (inactive, or a period that ended) ends the access at once.

use axum::http::StatusCode;
use serde_json::Value;
use zdrav_auth::{Principal, Role};

use crate::error::ApiError;
use crate::rest::Ctx;

/// HL7 v3 RoleCode.
const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

/// The relationships that make a legal representative (законный представитель): parents
/// (natural, adoptive, foster), guardians and holders of a power of attorney.
const LEGAL: [&str; 13] = [
    "PRN", "NPRN", "MTH", "FTH", "ADOPTP", "ADOPTM", "ADOPTF", "FSTPRN", "GUARD", "POWATT",
    "HPOWATT", "DPOWATT", "SPOWATT",
];

/// For a citizen whose token says they act as a RelatedPerson: 403 unless that RelatedPerson
/// legally represents the patient in context now.
pub async fn check(ctx: &Ctx, p: &Principal) -> Result<(), ApiError> {
    if p.role != Role::Citizen {
        return Ok(());
    }
    let Some(user) = &p.fhir_user else {
        return Ok(());
    };
    let patient = p.patient.as_deref().unwrap_or_default();
    let refused = |why: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{user} is not a legal representative of Patient/{patient}: {why}"),
        )
    };
    let Some(id) = user.strip_prefix("RelatedPerson/") else {
        return Err(refused("only a RelatedPerson can act for a patient"));
    };
    let stored = ctx.store.read("RelatedPerson", id).await?;
    let Some(r) = stored.filter(|r| !r.deleted) else {
        return Err(refused("no such RelatedPerson"));
    };
    let rp: Value = serde_json::from_slice(&r.json).unwrap_or(Value::Null);
    match representation(&rp, patient, chrono::Utc::now().timestamp_micros()) {
        Ok(()) => Ok(()),
        Err(why) => Err(refused(why)),
    }
}

/// Why `rp` does not represent `patient` at `now`, if it does not.
fn representation(rp: &Value, patient: &str, now: i64) -> Result<(), &'static str> {
    if rp.get("active").and_then(Value::as_bool) == Some(false) {
        return Err("the relation is inactive");
    }
    if rp.pointer("/patient/reference").and_then(Value::as_str)
        != Some(&format!("Patient/{patient}"))
    {
        return Err("it is related to another patient");
    }
    let legal = rp
        .get("relationship")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("coding").and_then(Value::as_array))
        .flatten()
        .any(|c| {
            c.get("system").and_then(Value::as_str) == Some(ROLE_CODE)
                && c.get("code")
                    .and_then(Value::as_str)
                    .is_some_and(|code| LEGAL.contains(&code))
        });
    if !legal {
        return Err("the relationship is not one of legal representation");
    }
    let bound = |k: &str, end: bool| {
        rp.pointer(&format!("/period/{k}"))
            .and_then(Value::as_str)
            .and_then(zdrav_store::parse_fhir_datetime_range)
            .map(|(lo, hi)| if end { hi } else { lo })
    };
    if bound("start", false).is_some_and(|s| now < s)
        || bound("end", true).is_some_and(|e| e <= now)
    {
        return Err("the relation is outside its period");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legal_representation() {
        let now = chrono::Utc::now().timestamp_micros();
        let rp = |code: &str, extra: Value| {
            let mut v = json!({"resourceType": "RelatedPerson", "patient": {"reference": "Patient/c"},
                "relationship": [{"coding": [{"system": ROLE_CODE, "code": code}]}]});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            v
        };
        assert_eq!(representation(&rp("MTH", json!({})), "c", now), Ok(()));
        assert_eq!(representation(&rp("GUARD", json!({})), "c", now), Ok(()));
        assert!(representation(&rp("FRND", json!({})), "c", now).is_err());
        assert!(representation(&rp("MTH", json!({})), "other", now).is_err());
        assert!(representation(&rp("MTH", json!({"active": false})), "c", now).is_err());
        let ended = json!({"period": {"start": "2010-01-01", "end": "2020-01-01"}});
        assert!(representation(&rp("GUARD", ended), "c", now).is_err());
    }
}
