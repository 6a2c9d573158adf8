//! The waiting list. A patient for whom nothing is free is entered as an Appointment with
//! status `waitlist` (specialty, optionally a `requestedPeriod` and the wanted doctor as a
//! participant). Every commit that frees a slot also puts a `slot-freed` message in the
//! outbox; this worker takes the messages in order and offers each slot to the first waiting
//! patient it fits: their Appointment becomes `pending` on that slot (the slot
//! `busy-tentative`) in the same commit that removes the message. The patient accepts by
//! setting it `booked`, or declines by cancelling it, which frees the slot for the next one.
//! A message stays in the outbox until its offer has committed, so a restart loses nothing,
//! and two workers never make two offers of one message. An offer left unanswered for
//! `--waitlist-offer-seconds` is cancelled by the same worker, which frees the slot for the
//! next patient in line.

use std::time::Duration;

use serde_json::{json, Value};
use zdrav_store::{OutboxMessage, OutboxOps};

use super::{patients, write_many, Item, Via, SLOT_FREED};
use crate::error::ApiError;
use crate::rest::{Conditions, Ctx};

/// How often the outbox is looked at when no commit wakes the worker (other processes may
/// write to the same database).
const POLL: Duration = Duration::from_secs(2);

/// Waiting patients looked at per freed slot.
const CANDIDATES: usize = 50;

/// Starts the worker on its own task.
pub fn start(ctx: Ctx) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match ctx.store.outbox_pending(64).await {
                Ok(msgs) if !msgs.is_empty() => {
                    let mut failed = false;
                    for m in msgs {
                        if let Err(e) = handle(&ctx, &m).await {
                            let why = e.issues.first().map(|i| i.diagnostics.clone());
                            tracing::warn!(seq = m.seq, error = ?why, "outbox message not handled; retrying later");
                            failed = true;
                            break;
                        }
                    }
                    if !failed {
                        continue;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
            }
            if let Err(e) = expire(&ctx).await {
                let why = e.issues.first().map(|i| i.diagnostics.clone());
                tracing::warn!(error = ?why, "expired waiting-list offers not withdrawn; retrying later");
            }
            tokio::select! {
                _ = ctx.booking.wake.notified() => {}
                _ = tokio::time::sleep(POLL.min(ctx.booking.offer_ttl)) => {}
            }
        }
    })
}

/// The tag of an Appointment made `pending` by a waiting-list offer.
pub const OFFER_TAG: &str = "waitlist-offer";

