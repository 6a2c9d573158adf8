//! The start page at `/`: what is running, where the API and its CapabilityStatement are, the
//! portal and the workstation, and (in a demo) whom to sign in as.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::view::{self, Chrome, DemoUser};
use crate::Web;

/// A count shown on the start page.
struct Count {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage {
    page: Chrome,
    version: &'static str,
    database: String,
    auth: bool,
    api: String,
    counts: Vec<Count>,
    demo_users: Vec<DemoUser>,
}

/// `GET /`.
pub async fn page(State(web): State<Web>, headers: HeaderMap) -> Response {
    let signed = web.signed(&headers);
    let ctx = &web.inner.ctx;
    let mut counts = Vec::new();
    for (rtype, label) in [
        ("Patient", "пациентов"),
        ("Organization", "организаций"),
        ("Practitioner", "врачей"),
        ("DocumentReference", "документов"),
        ("Slot", "слотов расписания"),
    ] {
        // Aggregates only: the page runs them as the server itself.
        let value = match web
            .system_fhir()
            .get(&format!("{rtype}?_summary=count"))
            .await
        {
            Ok(b) => b
                .get("total")
                .and_then(Value::as_u64)
                .map_or("—".into(), |n| n.to_string()),
            Err(_) => "—".into(),
        };
        counts.push(Count { label, value });
    }
    let demo_users = if web.inner.demo {
        view::demo_users(&web.inner.users)
    } else {
        Vec::new()
    };
    view::html(
        StatusCode::OK,
        StartPage {
            page: Chrome::new("zdrav работает", signed.as_ref()),
            version: env!("CARGO_PKG_VERSION"),
            database: web.inner.store_label.clone(),
            auth: ctx.security.is_some(),
            api: ctx.base.clone(),
            counts,
            demo_users,
        },
    )
}
