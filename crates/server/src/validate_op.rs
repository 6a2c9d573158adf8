//! `$validate` at type and instance level.

use crate::error::ApiError;
use crate::rest::{check_type, read, Conditions, Ctx, Payload, Reply};
use axum::http::StatusCode;
use serde_json::{Map, Value};

/// `$validate` at type or instance level: 200 with an OperationOutcome listing every issue.
pub async fn validate_op(
    ctx: &Ctx,
    rtype: &str,
    id: Option<&str>,
    body: Option<Value>,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    let resource = match body {
        Some(Value::Object(o))
            if o.get("resourceType").and_then(Value::as_str) == Some("Parameters") =>
        {
            param_resource(&o)?
        }
        Some(v) => v,
        None => match id {
            Some(id) => {
                let r = read(ctx, rtype, id, &Conditions::default()).await?;
                match r.payload {
                    Payload::Raw(b) => serde_json::from_slice(&b).map_err(|e| {
                        ApiError::internal(format!("stored JSON is unreadable: {e}"))
                    })?,
                    _ => return Err(ApiError::internal("unexpected read payload")),
                }
            }
            None => {
                return Err(ApiError::bad_request(
                    "$validate needs a resource in the body",
                ))
            }
        },
    };
    if resource.get("resourceType").and_then(Value::as_str) != Some(rtype) {
        return Err(ApiError::bad_request(format!(
            "$validate on {rtype} needs a {rtype} resource"
        )));
    }
    if let (Some(id), Some(body_id)) = (id, resource.get("id").and_then(Value::as_str)) {
        if id != body_id {
            return Err(ApiError::bad_request(format!(
                "the id in the body ('{body_id}') differs from the id in the URL ('{id}')"
            )));
        }
    }
    let mut v = zdrav_fhir::validate_with(ctx.defs, &resource, &ctx.validation);
    if v.is_valid() {
        v.issues
            .extend(zdrav_fhirpath::check_invariants(ctx.defs, &resource));
    }
    Ok(Reply::json(
        StatusCode::OK,
        zdrav_fhir::operation_outcome(&v.issues),
    ))
}

fn param_resource(params: &Map<String, Value>) -> Result<Value, ApiError> {
    params
        .get("parameter")
        .and_then(Value::as_array)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some("resource"))
                .and_then(|p| p.get("resource").cloned())
        })
        .ok_or_else(|| {
            ApiError::bad_request("Parameters for $validate need a 'resource' parameter")
        })
}
