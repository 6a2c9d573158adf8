//! What a registered document's `content[0].attachment` states of its body: the size, R4's
//! SHA-1 `hash`, and the GOST R 34.11-2012 (Streebog) 256-bit hash that Russian systems
//! identify documents by, in an extension (R4 defines `hash` as SHA-1 only).

use base64::Engine;
use serde_json::{json, Value};
use sha1::Digest;

use super::refuse;
use crate::error::ApiError;

/// The extension of a registered document's `content[0].attachment` that carries the
/// GOST R 34.11-2012 (Streebog) 256-bit hash of the body, base64, beside R4's SHA-1 `hash`:
/// checked when the sender gives it, set by the server when not.
pub const STREEBOG_HASH: &str = "urn:zdrav:extension:attachment-hash-streebog256";

/// The size and SHA-1 hash the DocumentReference states must be those of the body.
pub(crate) fn check(
    doc: &Value,
    bytes: &[u8],
    at: &dyn Fn(&str) -> String,
) -> Result<(), ApiError> {
    let a = doc
        .pointer("/content/0/attachment")
        .cloned()
        .unwrap_or(Value::Null);
    match a.get("size").and_then(Value::as_u64) {
        Some(n) if n == bytes.len() as u64 => {}
        Some(n) => {
            return Err(refuse(
                format!(
                    "attachment.size is {n} but the body has {} bytes",
                    bytes.len()
                ),
                at(".content[0].attachment.size"),
            ))
        }
        None => {
            return Err(refuse(
                "attachment.size is required",
                at(".content[0].attachment.size"),
            ))
        }
    }
    let sha1 = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(bytes));
    match a.get("hash").and_then(Value::as_str) {
        Some(h) if h == sha1 => Ok(()),
        Some(_) => Err(refuse(
            "attachment.hash is not the SHA-1 of the body",
            at(".content[0].attachment.hash"),
        )),
        None => Err(refuse(
            "attachment.hash (SHA-1 of the body, base64) is required",
            at(".content[0].attachment.hash"),
        )),
    }
}

/// The Streebog-256 hash of the body, base64 (remembered from a GOST-256 signature's check);
/// refused when the attachment states another in [`STREEBOG_HASH`].
pub(crate) fn check_streebog(
    doc: &Value,
    content: &zdrav_gost::Content<'_>,
    at: &dyn Fn(&str) -> String,
) -> Result<String, ApiError> {
    let hash = base64::engine::general_purpose::STANDARD
        .encode(content.digest(zdrav_gost::Algorithm::Gost256));
    let stated = doc
        .pointer("/content/0/attachment/extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, e)| e.get("url").and_then(Value::as_str) == Some(STREEBOG_HASH));
    if let Some((i, e)) = stated {
        if e.get("valueBase64Binary").and_then(Value::as_str) != Some(hash.as_str()) {
            return Err(refuse(
                format!("the attachment's {STREEBOG_HASH} is not the GOST R 34.11-2012 (Streebog-256) hash of the body"),
                at(&format!(".content[0].attachment.extension[{i}]")),
            ));
        }
    }
    Ok(hash)
}

/// Sets [`STREEBOG_HASH`] on the document's attachment unless the sender did.
pub(crate) fn stamp_streebog(doc: &mut Value, hash: &str) {
    let Some(a) = doc
        .pointer_mut("/content/0/attachment")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let ext = a.entry("extension").or_insert_with(|| json!([]));
    let Some(list) = ext.as_array_mut() else {
        return;
    };
    if !list
        .iter()
        .any(|e| e.get("url").and_then(Value::as_str) == Some(STREEBOG_HASH))
    {
        list.push(json!({"url": STREEBOG_HASH, "valueBase64Binary": hash}));
    }
}
