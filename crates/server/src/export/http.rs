//! The HTTP face of bulk export: the kick-off (`$export` at system, Patient and Group level, GET
//! or POST), the status endpoint (`$export-status/{job}`: poll, or DELETE to cancel) and the file
//! endpoint (`$export-file/{job}/{file}`, streamed NDJSON). These paths are answered here, before
//! the FHIR content negotiation, because the files are NDJSON and the manifest plain JSON.

use super::engine::{Level, Plan};
use super::jobs::{Request, Status};
use super::params;
use crate::error::ApiError;
use crate::rest::{self, Ctx};
use crate::routes::error_response;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashSet;

/// Where the status of job `id` is polled, relative to the base URL.
pub fn status_path(id: &str) -> String {
    format!("$export-status/{id}")
}

/// True for the paths this module answers (segments under `/fhir`).
pub fn owns(seg: &[&str]) -> bool {
    matches!(
        seg,
        ["$export"]
            | [_, "$export"]
            | ["Group", _, "$export"]
            | ["$export-status", ..]
            | ["$export-file", ..]
    )
}

/// Answers a request on one of the paths [`owns`] accepts.
pub async fn handle(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    seg: &[&str],
) -> Response {
    let result = match seg {
        ["$export-status", id] | ["$export-file", id, _] if !ctx.exports.may_see(ctx, id) => {
            Err(ApiError::not_found(format!("no export job {id}")))
        }
        ["$export-status", id] => status(ctx, method, id).await,
        ["$export-file", id, name] => file(ctx, method, id, name).await,
        ["$export-status", ..] | ["$export-file", ..] => Err(ApiError::not_found(format!(
            "no export job or file at {}",
            uri.path()
        ))),
        _ => kickoff(ctx, method, uri, headers, body, seg).await,
    };
    result.unwrap_or_else(|e| {
        let mut r = error_response(&e, "application/fhir+json");
        if e.status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = match seg.first() {
                Some(&"$export-status") => "GET, DELETE",
                Some(&"$export-file") => "GET",
                _ => "GET, POST",
            };
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        r
    })
}

fn not_allowed(method: &Method, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        format!("{method} is not allowed on {what}"),
    )
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn prefers_async(prefer: Option<&str>) -> bool {
    prefer.is_some_and(|p| p.split([',', ';']).any(|t| t.trim() == "respond-async"))
}

/// The Patient ids among a Group's `member.entity` references.
fn group_patients(group: &Value) -> HashSet<String> {
    group
        .get("member")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.pointer("/entity/reference").and_then(Value::as_str))
        .filter_map(zdrav_search::parse_reference)
        .filter(|r| r.target_type.as_deref() == Some("Patient"))
        .filter_map(|r| r.target_id)
        .collect()
}

async fn level(ctx: &Ctx, seg: &[&str]) -> Result<Level, ApiError> {
    match seg {
        ["$export"] => Ok(Level::System),
        ["Patient", "$export"] => Ok(Level::Patient),
        ["Group", id, "$export"] => {
            rest::check_id(id)?;
            let g = ctx
                .store
                .read("Group", id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("Group/{id} is not known")))?;
            if g.deleted {
                return Err(rest::gone(&g));
            }
            let v: Value = serde_json::from_slice(&g.json)
                .map_err(|e| ApiError::internal(format!("Group/{id} is not readable: {e}")))?;
            Ok(Level::Group(group_patients(&v)))
        }
        [t, "$export"] if ctx.defs.is_resource_type(t) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!(
                "$export is available at system level, on Patient and on Group/[id], not on {t}"
            ),
        )),
        [t, ..] => Err(ApiError::not_found(format!("unknown resource type '{t}'"))),
        [] => Err(ApiError::not_found("no export here")),
    }
}

