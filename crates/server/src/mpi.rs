//! The master patient index over HTTP: `Patient/$match` (the R4 MPI operation), duplicate
//! warnings on create, `Patient/$merge` (link and merge) and the IHE PIXm query
//! `Patient/$ihe-pix`. PDQm is the ordinary Patient search (family, given, birthdate,
//! identifier, gender, address...). Candidates come from indexed searches (identifiers, birth
//! date and its day–month swap, surname or its parts with the given name and birth year), run
//! through `search::parse` so a practitioner's reach applies; `zdrav_mpi::score` grades them.

use std::collections::{BTreeMap, HashSet};

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_fhir::Issue;
use zdrav_mpi::{Grade, Match};
use zdrav_store::StoredResource;

use crate::error::ApiError;
use crate::rest::{Ctx, Reply};
use crate::search::Scope;

/// Candidates read per blocking search.
const PER_BLOCK: usize = 200;

async fn block(
    ctx: &Ctx,
    params: Vec<(String, String)>,
    out: &mut BTreeMap<String, StoredResource>,
) -> Result<(), ApiError> {
    let mut parsed = crate::search::parse(ctx, &Scope::Type("Patient".into()), &params, false)?;
    parsed.query.count = PER_BLOCK;
    parsed.query.total = zdrav_search::TotalMode::None;
    for r in ctx.store.search(&parsed.query).await?.matches {
        out.entry(r.id.clone()).or_insert(r);
    }
    Ok(())
}

/// True if a Patient was merged into another (it only points at the survivor now).
fn merged_away(p: &Value) -> bool {
    p.get("link")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|l| l.get("type").and_then(Value::as_str) == Some("replaced-by"))
}

/// The candidates for `patient`, scored and graded at least `min`, best first.
pub async fn find(ctx: &Ctx, patient: &Value, min: Grade) -> Result<Vec<(Value, Match)>, ApiError> {
    let mut found = BTreeMap::new();
    for id in patient
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(s), Some(v)) = (
            id.get("system").and_then(Value::as_str),
            id.get("value").and_then(Value::as_str),
        ) {
            let v = v.replace('|', "\\|").replace(',', "\\,");
            block(
                ctx,
                vec![("identifier".into(), format!("{s}|{v}"))],
                &mut found,
            )
            .await?;
        }
    }
    if let Some(bd) = patient.get("birthDate").and_then(Value::as_str) {
        block(ctx, vec![("birthdate".into(), bd.to_string())], &mut found).await?;
        let parts: Vec<&str> = bd.split('-').collect();
        if let [y, m, d] = parts[..] {
            if m != d && d.parse::<u32>().is_ok_and(|d| (1..=12).contains(&d)) {
                block(
                    ctx,
                    vec![("birthdate".into(), format!("{y}-{d}-{m}"))],
                    &mut found,
                )
                .await?;
            }
        }
    }
    // Surnames are common (tens of thousands of Ивановы in a region), so the surname block is
    // the costly one: it runs only when the cheap blocks found nobody probable, and then with
    // the given name and the birth year, which finds a record whose day or month was mistyped
    // (or whose birth date is missing) without reading every namesake.
    if scored(patient, &found, Grade::Probable).next().is_some() {
        return Ok(rank(patient, found, min));
    }
    let year = patient
        .get("birthDate")
        .and_then(Value::as_str)
        .and_then(|b| b.get(..4));
    let given = patient
        .pointer("/name/0/given/0")
        .and_then(Value::as_str)
        .map(|g| g.replace(',', "\\,"));
    let families: Vec<&str> = patient
        .get("name")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("family").and_then(Value::as_str))
        .collect();
    let mut seen = HashSet::new();
    for f in families {
        for part in std::iter::once(f).chain(f.split(['-', ' '])) {
            let part = part.trim();
            if part.chars().count() < 2 || !seen.insert(part.to_lowercase()) {
                continue;
            }
            let mut params = vec![("family".to_string(), part.replace(',', "\\,"))];
            if let Some(g) = &given {
                params.push(("given".into(), g.clone()));
            }
            if let Some(y) = year {
                params.push(("birthdate".into(), y.to_string()));
            }
            block(ctx, params, &mut found).await?;
        }
    }
    Ok(rank(patient, found, min))
}

