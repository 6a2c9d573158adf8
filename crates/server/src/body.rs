//! Request bodies: size and nesting limits, JSON parsing with precise errors, and the media types
//! zdrav speaks (FHIR JSON only; XML and others get 415/406).

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Limits on what a client may send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Most entries in a batch or transaction Bundle.
    pub max_bundle_entries: usize,
    /// Deepest JSON nesting (objects and arrays).
    pub max_json_depth: usize,
    /// Largest `_count` for history and search pages.
    pub max_page_size: usize,
    /// Default page size.
    pub default_page_size: usize,
    /// Largest body of a registered document (РЭМД), in decoded bytes.
    pub max_document_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 64 * 1024 * 1024,
            max_bundle_entries: 20_000,
            max_json_depth: 64,
            max_page_size: 1000,
            default_page_size: 20,
            max_document_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Rejects JSON nested deeper than `max` before parsing it: a cheap scan that keeps a hostile body
/// from costing stack or time in the parser.
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let (mut line, mut col) = (1usize, 0usize);
    for &b in bytes {
        col += 1;
        if b == b'\n' {
            line += 1;
            col = 0;
        }
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(ApiError::bad_request(format!(
                        "JSON nesting deeper than {max} levels at line {line}, column {col}"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a JSON body, reporting syntax errors with line and column.
pub fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    check_depth(bytes, limits.max_json_depth)?;
    let v = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    check_duplicate_members(bytes)?;
    Ok(v)
}

/// The member names seen in one JSON object: a short list, a set once it grows.
#[derive(Default)]
struct Members<'a> {
    few: Vec<&'a [u8]>,
    many: Option<std::collections::HashSet<&'a [u8]>>,
}

impl<'a> Members<'a> {
    /// Records a name; false if it was already there.
    fn insert(&mut self, name: &'a [u8]) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(name);
        }
        if self.few.contains(&name) {
            return false;
        }
        self.few.push(name);
        if self.few.len() > 32 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// Rejects an object that repeats a member name (`{"active":true,"active":false}`): the parser
/// keeps only the last one, so the client's data would be lost without a word. Runs on JSON that
/// has already parsed; names are compared as written (escapes are not decoded).
pub fn check_duplicate_members(bytes: &[u8]) -> Result<(), ApiError> {
    // Per open object or array: the names seen so far, and whether the next string is a name.
    let mut stack: Vec<Option<(Members, bool)>> = Vec::new();
    let (mut line, mut col) = (1usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        col += 1;
        match b {
            b'\n' => {
                line += 1;
                col = 0;
            }
            b'{' => stack.push(Some((Members::default(), true))),
            b'[' => stack.push(None),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Some((_, expect_name))) = stack.last_mut() {
                    *expect_name = true;
                }
            }
            b'"' => {
                let (start, at_col) = (i + 1, col);
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(bytes.len());
                col += end - start + 1;
                if let Some(Some((names, expect_name))) = stack.last_mut() {
                    if std::mem::take(expect_name) && !names.insert(&bytes[start..end]) {
                        return Err(ApiError::bad_request(format!(
                            "duplicate member '{}' at line {line}, column {at_col}: a JSON object may name each element once",
                            String::from_utf8_lossy(&bytes[start..end])
                        )));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Parses a body that must be a JSON object (a resource or Parameters).
pub fn parse_resource(bytes: &[u8], limits: &Limits) -> Result<Value, ApiError> {
    let v = parse_json(bytes, limits)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object (a FHIR resource)",
        ));
    }
    Ok(v)
}

/// What a request body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// FHIR JSON (`application/fhir+json`, `application/json`).
    FhirJson,
    /// RFC 6902 JSON Patch.
    JsonPatch,
    /// `application/x-www-form-urlencoded` (for `POST _search`).
    Form,
}

fn media_type(h: &HeaderMap) -> Option<String> {
    let ct = h.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Classifies the request Content-Type; anything but JSON is 415.
pub fn body_kind(h: &HeaderMap) -> Result<BodyKind, ApiError> {
    match media_type(h).as_deref() {
        // A missing Content-Type is taken as FHIR JSON: curl users forget it and JSON is all we speak.
        None | Some("application/fhir+json" | "application/json" | "text/json" | "application/json+fhir") => {
            Ok(BodyKind::FhirJson)
        }
        Some("application/json-patch+json") => Ok(BodyKind::JsonPatch),
        Some("application/x-www-form-urlencoded") => Ok(BodyKind::Form),
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!("unsupported Content-Type '{other}': zdrav accepts application/fhir+json (and application/json-patch+json for PATCH)"),
        )),
    }
}

/// The response media type negotiated from `_format` and `Accept`; XML and others are 406.
pub fn negotiate(h: &HeaderMap, format: Option<&str>) -> Result<&'static str, ApiError> {
    if let Some(f) = format {
        return match f.trim() {
            "json" | "application/json" | "application/fhir+json" | "application/json+fhir" => {
                Ok("application/fhir+json")
            }
            other => Err(ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "not-supported",
                format!("unsupported _format '{other}': only json is available"),
            )),
        };
    }
    let Some(accept) = h
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
    else {
        return Ok("application/fhir+json");
    };
    let mut any_json = false;
    let mut only_plain_json = true;
    for part in accept.split(',') {
        let mt = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mt.as_str() {
            "application/fhir+json" | "application/json+fhir" | "*/*" | "application/*" => {
                any_json = true;
                only_plain_json = false;
            }
            "application/json" | "text/json" => any_json = true,
            _ => {}
        }
    }
    if !any_json {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            format!("cannot produce '{accept}': zdrav answers in application/fhir+json"),
        ));
    }
    Ok(if only_plain_json {
        "application/json"
    } else {
        "application/fhir+json"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_limit_counts_only_structure() {
        assert!(check_depth(br#"{"a":[[["[[[[[[[[["]]]}"#, 4).is_ok());
        assert!(check_depth(br#"{"a":[[[[1]]]]}"#, 4).is_err());
    }

    #[test]
    fn duplicate_members_are_refused() {
        let e =
            check_duplicate_members(b"{\"a\":1,\n \"b\":{\"a\":[{\"c\":\"a\"}],\"d\":2},\"a\":3}")
                .unwrap_err();
        assert!(
            e.issues[0].diagnostics.contains("'a' at line 2, column 30"),
            "{:?}",
            e.issues
        );
        assert!(check_duplicate_members(
            br#"{"a":"a","b":["a","a"],"c":{"a":{"a":1}},"d\"":1,"d":2}"#
        )
        .is_ok());
        let many: String = (0..100).map(|i| format!("\"k{i}\":1,")).collect();
        assert!(check_duplicate_members(format!("{{{many}\"k7\":2}}").as_bytes()).is_err());
        assert!(check_duplicate_members(format!("{{{many}\"k\":2}}").as_bytes()).is_ok());
    }

    #[test]
    fn malformed_json_reports_position() {
        let e = parse_json(b"{\n  \"a\": 1,\n  oops\n}", &Limits::default()).unwrap_err();
        assert!(e.issues[0].diagnostics.contains("line 3"), "{:?}", e.issues);
    }

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h, None).unwrap(), "application/fhir+json");
        h.insert("accept", "application/fhir+xml".parse().unwrap());
        assert_eq!(
            negotiate(&h, None).unwrap_err().status,
            StatusCode::NOT_ACCEPTABLE
        );
        assert_eq!(
            negotiate(&h, Some("json")).unwrap(),
            "application/fhir+json"
        );
        assert!(negotiate(&h, Some("xml")).is_err());
    }
}
