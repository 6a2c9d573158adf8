//! `POST Patient/$merge`: the source record (a duplicate) is merged into the target. In one
//! store commit, with its audit event: every resource of the source's compartment has its
//! references to the source rewritten to the target, the source becomes inactive with
//! `link.type = replaced-by` the target, and the target gains `link.type = replaces` the
//! source. Each rewritten resource is written only if it has not changed since it was read
//! (its version is a precondition), so a concurrent edit fails the merge instead of being lost.
//! Nothing refers to the source afterwards except the target's `replaces` link, and the source
//! stays readable, so no reference dangles.

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_store::Precondition;

use crate::error::ApiError;
use crate::rest::{Ctx, Reply};

fn reference_param(body: &Value, name: &str) -> Result<String, ApiError> {
    let found = body
        .get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.pointer("/valueReference/reference"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "$merge needs '{name}' as a valueReference to Patient/[id]"
            ))
        })?;
    let id = found
        .strip_prefix("Patient/")
        .filter(|id| zdrav_fhir::primitives::is_id(id))
        .ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be Patient/[id], not '{found}'"))
        })?;
    Ok(id.to_string())
}

/// Rewrites every `reference` to `from` inside `v` into `to`; returns how many.
fn rewrite(v: &mut Value, from: &str, to: &str) -> usize {
    match v {
        Value::Object(o) => {
            let mut n = 0;
            for (k, x) in o.iter_mut() {
                if k == "reference"
                    && x.as_str()
                        .is_some_and(|r| r == from || r.ends_with(&format!("/{from}")))
                {
                    *x = Value::String(to.to_string());
                    n += 1;
                } else {
                    n += rewrite(x, from, to);
                }
            }
            n
        }
        Value::Array(a) => a.iter_mut().map(|x| rewrite(x, from, to)).sum(),
        _ => 0,
    }
}

async fn live(ctx: &Ctx, id: &str) -> Result<(Value, u64), ApiError> {
    let r = ctx
        .store
        .read("Patient", id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| ApiError::not_found(format!("Patient/{id} is not known")))?;
    crate::care::check_read(ctx, "Patient", id, &r.json).await?;
    let v = serde_json::from_slice(&r.json).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((v, r.version))
}

/// `POST Patient/$merge` with `source-patient` and `target-patient`.
pub async fn merge(ctx: &Ctx, body: &Value) -> Result<Reply, ApiError> {
    let source = reference_param(body, "source-patient")?;
    let target = reference_param(body, "target-patient")?;
    if source == target {
        return Err(ApiError::bad_request(
            "a patient cannot be merged into itself",
        ));
    }
    let (mut src, src_version) = live(ctx, &source).await?;
    let (mut tgt, tgt_version) = live(ctx, &target).await?;
    for (p, id) in [(&src, &source), (&tgt, &target)] {
        let merged = p
            .get("link")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|l| l.get("type").and_then(Value::as_str) == Some("replaced-by"));
        if merged {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("Patient/{id} was already merged into another record"),
            ));
        }
    }
    let (from, to) = (format!("Patient/{source}"), format!("Patient/{target}"));
    let mut ops = Vec::new();
    let mut moved = 0usize;
    let mut types: Vec<&String> = ctx
        .defs
        .patient_compartment
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(t, _)| t)
        .collect();
    types.sort();
    for t in types {
        if t == "Patient" {
            continue;
        }
        let Some(cond) = zdrav_search::compartment_condition("Patient", &source, t) else {
            continue;
        };
        let q = zdrav_search::SearchQuery {
            types: vec![t.clone()],
            conditions: vec![cond],
            sort: Vec::new(),
            count: usize::MAX,
            offset: 0,
            total: zdrav_search::TotalMode::None,
            include: Vec::new(),
            revinclude: Vec::new(),
            snapshot: None,
            patients: None,
        };
        for r in ctx.store.search(&q).await?.matches {
            let mut v: Value =
                serde_json::from_slice(&r.json).map_err(|e| ApiError::internal(e.to_string()))?;
            if rewrite(&mut v, &from, &to) > 0 {
                moved += 1;
                ops.push(crate::rest::put_op(
                    ctx,
                    t,
                    &r.id,
                    v,
                    Precondition::VersionIs(r.version),
                ));
            }
        }
    }
    src["active"] = Value::Bool(false);
    src["link"] = json!([{"other": {"reference": to}, "type": "replaced-by"}]);
    let mut links = tgt
        .get("link")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    links.push(json!({"other": {"reference": from}, "type": "replaces"}));
    tgt["link"] = Value::Array(links);
    ops.push(crate::rest::put_op(
        ctx,
        "Patient",
        &source,
        src,
        Precondition::VersionIs(src_version),
    ));
    ops.push(crate::rest::put_op(
        ctx,
        "Patient",
        &target,
        tgt,
        Precondition::VersionIs(tgt_version),
    ));
    let results = crate::audit::commit(ctx, ops, "operation").await?;
    let survivor = results
        .last()
        .and_then(|w| serde_json::from_slice::<Value>(&w.json).ok())
        .unwrap_or(Value::Null);
    let outcome = zdrav_fhir::operation_outcome(&[zdrav_fhir::Issue::information(
        "informational",
        format!("Patient/{source} was merged into Patient/{target}; {moved} resources now refer to Patient/{target}"),
    )]);
    Ok(Reply::json(
        StatusCode::OK,
        json!({"resourceType": "Parameters", "parameter": [
        {"name": "outcome", "resource": outcome},
        {"name": "result", "resource": survivor}]}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_rewritten_wherever_they_are() {
        let mut v = json!({"subject": {"reference": "Patient/a"},
            "performer": [{"reference": "http://x/fhir/Patient/a"}, {"reference": "Patient/ab"}],
            "note": [{"text": "Patient/a"}]});
        assert_eq!(rewrite(&mut v, "Patient/a", "Patient/b"), 2);
        assert_eq!(v["subject"]["reference"], "Patient/b");
        assert_eq!(v["performer"][1]["reference"], "Patient/ab");
        assert_eq!(v["note"][0]["text"], "Patient/a");
    }
}
