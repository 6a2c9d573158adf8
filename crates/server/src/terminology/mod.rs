//! The terminology service over HTTP: `CodeSystem/$lookup`, `$validate-code` and
//! `$subsumes`, `ValueSet/$expand` and `$validate-code`, `ConceptMap/$translate`, at type level
//! (by `url` / `system`) and instance level (`CodeSystem/[id]/$lookup`, ...), with GET query
//! parameters or a POSTed Parameters resource. The logic is `zdrav_terminology`'s; this module
//! finds the resources ([`resolve`]) and shapes the answers.

mod expansion;
pub mod resolve;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_terminology::{CodeSystemIndex, Entry};

use crate::error::ApiError;
use crate::rest::{Ctx, Reply};

pub use resolve::Cache;

/// The operations served, by resource type.
pub fn is_operation(rtype: &str, op: &str) -> bool {
    matches!(
        (rtype, op),
        ("CodeSystem", "$lookup" | "$validate-code" | "$subsumes")
            | ("ValueSet", "$expand" | "$validate-code")
            | ("ConceptMap", "$translate")
    )
}

/// The operation's parameters from the query and a Parameters body: names to text values
/// (codings spread into `system`, `code`, `display`, `version`; `codingA`/`codingB` into
/// `codeA`/`codeB`).
fn params(
    q: &[(String, String)],
    body: Option<&Value>,
) -> Result<HashMap<String, String>, ApiError> {
    let mut out: HashMap<String, String> = q
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_format" | "_pretty"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let Some(body) = body else {
        return Ok(out);
    };
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(ApiError::bad_request(
            "the body of a terminology operation must be a Parameters resource",
        ));
    }
    for p in body
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let value = p.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(k, v)| (k.as_str(), v))
        });
        match value {
            Some(("valueCoding", c)) => {
                let suffix = name.strip_prefix("coding").unwrap_or("");
                for (field, key) in [
                    ("system", "system"),
                    ("code", "code"),
                    ("display", "display"),
                    ("version", "version"),
                ] {
                    if let Some(v) = c.get(field).and_then(Value::as_str) {
                        let key = if field == "code" {
                            format!("{key}{suffix}")
                        } else {
                            key.to_string()
                        };
                        out.entry(key).or_insert_with(|| v.to_string());
                    }
                }
            }
            Some((_, Value::String(s))) => {
                out.insert(name.to_string(), s.clone());
            }
            Some((_, v @ (Value::Number(_) | Value::Bool(_)))) => {
                out.insert(name.to_string(), v.to_string());
            }
            _ => {}
        }
    }
    Ok(out)
}

fn need<'a>(p: &'a HashMap<String, String>, name: &str, op: &str) -> Result<&'a str, ApiError> {
    p.get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::bad_request(format!("{op} needs the parameter '{name}'")))
}

fn not_found(what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", what)
}

/// Serves `op` on `rtype` (instance `id`, if any).
pub async fn handle(
    ctx: &Ctx,
    rtype: &str,
    id: Option<&str>,
    op: &str,
    q: &[(String, String)],
    body: Option<&Value>,
) -> Result<Reply, ApiError> {
    let p = params(q, body)?;
    let instance = match id {
        Some(id) => {
            let r = ctx
                .store
                .read(rtype, id)
                .await?
                .filter(|r| !r.deleted)
                .ok_or_else(|| not_found(format!("{rtype}/{id} is not known")))?;
            Some(
                serde_json::from_slice::<Value>(&r.json)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            )
        }
        None => None,
    };
    let out = match (rtype, op) {
        ("CodeSystem", _) => {
            let cs = match &instance {
                Some(r) => resolve::code_system_resource(ctx, r)?,
                None => {
                    let url = p.get("system").or_else(|| p.get("url")).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "{op} needs 'system' (or 'url', or a coding)"
                        ))
                    })?;
                    resolve::code_system(ctx, url, p.get("version").map(String::as_str))
                        .await?
                        .ok_or_else(|| not_found(format!("code system {url} is not known")))?
                }
            };
            code_system_op(&cs, op, &p)?
        }
        ("ValueSet", _) => {
            let vs = match instance {
                Some(r) => r,
                None => {
                    let url = need(&p, "url", op)?;
                    resolve::value_set(ctx, url)
                        .await?
                        .ok_or_else(|| not_found(format!("value set {url} is not known")))?
                }
            };
            value_set_op(ctx, &vs, op, &p).await?
        }
        ("ConceptMap", _) => {
            let map = match instance {
                Some(r) => r,
                None => {
                    let url = need(&p, "url", op)?;
                    resolve::concept_map(ctx, url)
                        .await?
                        .ok_or_else(|| not_found(format!("concept map {url} is not known")))?
                }
            };
            translate(&map, &p)?
        }
        _ => return Err(ApiError::not_found(format!("no operation {rtype}/{op}"))),
    };
    Ok(Reply::json(StatusCode::OK, out))
}

