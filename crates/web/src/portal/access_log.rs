//! «Кто смотрел мою карту»: the audit trail of the citizen's record, newest first: who, in what
//! role, when, what they did, and an emergency access with its stated reason.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::view::{self, Chrome};
use crate::{forms, Web};

/// One access.
pub struct Row {
    /// When.
    pub when: String,
    /// Who.
    pub who: String,
    /// Their role.
    pub role: String,
    /// What they did.
    pub action: String,
    /// What they looked at.
    pub what: String,
    /// The reason of an emergency access.
    pub emergency: Option<String>,
    /// Whether it was refused.
    pub refused: bool,
}

#[derive(Template)]
#[template(path = "portal/access_log.html")]
struct LogPage {
    page: Chrome,
    rows: Vec<Row>,
    mine: bool,
}

fn action_ru(subtype: &str) -> &'static str {
    match subtype {
        "read" | "vread" => "просмотр",
        "search-type" | "search-system" | "search" => "поиск",
        "history-instance" | "history-type" => "история изменений",
        "create" => "создание",
        "update" | "patch" => "изменение",
        "delete" => "удаление",
        "operation" => "операция",
        "export" => "выгрузка",
        _ => "обращение",
    }
}

/// `GET /portal/access-log[?mine=1]`: others' accesses; with `mine=1` the citizen's own too.
pub async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (s, me) = match super::citizen(&web, &headers, "/portal/access-log") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let show_mine = forms::first(&q, "mine") == Some("1");
    let log = match web
        .fhir(&s)
        .get(&format!(
            "AuditEvent?patient={me}&_sort=-date&_count=200&_include=AuditEvent:agent"
        ))
        .await
    {
        Ok(b) => b,
        Err(f) => return view::failure_page(&s, &f),
    };
    let included = crate::fhir::included(&log);
    let own = format!("Patient/{me}");
    let mut rows = Vec::new();
    for e in crate::fhir::matches(&log) {
        let agent = e.pointer("/agent/0").cloned().unwrap_or(Value::Null);
        let who_ref = view::text(&agent, "/who/reference");
        if who_ref == own && !show_mine {
            continue;
        }
        let who = if who_ref == own {
            "вы".to_string()
        } else {
            match crate::fhir::find(&included, who_ref) {
                Some(p) => view::person_name(p),
                None => match view::text(&agent, "/who/display") {
                    "" => who_ref.to_string(),
                    d => d.to_string(),
                },
            }
        };
        let what: Vec<&str> = e
            .get("entity")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.pointer("/what/reference").and_then(Value::as_str))
            .filter_map(|r| r.split('/').next())
            .filter(|t| *t != "Patient")
            .map(view::type_ru)
            .collect();
        rows.push(Row {
            when: view::when(view::text(e, "/recorded")),
            who,
            role: view::role_ru(view::text(&agent, "/type/coding/0/code")).to_string(),
            action: action_ru(view::text(e, "/subtype/0/code")).to_string(),
            what: if what.is_empty() {
                "медицинская карта".into()
            } else {
                what.join(", ")
            },
            emergency: e
                .pointer("/purposeOfEvent/0/text")
                .and_then(Value::as_str)
                .map(str::to_string),
            refused: view::text(e, "/outcome") != "0" && !view::text(e, "/outcome").is_empty(),
        });
    }
    view::html(
        StatusCode::OK,
        LogPage {
            page: Chrome::new("Кто смотрел мою карту", Some(&s)),
            rows,
            mine: show_mine,
        },
    )
}
