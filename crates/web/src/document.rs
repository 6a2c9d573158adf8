//! One medical document as a page shows it, for the citizen and the clinician alike: its
//! metadata, its body, and every signature checked again over the stored body at the moment
//! of viewing (not just trusted from registration).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use crate::fhir::{Failure, Fhir};
use crate::view;
use crate::Web;

/// The largest body shown inline on the page (longer bodies are downloaded).
const INLINE_TEXT: usize = 256 * 1024;

/// A signature as checked for the page.
pub struct SignatureView {
    /// Who signed: name, and СНИЛС or ОГРН from the certificate.
    pub who: String,
    /// The algorithm in Russian terms.
    pub algorithm: String,
    /// When the signer says they signed.
    pub signed_at: String,
    /// The certificate's validity.
    pub valid: String,
    /// Whether the signature verifies over the body.
    pub ok: bool,
    /// With trusted certification centres configured: the trusted CA the certificate chains
    /// to, or why it does not (in Russian); `None` without `--trusted-ca`.
    pub trust: Option<Result<String, String>>,
}

/// Why a certificate does not chain to a trusted certification centre, in Russian.
fn distrust_ru(e: &zdrav_gost::ChainError) -> String {
    use zdrav_gost::ChainError as C;
    match e {
        C::Revoked { revoked_at, .. } => format!("сертификат отозван ({revoked_at})"),
        C::UnknownIssuer { .. } | C::UntrustedRoot { .. } => {
            "сертификат выдан удостоверяющим центром, которому система не доверяет".into()
        }
        C::NotValidAt { .. } => "сертификат не действовал в момент подписания".into(),
        _ => "цепочка сертификатов не прошла проверку".into(),
    }
}

/// A document for a page.
pub struct DocumentView {
    /// The kind (НСИ 1522 display).
    pub kind: String,
    /// Its description, if any.
    pub description: String,
    /// When it was made.
    pub date: String,
    /// Russian status.
    pub status: String,
    /// Whether it is registered (legally significant).
    pub registered: bool,
    /// The organisation's name.
    pub organization: String,
    /// The author's name.
    pub author: String,
    /// The body's MIME type.
    pub content_type: String,
    /// The body's size in bytes.
    pub size: usize,
    /// The body as text, when it is text and short enough to show.
    pub text: Option<String>,
    /// The signatures.
    pub signatures: Vec<SignatureView>,
    /// The document this one replaces, if any (id).
    pub replaces: Option<String>,
}

