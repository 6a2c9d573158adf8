//! «Запись к врачу»: the citizen's appointments (with cancelling), and finding and booking free
//! time through the ЕПГУ channel (competitive slots, the citizen's own clinic unless a
//! schedule takes patients from elsewhere: the booking rules are the API's).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use crate::booking::{self, Choice, Offer, Search};
use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// One of the citizen's appointments.
pub struct Mine {
    /// Appointment id.
    pub id: String,
    /// When.
    pub when: String,
    /// Doctor and specialty.
    pub doctor: String,
    /// Organisation.
    pub organization: String,
    /// Russian status.
    pub status: String,
    /// Whether it can still be cancelled.
    pub cancellable: bool,
}

#[derive(Template)]
#[template(path = "portal/appointments.html")]
struct AppointmentsPage {
    page: Chrome,
    mine: Vec<Mine>,
    specialties: Vec<Choice>,
    organizations: Vec<Choice>,
    from: String,
    asked: bool,
    offers: Vec<Offer>,
    action: &'static str,
    book_action: &'static str,
}

const CHANNEL: &str = "epgu";

/// `GET /portal/appointments[?specialty&organization&from&find][&done=booked|cancelled]`.
pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (s, me) = match super::citizen(&web, &headers, "/portal/appointments") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = match forms::first(&q, "done") {
        Some("booked") => Some("Вы записаны на приём.".to_string()),
        Some("cancelled") => Some("Запись отменена.".to_string()),
        _ => None,
    };
    render(&web, &s, &me, &q, notice, None, StatusCode::OK).await
}

async fn render(
    web: &Web,
    s: &Signed,
    me: &str,
    q: &[(String, String)],
    notice: Option<String>,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let fhir = web.fhir(s);
    let found = match Search::run(&fhir, q, CHANNEL).await {
        Ok(f) => f,
        Err(f) => return view::failure_page(s, &f),
    };
    let status = if found.problem.is_some() && status == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    let mine = match fhir
        .get(&format!(
            "Appointment?patient={me}&_sort=-date&_count=30&status=booked,pending,cancelled,fulfilled,waitlist"
        ))
        .await
    {
        Ok(b) => mine(&fhir, &b).await,
        Err(f) => return view::failure_page(s, &f),
    };
    view::html(
        status,
        AppointmentsPage {
            page: Chrome::new("Запись к врачу", Some(s))
                .with_outcome(notice, alert.or(found.problem.clone())),
            mine,
            asked: found.shown(),
            from: found.ask.from,
            specialties: found.specialties,
            organizations: found.organizations,
            offers: found.offers,
            action: "/portal/appointments",
            book_action: "/portal/appointments/book",
        },
    )
}

async fn mine(fhir: &crate::fhir::Fhir, bundle: &Value) -> Vec<Mine> {
    let now = chrono::Utc::now().timestamp();
    let mut names = booking::Names::default();
    let mut out = Vec::new();
    for a in crate::fhir::matches(bundle) {
        let status = view::text(a, "/status");
        let start = view::text(a, "/start");
        let future = chrono::DateTime::parse_from_rfc3339(start)
            .map(|t| t.timestamp() > now)
            .unwrap_or(false);
        let (doctor, organization) = names.of(fhir, &booking::doctor_of(a)).await;
        let specialty = view::concept(a.pointer("/specialty/0"));
        out.push(Mine {
            id: view::text(a, "/id").to_string(),
            when: if start.is_empty() {
                "время не назначено".into()
            } else {
                view::when(start)
            },
            doctor: [doctor, specialty]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            organization,
            status: view::status_ru(status).to_string(),
            cancellable: future && ["booked", "pending"].contains(&status) || status == "waitlist",
        });
    }
    out
}

/// `POST /portal/appointments/book` (`slot`, `csrf`, and the search to return to).
pub async fn book(State(web): State<Web>, headers: HeaderMap, body: String) -> Response {
    let (s, me, f) = match super::citizen_post(&web, &headers, &body, "/portal/appointments") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(slot) = forms::filled(&f, "slot").filter(|x| forms::is_id(x)) else {
        return render(
            &web,
            &s,
            &me,
            &f,
            None,
            Some("Выберите время приёма из списка.".into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    match booking::book(&web, &web.fhir(&s), &me, slot, CHANNEL).await {
        Ok(()) => Redirect::to("/portal/appointments?done=booked").into_response(),
        Err(e) => {
            let status = if e.status.is_server_error() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                e.status
            };
            render(&web, &s, &me, &f, None, Some(view::explain(&e)), status).await
        }
    }
}

/// `POST /portal/appointments/{id}/cancel`.
pub async fn cancel(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let (s, me, _) = match super::citizen_post(&web, &headers, &body, "/portal/appointments") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Запись к врачу", "Такой записи нет.");
    }
    let reason = json!({"resourceType": "Parameters", "parameter": [
        {"name": "reason", "valueString": "Отменено пациентом в личном кабинете"}]});
    match web
        .fhir(&s)
        .post(&format!("Appointment/{id}/$cancel"), &reason)
        .await
    {
        Ok(_) => Redirect::to("/portal/appointments?done=cancelled").into_response(),
        Err(e) => render(&web, &s, &me, &[], None, Some(view::explain(&e)), e.status).await,
    }
}
