//! `PATCH [type]/[id]`: JSON Patch and FHIR Patch applied to the current version, validated, and
//! committed only if nobody wrote in between.

use crate::error::ApiError;
use crate::rest::{
    check_id, check_references, check_type, gone, prepare, put_op, write_reply, Conditions, Ctx,
    Reply,
};
use axum::http::StatusCode;
use serde_json::Value;
use zdrav_store::Precondition;

/// The answer to a patch that cannot be applied: 400 when the patch document itself is malformed
/// (RFC 5789 section 2.2), 422 when it is well-formed but cannot be applied to this resource.
pub fn patch_error(e: zdrav_fhir::patch::PatchError) -> ApiError {
    use zdrav_fhir::patch::PatchError;
    let (status, code) = match e {
        PatchError::Invalid(_) | PatchError::Path { .. } => (StatusCode::BAD_REQUEST, "invalid"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "processing"),
    };
    ApiError::new(status, code, e.to_string())
}

/// `PATCH [type]/[id]` with a JSON Patch or a FHIR Patch (Parameters).
pub async fn patch(
    ctx: &Ctx,
    rtype: &str,
    id: &str,
    patch_doc: &Value,
    json_patch: bool,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    check_id(id)?;
    crate::remd::check_change(ctx, rtype, id).await?;
    // Without If-Match, a concurrent writer between our read and our commit is retried, so a
    // patch never silently overwrites someone else's version.
    for _attempt in 0..5 {
        let current = ctx
            .store
            .read(rtype, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("{rtype}/{id} is not known")))?;
        if current.deleted {
            return Err(gone(&current));
        }
        if let Some(expected) = c.if_match {
            if expected != current.version {
                return Err(ApiError::precondition(format!(
                    "{rtype}/{id} is at version {}, not {expected}",
                    current.version
                )));
            }
        }
        let doc: Value = serde_json::from_slice(&current.json)
            .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
        let patched = if json_patch {
            zdrav_fhir::patch::json_patch(&doc, patch_doc)
        } else {
            zdrav_fhir::patch::fhir_patch(ctx.defs, &doc, patch_doc)
        }
        .map_err(patch_error)?;
        let mut patched = patched;
        if patched.get("id").and_then(Value::as_str) != Some(id) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "processing",
                "a patch must not change the resource id",
            ));
        }
        if rtype == "Appointment" {
            // Slots are taken and freed by the booking path, against the version patched.
            let pinned = Conditions {
                if_match: Some(current.version),
                ..c.clone()
            };
            return crate::booking::write(ctx, Some(id), patched, &pinned).await;
        }
        let checked = prepare(ctx, rtype, id, &mut patched).map_err(|mut e| {
            e.status = StatusCode::UNPROCESSABLE_ENTITY;
            e
        })?;
        let refs: Vec<_> = checked
            .local_refs
            .into_iter()
            .map(|r| (String::new(), r))
            .collect();
        // A patch whose result references nothing is an invalid result, like any other.
        check_references(&ctx.store, &refs, &Default::default())
            .await
            .map_err(|mut e| {
                if e.status == StatusCode::BAD_REQUEST {
                    e.status = StatusCode::UNPROCESSABLE_ENTITY;
                }
                e
            })?;
        let op = put_op(
            ctx,
            rtype,
            id,
            patched,
            Precondition::VersionIs(current.version),
        );
        let res = crate::audit::commit(ctx, vec![op], "patch").await;
        match res {
            Ok(mut ws) => {
                let w = ws.pop().ok_or_else(|| {
                    ApiError::internal("the store returned no result for a write")
                })?;
                return Ok(write_reply(&w, c.prefer, &checked.issues));
            }
            Err(zdrav_store::StoreError::VersionConflict { .. }) if c.if_match.is_none() => {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("{rtype}/{id} kept changing while being patched; try again"),
    ))
}
