//! Batch and transaction Bundles (R4 http.html#transaction). A transaction is all-or-nothing: every
//! entry is resolved, validated and checked first, then all writes go to the store in one commit.
//! Entries are processed in the order the spec prescribes (DELETE, POST, PUT/PATCH, then GET), and
//! `urn:uuid:` (or any `fullUrl`) references between entries are rewritten to the assigned ids.

use crate::error::ApiError;
use crate::rest::{self, Conditions, Ctx, Payload, PreferReturn, Reply};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use zdrav_store::{Precondition, StoreError, WriteOp};

mod transaction;
use transaction::transaction;

/// An entry's request, parsed.
#[derive(Debug, Clone)]
struct EntryRequest {
    method: String,
    rtype: String,
    id: Option<String>,
    rest: Vec<String>,
    query: String,
    cond: Conditions,
}

fn entry_err(i: usize, e: ApiError) -> ApiError {
    let prefix = format!("Bundle.entry[{i}]");
    let mut e = e;
    for issue in &mut e.issues {
        issue.expression = Some(match issue.expression.take() {
            Some(x) => match x.split_once('.') {
                Some((head, rest)) if head.chars().next().is_some_and(char::is_uppercase) => {
                    format!("{prefix}.resource.{rest}")
                }
                // A bare type name (`Patient`) points at the resource as a whole.
                None if x.chars().next().is_some_and(char::is_uppercase) => {
                    format!("{prefix}.resource")
                }
                _ => format!("{prefix}.{x}"),
            },
            None => prefix.clone(),
        });
    }
    e
}

fn parse_request(ctx: &Ctx, entry: &Value, i: usize) -> Result<EntryRequest, ApiError> {
    let req = entry
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request("entry.request is missing")
                .at(format!("Bundle.entry[{i}].request"))
        })?;
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request("entry.request.method is missing")
                .at(format!("Bundle.entry[{i}].request.method"))
        })?
        .to_ascii_uppercase();
    let url = req.get("url").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request("entry.request.url is missing")
            .at(format!("Bundle.entry[{i}].request.url"))
    })?;
    let url = url
        .strip_prefix(&ctx.base)
        .unwrap_or(url)
        .trim_start_matches('/');
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if segs.is_empty() {
        return Err(ApiError::bad_request(format!(
            "entry.request.url '{url}' names no resource type"
        ))
        .at(format!("Bundle.entry[{i}].request.url")));
    }
    let rtype = segs.remove(0);
    let id = if segs.is_empty() {
        None
    } else {
        Some(segs.remove(0))
    };
    crate::access::check_entry(ctx, &method, &rtype, id.is_some())
        .map_err(|e| e.at(format!("Bundle.entry[{i}].request")))?;
    let s = |k: &str| req.get(k).and_then(Value::as_str);
    let etag = |k: &str| {
        s(k).map(rest::parse_etag)
            .transpose()
            .map_err(|e| e.at(format!("Bundle.entry[{i}].request.{k}")))
    };
    let cond = Conditions {
        if_match: etag("ifMatch")?,
        if_none_match: etag("ifNoneMatch")?,
        if_modified_since: s("ifModifiedSince")
            .and_then(zdrav_store::parse_fhir_datetime_range)
            .map(|(start, _)| {
                std::time::UNIX_EPOCH + std::time::Duration::from_micros(start.max(0) as u64)
            }),
        if_none_exist: s("ifNoneExist").map(String::from),
        prefer: PreferReturn::Representation,
        strict: false,
        stream: false,
    };
    Ok(EntryRequest {
        method,
        rtype,
        id,
        rest: segs,
        query: query.to_string(),
        cond,
    })
}

/// Status line text for bundle entry responses.
fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

