//! History interactions (instance, type, system) with `_since`, `_at`, `_count` and paging links
//! pinned to a snapshot so that pages stay correct while others write.

use crate::error::ApiError;
use crate::rest::{self, Ctx, Reply};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use zdrav_store::{HistoryQuery, HistoryScope};

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn int_param(q: &[(String, String)], name: &str) -> Result<Option<usize>, ApiError> {
    param(q, name)
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer, not '{v}'"))
            })
        })
        .transpose()
}

/// `GET [base]/_history`, `[type]/_history`, `[type]/[id]/_history`.
pub async fn history(
    ctx: &Ctx,
    scope: HistoryScope,
    q: &[(String, String)],
) -> Result<Reply, ApiError> {
    // The history of a type or of the system would show other patients' versions; a limited
    // practitioner has only the history of single resources within reach.
    if ctx.care.is_some() && !matches!(scope, HistoryScope::Instance(..)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "type and system history are not available to a practitioner limited to their patients",
        ));
    }
    for (k, _) in q {
        if !matches!(
            k.as_str(),
            "_count" | "_since" | "_at" | "_snapshot" | "_offset" | "_format" | "_pretty"
        ) {
            return Err(ApiError::bad_request(format!(
                "unknown history parameter '{k}'"
            )));
        }
    }
    let count = int_param(q, "_count")?
        .unwrap_or(ctx.limits.default_page_size)
        .min(ctx.limits.max_page_size);
    let since = param(q, "_since")
        .map(|s| {
            zdrav_store::parse_fhir_datetime_range(s)
                .map(|(start, _)| start)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("_since must be a FHIR instant, not '{s}'"))
                })
        })
        .transpose()?;
    let at = param(q, "_at")
        .map(|s| {
            zdrav_store::parse_fhir_datetime_range(s).ok_or_else(|| {
                ApiError::bad_request(format!("_at must be a FHIR date or dateTime, not '{s}'"))
            })
        })
        .transpose()?;
    let snapshot = param(q, "_snapshot")
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid _snapshot"))
        })
        .transpose()?;
    let offset = int_param(q, "_offset")?.unwrap_or(0);
    let page = ctx
        .store
        .history(HistoryQuery {
            scope: scope.clone(),
            since_micros: since,
            at_micros: at,
            snapshot,
            offset,
            count,
        })
        .await?;
    if let HistoryScope::Instance(t, id) = &scope {
        if page.total == 0 && since.is_none() && at.is_none() {
            return Err(ApiError::not_found(format!("{t}/{id} is not known")));
        }
        // Every version shown must be within reach (a resource may have changed patient).
        for v in page.entries.iter().filter(|v| !v.deleted) {
            crate::care::check_read(ctx, t, id, &v.json).await?;
        }
    }
    for v in &page.entries {
        crate::integrity::check(ctx, v).await?;
    }
    let path = match &scope {
        HistoryScope::System => "_history".to_string(),
        HistoryScope::Type(t) => format!("{t}/_history"),
        HistoryScope::Instance(t, id) => format!("{t}/{id}/_history"),
    };
    let link = |rel: &str, off: usize| {
        let mut parts = vec![format!("_count={count}")];
        if let Some(s) = param(q, "_since") {
            parts.push(format!("_since={}", enc(s)));
        }
        if let Some(s) = param(q, "_at") {
            parts.push(format!("_at={}", enc(s)));
        }
        parts.push(format!("_snapshot={}", page.snapshot));
        parts.push(format!("_offset={off}"));
        json!({"relation": rel, "url": format!("{}/{path}?{}", ctx.base, parts.join("&"))})
    };
    let mut links = vec![link("self", offset), link("first", 0)];
    if (offset + count) < page.total as usize && count > 0 {
        links.push(link("next", offset + count));
    }
    if offset > 0 {
        links.push(link("previous", offset.saturating_sub(count)));
    }
    let mut entries = Vec::with_capacity(page.entries.len());
    for r in &page.entries {
        let mut e = Map::new();
        e.insert(
            "fullUrl".into(),
            json!(format!("{}/{}/{}", ctx.base, r.rtype, r.id)),
        );
        if !r.deleted {
            let v: Value = serde_json::from_slice(&r.json)
                .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
            e.insert("resource".into(), v);
        }
        let (method, url, status) = if r.deleted {
            ("DELETE", format!("{}/{}", r.rtype, r.id), "204 No Content")
        } else if r.version == 1 {
            ("POST", r.rtype.clone(), "201 Created")
        } else {
            ("PUT", format!("{}/{}", r.rtype, r.id), "200 OK")
        };
        e.insert("request".into(), json!({"method": method, "url": url}));
        e.insert(
            "response".into(),
            json!({"status": status, "etag": format!("W/\"{}\"", r.version), "lastModified": r.last_updated}),
        );
        entries.push(Value::Object(e));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": rest::new_id(),
        "type": "history",
        "total": page.total,
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(Reply::json(StatusCode::OK, bundle))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