/// The candidates other than `patient` itself and merged-away records, scored, at least `min`.
fn scored<'a>(
    patient: &'a Value,
    found: &'a BTreeMap<String, StoredResource>,
    min: Grade,
) -> impl Iterator<Item = (Value, Match)> + 'a {
    let own_id = patient.get("id").and_then(Value::as_str);
    found
        .values()
        .filter(move |r| Some(r.id.as_str()) != own_id)
        .filter_map(|r| serde_json::from_slice::<Value>(&r.json).ok())
        .filter(|p| !merged_away(p))
        .map(move |p| {
            let m = zdrav_mpi::score(patient, &p);
            (p, m)
        })
        .filter(move |(_, m)| m.grade >= min)
}

/// The candidates graded at least `min`, best first.
fn rank(
    patient: &Value,
    found: BTreeMap<String, StoredResource>,
    min: Grade,
) -> Vec<(Value, Match)> {
    let mut out: Vec<(Value, Match)> = scored(patient, &found, min).collect();
    out.sort_by(|a, b| b.1.weight.total_cmp(&a.1.weight));
    out
}

fn parameter<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get("parameter")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
}

/// `POST Patient/$match`.
pub async fn match_op(ctx: &Ctx, body: &Value) -> Result<Reply, ApiError> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(ApiError::bad_request("$match takes a Parameters resource"));
    }
    let patient = parameter(body, "resource")
        .and_then(|p| p.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Patient"))
        .ok_or_else(|| {
            ApiError::bad_request("$match needs the parameter 'resource' holding a Patient")
                .at("Parameters.parameter")
        })?;
    let only_certain = parameter(body, "onlyCertainMatches")
        .and_then(|p| p.get("valueBoolean"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let count = match parameter(body, "count").and_then(|p| p.get("valueInteger")) {
        None => 10,
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_request("count must be a positive integer"))?
            as usize,
    }
    .min(ctx.limits.max_page_size);
    let min = if only_certain {
        Grade::Certain
    } else {
        Grade::Possible
    };
    let found = find(ctx, patient, min).await?;
    let total = found.len();
    let entries: Vec<Value> = found
        .into_iter()
        .take(count)
        .map(|(p, m)| {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            json!({"fullUrl": format!("{}/Patient/{id}", ctx.base), "resource": p,
                "search": {"mode": "match", "score": m.score, "extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/match-grade",
                    "valueCode": m.grade.code()}]}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "id": crate::rest::new_id(), "type": "searchset",
        "total": total, "entry": entries});
    Ok(Reply::json(StatusCode::OK, bundle))
}

/// Warnings for a Patient about to be created that probably or certainly exists already.
pub fn duplicate_warnings(found: &[(Value, Match)]) -> Vec<Issue> {
    found
        .iter()
        .filter(|(_, m)| m.grade >= Grade::Probable)
        .map(|(p, m)| {
            let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
            Issue::warning(
                "duplicate",
                format!(
                    "this patient may already be registered as Patient/{id} ({} match, score {}: {})",
                    m.grade.code(),
                    m.score,
                    m.reasons.join("; ")
                ),
            )
        })
        .collect()
}

/// `GET Patient/$ihe-pix?sourceIdentifier=system|value[&targetSystem=...]` (IHE PIXm).
pub async fn pix(ctx: &Ctx, q: &[(String, String)]) -> Result<Reply, ApiError> {
    let source = crate::query::first(q, "sourceIdentifier")
        .ok_or_else(|| ApiError::bad_request("$ihe-pix needs sourceIdentifier=system|value"))?;
    if !source.contains('|') {
        return Err(ApiError::bad_request(
            "sourceIdentifier must be system|value",
        ));
    }
    let targets: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "targetSystem")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut found = BTreeMap::new();
    block(
        ctx,
        vec![("identifier".into(), source.to_string())],
        &mut found,
    )
    .await?;
    let mut params = Vec::new();
    for r in found.values() {
        let p: Value = serde_json::from_slice(&r.json).unwrap_or(Value::Null);
        if merged_away(&p) {
            continue;
        }
        for id in p
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sys = id.get("system").and_then(Value::as_str).unwrap_or_default();
            if targets.is_empty() || targets.contains(&sys) {
                params.push(json!({"name": "targetIdentifier", "valueIdentifier": id}));
            }
        }
        params.push(json!({"name": "targetId", "valueReference": {"reference": format!("Patient/{}", r.id)}}));
    }
    if params.is_empty() {
        return Err(ApiError::not_found(format!(
            "no patient has the identifier {source}"
        )));
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({"resourceType": "Parameters", "parameter": params}),
    ))
}
