//! Reads and version reads (`GET [type]/[id]`, `GET [type]/[id]/_history/[vid]`): the
//! access checks on what was stored, `If-None-Match`/`If-Modified-Since`, and the integrity
//! check of document bodies. A top-level read of a Binary leaves a large body in the store
//! (`stored_body`) and answers with it streamed.

use axum::http::StatusCode;
use zdrav_store::StoredResource;

use crate::error::ApiError;
use crate::rest::{check_id, check_type, Conditions, Ctx, Payload, Reply};
use crate::stored_body::Found;

/// `GET [type]/[id]`.
pub async fn read(ctx: &Ctx, rtype: &str, id: &str, c: &Conditions) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    check_id(id)?;
    let found = if rtype == "Binary" && c.stream {
        crate::stored_body::open(ctx, id, None).await?
    } else {
        ctx.store.read(rtype, id).await?.map(Found::Whole)
    };
    let found = found.ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} is not known")))?;
    let r = found.resource();
    if r.deleted {
        return Err(gone(r));
    }
    crate::care::check_read(ctx, rtype, id, found.json()).await?;
    crate::access::check_stored(ctx, rtype, id, found.json()).await?;
    if not_modified(r, c) {
        let mut reply = Reply::stored(r);
        reply.status = StatusCode::NOT_MODIFIED;
        reply.payload = Payload::None;
        return Ok(reply);
    }
    checked_reply(ctx, found).await
}

/// The reply of a read or vread whose access was allowed, after the integrity check.
async fn checked_reply(ctx: &Ctx, found: Found) -> Result<Reply, ApiError> {
    match found {
        Found::Whole(r) => {
            crate::integrity::check(ctx, &r).await?;
            Ok(Reply::stored(&r))
        }
        Found::Large(r, b) => {
            crate::integrity::verify(&ctx.store, &r.id, &b).await?;
            Ok(Reply {
                payload: Payload::Binary(std::sync::Arc::new(b)),
                ..Reply::stored(&r)
            })
        }
    }
}

pub(crate) fn gone(r: &StoredResource) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "deleted",
        format!(
            "{}/{} was deleted (version {}, {})",
            r.rtype, r.id, r.version, r.last_updated
        ),
    )
}

fn not_modified(r: &StoredResource, c: &Conditions) -> bool {
    if let Some(v) = c.if_none_match {
        return v == r.version;
    }
    if let Some(since) = c.if_modified_since {
        if let Some((start, _)) = zdrav_store::parse_fhir_datetime_range(&r.last_updated) {
            let secs = start.div_euclid(1_000_000);
            let since_secs = since
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            return secs <= since_secs;
        }
    }
    false
}

/// `GET [type]/[id]/_history/[vid]`.
pub async fn vread(
    ctx: &Ctx,
    rtype: &str,
    id: &str,
    vid: &str,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    check_id(id)?;
    let version: u64 = vid
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid version id '{vid}'")))?;
    let found = if rtype == "Binary" && c.stream {
        crate::stored_body::open(ctx, id, Some(version)).await?
    } else {
        ctx.store.vread(rtype, id, version).await?.map(Found::Whole)
    };
    let found =
        found.ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} has no version {vid}")))?;
    if found.resource().deleted {
        return Err(gone(found.resource()));
    }
    crate::care::check_read(ctx, rtype, id, found.json()).await?;
    crate::access::check_stored(ctx, rtype, id, found.json()).await?;
    checked_reply(ctx, found).await
}
