//! «Мое здоровье»: the citizen's own record. Every request runs as the citizen, whose token is
//! confined to their own compartment, so these pages cannot show anyone else's data even by a
//! mistake here.

pub mod access_log;
pub mod appointments;
pub mod consents;
pub mod documents;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use zdrav_auth::Role;

use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::Web;

/// The signed-in citizen and their patient id, or the answer to give instead.
pub(crate) fn citizen(
    web: &Web,
    headers: &HeaderMap,
    back: &str,
) -> Result<(Signed, String), Response> {
    let s = web.require(headers, &[Role::Citizen], back)?;
    match s.patient().map(str::to_string) {
        Some(p) => Ok((s, p)),
        None => Err(view::message_page(
            StatusCode::FORBIDDEN,
            Chrome::new("Нет доступа", Some(&s)),
            "С вашей учётной записью не связана медицинская карта.",
        )),
    }
}

/// For a form POSTed by a citizen: the citizen, their patient id and the fields (the form
/// token checked), or the answer to give instead.
pub(crate) fn citizen_post(
    web: &Web,
    headers: &HeaderMap,
    body: &str,
    back: &str,
) -> Result<(Signed, String, crate::forms::Fields), Response> {
    let (s, me) = citizen(web, headers, back)?;
    let f = web.posted(&s, body)?;
    Ok((s, me, f))
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct Home {
    page: Chrome,
    name: String,
    birth: String,
    snils: String,
    upcoming: usize,
    documents: u64,
    /// For a legal representative: who they are, acting for the patient.
    representative: Option<String>,
}

/// `GET /portal`.
pub async fn home(State(web): State<Web>, headers: HeaderMap) -> Response {
    let (s, me) = match citizen(&web, &headers, "/portal") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let fhir = web.fhir(&s);
    let patient = match fhir.get(&format!("Patient/{me}")).await {
        Ok(p) => p,
        Err(f) => return view::failure_page(&s, &f),
    };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let upcoming = fhir
        .get(&format!(
            "Appointment?patient={me}&status=booked,pending&date=ge{today}&_count=50"
        ))
        .await
        .map(|b| crate::fhir::matches(&b).len())
        .unwrap_or(0);
    let documents = fhir
        .get(&format!("DocumentReference?patient={me}&_summary=count"))
        .await
        .ok()
        .and_then(|b| b.get("total").and_then(Value::as_u64))
        .unwrap_or(0);
    let snils = patient
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(zdrav_ru::SNILS_PATIENT))
        .and_then(|i| i.get("value").and_then(Value::as_str))
        .unwrap_or("не указан")
        .to_string();
    // A representative's token names their RelatedPerson; it is in the patient's compartment.
    let representative = match s.principal.fhir_user.as_deref() {
        Some(r) if r.starts_with("RelatedPerson/") => Some(
            fhir.get(r)
                .await
                .map(|rp| view::person_name(&rp))
                .unwrap_or_else(|_| r.to_string()),
        ),
        _ => None,
    };
    view::html(
        StatusCode::OK,
        Home {
            page: Chrome::new("Мое здоровье", Some(&s)),
            name: view::person_name(&patient),
            birth: view::when(view::text(&patient, "/birthDate")),
            snils,
            upcoming,
            documents,
            representative,
        },
    )
}