async fn kickoff(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    seg: &[&str],
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST {
        return Err(not_allowed(method, uri.path()));
    }
    let level = level(ctx, seg).await?;
    let prefer = header_str(headers, "prefer");
    if !prefers_async(prefer) {
        return Err(ApiError::bad_request(
            "$export runs asynchronously: send the header 'Prefer: respond-async'",
        ));
    }
    let mut pairs = crate::query::parse(uri.query().unwrap_or(""));
    crate::body::negotiate(headers, None)?;
    if method == Method::POST {
        let raw = crate::routes::read_body(ctx, body).await?;
        if !raw.iter().all(u8::is_ascii_whitespace) {
            if crate::body::body_kind(headers)? != crate::body::BodyKind::FhirJson {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "not-supported",
                    "POST $export takes a Parameters resource as application/fhir+json",
                ));
            }
            let doc = crate::body::parse_json(&raw, &ctx.limits)?;
            pairs.extend(params::from_parameters(ctx.defs, &doc)?);
        }
    }
    let k = params::parse(ctx.defs, &pairs, rest::prefers_strict(prefer))?;
    let mut notes = k.ignored;
    if level != Level::System {
        for t in k.types.iter().flatten() {
            if !super::engine::in_patient_compartment(ctx.defs, t) {
                notes.push(zdrav_fhir::Issue::warning(
                    "not-supported",
                    format!(
                        "{t} is not in the Patient compartment, so a patient-level export has none"
                    ),
                ));
            }
        }
    }
    let until_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let path = uri.path().strip_prefix("/fhir").unwrap_or(uri.path());
    let url = match uri.query() {
        Some(q) => format!("{}{path}?{q}", ctx.base),
        None => format!("{}{path}", ctx.base),
    };
    let plan = Plan {
        level,
        types: k.types,
        since_micros: k.since_micros,
        until_micros,
    };
    let exports = ctx.exports.clone();
    // Expired jobs go when new ones come; the scan of the directory is blocking work.
    let sweeper = exports.clone();
    tokio::task::spawn_blocking(move || sweeper.sweep());
    let id = exports.start(ctx, Request { plan, url, notes })?;
    let location = format!("{}/{}", ctx.base, status_path(&id));
    let body = zdrav_fhir::operation_outcome(&[zdrav_fhir::Issue::information(
        "informational",
        format!("export started; poll {location}"),
    )]);
    let mut r = (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::CONTENT_LOCATION, v);
    }
    Ok(r)
}

fn unknown_job(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "export job '{id}' is not known (never started, cancelled or expired)"
    ))
}

async fn status(ctx: &Ctx, method: &Method, id: &str) -> Result<Response, ApiError> {
    let exports = &ctx.exports;
    match *method {
        Method::DELETE => {
            if !exports.cancel(id).await {
                return Err(unknown_job(id));
            }
            let body = zdrav_fhir::operation_outcome(&[zdrav_fhir::Issue::information(
                "informational",
                format!("export job {id} cancelled and its files removed"),
            )]);
            let mut r = (
                StatusCode::ACCEPTED,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/fhir+json"),
            );
            Ok(r)
        }
        Method::GET => match exports.status(id).await.ok_or_else(|| unknown_job(id))? {
            Status::Running(progress) => {
                let mut r = StatusCode::ACCEPTED.into_response();
                let h = r.headers_mut();
                if let Ok(v) = HeaderValue::from_str(&progress) {
                    h.insert("x-progress", v);
                }
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                Ok(r)
            }
            Status::Done(manifest) => {
                let mut r = (
                    StatusCode::OK,
                    serde_json::to_vec(&manifest).unwrap_or_default(),
                )
                    .into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Ok(r)
            }
            Status::Failed(e) => Err(e),
        },
        _ => Err(not_allowed(method, "an export status")),
    }
}

async fn file(ctx: &Ctx, method: &Method, id: &str, name: &str) -> Result<Response, ApiError> {
    if *method != Method::GET {
        return Err(not_allowed(method, "an export file"));
    }
    let missing = || ApiError::not_found(format!("export job '{id}' has no file '{name}'"));
    let path = ctx.exports.file(id, name).await.ok_or_else(missing)?;
    let f = tokio::fs::File::open(&path).await.map_err(|_| missing())?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024);
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+ndjson"),
    );
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_headers() {
        assert!(owns(&["$export"]));
        assert!(owns(&["Patient", "$export"]));
        assert!(owns(&["Group", "g1", "$export"]));
        assert!(owns(&["$export-status", "x"]));
        assert!(!owns(&["Patient", "p1"]));
        assert!(prefers_async(Some("respond-async")));
        assert!(prefers_async(Some("handling=strict, respond-async")));
        assert!(!prefers_async(Some("return=minimal")));
        assert!(!prefers_async(None));
    }

    #[test]
    fn group_members() {
        let g = json!({"resourceType": "Group", "member": [
            {"entity": {"reference": "Patient/a"}},
            {"entity": {"reference": "http://x/fhir/Patient/b"}},
            {"entity": {"reference": "Practitioner/c"}},
            {"entity": {"display": "nobody"}}]});
        let got = group_patients(&g);
        assert_eq!(got, HashSet::from(["a".to_string(), "b".to_string()]));
    }
}
