//! `_summary` and `_elements` on reads: the stored JSON is served untouched unless a view is asked.

use crate::error::ApiError;
use crate::query;
use crate::rest::{Ctx, Payload, Reply};
use serde_json::Value;
use zdrav_fhir::view::{self, SummaryMode};

/// Applies `_summary` / `_elements` from the query to a read reply.
pub fn apply(ctx: &Ctx, reply: Reply, q: &[(String, String)]) -> Result<Reply, ApiError> {
    let summary = query::first(q, "_summary");
    let elements = query::first(q, "_elements");
    if summary.is_none() && elements.is_none() {
        return Ok(reply);
    }
    let Payload::Raw(bytes) = &reply.payload else {
        return Ok(reply);
    };
    let resource: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
    let shaped = match (summary, elements) {
        (Some(s), _) => {
            let mode = SummaryMode::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "_summary must be true, text, data or false on a read, not '{s}'"
                ))
            })?;
            view::summary(ctx.defs, &resource, mode)
        }
        (None, Some(list)) => {
            let names: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            view::elements(ctx.defs, &resource, &names)
        }
        (None, None) => resource,
    };
    Ok(Reply {
        payload: Payload::Json(shaped),
        ..reply
    })
}
