//! The integrated record (ИЭМК) of one patient for a clinician: the patient's card and the
//! timeline of their care across organisations (`Patient/[id]/$timeline`), with documents
//! opening in place. A doctor without a care relationship sees the refusal and may state an
//! emergency; the emergency opens the record for that one page view, and the citizen sees it
//! in «Кто смотрел мою карту» with its reason.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use zdrav_auth::Role;

use crate::fhir::Fhir;
use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// One event of the timeline.
pub struct Event {
    /// When.
    pub when: String,
    /// What kind (Russian).
    pub kind: &'static str,
    /// What it says.
    pub title: String,
    /// The organisation.
    pub organization: String,
    /// A document to open, if the event is one.
    pub document: Option<String>,
}

#[derive(Template)]
#[template(path = "arm/record.html")]
struct RecordPage {
    page: Chrome,
    id: String,
    birth: String,
    gender: &'static str,
    snils: String,
    events: Vec<Event>,
    emergency: bool,
}

#[derive(Template)]
#[template(path = "arm/closed.html")]
struct ClosedPage {
    page: Chrome,
    id: String,
    may_break_glass: bool,
}

/// The date of an event: the first of the elements each kind records it in.
fn event_date(r: &Value) -> &str {
    [
        "/period/start",
        "/date",
        "/recordedDate",
        "/onsetDateTime",
        "/performedDateTime",
        "/performedPeriod/start",
        "/occurrenceDateTime",
        "/authoredOn",
        "/effectiveDateTime",
        "/issued",
    ]
    .iter()
    .map(|p| view::text(r, p))
    .find(|d| !d.is_empty())
    .unwrap_or("")
}

fn event_title(r: &Value) -> String {
    let rtype = view::text(r, "/resourceType");
    let concept = match rtype {
        "Encounter" => r.pointer("/type/0").or_else(|| r.pointer("/serviceType")),
        "DocumentReference" => r.get("type"),
        "Immunization" => r.get("vaccineCode"),
        "MedicationRequest" => r.get("medicationCodeableConcept"),
        _ => r.get("code"),
    };
    let mut t = view::concept(concept);
    if t.is_empty() && rtype == "Encounter" {
        t = view::text(r, "/class/display").to_string();
    }
    if t.is_empty() {
        "без описания".into()
    } else {
        t
    }
}

/// The timeline of `id` as `fhir`'s user.
async fn events(fhir: &Fhir, id: &str) -> Result<Vec<Event>, crate::fhir::Failure> {
    let b = fhir
        .get(&format!("Patient/{id}/$timeline?_count=100"))
        .await?;
    let included = crate::fhir::included(&b);
    Ok(crate::fhir::matches(&b)
        .into_iter()
        .map(|r| {
            let rtype = view::text(r, "/resourceType");
            let org_ref = [
                "/serviceProvider/reference",
                "/custodian/reference",
                "/performer/0/reference",
            ]
            .iter()
            .map(|p| view::text(r, p))
            .find(|x| x.starts_with("Organization/"))
            .unwrap_or("");
            Event {
                when: view::when(event_date(r)),
                kind: view::type_ru(rtype),
                title: event_title(r),
                organization: crate::fhir::find(&included, org_ref)
                    .map(|o| view::text(o, "/name").to_string())
                    .unwrap_or_default(),
                document: (rtype == "DocumentReference").then(|| view::text(r, "/id").to_string()),
            }
        })
        .collect())
}

async fn render(web: &Web, s: &Signed, id: &str, reason: Option<&str>) -> Response {
    let mut fhir = web.fhir(s);
    if let Some(r) = reason {
        fhir = fhir.emergency(r);
    }
    let patient = match fhir.get(&format!("Patient/{id}")).await {
        Ok(p) => p,
        Err(f) if f.status == StatusCode::NOT_FOUND => {
            return view::html(
                StatusCode::NOT_FOUND,
                ClosedPage {
                    page: Chrome::new("Карта недоступна", Some(s)),
                    id: id.to_string(),
                    may_break_glass: s.principal.role == Role::Practitioner,
                },
            )
        }
        Err(f) => {
            let page = Chrome::new("Карта недоступна", Some(s));
            return view::message_page(f.status, page, &view::explain(&f));
        }
    };
    let events = match events(&fhir, id).await {
        Ok(e) => e,
        Err(f) => return view::failure_page(s, &f),
    };
    let name = view::person_name(&patient);
    view::html(
        StatusCode::OK,
        RecordPage {
            page: Chrome::new(&format!("Медицинская карта: {name}"), Some(s)),
            id: id.to_string(),
            birth: view::when(view::text(&patient, "/birthDate")),
            gender: match view::text(&patient, "/gender") {
                "male" => "мужской",
                "female" => "женский",
                _ => "не указан",
            },
            snils: super::snils_of(&patient),
            events,
            emergency: reason.is_some(),
        },
    )
}

/// `GET /arm/patients/{id}`.
pub async fn page(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/patients/{id}")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Карта недоступна", "Такого пациента нет.");
    }
    render(&web, &s, &id, None).await
}

/// `POST /arm/patients/{id}/emergency` (`reason`): the record under an emergency access.
pub async fn emergency(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/patients/{id}")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = match web.posted(&s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let reason = forms::filled(&f, "reason").unwrap_or("");
    if !forms::is_id(&id) {
        return view::no_such(&s, "Карта недоступна", "Такого пациента нет.");
    }
    if reason.chars().count() < 5 {
        return view::html(
            StatusCode::BAD_REQUEST,
            ClosedPage {
                page: Chrome::new("Карта недоступна", Some(&s)).with_outcome(
                    None,
                    Some("Укажите причину экстренного доступа (не короче 5 символов).".into()),
                ),
                id,
                may_break_glass: s.principal.role == Role::Practitioner,
            },
        );
    }
    render(&web, &s, &id, Some(reason)).await
}
