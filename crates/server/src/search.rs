//! Search interactions: type, system and compartment search (GET and POST `_search`), searchset
//! Bundles with paging links pinned to a snapshot, `_include`/`_revinclude`, `_summary`,
//! `_elements`, `Prefer: handling=strict|lenient`, and `Patient/$everything`.

use crate::error::ApiError;
use crate::rest::{self, Ctx, Reply};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use zdrav_fhir::view::{self, SummaryMode};
use zdrav_fhir::Issue;
use zdrav_search::{Condition, ParseOptions, ParsedSearch, Prefix, SearchQuery, SearchValue};
use zdrav_store::{SearchPage, StoredResource};

/// Where a search runs.
#[derive(Debug, Clone)]
pub enum Scope {
    /// `GET [base]?...` (types from `_type`, or all).
    System,
    /// `GET [base]/[type]?...`
    Type(String),
    /// `GET [base]/[compartment]/[id]/[type]?...`
    Compartment {
        /// `Patient`.
        compartment: String,
        /// The compartment owner's id.
        id: String,
        /// The searched type.
        rtype: String,
    },
}

impl Scope {
    fn path(&self) -> String {
        match self {
            Scope::System => String::new(),
            Scope::Type(t) => t.clone(),
            Scope::Compartment {
                compartment,
                id,
                rtype,
            } => format!("{compartment}/{id}/{rtype}"),
        }
    }
}

fn search_error(e: zdrav_search::SearchError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
}

/// Parses a search for a scope (compartment condition added).
pub fn parse(
    ctx: &Ctx,
    scope: &Scope,
    params: &[(String, String)],
    strict: bool,
) -> Result<ParsedSearch, ApiError> {
    let rtype = match scope {
        Scope::System => None,
        Scope::Type(t) => {
            rest::check_type(ctx.defs, t)?;
            Some(t.as_str())
        }
        Scope::Compartment {
            compartment,
            id,
            rtype,
        } => {
            rest::check_type(ctx.defs, rtype)?;
            if compartment != "Patient" {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("only the Patient compartment is supported, not {compartment}"),
                ));
            }
            rest::check_id(id)?;
            Some(rtype.as_str())
        }
    };
    let options = ParseOptions {
        strict,
        default_count: ctx.limits.default_page_size,
        max_count: ctx.limits.max_page_size,
    };
    let mut parsed = zdrav_search::parse_query(rtype, params, &options).map_err(search_error)?;
    if let Scope::Compartment {
        compartment,
        id,
        rtype,
    } = scope
    {
        let cond =
            zdrav_search::compartment_condition(compartment, id, rtype).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("{rtype} is not in the {compartment} compartment"),
                )
            })?;
        parsed.query.conditions.push(cond);
    }
    // A practitioner's search stays inside their patients, in the query itself. Bodies carry
    // no patient of their own: they are read by id, with their securityContext's permissions.
    if ctx.care.is_some() && parsed.query.types.iter().any(|t| t == "Binary") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Binary is not searched by a practitioner limited to their patients; read it by id",
        ));
    }
    if let Some(care) = &ctx.care {
        parsed.query.patients = Some(care.patients.iter().cloned().collect());
    }
    Ok(parsed)
}

/// Runs a search and builds the searchset Bundle.
pub async fn search(
    ctx: &Ctx,
    scope: Scope,
    params: &[(String, String)],
    strict: bool,
) -> Result<Reply, ApiError> {
    let parsed = parse(ctx, &scope, params, strict)?;
    let page = ctx.store.search(&parsed.query).await?;
    for r in page.matches.iter().chain(&page.included) {
        crate::integrity::check(ctx, r).await?;
    }
    let bundle = searchset(ctx, &scope, &parsed, &page)?;
    Ok(Reply::json(StatusCode::OK, bundle))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn page_link(
    ctx: &Ctx,
    scope: &Scope,
    parsed: &ParsedSearch,
    snapshot: i64,
    offset: usize,
) -> String {
    let mut parts: Vec<String> = parsed
        .applied
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_count" | "_offset" | "_snapshot"))
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    parts.push(format!("_count={}", parsed.query.count));
    parts.push(format!("_snapshot={snapshot}"));
    parts.push(format!("_offset={offset}"));
    let path = scope.path();
    let sep = if path.is_empty() { "" } else { "/" };
    format!("{}{sep}{path}?{}", ctx.base, parts.join("&"))
}

fn shape(ctx: &Ctx, parsed: &ParsedSearch, r: &StoredResource) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(&r.json)
        .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
    if let Some(mode) = parsed.summary.as_deref().and_then(SummaryMode::parse) {
        return Ok(view::summary(ctx.defs, &v, mode));
    }
    if let Some(names) = &parsed.elements {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return Ok(view::elements(ctx.defs, &v, &names));
    }
    Ok(v)
}

