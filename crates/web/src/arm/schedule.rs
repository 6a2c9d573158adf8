//! «Расписание врачей»: the registrar's view of one doctor's day: every slot with its status
//! and, for a booked one, the patient and how they booked.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::booking::Choice;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// One slot of the day.
pub struct Row {
    /// Start and end.
    pub time: String,
    /// Russian status.
    pub status: String,
    /// The patient's id and name, if booked.
    pub patient: Option<(String, String)>,
    /// The booking channel.
    pub channel: String,
}

#[derive(Template)]
#[template(path = "arm/schedule.html")]
struct SchedulePage {
    page: Chrome,
    doctors: Vec<Choice>,
    date: String,
    asked: bool,
    rows: Vec<Row>,
}

fn channel_ru(code: &str) -> &'static str {
    match code {
        "epgu" => "ЕПГУ",
        "rpgu" => "РПГУ",
        "call-122" => "122",
        "kiosk" => "инфомат",
        "registry" => "регистратура",
        "referral" => "направление",
        _ => "",
    }
}

/// `GET /arm/schedule[?doctor=PractitionerRole-id&date=YYYY-MM-DD]`.
pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let s = match super::clinician(&web, &headers, "/arm/schedule") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let fhir = web.fhir(&s);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut alert = None;
    let date = match forms::filled(&q, "date") {
        Some(d) if forms::is_date(d) => d.to_string(),
        Some(_) => {
            alert = Some("Дата указана неверно: выберите день в календаре.".to_string());
            today.clone()
        }
        None => today.clone(),
    };
    let doctor = forms::filled(&q, "doctor").filter(|d| forms::is_id(d));
    if forms::filled(&q, "doctor").is_some() && doctor.is_none() {
        alert = Some("Выберите врача из списка.".into());
    }
    let roles = match fhir
        .get("PractitionerRole?active=true&_count=500&_include=PractitionerRole:practitioner")
        .await
    {
        Ok(b) => b,
        Err(f) => return view::failure_page(&s, &f),
    };
    let included = crate::fhir::included(&roles);
    let mut doctors: Vec<Choice> = crate::fhir::matches(&roles)
        .into_iter()
        .map(|r| {
            let id = view::text(r, "/id").to_string();
            let name = crate::fhir::find(&included, view::text(r, "/practitioner/reference"))
                .map(view::person_name)
                .unwrap_or_else(|| id.clone());
            Choice {
                selected: doctor == Some(id.as_str()),
                label: format!("{name} — {}", view::concept(r.pointer("/specialty/0"))),
                value: id,
            }
        })
        .collect();
    doctors.sort_by(|a, b| a.label.cmp(&b.label));
    let mut rows = Vec::new();
    let asked = doctor.is_some() && alert.is_none();
    if let (Some(d), true) = (doctor, asked) {
        let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .unwrap_or_else(|_| chrono::Utc::now().date_naive());
        let next = (day + chrono::Duration::days(1)).format("%Y-%m-%d");
        let path = format!(
            "Slot?schedule:Schedule.actor=PractitionerRole/{d}&start=ge{date}T00:00:00%2B03:00&start=lt{next}T00:00:00%2B03:00&_sort=start&_count=200&_revinclude=Appointment:slot&_include:iterate=Appointment:patient"
        );
        let b = match fhir.get(&path).await {
            Ok(b) => b,
            Err(f) => return view::failure_page(&s, &f),
        };
        let included = crate::fhir::included(&b);
        for slot in crate::fhir::matches(&b) {
            let slot_ref = format!("Slot/{}", view::text(slot, "/id"));
            let booking = included.iter().find(|a| {
                view::text(a, "/resourceType") == "Appointment"
                    && ["booked", "pending", "arrived", "fulfilled"]
                        .contains(&view::text(a, "/status"))
                    && a.get("slot")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|x| view::text(x, "/reference") == slot_ref)
            });
            let patient = booking.and_then(|a| {
                let r = a
                    .get("participant")
                    .and_then(Value::as_array)?
                    .iter()
                    .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
                    .find(|r| r.starts_with("Patient/"))?;
                let name = crate::fhir::find(&included, r)
                    .map(view::person_name)
                    .unwrap_or_else(|| "пациент".into());
                Some((r.trim_start_matches("Patient/").to_string(), name))
            });
            let channel = booking
                .and_then(|a| a.get("extension").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .find(|e| view::text(e, "/url") == zdrav_server::booking::ops::CHANNEL)
                .map(|e| channel_ru(view::text(e, "/valueCode")))
                .unwrap_or("");
            let time = |p: &str| view::text(slot, p).get(11..16).unwrap_or("").to_string();
            rows.push(Row {
                time: format!("{}–{}", time("/start"), time("/end")),
                status: view::status_ru(view::text(slot, "/status")).to_string(),
                patient,
                channel: channel.to_string(),
            });
        }
    }
    let status = if alert.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    view::html(
        status,
        SchedulePage {
            page: Chrome::new("Расписание врача", Some(&s)).with_outcome(None, alert),
            doctors,
            date,
            asked,
            rows,
        },
    )
}
