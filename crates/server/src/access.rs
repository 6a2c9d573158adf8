//! Access control of `/fhir` requests: which SMART interaction a request is ([`check`]), and the
//! narrow surface a caller confined to one patient's compartment gets ([`confined`]).

use axum::http::StatusCode;
use serde_json::Value;
use zdrav_auth::{Interaction, Role};

use crate::auth::{guard, hidden, in_reach, unconfinable, Caller, Reach};
use crate::error::ApiError;
use crate::rest::{self, Conditions, Ctx, Payload, Reply};
use crate::search::Scope;

/// The interactions a request performs, as (type, interaction); `"*"` for system level.
fn interactions<'a>(m: &str, seg: &[&'a str]) -> Vec<(&'a str, Interaction)> {
    use Interaction::*;
    match (m, seg) {
        ("GET" | "HEAD", ["_history"]) | ("GET" | "HEAD", []) | ("POST", ["_search"]) => {
            vec![("*", Search)]
        }
        ("POST", [t]) => vec![(t, Create)],
        ("PUT", [t, _]) | ("PATCH", [t, _]) => vec![(t, Update)],
        ("PUT", [t]) => vec![(t, Update), (t, Search)],
        ("DELETE", [t, _]) => vec![(t, Delete)],
        ("DELETE", [t]) => vec![(t, Delete), (t, Search)],
        ("GET" | "HEAD", [t]) | ("POST", [t, "_search"]) | ("GET" | "HEAD", [t, "_history"]) => {
            vec![(t, Search)]
        }
        ("GET" | "HEAD", ["Patient", _, "$everything" | "$timeline"]) => {
            vec![("Patient", Read), ("*", Search)]
        }
        ("GET" | "HEAD", [_, _, t]) | ("POST", [_, _, t, "_search"])
            if t.starts_with(|c: char| c.is_ascii_uppercase()) =>
        {
            vec![(t, Search)]
        }
        ("GET", [t, _, "$validate"]) => vec![(t, Read)],
        ("POST", ["Patient", "$merge"]) => vec![("Patient", Update)],
        ("POST", ["Appointment", "$book"]) => vec![("Appointment", Create)],
        ("POST", ["Appointment", _, "$cancel" | "$reschedule"]) => vec![("Appointment", Update)],
        ("POST", ["Schedule", _, "$generate"]) => vec![("Schedule", Read), ("Slot", Create)],
        ("POST" | "GET", [t, op]) if op.starts_with('$') => vec![(t, Search)],
        ("GET" | "HEAD", [t, _]) | ("GET" | "HEAD", [t, _, "_history", ..]) => vec![(t, Read)],
        _ => Vec::new(),
    }
}

/// Checks a request's interactions against the caller's scopes; `Reach::Patient` when the
/// caller is confined to a compartment.
pub fn check(ctx: &Ctx, m: &str, seg: &[&str]) -> Result<Reach, ApiError> {
    if matches!(ctx.caller, Caller::Unrestricted) {
        return Ok(Reach::All);
    }
    let mut reach = Reach::All;
    for (rtype, interaction) in interactions(m, seg) {
        if let Reach::Patient(own) = guard(ctx, rtype, interaction)? {
            reach = Reach::Patient(own);
        }
    }
    Ok(reach)
}

/// True if `rtype` (`*`: any) holds patient data that `role` may only count.
fn counted_only(ctx: &Ctx, role: Role, rtype: &str) -> bool {
    let patient_data =
        rtype == "*" || crate::export::engine::in_patient_compartment(ctx.defs, rtype);
    match role {
        Role::Regional => patient_data,
        // The regulator reads the audit trail itself; everything else as counts.
        Role::Regulator => patient_data && rtype != "AuditEvent",
        _ => false,
    }
}

