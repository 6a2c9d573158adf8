//! Replies as HTTP responses: the body (stored JSON as it is, built JSON, `_pretty`, a large
//! Binary streamed from the store), `ETag`, `Last-Modified`, `Location`, and errors as
//! OperationOutcome.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::rest::{Ctx, Payload, Reply};

/// Renders an error as an OperationOutcome response.
pub fn error_response(e: &ApiError, content_type: &'static str) -> Response {
    let body = serde_json::to_vec(&zdrav_fhir::operation_outcome(&e.issues)).unwrap_or_default();
    let mut r = (e.status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An instant as an HTTP date (`Last-Modified`).
pub(crate) fn http_date(instant: &str) -> Option<String> {
    let (start, _) = zdrav_store::parse_fhir_datetime_range(instant)?;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(u64::try_from(start).ok()?);
    Some(httpdate::fmt_http_date(t))
}

pub(crate) fn render(
    ctx: &Ctx,
    reply: Reply,
    content_type: &'static str,
    pretty: bool,
    head: bool,
) -> Response {
    if let Payload::Binary(b) = &reply.payload {
        // A large Binary, streamed as stored (`_pretty` is not applied to it).
        let mut r = Response::new(if head { Body::empty() } else { b.json_body() });
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(b.json_size()));
        return headers(ctx, r, reply, content_type);
    }
    let mut reply = reply;
    let body: bytes::Bytes = match std::mem::replace(&mut reply.payload, Payload::None) {
        Payload::Binary(_) | Payload::None => bytes::Bytes::new(),
        Payload::Raw(b) if !pretty => b,
        Payload::Raw(b) => serde_json::from_slice::<Value>(&b)
            .and_then(|v| serde_json::to_vec_pretty(&v))
            .map_or(b, bytes::Bytes::from),
        Payload::Json(v) if pretty => serde_json::to_vec_pretty(&v).unwrap_or_default().into(),
        Payload::Json(v) => serde_json::to_vec(&v).unwrap_or_default().into(),
    };
    let content_type = if body.is_empty() { "" } else { content_type };
    let r = Response::new(if head {
        Body::empty()
    } else {
        Body::from(body)
    });
    headers(ctx, r, reply, content_type)
}

/// Sets the status and the headers of a reply on its response (`Content-Type` unless empty).
fn headers(ctx: &Ctx, mut r: Response, reply: Reply, content_type: &'static str) -> Response {
    *r.status_mut() = reply.status;
    let h = r.headers_mut();
    if !content_type.is_empty() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Some(v) = reply.version {
        if let Ok(val) = HeaderValue::from_str(&format!("W/\"{v}\"")) {
            h.insert(header::ETAG, val);
        }
    }
    if let Some(lm) = reply.last_modified.as_deref().and_then(http_date) {
        if let Ok(val) = HeaderValue::from_str(&lm) {
            h.insert(header::LAST_MODIFIED, val);
        }
    }
    if let Some(loc) = reply.location {
        if let Ok(val) = HeaderValue::from_str(&format!("{}/{loc}", ctx.base)) {
            h.insert(header::LOCATION, val.clone());
            if reply.status == StatusCode::CREATED {
                h.insert(header::CONTENT_LOCATION, val);
            }
        }
    }
    r
}
