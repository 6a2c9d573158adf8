//! The `/fhir` router: maps a method and path to an interaction and its reply to an HTTP response.
//! Dispatch is by hand over path segments, not axum path patterns, because FHIR paths mix ids with
//! `_history`, `$operation` and `_search` in the same positions and every miss must still be a
//! FHIR OperationOutcome.

use crate::body::{self, BodyKind};
use crate::error::ApiError;
use crate::history;
use crate::query;
pub use crate::render::error_response;
pub(crate) use crate::render::http_date;
use crate::render::render;
use crate::rest::{self, Conditions, Ctx, PreferReturn, Reply};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;
use zdrav_store::HistoryScope;

fn conditions(h: &HeaderMap) -> Result<Conditions, ApiError> {
    let s = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    Ok(Conditions {
        if_match: s("if-match").map(rest::parse_etag).transpose()?,
        if_none_match: match s("if-none-match") {
            Some("*") | None => None,
            Some(v) => Some(rest::parse_etag(v)?),
        },
        if_modified_since: s("if-modified-since")
            .map(|v| {
                httpdate::parse_http_date(v).map_err(|_| {
                    ApiError::bad_request(format!("invalid If-Modified-Since date '{v}'"))
                })
            })
            .transpose()?,
        if_none_exist: s("if-none-exist").map(String::from),
        prefer: PreferReturn::parse(s("prefer")),
        strict: rest::prefers_strict(s("prefer")),
        stream: false,
    })
}

/// The axum handler for everything under `/fhir`.
pub async fn handle(
    State(mut ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Body,
) -> Response {
    ctx.client_address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let segs = segments(uri.path());
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    // The CapabilityStatement is public: clients read it to learn how to authenticate.
    let mut refused = None;
    if let (Some(sec), false) = (ctx.security.clone(), seg == ["metadata"]) {
        match sec.authenticate(&headers) {
            Ok(p) => ctx.caller = crate::auth::Caller::Principal(std::sync::Arc::new(p)),
            Err(e) => refused = Some(e),
        }
    }
    // Before the 401: failed sign-ins count against the address, so guessing is throttled too.
    if let Some(r) = throttled(&ctx) {
        return r;
    }
    if let Some(e) = refused {
        let mut r = error_response(&e, "application/fhir+json");
        if e.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"zdrav\""),
            );
        }
        return r;
    }
    serve(ctx, method, uri, headers, body).await
}

/// Everything after authentication: `ctx.caller` is who the request runs as. The web pages
/// call this in-process with their signed-in user, so they obey exactly the API's access
/// rules and leave the same audit trail.
pub async fn serve(
    mut ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let segs = segments(uri.path());
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    if let crate::auth::Caller::Principal(p) = ctx.caller.clone() {
        match crate::care::of(&ctx, &p, &headers).await {
            Ok((care, reason)) => {
                ctx.care = care.map(std::sync::Arc::new);
                ctx.break_glass = reason;
            }
            Err(e) => return error_response(&e, "application/fhir+json"),
        }
    }
    if crate::export::http::owns(&seg) {
        if let Err(e) = crate::access::export_allowed(&ctx, &seg, uri.query()) {
            return error_response(&e, "application/fhir+json");
        }
        return crate::export::http::handle(&ctx, &method, &uri, &headers, body, &seg).await;
    }
    let q = query::parse(uri.query().unwrap_or(""));
    let raw = crate::binary::wants_raw(&method, &seg, &headers, query::first(&q, "_format"));
    let content_type = match body::negotiate(&headers, query::first(&q, "_format")) {
        Ok(ct) => ct,
        Err(_) if raw => "application/fhir+json",
        Err(e) => return error_response(&e, "application/fhir+json"),
    };
    let pretty = query::first(&q, "_pretty") == Some("true");
    let head = method == Method::HEAD;
    let answer = dispatch(&ctx, &method, &uri, &headers, body, &q).await;
    crate::audit::after(&ctx, method.as_str(), &seg, uri.query(), &answer).await;
    match answer {
        Ok(reply) if raw => crate::binary::native(reply, seg.get(1).copied().unwrap_or(""), head)
            .unwrap_or_else(|reply| render(&ctx, *reply, content_type, pretty, head)),
        Ok(reply) => render(&ctx, reply, content_type, pretty, head),
        Err(e) => {
            let mut r = error_response(&e, content_type);
            if e.status == StatusCode::METHOD_NOT_ALLOWED {
                let segs = segments(uri.path());
                let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
                if let Some(allowed) = allowed_methods(ctx.defs, &seg) {
                    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                        r.headers_mut().insert(header::ALLOW, v);
                    }
                }
            }
            r
        }
    }
}