fn response_entry(base: &str, reply: &Reply, with_resource: bool) -> Value {
    let mut resp = Map::new();
    resp.insert("status".into(), json!(status_text(reply.status)));
    if let Some(l) = &reply.location {
        resp.insert("location".into(), json!(l));
    }
    if let Some(v) = reply.version {
        resp.insert("etag".into(), json!(format!("W/\"{v}\"")));
    }
    if let Some(lm) = &reply.last_modified {
        resp.insert("lastModified".into(), json!(lm));
    }
    let mut entry = Map::new();
    // Stored bytes are always the entry's resource, even a stored OperationOutcome; a built
    // OperationOutcome is the interaction's outcome.
    let (resource, stored) = match &reply.payload {
        Payload::Raw(b) if with_resource => (serde_json::from_slice(b).ok(), true),
        Payload::Json(v)
            if with_resource || v.get("resourceType") == Some(&json!("OperationOutcome")) =>
        {
            (Some(v.clone()), false)
        }
        // Entries never stream (their `Conditions::stream` is false).
        Payload::Binary(_) | Payload::Raw(_) | Payload::Json(_) | Payload::None => (None, false),
    };
    if let Some(r) = resource {
        if !stored && r.get("resourceType") == Some(&json!("OperationOutcome")) {
            resp.insert("outcome".into(), r);
        } else {
            if let (Some(t), Some(id)) = (
                r.get("resourceType").and_then(Value::as_str),
                r.get("id").and_then(Value::as_str),
            ) {
                entry.insert("fullUrl".into(), json!(format!("{base}/{t}/{id}")));
            }
            entry.insert("resource".into(), r);
        }
    }
    entry.insert("response".into(), Value::Object(resp));
    Value::Object(entry)
}

fn error_entry(e: &ApiError) -> Value {
    json!({"response": {"status": status_text(e.status), "outcome": zdrav_fhir::operation_outcome(&e.issues)}})
}

/// Processes a `batch` or `transaction` Bundle posted to the base URL.
pub async fn process(
    ctx: &Ctx,
    mut bundle: Value,
    prefer: PreferReturn,
) -> Result<Value, ApiError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(ApiError::bad_request(
            "POST to the base URL needs a Bundle of type batch or transaction",
        ));
    }
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let count = match bundle.get("entry") {
        None => 0,
        Some(Value::Array(a)) => a.len(),
        Some(_) => {
            return Err(ApiError::bad_request("Bundle.entry must be an array").at("Bundle.entry"))
        }
    };
    if count > ctx.limits.max_bundle_entries {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!(
                "the Bundle has {} entries; the limit is {}",
                count, ctx.limits.max_bundle_entries
            ),
        ));
    }
    // The envelope (type, entry.request, fullUrl, ...) is checked like any resource; the entry
    // resources are validated one by one below, against the interaction each entry asks for.
    let envelope =
        zdrav_fhir::validate::validate_bundle_envelope(ctx.defs, &bundle, &ctx.validation);
    if !envelope.is_valid() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            issues: envelope.issues,
        });
    }
    // Taken, not cloned: a bulk transaction's entries are most of the request's memory.
    let entries = match bundle.get_mut("entry").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let with_resource = prefer == PreferReturn::Representation;
    match kind.as_str() {
        "transaction" => transaction(ctx, entries, with_resource).await,
        "batch" => Ok(batch(ctx, entries, with_resource).await),
        "" => Err(ApiError::bad_request("Bundle.type is missing").at("Bundle.type")),
        other => Err(ApiError::bad_request(format!(
            "Bundle.type '{other}' cannot be processed; POST a batch or a transaction"
        ))
        .at("Bundle.type")),
    }
}

async fn batch(ctx: &Ctx, entries: Vec<Value>, with_resource: bool) -> Value {
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let res = match parse_request(ctx, &entry, i) {
            Ok(req) => run_single(ctx, &req, entry.get("resource").cloned()).await,
            Err(e) => Err(e),
        };
        out.push(match res {
            Ok(reply) => response_entry(&ctx.base, &reply, with_resource),
            Err(e) => error_entry(&entry_err(i, e)),
        });
    }
    json!({"resourceType": "Bundle", "id": rest::new_id(), "type": "batch-response", "entry": out})
}

