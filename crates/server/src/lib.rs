//! The HTTP face of zdrav: the FHIR R4 REST API under `/fhir` (read, vread, create, update,
//! delete, patch, history, capabilities, batch and transaction, `$validate`, bulk `$export`),
//! `/health` and Prometheus `/metrics`. Interactions live in [`rest`], [`bundle`] and [`history`] as plain async
//! functions over a [`Ctx`], so the HTTP layer ([`routes`]) and bundle entries share one code path
//! and the `zdrav load` command can run transactions without a socket.

pub mod access;
pub mod audit;
pub mod auth;
pub mod binary;
pub mod bindings;
pub mod body;
pub mod booking;
pub mod bundle;
pub mod capability;
pub mod care;
pub mod error;
pub mod export;
pub mod history;
pub mod ident;
pub mod integrity;
pub mod limits;
pub mod merge;
pub mod metrics;
pub mod mpi;
pub mod patch;
pub mod query;
pub mod reads;
pub mod refs;
pub mod remd;
pub mod render;
pub mod represent;
pub mod rest;
pub mod routes;
pub mod search;
pub mod smart;
pub mod stored_body;
pub mod terminology;
pub mod timeline;
pub mod trust;
pub mod validate_op;
pub mod views;

pub use body::Limits;
pub use error::ApiError;
pub use rest::Ctx;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::sync::Arc;
use zdrav_store::DynStore;

/// Builds the interaction context for a store.
pub fn context(store: DynStore, base: String, limits: Limits) -> Ctx {
    Ctx {
        store,
        defs: zdrav_fhir::r4(),
        limits,
        base,
        validation: zdrav_fhir::Options::default(),
        exports: Arc::new(export::Exports::new(
            std::env::temp_dir().join("zdrav-export"),
        )),
        security: None,
        caller: auth::Caller::Unrestricted,
        audit: None,
        client_address: None,
        rate_limit: None,
        care: None,
        break_glass: None,
        terminology: Arc::new(terminology::Cache::default()),
        required_bindings: Arc::new(Vec::new()),
        booking: Arc::new(booking::Booking::default()),
        trust: None,
    }
}

#[derive(Clone)]
struct AppState {
    ctx: Ctx,
    metrics: Arc<metrics::Metrics>,
}

async fn health(State(s): State<AppState>) -> Response {
    match s.ctx.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"status":"ok"}"#,
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            serde_json::json!({"status": "unavailable", "error": e.to_string()}).to_string(),
        )
            .into_response(),
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    let counts = s.ctx.store.counts().await.unwrap_or_default();
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.render(&counts),
    )
        .into_response()
}

async fn not_found() -> Response {
    routes::error_response(
        &ApiError::not_found("nothing here: the FHIR API is at /fhir"),
        "application/fhir+json",
    )
}

/// The whole HTTP application.
pub fn app(ctx: Ctx) -> Router {
    app_with(ctx, Router::new())
}

/// The whole HTTP application with more routes (the web pages), which share its limits,
/// security headers and metrics.
pub fn app_with(ctx: Ctx, pages: Router) -> Router {
    let metrics = Arc::new(metrics::Metrics::default());
    let state = AppState {
        ctx: ctx.clone(),
        metrics: metrics.clone(),
    };
    let fhir = Router::new()
        .route("/fhir", any(routes::handle))
        .route("/fhir/", any(routes::handle))
        .route("/fhir/{*rest}", any(routes::handle))
        .with_state(ctx);
    let root = state
        .ctx
        .base
        .strip_suffix("/fhir")
        .unwrap_or(&state.ctx.base)
        .to_string();
    let smart = match &state.ctx.security {
        Some(sec) => smart::router(sec.clone(), sec.config.clone(), root),
        None => Router::new(),
    };
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .with_state(state)
        .merge(smart)
        .merge(fhir)
        .merge(pages)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(limits::security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                routes::error_response(
                    &ApiError::internal("internal error while processing the request"),
                    "application/fhir+json",
                )
            },
        ))
}