/// The 429 (with `Retry-After`) when the caller, by token subject or else by address, has
/// used up its rate.
fn throttled(ctx: &Ctx) -> Option<Response> {
    let limiter = ctx.rate_limit.as_ref()?;
    let client = match &ctx.caller {
        crate::auth::Caller::Principal(p) => format!("sub:{}", p.sub),
        crate::auth::Caller::Unrestricted => {
            format!("ip:{}", ctx.client_address.as_deref().unwrap_or("?"))
        }
    };
    let e = limiter.take(&client).err()?;
    let mut r = error_response(&e, "application/fhir+json");
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Some(r)
}

/// How much of an oversized body is still read (and dropped) before answering 413: closing a
/// connection with unread data makes the kernel reset it, and the client then loses the answer.
const DRAIN_FACTOR: usize = 4;

pub(crate) async fn read_body(ctx: &Ctx, mut body: Body) -> Result<bytes::Bytes, ApiError> {
    use axum::body::HttpBody;
    let limit = ctx.limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(frame) = frame else {
            return Err(ApiError::bad_request("the request body could not be read"));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= limit {
            buf.extend_from_slice(&data);
        } else if total > limit.saturating_mul(DRAIN_FACTOR) {
            return Err(too_large());
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

/// The decoded segments of a path under `/fhir`.
fn segments(path: &str) -> Vec<String> {
    let rest_path = path.strip_prefix("/fhir").unwrap_or(path);
    rest_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The methods a FHIR path supports, or `None` when no interaction has a path of this shape (a
/// 404). A known path asked with another method is a 405.
fn allowed_methods(
    defs: &zdrav_fhir::Definitions,
    seg: &[&str],
) -> Option<&'static [&'static str]> {
    let is_type = |t: &str| defs.is_resource_type(t);
    let is_id = |id: &str| zdrav_fhir::primitives::is_id(id);
    const READ: &[&str] = &["GET", "HEAD"];
    Some(match seg {
        [] => &["GET", "HEAD", "POST"],
        ["metadata"] | ["_history"] => READ,
        ["_search"] => &["POST"],
        [t] if is_type(t) => &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"],
        [t, "_history"] if is_type(t) => READ,
        [t, "_search"] if is_type(t) => &["POST"],
        ["Patient", id, "$everything" | "$timeline"] if is_id(id) => READ,
        [c, id, t] if is_type(c) && is_id(id) && is_type(t) => READ,
        [c, id, t, "_search"] if is_type(c) && is_id(id) && is_type(t) => &["POST"],
        [t, "$validate"] if is_type(t) => &["POST"],
        [t, op] | [t, _, op] if crate::terminology::is_operation(t, op) => &["GET", "POST"],
        [t, id] if is_type(t) && is_id(id) => &["GET", "HEAD", "PUT", "DELETE", "PATCH"],
        [t, id, "_history"] | [t, id, "_history", _] if is_type(t) && is_id(id) => READ,
        [t, id, "$validate"] if is_type(t) && is_id(id) => &["GET", "POST"],
        _ => return None,
    })
}

async fn dispatch(
    ctx: &Ctx,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    q: &[(String, String)],
) -> Result<Reply, ApiError> {
    let path = uri.path();
    let segs = segments(path);
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    if allowed_methods(ctx.defs, &seg).is_some_and(|a| !a.contains(&m)) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("{m} is not allowed on {path}"),
        ));
    }
    if seg.first() == Some(&"AuditEvent") && matches!(m, "PATCH" | "DELETE") {
        return Err(crate::access::append_only());
    }
    let reach = crate::access::check(ctx, m, &seg)?;
    crate::access::aggregates_only(ctx, m, &seg, q)?;
    crate::care::check_existing(ctx, m, &seg).await?;
    let mut cond = conditions(headers)?;
    // A view of a read needs the JSON itself.
    cond.stream = query::first(q, "_summary").is_none() && query::first(q, "_elements").is_none();
    let with_body = matches!(m, "POST" | "PUT" | "PATCH");
    let (raw, kind) = if with_body {
        let kind = body::body_kind(headers)?;
        if kind == BodyKind::Form && seg.last() != Some(&"_search") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not-supported",
                "application/x-www-form-urlencoded is only accepted by POST _search",
            ));
        }
        if kind == BodyKind::JsonPatch && m != "PATCH" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not-supported",
                format!("application/json-patch+json is only accepted by PATCH, not by {m}"),
            ));
        }
        (read_body(ctx, body).await?, kind)
    } else {
        (bytes::Bytes::new(), BodyKind::FhirJson)
    };
    let json = |raw: &bytes::Bytes| body::parse_resource(raw, &ctx.limits);
    let optional_json = |raw: &bytes::Bytes| match raw.is_empty() {
        true => Ok(None),
        false => json(raw).map(Some),
    };
    // Terminology holds no patient data: every caller its scopes let read it may use it.
    let operation = match seg.as_slice() {
        [t, op] if crate::terminology::is_operation(t, op) => Some((*t, None, *op)),
        [t, id, op] if crate::terminology::is_operation(t, op) => Some((*t, Some(*id), *op)),
        _ => None,
    };
    if let Some((t, id, op)) = operation {
        let body = if raw.is_empty() {
            None
        } else {
            Some(json(&raw)?)
        };
        return crate::terminology::handle(ctx, t, id, op, q, body.as_ref()).await;
    }
    if let crate::auth::Reach::Patient(own) = reach {
        let body = match kind {
            _ if raw.is_empty() => None,
            BodyKind::Form => Some(Value::String(String::from_utf8_lossy(&raw).into_owned())),
            _ => Some(json(&raw)?),
        };
        return crate::access::confined(ctx, &own, m, &seg, q, body, &cond).await;
    }
    match (m, seg.as_slice()) {
        ("POST", ["Patient", "$match"]) => crate::mpi::match_op(ctx, &json(&raw)?).await,
        ("POST", ["Patient", "$merge"]) => crate::merge::merge(ctx, &json(&raw)?).await,
        ("GET", ["Patient", "$ihe-pix"]) => crate::mpi::pix(ctx, q).await,
        ("GET", ["Appointment", "$find"]) => crate::booking::ops::find(ctx, q).await,
        ("GET", ["Appointment", "$kpi"]) => crate::booking::kpi::kpi(ctx, q).await,
        ("POST", ["Appointment", "$book"]) => {
            crate::booking::ops::book(ctx, &json(&raw)?, &cond, None).await
        }
        ("POST", ["Appointment", id, "$cancel"]) => {
            let body = optional_json(&raw)?;
            crate::booking::ops::cancel(ctx, id, body.as_ref(), &cond, None).await
        }
        ("POST", ["Appointment", id, "$reschedule"]) => {
            let body = optional_json(&raw)?;
            crate::booking::ops::reschedule(ctx, id, body.as_ref(), &cond, None).await
        }
        ("POST", ["Schedule", id, "$generate"]) => {
            crate::booking::schedule::generate(ctx, id, &json(&raw)?).await
        }
        ("POST", []) => {
            let bundle = json(&raw)?;
            let out = crate::bundle::process(ctx, bundle, cond.prefer).await?;
            Ok(Reply::json(StatusCode::OK, out))
        }
        ("GET" | "HEAD", ["metadata"]) => Ok(Reply::json(
            StatusCode::OK,
            crate::capability::statement(ctx.defs, &ctx.base),
        )),
        ("GET" | "HEAD", ["_history"]) => history::history(ctx, HistoryScope::System, q).await,
        ("POST", [t, "$validate"]) => rest::validate_op(ctx, t, None, Some(json(&raw)?)).await,
        ("POST", [t, id, "$validate"]) => {
            rest::validate_op(ctx, t, Some(id), Some(json(&raw)?)).await
        }
        ("GET", [t, id, "$validate"]) => rest::validate_op(ctx, t, Some(id), None).await,
        ("POST", ["_search"]) => {
            let params = form_params(q, &raw)?;
            crate::search::search(ctx, crate::search::Scope::System, &params, cond.strict).await
        }
        ("POST", [t]) => rest::create(ctx, t, json(&raw)?, &cond).await,
        ("PUT", [t, id]) => rest::update(ctx, t, id, json(&raw)?, &cond).await,
        ("PUT", [t]) => {
            let criteria = criteria(uri)?;
            rest::conditional_update(ctx, t, &criteria, json(&raw)?, &cond).await
        }
        ("DELETE", [t]) => {
            let criteria = criteria(uri)?;
            rest::conditional_delete(ctx, t, &criteria, &cond).await
        }
        ("PATCH", [_]) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "conditional patch is not supported: PATCH [type]/[id]",
        )),
        ("GET" | "HEAD", []) => {
            crate::search::search(ctx, crate::search::Scope::System, q, cond.strict).await
        }
        ("POST", [t, "_search"]) => {
            let params = form_params(q, &raw)?;
            crate::search::search(
                ctx,
                crate::search::Scope::Type(t.to_string()),
                &params,
                cond.strict,
            )
            .await
        }
        ("POST", [c, id, t, "_search"]) => {
            let params = form_params(q, &raw)?;
            let scope = crate::search::Scope::Compartment {
                compartment: c.to_string(),
                id: id.to_string(),
                rtype: t.to_string(),
            };
            crate::search::search(ctx, scope, &params, cond.strict).await
        }
        ("DELETE", [t, id]) => rest::delete(ctx, t, id, &cond).await,
        ("PATCH", [t, id]) => {
            let is_json_patch = kind == BodyKind::JsonPatch;
            let doc = body::parse_json(&raw, &ctx.limits)?;
            if !is_json_patch
                && doc.get("resourceType").and_then(Value::as_str) != Some("Parameters")
            {
                return Err(ApiError::bad_request(
                    "PATCH takes application/json-patch+json, or a FHIR Patch Parameters resource as application/fhir+json",
                ));
            }
            rest::patch(ctx, t, id, &doc, is_json_patch, &cond).await
        }
        ("GET" | "HEAD", [t, rest @ ..]) => {
            let (id, more) = match rest {
                [] => (None, &[][..]),
                [id, more @ ..] => (Some(*id), more),
            };
            let more: Vec<String> = more.iter().map(|s| s.to_string()).collect();
            get(ctx, t, id, &more, q, &cond).await
        }
        (_, []) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "not-supported",
            format!("{m} is not allowed on the base URL"),
        )),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!("no FHIR interaction matches {m} {path}"),
        )),
    }
}