fn code_system_op(
    cs: &CodeSystemIndex,
    op: &str,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    match op {
        "$lookup" => {
            let code = need(p, "code", op)?;
            cs.lookup(code)
                .ok_or_else(|| not_found(format!("code '{code}' is not in {}", cs.url)))
        }
        "$validate-code" => {
            let code = need(p, "code", op)?;
            let found = cs.get(code).map(|c| Entry {
                system: cs.url.clone(),
                version: cs.version.clone(),
                code: c.code.clone(),
                display: c.display.clone(),
                inactive: c.inactive,
                parent: c.parent.map(|p| cs.concepts[p].code.clone()),
            });
            if found.is_none() && !cs.complete {
                // A fragment cannot say a code is wrong, only that it is not among those known.
                return Ok(json!({"resourceType": "Parameters", "parameter": [
                    {"name": "result", "valueBoolean": false},
                    {"name": "message", "valueString": format!(
                        "'{code}' is not among the codes of {} known here; only part of it is held (content fragment), so import the dictionary to check every code",
                        cs.url)}]}));
            }
            Ok(validation(
                found,
                code,
                &cs.url,
                p.get("display").map(String::as_str),
            ))
        }
        "$subsumes" => {
            let (a, b) = (need(p, "codeA", op)?, need(p, "codeB", op)?);
            let outcome = cs.subsumes(a, b).ok_or_else(|| {
                ApiError::bad_request(format!("'{a}' or '{b}' is not a code of {}", cs.url))
            })?;
            Ok(json!({"resourceType": "Parameters", "parameter": [
                {"name": "outcome", "valueCode": outcome.code()}]}))
        }
        _ => Err(ApiError::not_found(format!("no operation CodeSystem/{op}"))),
    }
}

/// The Parameters of `$validate-code`.
fn validation(found: Option<Entry>, code: &str, system: &str, display: Option<&str>) -> Value {
    let mut params = Vec::new();
    let (result, message) = match &found {
        None => (
            false,
            Some(format!("'{code}' is not a valid code of {system}")),
        ),
        Some(e) => match (display, &e.display) {
            (Some(given), Some(known)) if !given.eq_ignore_ascii_case(known) => (
                false,
                Some(format!(
                    "the display '{given}' of '{code}' should be '{known}'"
                )),
            ),
            _ if e.inactive => (
                true,
                Some(format!("'{code}' is inactive (retired) in {system}")),
            ),
            _ => (true, None),
        },
    };
    params.push(json!({"name": "result", "valueBoolean": result}));
    if let Some(m) = message {
        params.push(json!({"name": "message", "valueString": m}));
    }
    if let Some(e) = found {
        if let Some(d) = e.display {
            params.push(json!({"name": "display", "valueString": d}));
        }
        params.push(json!({"name": "inactive", "valueBoolean": e.inactive}));
    }
    json!({"resourceType": "Parameters", "parameter": params})
}