/// Loads document `id` as `fhir`'s user (a refusal is theirs), then its signatures.
pub async fn load(web: &Web, fhir: &Fhir, id: &str) -> Result<DocumentView, Failure> {
    let found = fhir
        .get(&format!(
            "DocumentReference?_id={id}&_include=DocumentReference:custodian&_include=DocumentReference:author"
        ))
        .await?;
    let Some(doc) = crate::fhir::matches(&found).into_iter().next().cloned() else {
        return Err(not_found());
    };
    let included = crate::fhir::included(&found);
    let name_of = |ptr: &str| -> String {
        let r = view::text(&doc, ptr);
        match crate::fhir::find(&included, r) {
            Some(x) if x.get("resourceType").and_then(Value::as_str) == Some("Organization") => {
                view::text(x, "/name").to_string()
            }
            Some(x) => view::person_name(x),
            None => String::new(),
        }
    };
    let (body, content_type) = match read_body(fhir, &doc).await? {
        Some((b, ct)) => (b, ct),
        None => (Vec::new(), String::new()),
    };
    let text = (content_type.starts_with("text/plain") && body.len() <= INLINE_TEXT)
        .then(|| String::from_utf8_lossy(&body).into_owned());
    // The user may read the document, so they may see who signed it. Provenance is outside
    // the citizen's compartment (its target is the document, not the patient), so the
    // signatures are read by the server itself, only after the user's own read succeeded.
    let provenances = web
        .system_fhir()
        .get(&format!(
            "Provenance?target=DocumentReference/{id}&_count=20"
        ))
        .await
        .unwrap_or(Value::Null);
    let signatures = crate::fhir::matches(&provenances)
        .into_iter()
        .flat_map(|p| check(p, &body, web.inner.ctx.trust.as_deref()))
        .collect();
    Ok(DocumentView {
        kind: view::concept(doc.get("type")),
        description: view::text(&doc, "/description").to_string(),
        date: view::when(view::text(&doc, "/date")),
        status: view::status_ru(view::text(&doc, "/status")).to_string(),
        registered: zdrav_server::remd::is_registered(&doc),
        organization: name_of("/custodian/reference"),
        author: name_of("/author/0/reference"),
        size: body.len(),
        content_type,
        text,
        signatures,
        replaces: doc
            .pointer("/relatesTo/0/target/reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("DocumentReference/"))
            .map(str::to_string),
    })
}

fn not_found() -> Failure {
    Failure {
        status: StatusCode::NOT_FOUND,
        code: "not-found".into(),
        diagnostics: "no such document".into(),
        at: None,
    }
}

/// The body bytes and MIME type of a document, read as `fhir`'s user.
async fn read_body(fhir: &Fhir, doc: &Value) -> Result<Option<(Vec<u8>, String)>, Failure> {
    let Some(url) = doc
        .pointer("/content/0/attachment/url")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let Some(bin) = url
        .strip_prefix("Binary/")
        .filter(|b| crate::forms::is_id(b))
    else {
        return Ok(None);
    };
    let binary = fhir.get(&format!("Binary/{bin}")).await?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(view::text(&binary, "/data"))
        .unwrap_or_default();
    Ok(Some((
        data,
        view::text(&binary, "/contentType").to_string(),
    )))
}

/// The signatures of one Provenance, checked over `body` and, with trusted certification
/// centres configured, against them at the signing time.
fn check(p: &Value, body: &[u8], trust: Option<&zdrav_gost::TrustStore>) -> Vec<SignatureView> {
    let mut out = Vec::new();
    for sig in p
        .get("signature")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let der = base64::engine::general_purpose::STANDARD
            .decode(view::text(sig, "/data"))
            .unwrap_or_default();
        match zdrav_gost::verify_detached(&der, body) {
            Ok(signers) => out.extend(signers.into_iter().map(|s| {
                let at = s
                    .signing_time
                    .unwrap_or_else(|| chrono::Utc::now().timestamp());
                let trust = trust.map(|t| {
                    t.check(&s.certificate_der, &s.cms_certificates, at)
                        .map(|chain| chain.subjects.last().cloned().unwrap_or_default())
                        .map_err(|e| distrust_ru(&e))
                });
                let name = match (&s.surname, &s.given_name) {
                    (Some(f), Some(g)) => format!("{f} {g}"),
                    _ => s.common_name.clone().unwrap_or_else(|| "без имени".into()),
                };
                let id = match (&s.subject_snils, &s.subject_ogrn) {
                    (Some(snils), _) => format!(", СНИЛС {snils}"),
                    (None, Some(ogrn)) => format!(", ОГРН {ogrn}"),
                    _ => String::new(),
                };
                SignatureView {
                    who: format!("{name}{id}"),
                    algorithm: match s.algorithm {
                        zdrav_gost::Algorithm::Gost256 => "ГОСТ Р 34.10-2012 (256 бит)".into(),
                        zdrav_gost::Algorithm::Gost512 => "ГОСТ Р 34.10-2012 (512 бит)".into(),
                        zdrav_gost::Algorithm::EcdsaP256 => "ECDSA P-256".into(),
                    },
                    signed_at: s.signing_time.map(seconds).unwrap_or_default(),
                    valid: format!("{} — {}", seconds(s.not_before), seconds(s.not_after)),
                    ok: true,
                    trust,
                }
            })),
            Err(e) => {
                tracing::warn!(error = %e, "a stored signature did not verify on viewing");
                out.push(SignatureView {
                    who: view::text(sig, "/who/display").to_string(),
                    algorithm: String::new(),
                    signed_at: view::when(view::text(sig, "/when")),
                    valid: String::new(),
                    ok: false,
                    trust: None,
                })
            }
        }
    }
    out
}

fn seconds(s: i64) -> String {
    chrono::DateTime::from_timestamp(s, 0)
        .map(|t| view::when(&t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()) + " UTC")
        .unwrap_or_default()
}

/// The body of document `id` as a download, read as `fhir`'s user.
pub async fn download(fhir: &Fhir, id: &str) -> Result<Response, Failure> {
    let doc = fhir.get(&format!("DocumentReference/{id}")).await?;
    let Some((bytes, content_type)) = read_body(fhir, &doc).await? else {
        return Err(not_found());
    };
    // Served as an attachment in a fixed set of types: a stored body never runs as a page of
    // this site.
    let (mime, ext) = match content_type.split(';').next().unwrap_or("").trim() {
        "application/pdf" => ("application/pdf", "pdf"),
        "text/plain" => ("text/plain; charset=utf-8", "txt"),
        "application/xml" | "text/xml" => ("application/xml", "xml"),
        "application/fhir+json" | "application/json" => ("application/json", "json"),
        _ => ("application/octet-stream", "bin"),
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"document-{id}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distrust_is_said_in_russian() {
        let revoked = zdrav_gost::ChainError::Revoked {
            subject: "s".into(),
            serial: "01".into(),
            issuer: "i".into(),
            revoked_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            distrust_ru(&revoked),
            "сертификат отозван (2026-01-01T00:00:00Z)"
        );
        let root = zdrav_gost::ChainError::UntrustedRoot {
            subject: "s".into(),
        };
        assert!(distrust_ru(&root).contains("не доверяет"));
        let odd = zdrav_gost::ChainError::PathTooLong("x".into());
        assert!(distrust_ru(&odd).contains("не прошла"));
    }
}
