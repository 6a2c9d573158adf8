//! «Зарегистрировать документ»: the doctor uploads a document body and the two detached
//! signatures (theirs and the organisation's, as `.p7s` / `.sig` files, DER or PEM), and the
//! page registers them as one РЭМД transaction (Binary, DocumentReference, two Provenances) in
//! the doctor's name for their organisation. The signatures are verified by the API; a refusal
//! is explained in terms of the file at fault.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use serde_json::{json, Value};
use sha1::Digest;
use zdrav_auth::Role;

use crate::fhir::Failure;
use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// The НСИ dictionary of document kinds.
const KINDS: &str = zdrav_server::remd::KINDS;

#[derive(Template)]
#[template(path = "arm/register.html")]
struct RegisterPage {
    page: Chrome,
    patient: String,
    patient_name: String,
    /// The kinds to choose from (code, name), from НСИ 1522 as the server knows it.
    kinds: Vec<(String, String)>,
    kind_code: String,
    description: String,
}

/// What the form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    patient: String,
    kind_code: String,
    description: String,
    body: Vec<u8>,
    body_type: String,
    doctor_signature: Vec<u8>,
    organization_signature: Vec<u8>,
}

fn doctor(web: &Web, headers: &HeaderMap, back: &str) -> Result<Signed, Response> {
    web.require(headers, &[Role::Practitioner], back)
}

async fn render(
    web: &Web,
    s: &Signed,
    u: &Upload,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let patient_name = if forms::is_id(&u.patient) {
        match web.fhir(s).get(&format!("Patient/{}", u.patient)).await {
            Ok(p) => view::person_name(&p),
            Err(f) => return view::failure_page(s, &f),
        }
    } else {
        String::new()
    };
    let kinds = match kinds(web, s).await {
        Ok(k) => k,
        Err(f) => return view::failure_page(s, &f),
    };
    view::html(
        status,
        RegisterPage {
            page: Chrome::new("Регистрация медицинского документа", Some(s))
                .with_outcome(None, alert),
            patient: u.patient.clone(),
            patient_name,
            kinds,
            kind_code: u.kind_code.clone(),
            description: u.description.clone(),
        },
    )
}

/// `GET /arm/documents?patient=ID`.
pub async fn form(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let s = match doctor(&web, &headers, "/arm") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let u = Upload {
        patient: forms::filled(&q, "patient").unwrap_or("").to_string(),
        kind_code: "7".into(),
        ..Upload::default()
    };
    render(&web, &s, &u, None, StatusCode::OK).await
}

/// The kinds of documents (code, name) in the dictionary's order: the server's НСИ 1522, an
/// imported one or the kinds built in. The API names the kind from its code at registration.
async fn kinds(web: &Web, s: &Signed) -> Result<Vec<(String, String)>, Failure> {
    let url = KINDS.replace(':', "%3A");
    let expansion = web
        .fhir(s)
        .get(&format!("ValueSet/$expand?url={url}&count=1000"))
        .await?;
    Ok(expansion
        .pointer("/expansion/contains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let code = c.get("code").and_then(Value::as_str)?;
            let name = c.get("display").and_then(Value::as_str).unwrap_or(code);
            Some((code.to_string(), name.to_string()))
        })
        .collect())
}

/// A signature file as DER: PEM (`-----BEGIN PKCS7-----`, `CMS`) and bare base64 are decoded.
fn signature_der(file: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(file) else {
        return file.to_vec();
    };
    let inner: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|_| file.to_vec())
}

async fn read(mut m: Multipart) -> Result<Upload, String> {
    let mut u = Upload::default();
    while let Some(field) = m
        .next_field()
        .await
        .map_err(|_| "Форма передана не полностью. Повторите отправку.".to_string())?
    {
        let name = field.name().unwrap_or("").to_string();
        let content_type = field.content_type().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| "Файл передан не полностью или слишком большой.".to_string())?;
        let text = || String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "csrf" => u.csrf = text(),
            "patient" => u.patient = text(),
            "kind_code" => u.kind_code = text(),
            "description" => u.description = text(),
            "body" => {
                u.body = bytes.to_vec();
                u.body_type = content_type;
            }
            "doctor_signature" => u.doctor_signature = signature_der(&bytes),
            "organization_signature" => u.organization_signature = signature_der(&bytes),
            _ => {}
        }
    }
    Ok(u)
}

