//! The error type of every FHIR interaction: an HTTP status and OperationOutcome issues.

use axum::http::StatusCode;
use zdrav_fhir::Issue;
use zdrav_store::StoreError;

/// A failed interaction: rendered as an OperationOutcome with `status`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, and where.
    pub issues: Vec<Issue>,
}

impl ApiError {
    /// An error with one issue.
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            issues: vec![Issue::error(code, msg)],
        }
    }

    /// `Ok` without issues, else a 400 with all of them.
    pub fn unless_clean(issues: Vec<Issue>) -> Result<(), ApiError> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                issues,
            })
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", msg)
    }

    /// 404 Not Found.
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", msg)
    }

    /// 412 Precondition Failed (If-Match).
    pub fn precondition(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "conflict", msg)
    }

    /// 500: a server-side failure (never caused by input).
    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            issues: vec![Issue {
                severity: zdrav_fhir::Severity::Fatal,
                code: "exception",
                diagnostics: msg.into(),
                expression: None,
            }],
        }
    }

    /// Sets the location of the first issue.
    pub fn at(mut self, expression: impl Into<String>) -> ApiError {
        if let Some(first) = self.issues.first_mut() {
            first.expression = Some(expression.into());
        }
        self
    }

    /// Prefixes every issue's location, e.g. with `Bundle.entry[3].resource`.
    pub fn within(mut self, prefix: &str, rtype: &str) -> ApiError {
        for issue in &mut self.issues {
            issue.expression = Some(match issue.expression.take() {
                Some(e) => match e.strip_prefix(rtype) {
                    Some(rest) => format!("{prefix}{rest}"),
                    None => format!("{prefix}.{e}"),
                },
                None => prefix.to_string(),
            });
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::VersionConflict { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "conflict", e.to_string())
            }
            StoreError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "duplicate", e.to_string())
            }
            StoreError::DuplicateKey { .. } => ApiError::bad_request(e.to_string()),
            StoreError::OutboxGone { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            // The request asks for more than a page may hold; a smaller `_count` succeeds.
            StoreError::TooCostly { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "too-costly", e.to_string()).at("_count")
            }
            StoreError::Backend(_) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::internal(e.to_string())
            }
        }
    }
}
