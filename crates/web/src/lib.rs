//! The Russian web pages of zdrav, rendered on the server: the start page at `/`, «Мое здоровье»
//! for citizens under `/portal` (documents, appointments, consents, who viewed the record) and
//! the clinician's workstation (АРМ) under `/arm` (patient search, the integrated-record
//! timeline, registering a signed document, booking to another doctor, a doctor's schedule).
//!
//! The pages are a FHIR client that runs in-process: every page calls the `/fhir` pipeline
//! ([`zdrav_server::routes::serve`]) as the signed-in user, so they obey exactly the API's
//! access rules and leave the same audit trail. Users sign in with the built-in issuer's users
//! (`--auth-config`, or the demo users of `--demo`); the session is an HttpOnly, SameSite=Strict
//! cookie holding a token of that issuer, and every form carries a token derived from it
//! against cross-site requests. Plain HTML forms (no script needed) keep the pages usable with a
//! keyboard, a screen reader and a phone.

// A handler's early answer (the sign-in redirect, a refusal page) is a whole Response; it is the
// cold path of every page, so it is returned as is rather than boxed.
#![allow(clippy::result_large_err)]

mod arm;
mod booking;
mod document;
mod fhir;
mod forms;
mod portal;
pub mod session;
mod start;
mod view;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use zdrav_server::auth::Security;
use zdrav_server::smart::User;
use zdrav_server::Ctx;

/// What the pages need: the FHIR context, the identity side and the users who may sign in.
#[derive(Clone)]
pub struct Web {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Ctx,
    security: Arc<Security>,
    users: Vec<User>,
    demo: bool,
    store_label: String,
    failures: session::Failures,
}

impl Web {
    /// The pages over `ctx`, signing sessions with `security`'s issuer. `demo` shows the demo
    /// users on the start and sign-in pages; `store_label` names the database for the start page.
    pub fn new(
        ctx: Ctx,
        security: Arc<Security>,
        users: Vec<User>,
        demo: bool,
        store_label: String,
    ) -> Web {
        Web {
            inner: Arc::new(Inner {
                ctx,
                security,
                users,
                demo,
                store_label,
                failures: session::Failures::default(),
            }),
        }
    }
}

const STYLE: &str = include_str!("../static/style.css");

async fn style() -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The router of every page.
pub fn router(web: Web) -> Router {
    let body_limit = web.inner.ctx.limits.max_body_bytes;
    Router::new()
        .route("/", get(start::page))
        .route("/static/style.css", get(style))
        .route("/login", get(session::form).post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/portal", get(portal::home))
        .route("/portal/documents", get(portal::documents::list))
        .route("/portal/documents/{id}", get(portal::documents::open))
        .route("/portal/documents/{id}/body", get(portal::documents::body))
        .route("/portal/appointments", get(portal::appointments::page))
        .route(
            "/portal/appointments/book",
            post(portal::appointments::book),
        )
        .route(
            "/portal/appointments/{id}/cancel",
            post(portal::appointments::cancel),
        )
        .route(
            "/portal/consents",
            get(portal::consents::page).post(portal::consents::grant),
        )
        .route(
            "/portal/consents/{id}/revoke",
            post(portal::consents::revoke),
        )
        .route("/portal/access-log", get(portal::access_log::page))
        .route("/arm", get(arm::search))
        .route("/arm/patients/{id}", get(arm::record::page))
        .route("/arm/patients/{id}/emergency", post(arm::record::emergency))
        .route(
            "/arm/patients/{id}/book",
            get(arm::booking::page).post(arm::booking::book),
        )
        .route(
            "/arm/documents",
            get(arm::register::form).post(arm::register::submit),
        )
        .route("/arm/documents/{id}", get(arm::register::open))
        .route("/arm/documents/{id}/body", get(arm::register::body))
        .route("/arm/schedule", get(arm::schedule::page))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(web)
}
