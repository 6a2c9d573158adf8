//! «Записать к врачу» from the workstation: the clinician finds free time of another doctor
//! and books the patient into it through the registry channel (any slot, competitive or not;
//! the patient rules still apply).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::booking::{self, Choice, Offer, Search};
use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

const CHANNEL: &str = "registry";

#[derive(Template)]
#[template(path = "arm/book.html")]
struct BookPage {
    page: Chrome,
    id: String,
    patient: String,
    specialties: Vec<Choice>,
    organizations: Vec<Choice>,
    from: String,
    asked: bool,
    offers: Vec<Offer>,
    action: String,
    book_action: String,
}

async fn render(
    web: &Web,
    s: &Signed,
    id: &str,
    q: &[(String, String)],
    notice: Option<String>,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let fhir = web.fhir(s);
    let patient = match fhir.get(&format!("Patient/{id}")).await {
        Ok(p) => view::person_name(&p),
        Err(f) => return view::failure_page(s, &f),
    };
    let found = match Search::run(&fhir, q, CHANNEL).await {
        Ok(f) => f,
        Err(f) => return view::failure_page(s, &f),
    };
    let status = if found.problem.is_some() && status == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    view::html(
        status,
        BookPage {
            page: Chrome::new("Запись пациента к врачу", Some(s))
                .with_outcome(notice, alert.or(found.problem.clone())),
            id: id.to_string(),
            patient,
            asked: found.shown(),
            from: found.ask.from,
            specialties: found.specialties,
            organizations: found.organizations,
            offers: found.offers,
            action: format!("/arm/patients/{id}/book"),
            book_action: format!("/arm/patients/{id}/book"),
        },
    )
}

/// `GET /arm/patients/{id}/book[?specialty&organization&from&find]`.
pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/patients/{id}/book")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Запись пациента к врачу", "Такого пациента нет.");
    }
    let notice = (forms::first(&q, "done") == Some("booked"))
        .then(|| "Пациент записан на приём.".to_string());
    render(&web, &s, &id, &q, notice, None, StatusCode::OK).await
}

/// `POST /arm/patients/{id}/book` (`slot`).
pub async fn book(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let s = match super::clinician(&web, &headers, &format!("/arm/patients/{id}/book")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f = match web.posted(&s, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Запись пациента к врачу", "Такого пациента нет.");
    }
    let Some(slot) = forms::filled(&f, "slot").filter(|x| forms::is_id(x)) else {
        let msg = Some("Выберите время приёма из списка.".to_string());
        return render(&web, &s, &id, &[], None, msg, StatusCode::BAD_REQUEST).await;
    };
    match booking::book(&web, &web.fhir(&s), &id, slot, CHANNEL).await {
        Ok(()) => axum::response::IntoResponse::into_response(axum::response::Redirect::to(
            &format!("/arm/patients/{id}/book?done=booked"),
        )),
        Err(e) => {
            let status = if e.status.is_server_error() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                e.status
            };
            render(&web, &s, &id, &[], None, Some(view::explain(&e)), status).await
        }
    }
}
