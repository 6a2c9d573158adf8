//! «Мои документы»: the citizen's medical documents, newest first, each with its body and the
//! signatures checked on opening.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::document::DocumentView;
use crate::view::{self, Chrome};
use crate::Web;

/// One row of the list.
pub struct Row {
    /// DocumentReference id.
    pub id: String,
    /// Date.
    pub date: String,
    /// Kind.
    pub kind: String,
    /// Organisation.
    pub organization: String,
    /// Status (Russian).
    pub status: String,
    /// Registered in РЭМД.
    pub registered: bool,
}

#[derive(Template)]
#[template(path = "portal/documents.html")]
struct List {
    page: Chrome,
    rows: Vec<Row>,
}

/// The rows of a DocumentReference search with custodians included.
pub fn rows(bundle: &Value) -> Vec<Row> {
    let included = crate::fhir::included(bundle);
    crate::fhir::matches(bundle)
        .into_iter()
        .map(|d| Row {
            id: view::text(d, "/id").to_string(),
            date: view::when(view::text(d, "/date")),
            kind: view::concept(d.get("type")),
            organization: crate::fhir::find(&included, view::text(d, "/custodian/reference"))
                .map(|o| view::text(o, "/name").to_string())
                .unwrap_or_default(),
            status: view::status_ru(view::text(d, "/status")).to_string(),
            registered: zdrav_server::remd::is_registered(d),
        })
        .collect()
}

/// `GET /portal/documents`.
pub async fn list(State(web): State<Web>, headers: HeaderMap) -> Response {
    let (s, me) = match super::citizen(&web, &headers, "/portal/documents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    match web
        .fhir(&s)
        .get(&format!(
            "DocumentReference?patient={me}&_sort=-date&_count=100&_include=DocumentReference:custodian"
        ))
        .await
    {
        Ok(b) => view::html(
            StatusCode::OK,
            List {
                page: Chrome::new("Мои документы", Some(&s)),
                rows: rows(&b),
            },
        ),
        Err(f) => view::failure_page(&s, &f),
    }
}

#[derive(Template)]
#[template(path = "document.html")]
pub(crate) struct Open {
    pub page: Chrome,
    pub doc: DocumentView,
    pub download: String,
    pub back: &'static str,
}

/// `GET /portal/documents/{id}`.
pub async fn open(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (s, _) = match super::citizen(&web, &headers, "/portal/documents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !crate::forms::is_id(&id) {
        return view::no_such(&s, "Документ", "Такого документа нет.");
    }
    match crate::document::load(&web, &web.fhir(&s), &id).await {
        Ok(doc) => view::html(
            StatusCode::OK,
            Open {
                page: Chrome::new(&doc.kind.clone(), Some(&s)),
                download: format!("/portal/documents/{id}/body"),
                doc,
                back: "/portal/documents",
            },
        ),
        Err(f) => view::failure_page(&s, &f),
    }
}

/// `GET /portal/documents/{id}/body`: the document's body as a file.
pub async fn body(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (s, _) = match super::citizen(&web, &headers, "/portal/documents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !crate::forms::is_id(&id) {
        return view::no_such(&s, "Документ", "Такого документа нет.");
    }
    crate::document::download(&web.fhir(&s), &id)
        .await
        .unwrap_or_else(|f| view::failure_page(&s, &f))
}
