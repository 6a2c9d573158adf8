//! Binary bodies in their native form (R4 Binary: "when the Accept header is not a FHIR mime
//! type, return the content in native form"), and the view of a Binary the server reads.
//!
//! A read or vread of a Binary whose `Accept` names no JSON type and at least one concrete type
//! that is not a FHIR format (`application/pdf`, a browser's `text/html,...`) answers with the
//! decoded bytes, `Content-Type` = the Binary's `contentType`, `Content-Disposition: attachment`
//! and the version's `ETag`. `Accept: */*` alone (curl) stays FHIR JSON, as before. The request
//! runs through the same dispatch as the JSON read, so access rules, the integrity check and the
//! audit are the same; only the rendering differs.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ApiError;
use crate::rest::{Payload, Reply};
use crate::stored_body::StoredBinary;

/// The parts of a Binary the server looks at: not its data, which is skipped when parsed from a
/// whole Binary and is empty in a skeleton (`stored_body`).
#[derive(Deserialize)]
pub struct BinaryView<'a> {
    /// `Binary.contentType`.
    #[serde(rename = "contentType", borrow, default, deserialize_with = "text")]
    pub content_type: Option<Cow<'a, str>>,
    /// `Binary.securityContext.reference`.
    #[serde(rename = "securityContext", default)]
    pub security_context: Option<Reference>,
    /// `Binary.meta.tag`.
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// An optional string borrowed from the input when it has no escapes (serde borrows a `Cow`
/// only as a field of its own, not inside an `Option`).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'de>>::deserialize(d)?.map(|t| t.0))
}

/// A Reference, as far as it is needed here.
#[derive(Deserialize)]
pub struct Reference {
    /// `Reference.reference`.
    pub reference: Option<String>,
}

/// `meta`, as far as it is needed here.
#[derive(Deserialize)]
pub struct Meta {
    /// `meta.tag`.
    #[serde(default)]
    pub tag: Vec<Coding>,
}

/// A tag's system.
#[derive(Deserialize)]
pub struct Coding {
    /// `Coding.system`.
    pub system: Option<String>,
}

impl BinaryView<'_> {
    /// Whether the Binary carries the registered tag (`remd::REGISTERED`).
    pub fn registered(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.tag
                .iter()
                .any(|t| t.system.as_deref() == Some(crate::remd::REGISTERED))
        })
    }
}

/// The number of bytes base64 text (padded, whitespace allowed) decodes to, without decoding.
pub fn decoded_len(data: &str) -> usize {
    let chars = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = data
        .bytes()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take(2)
        .filter(|b| *b == b'=')
        .count();
    (chars / 4 * 3).saturating_sub(padding)
}

/// True when a request is a read or vread of a Binary whose `Accept` asks for the native form.
pub fn wants_raw(method: &Method, seg: &[&str], headers: &HeaderMap, format: Option<&str>) -> bool {
    let instance = match seg {
        ["Binary", id] | ["Binary", id, "_history", _] => !id.starts_with(['$', '_']),
        _ => false,
    };
    if !(instance && (method == Method::GET || method == Method::HEAD) && format.is_none()) {
        return false;
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()) else {
        return false;
    };
    let types: Vec<String> = accept
        .split(',')
        .filter(|part| {
            // `q=0` means "not acceptable".
            !part
                .split(';')
                .skip(1)
                .any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"))
        })
        .map(|part| {
            let mt = part.split(';').next().unwrap_or("");
            mt.trim().to_ascii_lowercase()
        })
        .filter(|mt| !mt.is_empty())
        .collect();
    let json = [
        "application/fhir+json",
        "application/json+fhir",
        "application/json",
        "text/json",
    ];
    let fhir_or_any = [
        "application/fhir+xml",
        "application/xml+fhir",
        "application/fhir+turtle",
        "*/*",
        "application/*",
    ];
    !types.iter().any(|t| json.contains(&t.as_str()))
        && types.iter().any(|t| !fhir_or_any.contains(&t.as_str()))
}

/// A file name extension for the common document types, so that a saved download opens.
fn extension(content_type: &str) -> &'static str {
    let mt = content_type.split(';').next().unwrap_or("").trim();
    match mt.to_ascii_lowercase().as_str() {
        "application/pdf" => ".pdf",
        "application/xml" | "text/xml" => ".xml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "application/pkcs7-signature" => ".p7s",
        _ => "",
    }
}