/// What is wrong with the form before anything is sent, if anything.
fn problem(u: &Upload) -> Option<&'static str> {
    if !forms::is_id(&u.patient) {
        return Some("Не выбран пациент: откройте регистрацию из карты пациента.");
    }
    if u.kind_code.is_empty() || u.kind_code.len() > 20 {
        return Some("Выберите вид документа по справочнику НСИ 1.2.643.5.1.13.13.11.1522.");
    }
    if u.body.is_empty() {
        return Some("Приложите файл документа.");
    }
    if u.doctor_signature.is_empty() {
        return Some("Приложите файл подписи врача (.p7s или .sig).");
    }
    if u.organization_signature.is_empty() {
        return Some("Приложите файл подписи медицинской организации (.p7s или .sig).");
    }
    None
}

/// The registration transaction.
fn transaction(u: &Upload, author: &str, custodian: &str) -> (String, Value) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let doc_id = zdrav_server::rest::new_id();
    let body_id = format!("{doc_id}-body");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let content_type = match u.body_type.as_str() {
        "" => "application/octet-stream",
        t => t,
    };
    let mut doc = json!({"resourceType": "DocumentReference", "id": doc_id, "status": "current",
        "type": {"coding": [{"system": KINDS, "code": u.kind_code}]},
        "subject": {"reference": format!("Patient/{}", u.patient)}, "date": now,
        "author": [{"reference": author}], "custodian": {"reference": custodian},
        "content": [{"attachment": {"contentType": content_type, "url": format!("Binary/{body_id}"),
            "size": u.body.len(), "hash": b64(&sha1::Sha1::digest(&u.body))}}]});
    if !u.description.is_empty() {
        doc["description"] = Value::String(u.description.clone());
    }
    let mut entries = vec![
        json!({"resource": {"resourceType": "Binary", "id": body_id, "contentType": content_type, "data": b64(&u.body)},
               "request": {"method": "PUT", "url": format!("Binary/{body_id}")}}),
        json!({"resource": doc, "request": {"method": "PUT", "url": format!("DocumentReference/{doc_id}")}}),
    ];
    for (k, (agent, der)) in [
        (author, &u.doctor_signature),
        (custodian, &u.organization_signature),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("{doc_id}-sig{k}");
        entries.push(json!({"resource": {"resourceType": "Provenance", "id": id,
            "target": [{"reference": format!("DocumentReference/{doc_id}")}], "recorded": now,
            "agent": [{"who": {"reference": agent}}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": now, "who": {"reference": agent},
                "sigFormat": "application/pkcs7-signature", "data": b64(der)}]},
            "request": {"method": "PUT", "url": format!("Provenance/{id}")}}));
    }
    (
        doc_id,
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
    )
}

/// A registration refusal in terms of the form: entry 2 is the doctor's signature, entry 3
/// the organisation's, entry 0 the document file.
fn refusal(f: &Failure) -> String {
    let d = f.diagnostics.as_str();
    let at = f.at.as_deref().unwrap_or("");
    if d.contains("not a kind of document") {
        return "Такого вида документа нет в справочнике НСИ 1.2.643.5.1.13.13.11.1522.".into();
    }
    let file = if at.starts_with("Bundle.entry[2]") || d.contains("author's") {
        "Подпись врача"
    } else if at.starts_with("Bundle.entry[3]") || d.contains("organisation's") {
        "Подпись организации"
    } else {
        "Документ"
    };
    let why = if d.contains("does not verify") {
        "не соответствует файлу документа или повреждена"
    } else if d.contains("was not valid when it signed") {
        "сделана сертификатом, который не действовал в момент подписания"
    } else if d.contains("СНИЛС") {
        "сделана сертификатом другого врача (СНИЛС не совпадает с вашим)"
    } else if d.contains("ОГРН") {
        "сделана сертификатом другой организации (ОГРН не совпадает)"
    } else if d.contains("missing") {
        "отсутствует"
    } else if d.contains("not base64") || d.contains("malformed") {
        "не является файлом подписи CMS/PKCS#7"
    } else {
        return view::explain(f);
    };
    format!("{file} не принята: {why}.")
}