/// Runs one entry as the matching single interaction (batch entries, and GETs in transactions).
async fn run_single(
    ctx: &Ctx,
    req: &EntryRequest,
    resource: Option<Value>,
) -> Result<Reply, ApiError> {
    let need =
        |r: Option<Value>| r.ok_or_else(|| ApiError::bad_request("entry.resource is missing"));
    if let (Some(id), []) = (req.id.as_deref(), req.rest.as_slice()) {
        crate::care::check_existing(ctx, &req.method, &[&req.rtype, id]).await?;
    }
    match (req.method.as_str(), req.id.as_deref(), req.rest.as_slice()) {
        ("POST", None, []) => rest::create(ctx, &req.rtype, need(resource)?, &req.cond).await,
        ("PUT", Some(id), []) => {
            rest::update(ctx, &req.rtype, id, need(resource)?, &req.cond).await
        }
        ("DELETE", Some(id), []) => rest::delete(ctx, &req.rtype, id, &req.cond).await,
        ("PUT", None, []) if !req.query.is_empty() => {
            rest::conditional_update(ctx, &req.rtype, &req.query, need(resource)?, &req.cond).await
        }
        ("DELETE", None, []) if !req.query.is_empty() => {
            rest::conditional_delete(ctx, &req.rtype, &req.query, &req.cond).await
        }
        ("PATCH", Some(id), []) => {
            let (doc, is_json) = patch_body(need(resource)?)?;
            rest::patch(ctx, &req.rtype, id, &doc, is_json, &req.cond).await
        }
        ("GET" | "HEAD", _, _) => {
            let query: Vec<(String, String)> = crate::query::parse(&req.query);
            crate::routes::get(
                ctx,
                &req.rtype,
                req.id.as_deref(),
                &req.rest,
                &query,
                &req.cond,
            )
            .await
        }
        _ => Err(ApiError::bad_request(format!(
            "unsupported entry request {} {}",
            req.method,
            [Some(req.rtype.as_str()), req.id.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/")
        ))),
    }
}

/// A PATCH entry carries either a Parameters (FHIR Patch) or a Binary with a JSON Patch.
fn patch_body(resource: Value) -> Result<(Value, bool), ApiError> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some("Parameters") => Ok((resource, false)),
        Some("Binary") => {
            let data = resource.get("data").and_then(Value::as_str).unwrap_or("");
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.split_whitespace().collect::<String>())
                .map_err(|_| ApiError::bad_request("Binary.data of a PATCH entry is not base64"))?;
            let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(format!("the JSON Patch in Binary.data is malformed: {e}"))
            })?;
            Ok((doc, true))
        }
        _ => Err(ApiError::bad_request(
            "a PATCH entry needs a Parameters or Binary resource",
        )),
    }
}

/// Replaces every `reference` whose value is a key of `map`; reports unresolved `urn:uuid:` ones
/// with their location (`at` is the path of `v`, e.g. `Bundle.entry[2].resource`).
fn rewrite_refs(
    v: &mut Value,
    at: &str,
    map: &HashMap<String, String>,
    unresolved: &mut Vec<(String, String)>,
) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = child {
                        if let Some(to) = map.get(s.as_str()) {
                            *s = to.clone();
                        } else if s.starts_with("urn:uuid:") || s.starts_with("urn:oid:") {
                            unresolved.push((s.clone(), format!("{at}.reference")));
                        }
                        continue;
                    }
                }
                rewrite_refs(child, &format!("{at}.{k}"), map, unresolved);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                rewrite_refs(x, &format!("{at}[{i}]"), map, unresolved);
            }
        }
        _ => {}
    }
}

fn order(method: &str) -> u8 {
    match method {
        "DELETE" => 0,
        "POST" => 1,
        "PUT" | "PATCH" => 2,
        _ => 3,
    }
}

/// Calls `f` with every `reference` that is a conditional reference (`Type?criteria`).
fn collect_conditional_refs(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(r))
                        if r.contains('?')
                            && r.chars().next().is_some_and(|c| c.is_ascii_uppercase()) =>
                    {
                        f(r)
                    }
                    _ => collect_conditional_refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_conditional_refs(x, f)),
        _ => {}
    }
}
