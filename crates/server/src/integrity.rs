//! Integrity of registered document bodies (issue 9): the body of a legally significant
//! document is served only while its bytes are those that were signed. Every read and vread of
//! a Binary tagged registered (and so every native download, which runs through the read), and
//! every one a search, `_include`, history or `$everything` page or a bulk export would carry,
//! recomputes the size and SHA-1 of the decoded data and compares them with the `size` and
//! `hash` of `content[0].attachment` of the DocumentReference registered with it. A registered
//! document never changes except its `status` (a correction supersedes it), so its current
//! version states the registered values. On a mismatch the bytes are never served: the answer is
//! a 500 OperationOutcome and the event is logged as an error, since only damage or tampering
//! below the API can cause it.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::Value;
use zdrav_store::{DynStore, StoredResource};

use crate::binary::BinaryView;
use crate::error::ApiError;
use crate::rest::Ctx;
use crate::stored_body::StoredBinary;

/// Checks a stored Binary held whole before it is served; anything else, and unregistered
/// bodies, pass.
pub async fn check(ctx: &Ctx, r: &StoredResource) -> Result<(), ApiError> {
    check_in(&ctx.store, r).await
}

/// [`check`] with the store alone, for work that runs outside a request (bulk export).
pub async fn check_in(store: &DynStore, r: &StoredResource) -> Result<(), ApiError> {
    if r.rtype != "Binary" || r.deleted {
        return Ok(());
    }
    // The tag is read first (data borrowed, not decoded): most Binaries are not registered.
    let registered = serde_json::from_slice::<BinaryView>(&r.json)
        .map_err(|e| unreadable(&r.id, e.to_string()))?
        .registered();
    if !registered {
        return Ok(());
    }
    let binary = StoredBinary::in_memory(r.json.clone()).map_err(|e| unreadable(&r.id, e))?;
    verify(store, &r.id, &binary).await
}

/// Checks a scanned Binary (held whole or left in the store) against its registration.
pub async fn verify(store: &DynStore, id: &str, binary: &StoredBinary) -> Result<(), ApiError> {
    let view = binary.view().map_err(|e| unreadable(id, e.to_string()))?;
    if !view.registered() {
        return Ok(());
    }
    let Some((doc_id, attachment)) = registration(store, id, &view).await? else {
        return Err(failure(
            id,
            None,
            format!(
                "Binary/{id} is registered but no registered DocumentReference names it as its body"
            ),
        ));
    };
    let Ok(digest) = binary.digest() else {
        return Err(failure(
            id,
            Some(&doc_id),
            format!("the stored body of Binary/{id} is not valid base64"),
        ));
    };
    let (size, hash) = (
        digest.size,
        base64::engine::general_purpose::STANDARD.encode(digest.sha1),
    );
    let want_size = attachment.get("size").and_then(Value::as_u64);
    let want_hash = attachment.get("hash").and_then(Value::as_str);
    if want_size == Some(size) && want_hash == Some(hash.as_str()) {
        return Ok(());
    }
    Err(failure(
        id,
        Some(&doc_id),
        format!(
            "the stored body of Binary/{id} does not match its registered hash (DocumentReference/{doc_id} content[0].attachment: size {}, SHA-1 {}; stored: size {size}, SHA-1 {hash}); it is not served",
            want_size.map_or("(none)".to_string(), |s| s.to_string()),
            want_hash.unwrap_or("(none)"),
        ),
    ))
}

fn unreadable(id: &str, e: String) -> ApiError {
    failure(
        id,
        None,
        format!("the stored JSON of Binary/{id} is unreadable: {e}"),
    )
}

/// The 500 of a body that cannot be vouched for, logged as an error: only damage or tampering
/// below the API causes it.
fn failure(id: &str, doc: Option<&str>, message: String) -> ApiError {
    tracing::error!(binary = %id, document = ?doc, "{message}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "exception", message).at("Binary.data")
}

/// The registered DocumentReference whose body `Binary/id` is, and its `content[0].attachment`:
/// the one its `securityContext` names (set at registration), else the one whose attachment URL
/// is it (a client may have set another securityContext, such as the Patient).
async fn registration(
    store: &DynStore,
    id: &str,
    view: &BinaryView<'_>,
) -> Result<Option<(String, Value)>, ApiError> {
    let url = format!("Binary/{id}");
    let is_body = |doc: &Value| {
        crate::remd::is_registered(doc)
            && doc
                .pointer("/content/0/attachment/url")
                .and_then(Value::as_str)
                == Some(url.as_str())
    };
    let named = view
        .security_context
        .as_ref()
        .and_then(|s| s.reference.as_deref())
        .filter(|r| r.starts_with("DocumentReference/"));
    if let Some(doc_id) = named.and_then(|r| r.strip_prefix("DocumentReference/")) {
        let doc = store
            .read("DocumentReference", doc_id)
            .await?
            .filter(|r| !r.deleted)
            .and_then(|r| serde_json::from_slice::<Value>(&r.json).ok());
        if let Some(doc) = doc.filter(|d| is_body(d)) {
            return Ok(Some(found(doc)));
        }
    }
    let docs = crate::search::unrestricted_in(
        store,
        "DocumentReference",
        &[("location", url.clone())],
        16,
    )
    .await?;
    Ok(docs.into_iter().find(|d| is_body(d)).map(found))
}

fn found(doc: Value) -> (String, Value) {
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let attachment = doc
        .pointer("/content/0/attachment")
        .cloned()
        .unwrap_or(Value::Null);
    (id, attachment)
}
