//! The pages' FHIR client: requests run through the `/fhir` pipeline in-process as the
//! signed-in user, so access rules, validation, booking rules and the audit trail are the
//! API's own.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;
use zdrav_server::auth::Caller;

use crate::session::Signed;
use crate::Web;

/// The largest answer a page reads (a page of search results or one document body).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A refused or failed FHIR request, from its OperationOutcome.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The HTTP status.
    pub status: StatusCode,
    /// The first issue's code (`business-rule`, `conflict`, `not-found`...).
    pub code: String,
    /// The first issue's diagnostics (English, for the log and for matching).
    pub diagnostics: String,
    /// The first issue's location (`Bundle.entry[1].resource...`), if any.
    pub at: Option<String>,
}

impl Failure {
    fn from(status: StatusCode, body: &Value) -> Failure {
        let issue = body.pointer("/issue/0");
        let s = |k: &str| {
            issue
                .and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Failure {
            status,
            code: s("code"),
            diagnostics: s("diagnostics"),
            at: issue
                .and_then(|i| i.pointer("/expression/0"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// A FHIR client acting as one signed-in user.
pub struct Fhir {
    ctx: zdrav_server::Ctx,
    emergency: Option<String>,
}

impl Web {
    /// A client acting as `s`.
    pub fn fhir(&self, s: &Signed) -> Fhir {
        let mut ctx = self.inner.ctx.clone();
        ctx.caller = Caller::Principal(s.principal.clone());
        Fhir {
            ctx,
            emergency: None,
        }
    }
}

impl Web {
    /// A client acting as the server itself, for aggregates on public pages only.
    pub fn system_fhir(&self) -> Fhir {
        Fhir {
            ctx: self.inner.ctx.clone(),
            emergency: None,
        }
    }
}

impl Fhir {
    /// The same client stating an emergency (break-glass) reason on every request.
    pub fn emergency(mut self, reason: &str) -> Fhir {
        self.emergency = Some(reason.to_string());
        self
    }

    /// Sends one request; `path` is relative to `/fhir` (with its query string).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Failure> {
        let internal = |what: &str| Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "exception".into(),
            diagnostics: what.to_string(),
            at: None,
        };
        let uri: Uri = format!("/fhir/{path}")
            .parse()
            .map_err(|_| internal("the page built an invalid address"))?;
        let mut headers = HeaderMap::new();
        let fhir_json = HeaderValue::from_static("application/fhir+json");
        headers.insert(header::ACCEPT, fhir_json.clone());
        if body.is_some() {
            headers.insert(header::CONTENT_TYPE, fhir_json);
        }
        if let Some(reason) = &self.emergency {
            let encoded: String =
                percent_encoding::utf8_percent_encode(reason, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            if let Ok(v) = HeaderValue::from_str(&encoded) {
                headers.insert(zdrav_server::care::BREAK_GLASS_HEADER, v);
            }
        }
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let request_body = bytes.map(Body::from).unwrap_or_else(Body::empty);
        let response =
            zdrav_server::routes::serve(self.ctx.clone(), method, uri, headers, request_body).await;
        let status = response.status();
        let raw = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|_| internal("the answer is too large for a page"))?;
        let value: Value = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).map_err(|_| internal("the answer is not JSON"))?
        };
        if status.is_success() {
            Ok((status, value))
        } else {
            let f = Failure::from(status, &value);
            tracing::info!(%status, code = %f.code, diagnostics = %f.diagnostics, path,
                "a page's FHIR request was refused");
            Err(f)
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.call(Method::GET, path, None).await.map(|(_, v)| v)
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::POST, path, Some(body))
            .await
            .map(|(_, v)| v)
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::PUT, path, Some(body))
            .await
            .map(|(_, v)| v)
    }
}

/// The resources of a Bundle's entries with search mode `match` (or no mode).
pub fn matches(bundle: &Value) -> Vec<&Value> {
    entries(bundle, |m| m != Some("include"))
}

/// The included resources of a search Bundle.
pub fn included(bundle: &Value) -> Vec<&Value> {
    entries(bundle, |m| m == Some("include"))
}

fn entries(bundle: &Value, keep: impl Fn(Option<&str>) -> bool) -> Vec<&Value> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| keep(e.pointer("/search/mode").and_then(Value::as_str)))
        .filter_map(|e| e.get("resource"))
        .collect()
}

/// The resource of `bundle` (or anything in `among`) that `reference` (`Type/id`) names.
pub fn find<'a>(among: &[&'a Value], reference: &str) -> Option<&'a Value> {
    let (t, id) = reference.split_once('/')?;
    among.iter().copied().find(|r| {
        r.get("resourceType").and_then(Value::as_str) == Some(t)
            && r.get("id").and_then(Value::as_str) == Some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_by_mode_and_references() {
        let b = json!({"entry": [
            {"resource": {"resourceType": "Patient", "id": "a"}, "search": {"mode": "match"}},
            {"resource": {"resourceType": "Organization", "id": "o"}, "search": {"mode": "include"}},
            {"resource": {"resourceType": "Patient", "id": "b"}}]});
        assert_eq!(matches(&b).len(), 2);
        let inc = included(&b);
        assert_eq!(inc.len(), 1);
        assert!(find(&inc, "Organization/o").is_some());
        assert!(find(&inc, "Organization/x").is_none());
        assert!(find(&inc, "nonsense").is_none());
    }

    #[test]
    fn failures_read_the_first_issue() {
        let f = Failure::from(
            StatusCode::CONFLICT,
            &json!({"issue": [{"code": "conflict", "diagnostics": "taken",
                "expression": ["Appointment.slot[0]"]}]}),
        );
        assert_eq!(f.code, "conflict");
        assert_eq!(f.diagnostics, "taken");
        assert_eq!(f.at.as_deref(), Some("Appointment.slot[0]"));
    }
}