fn entry(
    ctx: &Ctx,
    parsed: &ParsedSearch,
    r: &StoredResource,
    mode: &str,
) -> Result<Value, ApiError> {
    Ok(json!({
        "fullUrl": format!("{}/{}/{}", ctx.base, r.rtype, r.id),
        "resource": shape(ctx, parsed, r)?,
        "search": {"mode": mode}
    }))
}

/// Builds a searchset Bundle from a page.
pub fn searchset(
    ctx: &Ctx,
    scope: &Scope,
    parsed: &ParsedSearch,
    page: &SearchPage,
) -> Result<Value, ApiError> {
    let q = &parsed.query;
    let mut links = vec![
        json!({"relation": "self", "url": page_link(ctx, scope, parsed, page.snapshot, q.offset)}),
        json!({"relation": "first", "url": page_link(ctx, scope, parsed, page.snapshot, 0)}),
    ];
    let has_more = match page.total {
        Some(t) => ((q.offset + q.count) as u64) < t,
        None => page.matches.len() == q.count && q.count > 0,
    };
    if has_more && q.count > 0 {
        links.push(json!({"relation": "next", "url": page_link(ctx, scope, parsed, page.snapshot, q.offset + q.count)}));
    }
    if q.offset > 0 {
        links.push(json!({"relation": "previous", "url": page_link(ctx, scope, parsed, page.snapshot, q.offset.saturating_sub(q.count))}));
    }
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), json!("Bundle"));
    bundle.insert("id".into(), json!(rest::new_id()));
    bundle.insert("type".into(), json!("searchset"));
    if let Some(t) = page.total {
        bundle.insert("total".into(), json!(t));
    }
    bundle.insert("link".into(), Value::Array(links));
    let mut entries = Vec::new();
    if parsed.summary.as_deref() != Some("count") {
        for r in &page.matches {
            entries.push(entry(ctx, parsed, r, "match")?);
        }
        for r in &page.included {
            entries.push(entry(ctx, parsed, r, "include")?);
        }
    }
    if !parsed.ignored.is_empty() {
        let issues: Vec<Issue> = parsed
            .ignored
            .iter()
            .map(|(name, why)| {
                Issue::warning(
                    "not-supported",
                    format!("parameter '{name}' was ignored: {why}"),
                )
            })
            .collect();
        entries.push(json!({"resource": zdrav_fhir::operation_outcome(&issues), "search": {"mode": "outcome"}}));
    }
    if !entries.is_empty() {
        bundle.insert("entry".into(), Value::Array(entries));
    }
    Ok(Value::Object(bundle))
}

/// Finds the resources matching conditional criteria (`Type?criteria`), for conditional
/// create, update and delete. Unknown parameters are errors here: guessing could hit the
/// wrong resource.
pub async fn matches(
    ctx: &Ctx,
    rtype: &str,
    criteria: &str,
) -> Result<Vec<StoredResource>, ApiError> {
    let params = crate::query::parse(criteria.trim_start_matches('?'));
    if params.is_empty() {
        return Err(ApiError::bad_request("conditional criteria are empty"));
    }
    let mut parsed = parse(ctx, &Scope::Type(rtype.to_string()), &params, true)?;
    parsed.query.count = 2;
    parsed.query.offset = 0;
    parsed.query.include.clear();
    parsed.query.revinclude.clear();
    let page = ctx.store.search(&parsed.query).await?;
    Ok(page.matches)
}

/// A search of the server's own (not a caller's): strict, up to `count` matches, no reach.
fn own_query(
    rtype: &str,
    params: &[(&str, String)],
    extra: Option<(&str, &str)>,
    count: usize,
) -> Result<zdrav_search::SearchQuery, ApiError> {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    if let Some((k, v)) = extra {
        params.push((k.into(), v.into()));
    }
    let options = ParseOptions {
        strict: true,
        default_count: count,
        max_count: count,
    };
    zdrav_search::parse_query(Some(rtype), &params, &options)
        .map(|p| p.query)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Every current resource of `rtype` meeting `params` (at most `count`), as JSON, outside any
/// caller's reach: for the server's own lookups (care relationships, terminology), never for
/// answers a caller sees.
pub async fn unrestricted(
    ctx: &Ctx,
    rtype: &str,
    params: &[(&str, String)],
    count: usize,
) -> Result<Vec<Value>, ApiError> {
    unrestricted_in(&ctx.store, rtype, params, count).await
}

/// [`unrestricted`] on a store, for work that runs outside a request.
pub async fn unrestricted_in(
    store: &zdrav_store::DynStore,
    rtype: &str,
    params: &[(&str, String)],
    count: usize,
) -> Result<Vec<Value>, ApiError> {
    let mut query = own_query(rtype, params, None, count)?;
    query.total = zdrav_search::TotalMode::None;
    let page = store.search(&query).await?;
    Ok(page
        .matches
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.json).ok())
        .collect())
}

