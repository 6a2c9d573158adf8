//! Booking (issue 8, first part): an Appointment that books Slots takes them in the same store
//! commit as the Appointment itself. Each Slot must be `free` and is written `busy` under a
//! version precondition, so of two bookings racing for one slot exactly one commits; the other
//! gets 409 and an OperationOutcome, on SQLite and PostgreSQL alike. Cancelling (status
//! `cancelled`, `noshow`, `entered-in-error`) or dropping a slot frees it in the same way.
//! This covers `POST Appointment`, `PUT` and `PATCH Appointment/[id]` (also as batch entries);
//! transactions refuse Appointments with slots rather than bypass the rule.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::Value;
use zdrav_store::{Precondition, StoreError};

use crate::error::ApiError;
use crate::rest::{self, Conditions, Ctx, Reply};

/// Statuses in which an Appointment holds its slots.
const HOLDS: [&str; 5] = ["pending", "booked", "arrived", "fulfilled", "checked-in"];

/// The Slot ids an Appointment holds (none unless its status holds them).
fn held(a: &Value) -> BTreeSet<String> {
    let status = a.get("status").and_then(Value::as_str).unwrap_or("");
    if !HOLDS.contains(&status) {
        return BTreeSet::new();
    }
    a.get("slot")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("reference").and_then(Value::as_str))
        .filter_map(|r| r.strip_prefix("Slot/"))
        .map(str::to_string)
        .collect()
}

/// The refusal of an Appointment with slots inside a transaction: slots are taken and freed
/// only by `POST`/`PUT`/`PATCH Appointment` (or a batch, whose entries are those).
pub fn not_in_transactions() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "business-rule",
        "an Appointment with slots is booked or changed with POST, PUT or PATCH Appointment, not inside a transaction",
    )
}

fn taken(slot: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("Slot/{slot} is already taken; choose another free slot"),
    )
}

/// Creates (`id` None) or updates an Appointment, taking and freeing its slots atomically.
pub async fn write(
    ctx: &Ctx,
    id: Option<&str>,
    mut resource: Value,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    let updating = id.is_some();
    let (id, old) = match id {
        Some(id) => {
            let cur = ctx
                .store
                .read("Appointment", id)
                .await?
                .filter(|r| !r.deleted);
            let old = cur.as_ref().and_then(|r| {
                serde_json::from_slice::<Value>(&r.json)
                    .ok()
                    .map(|v| (v, r.version))
            });
            (id.to_string(), old)
        }
        None => (rest::new_id(), None),
    };
    let checked = rest::prepare(ctx, "Appointment", &id, &mut resource)?;
    let refs: Vec<_> = checked
        .local_refs
        .into_iter()
        .map(|r| (String::new(), r))
        .collect();
    rest::check_references(&ctx.store, &refs, &Default::default()).await?;
    let (now, before) = (
        held(&resource),
        old.as_ref().map(|(v, _)| held(v)).unwrap_or_default(),
    );
    let precondition = match (&old, c.if_match) {
        (_, Some(v)) => Precondition::VersionIs(v),
        (Some((_, v)), None) => Precondition::VersionIs(*v),
        // Create-on-update (also over a deleted one) or a fresh create.
        (None, None) if updating => Precondition::None,
        (None, None) => Precondition::MustNotExist,
    };
    let mut ops = vec![rest::put_op(
        ctx,
        "Appointment",
        &id,
        resource,
        precondition,
    )];
    for (slot, take) in now
        .difference(&before)
        .map(|s| (s, true))
        .chain(before.difference(&now).map(|s| (s, false)))
    {
        let Some(cur) = ctx.store.read("Slot", slot).await?.filter(|r| !r.deleted) else {
            if take {
                return Err(ApiError::not_found(format!("Slot/{slot} is not known")));
            }
            continue;
        };
        let mut v: Value =
            serde_json::from_slice(&cur.json).map_err(|e| ApiError::internal(e.to_string()))?;
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        match (take, status) {
            (true, "free") => v["status"] = Value::String("busy".into()),
            (true, _) => return Err(taken(slot)),
            (false, "busy") => v["status"] = Value::String("free".into()),
            (false, _) => continue,
        }
        ops.push(rest::put_op(
            ctx,
            "Slot",
            slot,
            v,
            Precondition::VersionIs(cur.version),
        ));
    }
    let subtype = if old.is_some() { "update" } else { "create" };
    let results = match crate::audit::commit(ctx, ops, subtype).await {
        Ok(r) => r,
        Err(StoreError::VersionConflict { rtype, id, .. }) if rtype == "Slot" => {
            return Err(taken(&id))
        }
        Err(e) => return Err(e.into()),
    };
    let w = results
        .first()
        .ok_or_else(|| ApiError::internal("the store returned no result for the appointment"))?;
    Ok(rest::write_reply(w, c.prefer, &checked.issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_holding_statuses_hold_slots() {
        let a = |status: &str| json!({"status": status, "slot": [{"reference": "Slot/s1"}, {"reference": "Slot/s2"}]});
        assert_eq!(held(&a("booked")).len(), 2);
        assert!(held(&a("cancelled")).is_empty());
        assert!(held(&a("proposed")).is_empty());
        assert!(held(&json!({"status": "booked"})).is_empty());
    }
}
