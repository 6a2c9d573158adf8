//! Referential integrity on write: every local reference of a written resource must point at a
//! resource that exists, or that the same transaction writes. Also resolves a local reference
//! to the current resource, for the server's own rules (booking, documents).

use zdrav_fhir::Issue;
use zdrav_store::DynStore;

use crate::error::ApiError;
use crate::rest::Ctx;

/// The current (not deleted) resource a local reference `Type/id` names, as JSON; `None` for
/// anything else (unknown type, bad id, absent, deleted).
pub async fn resolve(ctx: &Ctx, reference: &str) -> Result<Option<serde_json::Value>, ApiError> {
    let Some((t, id)) = reference.split_once('/') else {
        return Ok(None);
    };
    if !ctx.defs.is_resource_type(t) || !zdrav_fhir::primitives::is_id(id) {
        return Ok(None);
    }
    Ok(ctx
        .store
        .read(t, id)
        .await?
        .filter(|r| !r.deleted)
        .and_then(|r| serde_json::from_slice(&r.json).ok()))
}

/// Fails with 400 if any local reference points at a resource that does not exist, unless it is
/// in `pending` (written by the same transaction).
pub async fn check_references(
    store: &DynStore,
    refs: &[(String, zdrav_fhir::LocalRef)],
    pending: &std::collections::HashSet<(String, String)>,
) -> Result<(), ApiError> {
    let mut to_check: Vec<(String, String)> = Vec::new();
    let mut sites: Vec<(String, &zdrav_fhir::LocalRef)> = Vec::new();
    for (prefix, r) in refs {
        let key = (r.rtype.clone(), r.id.clone());
        if pending.contains(&key) {
            continue;
        }
        to_check.push(key);
        sites.push((prefix.clone(), r));
    }
    if to_check.is_empty() {
        return Ok(());
    }
    let found = store.exists_many(to_check).await?;
    let issues: Vec<Issue> = found
        .iter()
        .zip(sites)
        .filter(|(ok, _)| !**ok)
        .take(50)
        .map(|(_, (prefix, r))| {
            let at = match r.expression.split_once('.') {
                Some((_, rest)) if !prefix.is_empty() => format!("{prefix}.{rest}"),
                _ => r.expression.clone(),
            };
            Issue::error(
                "not-found",
                format!("referenced resource {}/{} does not exist", r.rtype, r.id),
            )
            .at(at)
        })
        .collect();
    ApiError::unless_clean(issues)
}
