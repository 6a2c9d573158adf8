//! Where schedules belong: the organisation behind a schedule's actor, the organisation a
//! patient is attached to, and the schedules of an organisation, a region or a doctor (for
//! `$find` and the KPIs). Schedules name their owner through their actors: an Organization
//! itself, or a PractitionerRole, HealthcareService or Location that names one.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::ApiError;
use crate::rest::Ctx;

/// Schedules one scope takes at most (a region's clinics).
pub const MAX_SCHEDULES: usize = 5_000;

fn reference<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    v.pointer(path).and_then(Value::as_str)
}

/// The organisation (`Organization/id`) a schedule belongs to, through its actors.
pub async fn organisation_of(ctx: &Ctx, schedule: &Value) -> Result<Option<String>, ApiError> {
    let actors: Vec<&str> = schedule
        .get("actor")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("reference")?.as_str())
        .collect();
    if let Some(org) = actors.iter().find(|a| a.starts_with("Organization/")) {
        return Ok(Some((*org).to_string()));
    }
    for a in actors {
        let path = match a.split_once('/').map(|(t, _)| t) {
            Some("PractitionerRole" | "HealthcareService") => "/organization/reference",
            Some("Location") => "/managingOrganization/reference",
            _ => continue,
        };
        if let Some(r) = crate::refs::resolve(ctx, a).await? {
            if let Some(org) = reference(&r, path) {
                return Ok(Some(org.to_string()));
            }
        }
    }
    Ok(None)
}

/// The organisation a patient is attached to (`managingOrganization`, else a general
/// practitioner that is an organisation or a role at one).
pub async fn attachment(ctx: &Ctx, patient: &str) -> Result<Option<String>, ApiError> {
    let Some(p) = crate::refs::resolve(ctx, patient).await? else {
        return Ok(None);
    };
    if let Some(org) = reference(&p, "/managingOrganization/reference") {
        return Ok(Some(org.to_string()));
    }
    for gp in p
        .get("generalPractitioner")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("reference")?.as_str())
    {
        if gp.starts_with("Organization/") {
            return Ok(Some(gp.to_string()));
        }
        if gp.starts_with("PractitionerRole/") {
            if let Some(role) = crate::refs::resolve(ctx, gp).await? {
                if let Some(org) = reference(&role, "/organization/reference") {
                    return Ok(Some(org.to_string()));
                }
            }
        }
    }
    Ok(None)
}

/// What a booking question is limited to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `Organization/id`.
    pub organization: Option<String>,
    /// A region (Organization.address.state, e.g. the subject code `77`).
    pub region: Option<String>,
    /// `Practitioner/id`: that doctor's roles.
    pub practitioner: Option<String>,
}

impl Filter {
    /// Reads `organization`, `region` and `practitioner` from query parameters.
    pub fn from_query(q: &[(String, String)]) -> Filter {
        let get = |k: &str| crate::query::first(q, k).map(str::to_string);
        Filter {
            organization: get("organization"),
            region: get("region"),
            practitioner: get("practitioner"),
        }
    }

    /// True when nothing limits the question.
    pub fn is_empty(&self) -> bool {
        self.organization.is_none() && self.region.is_none() && self.practitioner.is_none()
    }
}

/// The organisations (`Organization/id`) of a filter; `None` when it names none.
pub async fn organisations(ctx: &Ctx, f: &Filter) -> Result<Option<Vec<String>>, ApiError> {
    let mut orgs: Option<BTreeSet<String>> = f.organization.as_ref().map(|o| {
        BTreeSet::from([if o.contains('/') {
            o.clone()
        } else {
            format!("Organization/{o}")
        }])
    });
    if let Some(region) = &f.region {
        let found: BTreeSet<String> = crate::search::unrestricted(
            ctx,
            "Organization",
            &[("address-state:exact", region.clone())],
            MAX_SCHEDULES,
        )
        .await?
        .iter()
        .filter_map(|o| o.get("id")?.as_str())
        .map(|id| format!("Organization/{id}"))
        .collect();
        orgs = Some(match orgs {
            Some(o) => o.intersection(&found).cloned().collect(),
            None => found,
        });
    }
    Ok(orgs.map(|o| o.into_iter().collect()))
}

/// The PractitionerRoles in a filter (active ones), as JSON.
pub async fn roles(ctx: &Ctx, f: &Filter) -> Result<Vec<Value>, ApiError> {
    let mut params = vec![("active:not", "false".to_string())];
    if let Some(orgs) = organisations(ctx, f).await? {
        if orgs.is_empty() {
            return Ok(Vec::new());
        }
        params.push(("organization", orgs.join(",")));
    }
    if let Some(p) = &f.practitioner {
        params.push(("practitioner", p.clone()));
    }
    crate::search::unrestricted(ctx, "PractitionerRole", &params, MAX_SCHEDULES).await
}

/// The actors a filter covers (`Type/id`): the roles, services and locations of its
/// organisations, or a doctor and their roles. (An Organization cannot itself be a Schedule's
/// or an Appointment's actor in R4.) `None` when the filter is empty.
pub async fn actors(ctx: &Ctx, f: &Filter) -> Result<Option<Vec<String>>, ApiError> {
    if f.is_empty() {
        return Ok(None);
    }
    let ids = |rtype: &'static str, found: Vec<Value>| -> Vec<String> {
        found
            .iter()
            .filter_map(|r| r.get("id")?.as_str())
            .map(|id| format!("{rtype}/{id}"))
            .collect()
    };
    let mut out: BTreeSet<String> = ids("PractitionerRole", roles(ctx, f).await?)
        .into_iter()
        .collect();
    if let Some(p) = &f.practitioner {
        out.insert(p.clone());
    } else if let Some(orgs) = organisations(ctx, f).await? {
        if orgs.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let list = orgs.join(",");
        for (rtype, param) in [
            ("HealthcareService", "organization"),
            ("Location", "organization"),
        ] {
            let found =
                crate::search::unrestricted(ctx, rtype, &[(param, list.clone())], MAX_SCHEDULES)
                    .await?;
            out.extend(ids(rtype, found));
        }
    }
    Ok(Some(out.into_iter().collect()))
}

/// The schedules (`Schedule/id`) of a filter's actors; `None` when the filter is empty.
pub async fn schedules(ctx: &Ctx, f: &Filter) -> Result<Option<Vec<Value>>, ApiError> {
    let Some(actors) = actors(ctx, f).await? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    // Search parameter values stay short: the actors go in chunks.
    for chunk in actors.chunks(100) {
        out.extend(
            crate::search::unrestricted(
                ctx,
                "Schedule",
                &[("actor", chunk.join(","))],
                MAX_SCHEDULES,
            )
            .await?,
        );
    }
    let mut seen = BTreeSet::new();
    out.retain(|s| {
        seen.insert(
            s.get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    });
    Ok(Some(out))
}