/// How many current resources of `rtype` meet `params`, outside any caller's reach: for the
/// server's own aggregates (the booking KPIs), never for answers about single records.
pub async fn count_unrestricted(
    ctx: &Ctx,
    rtype: &str,
    params: &[(&str, String)],
) -> Result<u64, ApiError> {
    let query = own_query(rtype, params, Some(("_summary", "count")), 0)?;
    let page = ctx.store.search(&query).await?;
    Ok(page.total.unwrap_or(0))
}

/// `Patient/[id]/$everything`: the patient, every resource in its compartment, and the
/// resources those refer to (practitioners, organisations, locations, medications...).
pub async fn everything(
    ctx: &Ctx,
    id: &str,
    params: &[(String, String)],
) -> Result<Reply, ApiError> {
    rest::check_id(id)?;
    let patient = ctx
        .store
        .read("Patient", id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| ApiError::not_found(format!("Patient/{id} is not known")))?;
    crate::care::check_read(ctx, "Patient", id, &patient.json).await?;
    let mut since = None;
    let mut types: Option<Vec<String>> = None;
    let mut count = ctx.limits.max_page_size;
    let mut offset = 0usize;
    for (k, v) in params {
        match k.as_str() {
            "_since" => {
                let (low, high) = zdrav_store::parse_fhir_datetime_range(v).ok_or_else(|| {
                    ApiError::bad_request(format!("_since must be a FHIR instant, not '{v}'"))
                })?;
                since = Some(SearchValue::Date {
                    prefix: Prefix::Ge,
                    low,
                    high,
                });
            }
            "_type" => {
                let list: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for t in &list {
                    rest::check_type(ctx.defs, t)?;
                }
                types = Some(list);
            }
            "_count" => {
                count = v
                    .parse::<usize>()
                    .map_err(|_| ApiError::bad_request("_count must be a number"))?
                    .min(ctx.limits.max_page_size);
            }
            "_offset" => {
                offset = v
                    .parse()
                    .map_err(|_| ApiError::bad_request("_offset must be a number"))?
            }
            "_format" | "_pretty" | "_snapshot" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown $everything parameter '{other}'"
                )))
            }
        }
    }
    let wanted = |t: &str| types.as_ref().is_none_or(|l| l.iter().any(|x| x == t));
    let mut all: Vec<StoredResource> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if wanted("Patient") {
        seen.insert(("Patient".to_string(), id.to_string()));
        all.push(patient);
    }
    let compartment_types: Vec<String> = {
        let mut v: Vec<String> = ctx
            .defs
            .patient_compartment
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(t, _)| t.clone())
            .collect();
        v.sort();
        v
    };
    const LIMIT: usize = 50_000;
    for t in &compartment_types {
        if !wanted(t) || t == "Patient" {
            continue;
        }
        let Some(cond) = zdrav_search::compartment_condition("Patient", id, t) else {
            continue;
        };
        let mut conditions = vec![cond];
        if let Some(s) = &since {
            conditions.push(Condition::LastUpdated(vec![s.clone()]));
        }
        let page = ctx
            .store
            .search(&SearchQuery {
                types: vec![t.clone()],
                conditions,
                sort: Vec::new(),
                count: LIMIT,
                offset: 0,
                total: zdrav_search::TotalMode::None,
                include: vec![zdrav_search::Include {
                    source_type: t.clone(),
                    param: "*".into(),
                    target_type: None,
                    iterate: false,
                }],
                revinclude: Vec::new(),
                snapshot: None,
                patients: None,
            })
            .await?;
        for r in page.matches.into_iter().chain(page.included) {
            if wanted(&r.rtype) && seen.insert((r.rtype.clone(), r.id.clone())) {
                all.push(r);
            }
        }
    }
    let total = all.len();
    for r in all.iter().skip(offset).take(count) {
        crate::integrity::check(ctx, r).await?;
    }
    let entries: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(count)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.json).unwrap_or(Value::Null);
            json!({"fullUrl": format!("{}/{}/{}", ctx.base, r.rtype, r.id), "resource": v, "search": {"mode": "match"}})
        })
        .collect();
    let link = |rel: &str, off: usize| json!({"relation": rel, "url": format!("{}/Patient/{id}/$everything?_count={count}&_offset={off}", ctx.base)});
    let mut links = vec![link("self", offset)];
    if offset + count < total {
        links.push(link("next", offset + count));
    }
    if offset > 0 {
        links.push(link("previous", offset.saturating_sub(count)));
    }
    let mut bundle = json!({"resourceType": "Bundle", "id": rest::new_id(), "type": "searchset", "total": total, "link": links});
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(Reply::json(StatusCode::OK, bundle))
}