/// The regional authority and the regulator see patient data only as aggregates: a search
/// with `_summary=count` (no entries, no includes). Anything else touching patient data is
/// 403, whatever scopes their token carries.
pub fn aggregates_only(
    ctx: &Ctx,
    m: &str,
    seg: &[&str],
    q: &[(String, String)],
) -> Result<(), ApiError> {
    let Caller::Principal(p) = &ctx.caller else {
        return Ok(());
    };
    // The booking KPIs are aggregates by construction.
    if matches!((m, seg), ("GET" | "HEAD", ["Appointment", "$kpi"])) {
        return Ok(());
    }
    let touched = interactions(m, seg);
    if !touched.iter().any(|(t, _)| counted_only(ctx, p.role, t)) {
        return Ok(());
    }
    let is_search = touched.iter().all(|(_, i)| *i == Interaction::Search)
        && matches!(
            (m, seg),
            ("GET" | "HEAD", [] | [_]) | ("POST", [_, "_search"])
        );
    let count_only = crate::query::first(q, "_summary") == Some("count")
        && !q
            .iter()
            .any(|(k, _)| k.starts_with("_include") || k.starts_with("_revinclude"));
    if is_search && count_only {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "the {} role sees patient data only as aggregates: search with _summary=count",
            p.role
        ),
    ))
}

/// Who may start a bulk export: a caller with system-level search scopes that is neither
/// confined to a patient nor a practitioner limited to their patients; the regulator exports
/// only the audit trail (`_type=AuditEvent`), the regional authority nothing. Polls and files
/// are checked against the job's owner instead (`Exports::may_see`).
pub fn export_allowed(ctx: &Ctx, seg: &[&str], query: Option<&str>) -> Result<(), ApiError> {
    if matches!(seg.first(), Some(&"$export-status" | &"$export-file")) {
        return Ok(());
    }
    let refused = |who: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("$export is not available to {who}"),
        )
    };
    if let Reach::Patient(_) = check(ctx, "GET", &[])? {
        return Err(refused("a caller with patient/ scopes"));
    }
    if ctx.care.is_some() {
        return Err(refused("a practitioner limited to their patients"));
    }
    let q = crate::query::parse(query.unwrap_or(""));
    if crate::query::first(&q, "_type") == Some("AuditEvent") {
        aggregates_only(ctx, "GET", &["AuditEvent"], &[])
    } else {
        aggregates_only(ctx, "GET", &[], &[])
    }
}

/// The refusal of a change to an AuditEvent: the trail is append-only. (A PUT may still create
/// one under a new id; `rest::put_op` makes every AuditEvent write create-only, so a PUT onto
/// an existing one fails in the store, race-free, with 409.)
pub fn append_only() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        "AuditEvent is append-only: it cannot be updated or deleted",
    )
}

/// Checks one entry of a batch or transaction (`method`, type) for an authenticated caller.
/// Entries are not confined one by one yet, so a confined caller cannot post bundles; an entry
/// that changes a resource by id also needs [`crate::care::check_existing`] on its target.
pub fn check_entry(ctx: &Ctx, method: &str, rtype: &str, has_id: bool) -> Result<(), ApiError> {
    use Interaction::*;
    if rtype == "AuditEvent" && matches!(method, "PATCH" | "DELETE") {
        return Err(append_only());
    }
    if let Caller::Principal(p) = &ctx.caller {
        if counted_only(ctx, p.role, rtype) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the {} role sees patient data only as aggregates", p.role),
            ));
        }
    }
    let interaction = match (method, has_id) {
        ("POST", _) => Create,
        ("PUT" | "PATCH", _) => Update,
        ("DELETE", _) => Delete,
        (_, true) => Read,
        (_, false) => Search,
    };
    match guard(ctx, rtype, interaction)? {
        // Entries that change a resource by id have their target checked like a direct
        // request (care::check_existing); conditional ones would need every match checked.
        Reach::All if ctx.care.is_some() && matches!(interaction, Update | Delete) && !has_id => {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("conditional {method} entries are not available in bundles to a practitioner limited to their patients; use {method} [type]/[id]"),
            ))
        }
        Reach::All => Ok(()),
        Reach::Patient(_) => Err(unconfinable("a batch or transaction")),
    }
}