/// GET interactions on a type or an instance (also used for GET entries of bundles).
pub async fn get(
    ctx: &Ctx,
    rtype: &str,
    id: Option<&str>,
    more: &[String],
    q: &[(String, String)],
    cond: &Conditions,
) -> Result<Reply, ApiError> {
    if rtype == "metadata" && id.is_none() {
        return Ok(Reply::json(
            StatusCode::OK,
            crate::capability::statement(ctx.defs, &ctx.base),
        ));
    }
    if rtype == "_history" && id.is_none() {
        return history::history(ctx, HistoryScope::System, q).await;
    }
    rest::check_type(ctx.defs, rtype)?;
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    match (id, more.as_slice()) {
        (None, []) => {
            crate::search::search(
                ctx,
                crate::search::Scope::Type(rtype.to_string()),
                q,
                cond.strict,
            )
            .await
        }
        (Some("$everything"), []) if rtype == "Patient" => Err(ApiError::bad_request(
            "Patient/$everything needs a patient id: Patient/[id]/$everything",
        )),
        (Some(id), ["$everything"]) if rtype == "Patient" => {
            crate::search::everything(ctx, id, q).await
        }
        (Some(id), ["$timeline"]) if rtype == "Patient" => {
            crate::timeline::timeline(ctx, id, q).await
        }
        (Some(id), [t]) if ctx.defs.is_resource_type(t) => {
            let scope = crate::search::Scope::Compartment {
                compartment: rtype.to_string(),
                id: id.to_string(),
                rtype: t.to_string(),
            };
            crate::search::search(ctx, scope, q, cond.strict).await
        }
        (Some("_history"), []) => {
            history::history(ctx, HistoryScope::Type(rtype.to_string()), q).await
        }
        (Some(id), []) => {
            let reply = rest::read(ctx, rtype, id, cond).await?;
            crate::views::apply(ctx, reply, q)
        }
        (Some(id), ["_history"]) => {
            rest::check_id(id)?;
            history::history(
                ctx,
                HistoryScope::Instance(rtype.to_string(), id.to_string()),
                q,
            )
            .await
        }
        (Some(id), ["_history", vid]) => {
            let reply = rest::vread(ctx, rtype, id, vid, cond).await?;
            crate::views::apply(ctx, reply, q)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!(
                "no FHIR interaction matches GET {rtype}/{}",
                [id.unwrap_or("")]
                    .iter()
                    .chain(more.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        )),
    }
}

/// The criteria of a conditional update or delete: the query string without the parameters that
/// shape the response.
fn criteria(uri: &Uri) -> Result<String, ApiError> {
    let kept: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("_format=") && !p.starts_with("_pretty="))
        .map(String::from)
        .collect();
    if kept.is_empty() {
        return Err(ApiError::bad_request(
            "a conditional update or delete needs search criteria in the query string",
        ));
    }
    Ok(kept.join("&"))
}

/// Parameters of `POST _search`: the form body and the URL query together.
fn form_params(
    q: &[(String, String)],
    raw: &bytes::Bytes,
) -> Result<Vec<(String, String)>, ApiError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| ApiError::bad_request("the _search form body is not UTF-8"))?;
    let mut params = q.to_vec();
    params.extend(crate::query::parse(text.trim()));
    Ok(params)
}