async fn value_set_op(
    ctx: &Ctx,
    vs: &Value,
    op: &str,
    p: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let (systems, sets) = resolve::prepare(ctx, vs).await?;
    let find_system = |url: &str, version: Option<&str>| -> Option<Arc<CodeSystemIndex>> {
        systems
            .get(&format!("{url}|{}", version.unwrap_or("")))
            .cloned()
    };
    let find_set = |url: &str| sets.get(url).cloned();
    let failed = |e: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "processing", e);
    match op {
        "$expand" => {
            let number = |k: &str, default: usize| -> Result<usize, ApiError> {
                p.get(k).map_or(Ok(default), |v| {
                    v.parse().map_err(|_| {
                        ApiError::bad_request(format!("{k} must be a number, not '{v}'"))
                    })
                })
            };
            let offset = number("offset", 0)?;
            let count = number("count", ctx.limits.default_page_size)?
                .min(ctx.limits.max_page_size.max(1000));
            let active_only = p.get("activeOnly").map(String::as_str) == Some("true");
            let mut all = zdrav_terminology::expand(
                vs,
                &find_system,
                &find_set,
                p.get("filter").map(String::as_str),
            )
            .map_err(failed)?;
            if active_only {
                all.retain(|e| !e.inactive);
            }
            let total = all.len();
            let nested = p.get("excludeNested").map(String::as_str) == Some("false");
            let contains = expansion::contains(&all, offset, count, nested);
            let mut parameters = vec![
                json!({"name": "offset", "valueInteger": offset}),
                json!({"name": "count", "valueInteger": count}),
            ];
            if let Some(f) = p.get("filter") {
                parameters.push(json!({"name": "filter", "valueString": f}));
            }
            let mut out = json!({"resourceType": "ValueSet", "status": vs.get("status").cloned().unwrap_or(json!("active")),
                "expansion": {"identifier": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                    "timestamp": zdrav_store::format_instant(chrono::Utc::now().timestamp_micros()),
                    "total": total, "offset": offset, "parameter": parameters}});
            for k in ["url", "version", "name", "title"] {
                if let Some(v) = vs.get(k) {
                    out[k] = v.clone();
                }
            }
            if !contains.is_empty() {
                out["expansion"]["contains"] = Value::Array(contains);
            }
            Ok(out)
        }
        "$validate-code" => {
            let code = need(p, "code", op)?;
            let system = p.get("system").map(String::as_str);
            let found = zdrav_terminology::includes(vs, &find_system, &find_set, system, code)
                .map_err(failed)?;
            let url = vs
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("the value set");
            Ok(validation(
                found,
                code,
                url,
                p.get("display").map(String::as_str),
            ))
        }
        _ => Err(ApiError::not_found(format!("no operation ValueSet/{op}"))),
    }
}

fn translate(map: &Value, p: &HashMap<String, String>) -> Result<Value, ApiError> {
    let code = need(p, "code", "$translate")?;
    let found = zdrav_terminology::translate(
        map,
        p.get("system").map(String::as_str),
        code,
        p.get("target")
            .or_else(|| p.get("targetsystem"))
            .map(String::as_str),
    );
    let result = found
        .iter()
        .any(|t| t.code.is_some() && t.equivalence != "unmatched" && t.equivalence != "disjoint");
    let mut params = vec![json!({"name": "result", "valueBoolean": result})];
    if !result {
        params.push(json!({"name": "message", "valueString": format!("no mapping of '{code}' in this concept map")}));
    }
    for t in found {
        let mut part = vec![json!({"name": "equivalence", "valueCode": t.equivalence})];
        if let Some(c) = t.code {
            let mut coding = json!({"system": t.system, "code": c});
            if let Some(d) = t.display {
                coding["display"] = Value::String(d);
            }
            part.push(json!({"name": "concept", "valueCoding": coding}));
        }
        params.push(json!({"name": "match", "part": part}));
    }
    Ok(json!({"resourceType": "Parameters", "parameter": params}))
}