/// `POST /arm/documents` (multipart): registers the document.
pub async fn submit(State(web): State<Web>, headers: HeaderMap, m: Multipart) -> Response {
    let s = match doctor(&web, &headers, "/arm") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let u = match read(m).await {
        Ok(u) => u,
        Err(msg) => {
            return view::message_page(
                StatusCode::BAD_REQUEST,
                Chrome::new("Регистрация медицинского документа", Some(&s)),
                &msg,
            )
        }
    };
    if let Err(r) = web.check_form(&s, Some(u.csrf.as_str())) {
        return r;
    }
    if let Some(p) = problem(&u) {
        return render(&web, &s, &u, Some(p.into()), StatusCode::BAD_REQUEST).await;
    }
    let (Some(me), Some(org)) = (&s.principal.practitioner, &s.principal.organization) else {
        let msg = "С вашей учётной записью не связаны врач и медицинская организация.";
        return render(&web, &s, &u, Some(msg.into()), StatusCode::FORBIDDEN).await;
    };
    let (doc_id, bundle) = transaction(
        &u,
        &format!("Practitioner/{me}"),
        &format!("Organization/{org}"),
    );
    match web.fhir(&s).post("", &bundle).await {
        Ok(_) => Redirect::to(&format!("/arm/documents/{doc_id}?done=registered")).into_response(),
        Err(f) => {
            let status = if f.status.is_server_error() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                f.status
            };
            render(&web, &s, &u, Some(refusal(&f)), status).await
        }
    }
}

/// `GET /arm/documents/{id}`: a document for the clinician.
pub async fn open(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/documents/{id}")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Документ", "Такого документа нет.");
    }
    let notice = (forms::first(&q, "done") == Some("registered"))
        .then(|| "Документ зарегистрирован: подписи врача и организации проверены.".to_string());
    match crate::document::load(&web, &web.fhir(&s), &id).await {
        Ok(doc) => view::html(
            StatusCode::OK,
            crate::portal::documents::Open {
                page: Chrome::new(&doc.kind.clone(), Some(&s)).with_outcome(notice, None),
                download: format!("/arm/documents/{id}/body"),
                doc,
                back: "/arm",
            },
        ),
        Err(f) => view::failure_page(&s, &f),
    }
}

/// `GET /arm/documents/{id}/body`.
pub async fn body(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/documents/{id}")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Документ", "Такого документа нет.");
    }
    crate::document::download(&web.fhir(&s), &id)
        .await
        .unwrap_or_else(|f| view::failure_page(&s, &f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_files_in_der_pem_or_base64() {
        let der = vec![0x30u8, 0x82, 0x01, 0xff, 0x06];
        assert_eq!(signature_der(&der), der);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(signature_der(b64.as_bytes()), der);
        let pem = format!("-----BEGIN PKCS7-----\n{b64}\n-----END PKCS7-----\n");
        assert_eq!(signature_der(pem.as_bytes()), der);
    }

    #[test]
    fn refusals_name_the_file() {
        let f = |at: &str, d: &str| Failure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "business-rule".into(),
            diagnostics: d.into(),
            at: Some(at.into()),
        };
        assert_eq!(
            refusal(&f(
                "Bundle.entry[2].resource.signature[0].data",
                "the signature does not verify: x"
            )),
            "Подпись врача не принята: не соответствует файлу документа или повреждена."
        );
        assert!(refusal(&f(
            "Bundle.entry[3].resource.signature[0].data",
            "the signer's certificate was not valid when it signed"
        ))
        .starts_with("Подпись организации"));
        assert!(refusal(&f(
            "Bundle.entry[1]",
            "the author's certificate names СНИЛС 1 but x"
        ))
        .contains("СНИЛС"));
    }

    #[test]
    fn the_form_says_what_is_missing() {
        let mut u = Upload {
            patient: "p1".into(),
            kind_code: "7".into(),
            ..Upload::default()
        };
        assert_eq!(problem(&u), Some("Приложите файл документа."));
        u.body = b"x".to_vec();
        u.doctor_signature = b"s".to_vec();
        assert!(problem(&u).unwrap().contains("организации"));
        u.organization_signature = b"s".to_vec();
        assert_eq!(problem(&u), None);
        u.patient = "../x".into();
        assert!(problem(&u).unwrap().contains("пациент"));
    }
}
