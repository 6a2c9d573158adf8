//! `POST Schedule/[id]/$generate`: lays out a schedule's slots from a template (working hours
//! per weekday, slot length, breaks, days off; see `zdrav_booking`). Each slot gets the id
//! `<schedule>-<YYYYMMDDHHMM>`, so running the same template again creates only what is
//! missing, and a slot already there (perhaps booked) is never touched. Slots copy the
//! schedule's service and specialty, and carry the competitive tag unless the template says
//! `competitive=false`.

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_store::Precondition;

use super::SLOT_ACCESS;
use crate::error::ApiError;
use crate::rest::{self, Ctx, Reply};

/// Slots one call generates at most (a year of 15-minute slots on a five-day week is ~8,000).
pub const MAX_SLOTS: usize = 20_000;

/// Slots per store commit.
const CHUNK: usize = 1_000;

/// `POST Schedule/[id]/$generate` with the template as Parameters; answers Parameters with
/// `created` and `existing` counts and the first and last slot times.
pub async fn generate(ctx: &Ctx, id: &str, body: &Value) -> Result<Reply, ApiError> {
    rest::check_id(id)?;
    let schedule = crate::refs::resolve(ctx, &format!("Schedule/{id}"))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Schedule/{id} is not known")))?;
    let template = zdrav_booking::Template::from_parameters(body)
        .map_err(|e| ApiError::bad_request(e.message).at(e.at))?;
    let times = zdrav_booking::generate(&template, MAX_SLOTS)
        .map_err(|e| ApiError::bad_request(e.message).at(e.at))?;
    // Schedule ids are at most 64 characters, like slot ids: leave room for the time key.
    let prefix: String = id.chars().take(64 - 13).collect();
    let keys: Vec<(String, String)> = times
        .iter()
        .map(|t| ("Slot".to_string(), format!("{prefix}-{}", t.key)))
        .collect();
    let exists = ctx.store.exists_many(keys.clone()).await?;
    let mut ops = Vec::new();
    let mut created = 0usize;
    for ((t, (_, slot_id)), there) in times.iter().zip(&keys).zip(&exists) {
        if *there {
            continue;
        }
        let mut slot = json!({"resourceType": "Slot", "id": slot_id,
            "schedule": {"reference": format!("Schedule/{id}")},
            "status": "free", "start": t.start, "end": t.end});
        for k in ["serviceCategory", "serviceType", "specialty"] {
            if let Some(v) = schedule.get(k) {
                slot[k] = v.clone();
            }
        }
        if template.competitive {
            slot["meta"] = json!({"tag": [{"system": SLOT_ACCESS, "code": "competitive"}]});
        }
        rest::prepare(ctx, "Slot", slot_id, &mut slot)?;
        ops.push(rest::put_op(
            ctx,
            "Slot",
            slot_id,
            slot,
            Precondition::MustNotExist,
        ));
        if ops.len() == CHUNK {
            created += commit(ctx, std::mem::take(&mut ops)).await?;
        }
    }
    created += commit(ctx, ops).await?;
    let mut out = vec![
        json!({"name": "created", "valueInteger": created}),
        json!({"name": "existing", "valueInteger": exists.iter().filter(|e| **e).count()}),
    ];
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        out.push(json!({"name": "first", "valueInstant": first.start}));
        out.push(json!({"name": "last", "valueInstant": last.start}));
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({"resourceType": "Parameters", "parameter": out}),
    ))
}

async fn commit(ctx: &Ctx, ops: Vec<zdrav_store::WriteOp>) -> Result<usize, ApiError> {
    if ops.is_empty() {
        return Ok(0);
    }
    let n = ops.len();
    crate::audit::commit(ctx, ops, "create").await?;
    Ok(n)
}