/// Serves a request of a caller confined to patient `own`. Reads of other patients' data are
/// 404, searches run inside the compartment, writes must stay inside it; interactions that
/// cannot be confined this way are 403.
pub async fn confined(
    ctx: &Ctx,
    own: &str,
    m: &str,
    seg: &[&str],
    q: &[(String, String)],
    body: Option<Value>,
    cond: &Conditions,
) -> Result<Reply, ApiError> {
    let defs = ctx.defs;
    match (m, seg) {
        (_, [] | ["_history"] | ["_search"] | [_, "_history"]) => {
            Err(unconfinable(&format!("{m} /{}", seg.join("/"))))
        }
        // Free slots are no one's data.
        ("GET" | "HEAD", ["Appointment", "$find"]) => crate::booking::ops::find(ctx, q).await,
        ("GET" | "HEAD", [t, id]) => {
            // `rest::read` hides what lies outside the compartment (`check_stored`).
            let reply = rest::read(ctx, t, id, cond).await?;
            crate::views::apply(ctx, reply, q)
        }
        ("GET" | "HEAD", [t, id, "_history", vid]) => {
            let reply = rest::vread(ctx, t, id, vid, cond).await?;
            crate::views::apply(ctx, reply, q)
        }
        ("GET" | "HEAD", [t]) | ("POST", [t, "_search"]) => {
            rest::check_type(defs, t)?;
            if *t == "Binary" {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "Binary is not searched with patient/ scopes; read a document's body by id",
                ));
            }
            let mut params = q.to_vec();
            if let (true, Some(Value::String(form))) = (m == "POST", body.as_ref()) {
                params.extend(crate::query::parse(form.trim()));
            }
            let scope = if *t == "Patient" {
                params.push(("_id".into(), own.to_string()));
                Scope::Type("Patient".into())
            } else if crate::export::engine::in_patient_compartment(defs, t) {
                Scope::Compartment {
                    compartment: "Patient".into(),
                    id: own.to_string(),
                    rtype: t.to_string(),
                }
            } else {
                Scope::Type(t.to_string())
            };
            let reply = crate::search::search(ctx, scope, &params, cond.strict).await?;
            Ok(filter_bundle(ctx, own, reply))
        }
        ("GET" | "HEAD", ["Patient", id, t]) if ctx.defs.is_resource_type(t) => {
            if *id != own {
                return Err(hidden("Patient", id));
            }
            let scope = Scope::Compartment {
                compartment: "Patient".into(),
                id: own.to_string(),
                rtype: t.to_string(),
            };
            let reply = crate::search::search(ctx, scope, q, cond.strict).await?;
            Ok(filter_bundle(ctx, own, reply))
        }
        ("GET" | "HEAD", ["Patient", id, "$everything"]) => {
            if *id != own {
                return Err(hidden("Patient", id));
            }
            let reply = crate::search::everything(ctx, id, q).await?;
            Ok(filter_bundle(ctx, own, reply))
        }
        ("GET" | "HEAD", ["Patient", id, "$timeline"]) => {
            if *id != own {
                return Err(hidden("Patient", id));
            }
            let reply = crate::timeline::timeline(ctx, id, q).await?;
            Ok(filter_bundle(ctx, own, reply))
        }
        ("POST", [t]) => {
            let resource = body.ok_or_else(|| ApiError::bad_request("a resource is required"))?;
            writable(ctx, own, t, "", &resource)?;
            rest::create(ctx, t, resource, cond).await
        }
        ("PUT", [t, id]) => {
            let resource = body.ok_or_else(|| ApiError::bad_request("a resource is required"))?;
            if let Some(cur) = ctx.store.read(t, id).await? {
                let old: Value = serde_json::from_slice(&cur.json).unwrap_or(Value::Null);
                if !cur.deleted && !in_reach(defs, own, t, id, &old) {
                    return Err(hidden(t, id));
                }
            }
            writable(ctx, own, t, id, &resource)?;
            rest::update(ctx, t, id, resource, cond).await
        }
        // A citizen books, cancels and moves their own appointments only.
        ("POST", ["Appointment", "$book"]) => {
            let body =
                body.ok_or_else(|| ApiError::bad_request("$book takes a Parameters resource"))?;
            crate::booking::ops::book(ctx, &body, cond, Some(own)).await
        }
        ("POST", ["Appointment", id, "$cancel"]) => {
            crate::booking::ops::cancel(ctx, id, body.as_ref(), cond, Some(own)).await
        }
        ("POST", ["Appointment", id, "$reschedule"]) => {
            crate::booking::ops::reschedule(ctx, id, body.as_ref(), cond, Some(own)).await
        }
        ("POST", [_, "$validate"]) => {
            let t = seg[0];
            rest::validate_op(ctx, t, None, body).await
        }
        _ => Err(unconfinable(&format!("{m} /{}", seg.join("/")))),
    }
}