/// Withdraws offers left unanswered longer than the deployment allows: each is cancelled, which
/// frees its slot and so offers it to the next patient waiting.
async fn expire(ctx: &Ctx) -> Result<(), ApiError> {
    let Ok(ttl) = chrono::Duration::from_std(ctx.booking.offer_ttl) else {
        return Ok(());
    };
    let before = chrono::Utc::now() - ttl;
    let stale = crate::search::unrestricted(
        ctx,
        "Appointment",
        &[
            ("status", "pending".to_string()),
            ("_tag", format!("{}|{OFFER_TAG}", super::BOOKING_TAGS)),
            (
                "_lastUpdated",
                format!(
                    "lt{}",
                    zdrav_store::format_instant(before.timestamp_micros())
                ),
            ),
        ],
        CANDIDATES,
    )
    .await?;
    for a in stale {
        let Some(id) = a.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let mut a = a;
        a["status"] = json!("cancelled");
        a["cancelationReason"] =
            json!({"text": "предложение из листа ожидания не принято вовремя"});
        let item = Item {
            id: Some(id.clone()),
            resource: a,
        };
        match write_many(ctx, vec![item], &Conditions::default(), Via::default()).await {
            Ok(_) => tracing::info!(appointment = %id, "unanswered waiting-list offer withdrawn"),
            // Answered meanwhile.
            Err(e) if e.status.as_u16() == 412 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a message without other writes; someone else having removed it is fine.
async fn ack(ctx: &Ctx, seq: i64) -> Result<(), ApiError> {
    let ops = OutboxOps {
        enqueue: Vec::new(),
        ack: vec![seq],
    };
    match ctx.store.commit_with_outbox(Vec::new(), ops).await {
        Ok(_) | Err(zdrav_store::StoreError::OutboxGone { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Handles one message.
pub async fn handle(ctx: &Ctx, m: &OutboxMessage) -> Result<(), ApiError> {
    if m.topic != SLOT_FREED {
        tracing::warn!(topic = %m.topic, "unknown outbox topic; dropped");
        return ack(ctx, m.seq).await;
    }
    let Some(id) = m.payload.get("slot").and_then(Value::as_str) else {
        return ack(ctx, m.seq).await;
    };
    let slot = crate::refs::resolve(ctx, &format!("Slot/{id}")).await?;
    let Some(slot) = slot.filter(|s| s.get("status").and_then(Value::as_str) == Some("free"))
    else {
        return ack(ctx, m.seq).await;
    };
    let actors = match slot.pointer("/schedule/reference").and_then(Value::as_str) {
        Some(s) => crate::refs::resolve(ctx, s)
            .await?
            .and_then(|s| s.get("actor").cloned())
            .unwrap_or(json!([])),
        None => json!([]),
    };
    let mut params = vec![("status", "waitlist".to_string())];
    let codes = super::rules::specialties(&slot);
    if !codes.is_empty() {
        params.push(("specialty", codes.into_iter().collect::<Vec<_>>().join(",")));
    }
    let waiting = crate::search::unrestricted(ctx, "Appointment", &params, CANDIDATES).await?;
    for w in waiting.iter().filter(|w| fits(w, &slot, &actors)) {
        let Some(wid) = w.get("id").and_then(Value::as_str) else {
            continue;
        };
        let item = Item {
            id: Some(wid.to_string()),
            resource: offer(w, id, &slot),
        };
        let via = Via {
            channel: None,
            ack: vec![m.seq],
        };
        match write_many(ctx, vec![item], &Conditions::default(), via).await {
            Ok(_) => {
                tracing::info!(slot = id, appointment = wid, "waiting-list offer made");
                return Ok(());
            }
            // The slot was taken meanwhile, or another worker handled the message.
            Err(e) if e.status.as_u16() == 409 => return ack(ctx, m.seq).await,
            // This patient cannot take it (another appointment then, or changed meanwhile).
            Err(e) if matches!(e.status.as_u16(), 412 | 422) => continue,
            Err(e) => return Err(e),
        }
    }
    ack(ctx, m.seq).await
}

/// Whether a waiting entry takes this slot: its wanted period (if any) holds the slot's
/// start, and the doctors it names (if any) are among the schedule's actors.
fn fits(w: &Value, slot: &Value, actors: &Value) -> bool {
    let Some(start) = super::rules::micros(slot.get("start")) else {
        return false;
    };
    let periods: Vec<&Value> = w
        .get("requestedPeriod")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let in_period = periods.is_empty()
        || periods.iter().any(|p| {
            let lo = p
                .get("start")
                .and_then(Value::as_str)
                .and_then(zdrav_store::parse_fhir_datetime_range)
                .map_or(i64::MIN, |r| r.0);
            let hi = p
                .get("end")
                .and_then(Value::as_str)
                .and_then(zdrav_store::parse_fhir_datetime_range)
                .map_or(i64::MAX, |r| r.1);
            lo <= start && start <= hi
        });
    let wanted: Vec<&str> = w
        .get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
        .filter(|r| !r.starts_with("Patient/") && !r.starts_with("RelatedPerson/"))
        .collect();
    let offered: Vec<&str> = actors
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("reference").and_then(Value::as_str))
        .collect();
    in_period && wanted.iter().all(|r| offered.contains(r))
}

/// The waiting entry turned into an offer of the slot.
fn offer(w: &Value, slot_id: &str, slot: &Value) -> Value {
    let mut a = w.clone();
    a["status"] = json!("pending");
    let mut tags = a
        .pointer("/meta/tag")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tags.push(json!({"system": super::BOOKING_TAGS, "code": OFFER_TAG}));
    if !a.get("meta").is_some_and(Value::is_object) {
        a["meta"] = json!({});
    }
    a["meta"]["tag"] = Value::Array(tags);
    a["slot"] = json!([{"reference": format!("Slot/{slot_id}")}]);
    for k in ["start", "end"] {
        a[k] = slot.get(k).cloned().unwrap_or(Value::Null);
    }
    let who = patients(w);
    if let Some(Value::Array(parts)) = a.get_mut("participant") {
        for p in parts {
            let is_patient = p
                .pointer("/actor/reference")
                .and_then(Value::as_str)
                .is_some_and(|r| who.iter().any(|w| w == r));
            p["status"] = json!(if is_patient {
                "needs-action"
            } else {
                "accepted"
            });
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_fits_a_slot_in_its_period_with_its_doctor() {
        let slot =
            json!({"start": "2026-12-02T09:00:00+03:00", "end": "2026-12-02T09:15:00+03:00"});
        let actors = json!([{"reference": "PractitionerRole/r1"}]);
        let w = |period: Value, doctor: Option<&str>| {
            let mut parts =
                vec![json!({"actor": {"reference": "Patient/p"}, "status": "needs-action"})];
            if let Some(d) = doctor {
                parts.push(json!({"actor": {"reference": d}, "status": "needs-action"}));
            }
            json!({"status": "waitlist", "requestedPeriod": period, "participant": parts})
        };
        let dec = json!([{"start": "2026-12-01", "end": "2026-12-05"}]);
        assert!(fits(&w(dec.clone(), None), &slot, &actors));
        assert!(fits(
            &w(dec.clone(), Some("PractitionerRole/r1")),
            &slot,
            &actors
        ));
        assert!(!fits(&w(dec, Some("PractitionerRole/r2")), &slot, &actors));
        assert!(!fits(
            &w(json!([{"start": "2026-12-03"}]), None),
            &slot,
            &actors
        ));
        let o = offer(&w(json!([]), Some("PractitionerRole/r1")), "s1", &slot);
        assert_eq!(o["status"], "pending");
        assert_eq!(o["participant"][0]["status"], "needs-action");
        assert_eq!(o["participant"][1]["status"], "accepted");
        assert_eq!(o["start"], slot["start"]);
    }
}
