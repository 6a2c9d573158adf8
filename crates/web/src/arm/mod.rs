//! The clinician's workstation (АРМ врача и регистратора): patient search, the integrated
//! record, registering a signed document, booking a patient to another doctor, and a doctor's
//! schedule. Requests run as the signed-in clinician, so a doctor finds and opens only the
//! patients in their care or who consented (or states an emergency), and a registrar works
//! within the registry desk's scopes.

pub mod booking;
pub mod record;
pub mod register;
pub mod schedule;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use zdrav_auth::Role;

use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// The roles that use the workstation.
pub(crate) const CLINICIANS: [Role; 3] = [Role::Practitioner, Role::Registrar, Role::OrgAdmin];

/// The signed-in clinician, or the answer to give instead.
pub(crate) fn clinician(web: &Web, headers: &HeaderMap, back: &str) -> Result<Signed, Response> {
    web.require(headers, &CLINICIANS, back)
}

/// One patient found.
pub struct Found {
    /// Patient id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Birth date.
    pub birth: String,
    /// СНИЛС.
    pub snils: String,
}

#[derive(Template)]
#[template(path = "arm/search.html")]
struct SearchPage {
    page: Chrome,
    family: String,
    given: String,
    birthdate: String,
    snils: String,
    asked: bool,
    found: Vec<Found>,
    limited: bool,
}

/// The СНИЛС of a Patient, as stored (normalised).
pub(crate) fn snils_of(p: &Value) -> String {
    p.get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(zdrav_ru::SNILS_PATIENT))
        .and_then(|i| i.get("value").and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// `GET /arm[?family&given&birthdate&snils]`: patient search.
pub async fn search(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let s = match clinician(&web, &headers, "/arm") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let field = |k: &str| forms::filled(&q, k).unwrap_or("").to_string();
    let (family, given, birthdate, snils) = (
        field("family"),
        field("given"),
        field("birthdate"),
        field("snils"),
    );
    let asked = q.iter().any(|(k, _)| k == "find");
    let mut alert = None;
    let mut status = StatusCode::OK;
    let mut found = Vec::new();
    if asked {
        let mut params: Vec<String> = Vec::new();
        if !family.is_empty() {
            params.push(format!("family={}", forms::enc(&family)));
        }
        if !given.is_empty() {
            params.push(format!("given={}", forms::enc(&given)));
        }
        if !birthdate.is_empty() {
            if forms::is_date(&birthdate) {
                params.push(format!("birthdate={birthdate}"));
            } else {
                alert = Some("Дата рождения указана неверно: выберите день в календаре.".into());
            }
        }
        if !snils.is_empty() {
            match zdrav_ru::normalise_snils(&snils) {
                Ok(n) => params.push(format!(
                    "identifier={}",
                    forms::enc(&format!("urn:identity:snils:Patient|{n}"))
                )),
                Err(_) => {
                    alert = Some(
                        "СНИЛС указан неверно: нужно 11 цифр с верным контрольным числом, например 112-233-445 95."
                            .into(),
                    )
                }
            }
        }
        if params.is_empty() && alert.is_none() {
            alert = Some("Укажите фамилию, дату рождения или СНИЛС пациента.".into());
        }
        if alert.is_some() {
            status = StatusCode::BAD_REQUEST;
        } else {
            params.push("_count=50".into());
            params.push("_sort=family".into());
            match web
                .fhir(&s)
                .get(&format!("Patient?{}", params.join("&")))
                .await
            {
                Ok(b) => {
                    found = crate::fhir::matches(&b)
                        .into_iter()
                        .map(|p| Found {
                            id: view::text(p, "/id").to_string(),
                            name: view::person_name(p),
                            birth: view::when(view::text(p, "/birthDate")),
                            snils: snils_of(p),
                        })
                        .collect()
                }
                Err(f) => {
                    alert = Some(view::explain(&f));
                    status = f.status;
                }
            }
        }
    }
    view::html(
        status,
        SearchPage {
            page: Chrome::new("Поиск пациента", Some(&s)).with_outcome(None, alert),
            family,
            given,
            birthdate,
            snils,
            asked,
            found,
            limited: s.principal.role == Role::Practitioner,
        },
    )
}