/// For a caller confined to one patient's compartment (a `patient/` scope): 404 unless the
/// stored resource `json` is within reach. Every read and vread runs it before answering a
/// condition (304) or checking a body's integrity (500), so neither tells such a caller that
/// another patient's record exists.
pub async fn check_stored(ctx: &Ctx, rtype: &str, id: &str, json: &[u8]) -> Result<(), ApiError> {
    if !matches!(ctx.caller, Caller::Principal(_)) {
        return Ok(());
    }
    let Ok(Reach::Patient(own)) = guard(ctx, rtype, Interaction::Read) else {
        return Ok(());
    };
    let resource: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    visible(ctx, &own, rtype, id, &resource).await
}

/// 404 unless `resource` is within reach; the refusal is audited, naming the patients whose
/// data it was, so they can see the attempt.
async fn visible(
    ctx: &Ctx,
    own: &str,
    rtype: &str,
    id: &str,
    resource: &Value,
) -> Result<(), ApiError> {
    let reachable = if rtype == "Binary" {
        // A body is as private as what its securityContext names.
        match crate::remd::binary_context(ctx, resource).await? {
            Some((t, i, v)) => t != "Binary" && in_reach(ctx.defs, own, &t, &i, &v),
            None => false,
        }
    } else {
        in_reach(ctx.defs, own, rtype, id, resource)
    };
    if !reachable {
        let event = crate::audit::Event {
            action: "R",
            subtype: "read",
            outcome: "4",
            outcome_desc: Some(format!("{rtype}/{id} is outside the caller's compartment")),
            entities: vec![format!("{rtype}/{id}")],
            patients: crate::audit::patients_of(ctx, resource)
                .into_iter()
                .collect(),
            query: None,
        };
        crate::audit::record(ctx, event).await;
        return Err(hidden(rtype, id));
    }
    Ok(())
}

/// 403 unless a resource to be written belongs to the caller's compartment.
fn writable(ctx: &Ctx, own: &str, rtype: &str, id: &str, resource: &Value) -> Result<(), ApiError> {
    let in_compartment = crate::export::engine::in_patient_compartment(ctx.defs, rtype);
    if (rtype == "Patient" && id == own)
        || (in_compartment && in_reach(ctx.defs, own, rtype, id, resource))
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("with patient/ scopes a {rtype} can only be written for Patient/{own}"),
    ))
}

/// Drops the entries of a searchset that are outside the caller's reach (`_include`d
/// resources of other patients); the OperationOutcome entry stays.
fn filter_bundle(ctx: &Ctx, own: &str, mut reply: Reply) -> Reply {
    if let Payload::Json(bundle) = &mut reply.payload {
        if let Some(Value::Array(entries)) = bundle.get_mut("entry") {
            entries.retain(|e| {
                let Some(r) = e.get("resource") else {
                    return true;
                };
                let rtype = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
                let id = r.get("id").and_then(Value::as_str).unwrap_or("");
                // Bodies are read by id, with the permissions of their securityContext.
                rtype == "OperationOutcome"
                    || (rtype != "Binary" && in_reach(ctx.defs, own, rtype, id, r))
            });
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_interactions() {
        use Interaction::*;
        assert_eq!(
            interactions("GET", &["Observation"]),
            [("Observation", Search)]
        );
        assert_eq!(
            interactions("GET", &["Observation", "1"]),
            [("Observation", Read)]
        );
        assert_eq!(
            interactions("GET", &["Observation", "1", "_history", "2"]),
            [("Observation", Read)]
        );
        assert_eq!(
            interactions("GET", &["Patient", "1", "Observation"]),
            [("Observation", Search)]
        );
        assert_eq!(
            interactions("DELETE", &["Observation"]),
            [("Observation", Delete), ("Observation", Search)]
        );
        assert_eq!(interactions("GET", &["_history"]), [("*", Search)]);
        assert_eq!(
            interactions("POST", &["Observation"]),
            [("Observation", Create)]
        );
        assert_eq!(
            interactions("PATCH", &["Observation", "1"]),
            [("Observation", Update)]
        );
    }
}