/// Renders a successful Binary read in native form: the decoded bytes, streamed. Anything else
/// (304, a reply without a Binary) is handed back for the usual rendering.
///
/// A large Binary comes from the store a piece at a time and is decoded as the client reads
/// (`stored_body`); a small one, read whole, is decoded from memory the same way. Either way
/// the data was decoded once already, so a body that is not base64 is refused before the first
/// byte, and so is one whose registered hash does not match (the read's integrity check).
pub fn native(reply: Reply, id: &str, head: bool) -> Result<Response, Box<Reply>> {
    if reply.status != StatusCode::OK {
        return Err(Box::new(reply));
    }
    let scanned = match &reply.payload {
        Payload::Binary(b) => Ok((**b).clone()),
        Payload::Raw(b) => StoredBinary::in_memory(b.clone()),
        Payload::Json(v) => serde_json::to_vec(v)
            .map_err(|e| e.to_string())
            .and_then(|b| StoredBinary::in_memory(Bytes::from(b))),
        Payload::None => return Err(Box::new(reply)),
    };
    let Ok(binary) = scanned else {
        return Err(Box::new(reply));
    };
    let Ok(view) = binary.view() else {
        return Err(Box::new(reply));
    };
    let content_type = view
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    let ext = extension(view.content_type.as_deref().unwrap_or(""));
    let size = match binary.digest() {
        Ok(d) => d.size,
        Err(e) => {
            tracing::error!(binary = %id, error = %e, "a stored Binary's data does not decode");
            let e = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                format!(
                    "the stored data of Binary/{id} is not valid base64 ({e}); it is not served"
                ),
            )
            .at("Binary.data");
            return Ok(crate::routes::error_response(&e, "application/fhir+json"));
        }
    };
    let body = if head {
        Body::empty()
    } else {
        binary.native_body()
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(v) = reply.version {
        if let Ok(val) = HeaderValue::from_str(&format!("W/\"{v}\"")) {
            h.insert(header::ETAG, val);
        }
    }
    if let Some(lm) = reply
        .last_modified
        .as_deref()
        .and_then(crate::routes::http_date)
    {
        if let Ok(val) = HeaderValue::from_str(&lm) {
            h.insert(header::LAST_MODIFIED, val);
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn native_form_only_when_accept_is_not_fhir() {
        let get = Method::GET;
        let read = ["Binary", "b1"];
        assert!(wants_raw(&get, &read, &accept("application/pdf"), None));
        assert!(wants_raw(
            &get,
            &read,
            &accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            None
        ));
        assert!(wants_raw(
            &Method::HEAD,
            &["Binary", "b1", "_history", "2"],
            &accept("application/pdf"),
            None
        ));
        assert!(!wants_raw(&get, &read, &accept("*/*"), None));
        assert!(!wants_raw(
            &get,
            &read,
            &accept("application/fhir+json"),
            None
        ));
        assert!(!wants_raw(
            &get,
            &read,
            &accept("application/pdf, application/json"),
            None
        ));
        assert!(!wants_raw(
            &get,
            &read,
            &accept("application/fhir+xml"),
            None
        ));
        assert!(!wants_raw(
            &get,
            &read,
            &accept("application/pdf;q=0"),
            None
        ));
        assert!(!wants_raw(
            &get,
            &read,
            &accept("application/pdf"),
            Some("json")
        ));
        assert!(!wants_raw(&get, &read, &HeaderMap::new(), None));
        assert!(!wants_raw(
            &get,
            &["Binary"],
            &accept("application/pdf"),
            None
        ));
        assert!(!wants_raw(
            &get,
            &["Binary", "_history"],
            &accept("application/pdf"),
            None
        ));
        assert!(!wants_raw(
            &Method::DELETE,
            &read,
            &accept("application/pdf"),
            None
        ));
    }

    #[test]
    fn decoded_length_is_known_without_decoding() {
        assert_eq!(decoded_len("aGVsbG8="), 5);
        assert_eq!(decoded_len("aGVs\nbG8="), 5);
        assert_eq!(decoded_len("aGVsbG8h"), 6);
        assert_eq!(decoded_len(""), 0);
    }
}
