//! «Согласия»: the citizen opens their record to a doctor or a whole organisation, for a time
//! or until revoked, and revokes it. The API's care rules read active Consents on every
//! request, so a grant or a revocation takes effect on the doctor's next request.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use crate::booking::Choice;
use crate::session::Signed;
use crate::view::{self, Chrome};
use crate::{forms, Web};

/// One consent.
pub struct Row {
    /// Consent id.
    pub id: String,
    /// To whom.
    pub to: String,
    /// The period.
    pub period: String,
    /// Russian status.
    pub status: String,
    /// Whether it can be revoked.
    pub active: bool,
}

#[derive(Template)]
#[template(path = "portal/consents.html")]
struct ConsentsPage {
    page: Chrome,
    rows: Vec<Row>,
    actors: Vec<Choice>,
}

/// `GET /portal/consents`.
pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (s, me) = match super::citizen(&web, &headers, "/portal/consents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = match forms::first(&q, "done") {
        Some("granted") => Some("Доступ к вашей карте открыт.".to_string()),
        Some("revoked") => Some("Согласие отозвано: доступ закрыт.".to_string()),
        _ => None,
    };
    render(&web, &s, &me, notice, None, StatusCode::OK).await
}

async fn render(
    web: &Web,
    s: &Signed,
    me: &str,
    notice: Option<String>,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let fhir = web.fhir(s);
    let consents = match fhir
        .get(&format!(
            "Consent?patient={me}&_count=100&_sort=-_lastUpdated"
        ))
        .await
    {
        Ok(b) => b,
        Err(f) => return view::failure_page(s, &f),
    };
    let roles = match fhir
        .get("PractitionerRole?active=true&_count=500&_include=PractitionerRole:practitioner&_include=PractitionerRole:organization")
        .await
    {
        Ok(b) => b,
        Err(f) => return view::failure_page(s, &f),
    };
    let included = crate::fhir::included(&roles);
    let mut actors: Vec<Choice> = Vec::new();
    for r in crate::fhir::matches(&roles) {
        let doctor = view::text(r, "/practitioner/reference");
        let org = view::text(r, "/organization/reference");
        let org_name = crate::fhir::find(&included, org)
            .map(|o| view::text(o, "/name").to_string())
            .unwrap_or_default();
        if let Some(p) = crate::fhir::find(&included, doctor) {
            actors.push(Choice {
                value: doctor.to_string(),
                label: format!(
                    "{} — {}, {org_name}",
                    view::person_name(p),
                    view::concept(r.pointer("/specialty/0"))
                ),
                selected: false,
            });
        }
        if !org_name.is_empty() && !actors.iter().any(|a| a.value == org) {
            actors.push(Choice {
                value: org.to_string(),
                label: format!("{org_name} (вся организация)"),
                selected: false,
            });
        }
    }
    actors.sort_by(|a, b| a.label.cmp(&b.label));
    actors.dedup_by(|a, b| a.value == b.value);
    let label_of = |reference: &str| {
        actors
            .iter()
            .find(|a| a.value == reference)
            .map(|a| a.label.clone())
            .unwrap_or_else(|| reference.to_string())
    };
    let rows = crate::fhir::matches(&consents)
        .into_iter()
        .map(|c| {
            let status = view::text(c, "/status");
            let start = view::text(c, "/provision/period/start");
            let end = view::text(c, "/provision/period/end");
            Row {
                id: view::text(c, "/id").to_string(),
                to: label_of(view::text(c, "/provision/actor/0/reference/reference")),
                period: match (start.is_empty(), end.is_empty()) {
                    (_, false) => format!("с {} по {}", view::when(start), view::when(end)),
                    (false, true) => format!("с {}, бессрочно", view::when(start)),
                    _ => "бессрочно".into(),
                },
                status: view::status_ru(status).to_string(),
                active: status == "active",
            }
        })
        .collect();
    view::html(
        status,
        ConsentsPage {
            page: Chrome::new("Согласия на доступ к карте", Some(s)).with_outcome(notice, alert),
            rows,
            actors,
        },
    )
}

/// `POST /portal/consents` (`actor`, optional `until`): grants access.
pub async fn grant(State(web): State<Web>, headers: HeaderMap, body: String) -> Response {
    let (s, me, f) = match super::citizen_post(&web, &headers, &body, "/portal/consents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let bad = |msg: &str| {
        render(
            &web,
            &s,
            &me,
            None,
            Some(msg.to_string()),
            StatusCode::BAD_REQUEST,
        )
    };
    let actor = match forms::filled(&f, "actor") {
        Some(a) => match a.split_once('/') {
            Some(("Practitioner" | "Organization", id)) if forms::is_id(id) => a.to_string(),
            _ => return bad("Выберите врача или организацию из списка.").await,
        },
        None => return bad("Выберите, кому открыть доступ.").await,
    };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut period = json!({"start": today});
    if let Some(until) = forms::filled(&f, "until") {
        if !forms::is_date(until) {
            return bad("Дата окончания указана неверно: выберите день в календаре.").await;
        }
        if until < today.as_str() {
            return bad(
                "Дата окончания уже прошла: укажите будущую дату или оставьте поле пустым.",
            )
            .await;
        }
        period["end"] = Value::String(until.to_string());
    }
    let consent = json!({"resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{me}")},
        "dateTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {"type": "permit", "period": period,
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                       "reference": {"reference": actor}}]}});
    match web.fhir(&s).post("Consent", &consent).await {
        Ok(_) => Redirect::to("/portal/consents?done=granted").into_response(),
        Err(e) => render(&web, &s, &me, None, Some(view::explain(&e)), e.status).await,
    }
}

/// `POST /portal/consents/{id}/revoke`.
pub async fn revoke(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let (s, me, _) = match super::citizen_post(&web, &headers, &body, "/portal/consents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !forms::is_id(&id) {
        return view::no_such(&s, "Согласия на доступ к карте", "Такого согласия нет.");
    }
    let fhir = web.fhir(&s);
    let result = match fhir.get(&format!("Consent/{id}")).await {
        Ok(mut c) => {
            c["status"] = json!("inactive");
            fhir.put(&format!("Consent/{id}"), &c).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to("/portal/consents?done=revoked").into_response(),
        Err(e) => render(&web, &s, &me, None, Some(view::explain(&e)), e.status).await,
    }
}
