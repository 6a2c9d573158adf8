//! Booking (issue 8, ФЭР): an Appointment that books Slots takes them in the same store commit
//! as the Appointment itself. Each Slot must be `free` and is written `busy` (or
//! `busy-tentative` while the appointment is `pending`, an offer from the waiting list) under
//! a version precondition, so of two bookings racing for one slot exactly one commits; the
//! other gets 409 and an OperationOutcome, on SQLite and PostgreSQL alike. Cancelling
//! (`cancelled`, `noshow`, `entered-in-error`) or dropping a slot frees it the same way, and
//! the same commit puts a `slot-freed` message in the outbox, from which [`waitlist`] offers
//! the slot to the next patient waiting. Before a booking commits, [`rules`] checks the
//! patient's other appointments (no overlap, one open appointment per specialty, a limit on
//! open appointments) and what the channel may book (competitive slots, extraterritorial
//! schedules, referrals). This covers `POST Appointment`, `PUT` and `PATCH Appointment/[id]`
//! (also as batch entries) and the operations of [`ops`]; transactions refuse Appointments
//! with slots rather than bypass the rules.

pub mod kpi;
pub mod ops;
pub mod rules;
pub mod schedule;
pub mod scope;
pub mod waitlist;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_fhir::Issue;
use zdrav_store::{OutboxOps, Precondition, StoreError, WriteResult};

use crate::error::ApiError;
use crate::rest::{self, Conditions, Ctx, Reply};

pub use ops::{CHANNEL, CHANNELS};

/// The tag system of slot access; the code `competitive` opens a slot to remote channels.
pub const SLOT_ACCESS: &str = "urn:zdrav:CodeSystem:slot-access";

/// The tag system of booking states kept on Appointments (a waiting-list offer).
pub const BOOKING_TAGS: &str = "urn:zdrav:CodeSystem:booking";

/// The Schedule extension (valueBoolean) that opens it to patients attached elsewhere.
pub const EXTRATERRITORIAL: &str = "urn:zdrav:StructureDefinition:extraterritorial";

/// The outbox topic of a slot that became free.
pub const SLOT_FREED: &str = "slot-freed";

/// Statuses in which an Appointment holds its slots.
const HOLDS: [&str; 5] = ["pending", "booked", "arrived", "fulfilled", "checked-in"];

/// Booking settings of a deployment and what booking requests share.
pub struct Booking {
    /// Open (future, pending or booked) appointments one patient may hold at most.
    pub max_open: usize,
    /// How long a waiting-list offer stays open before it is withdrawn.
    pub offer_ttl: std::time::Duration,
    /// Wakes the waiting-list worker when a commit put a message in the outbox.
    pub wake: tokio::sync::Notify,
    /// Per-patient locks (striped): the patient rules read, then the booking commits, and a
    /// second booking of the same patient must not slip between the two.
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl Booking {
    /// Settings with a limit of `max_open` open appointments per patient.
    pub fn new(max_open: usize) -> Booking {
        Booking {
            max_open,
            offer_ttl: std::time::Duration::from_secs(24 * 3600),
            wake: tokio::sync::Notify::new(),
            locks: (0..256).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Locks the stripes of `patients` in a fixed order (so two callers never deadlock).
    async fn lock(&self, patients: &BTreeSet<String>) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let stripes: BTreeSet<usize> = patients
            .iter()
            .map(|p| {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                p.hash(&mut h);
                (h.finish() as usize) % self.locks.len()
            })
            .collect();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.locks[s].lock().await);
        }
        guards
    }
}

impl Default for Booking {
    fn default() -> Booking {
        Booking::new(5)
    }
}

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

/// The `Patient/id` references among an Appointment's participants.
pub fn patients(a: &Value) -> Vec<String> {
    a.get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
        .filter(|r| r.starts_with("Patient/"))
        .map(str::to_string)
        .collect()
}

/// The channel extension of an Appointment, if any.
pub fn channel_of(a: &Value) -> Option<String> {
    a.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(CHANNEL))?
        .get("valueCode")?
        .as_str()
        .map(str::to_string)
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

/// A 422 for a booking rule.
pub fn rule(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "business-rule", message)
}

/// One Appointment to write: an update of `id`, or a create when `id` is `None`.
pub struct Item {
    /// The id to update (None: create).
    pub id: Option<String>,
    /// The Appointment.
    pub resource: Value,
}

/// What else rides in a booking commit.
#[derive(Default)]
pub struct Via {
    /// The channel the booking came through, if it matters to the rules.
    pub channel: Option<String>,
    /// Outbox messages this commit handles (the waiting list's offers).
    pub ack: Vec<i64>,
}

/// Creates (`id` None) or updates an Appointment, taking and freeing its slots atomically.
pub async fn write(
    ctx: &Ctx,
    id: Option<&str>,
    resource: Value,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    let channel = channel_of(&resource);
    let item = Item {
        id: id.map(str::to_string),
        resource,
    };
    let (results, issues) = write_many(
        ctx,
        vec![item],
        c,
        Via {
            channel,
            ack: vec![],
        },
    )
    .await?;
    let w = results
        .first()
        .ok_or_else(|| ApiError::internal("the store returned no result for the appointment"))?;
    Ok(rest::write_reply(w, c.prefer, &issues))
}

/// An Appointment as it will be written, and what it held before.
pub(crate) struct Planned {
    pub(crate) id: String,
    pub(crate) updating: bool,
    pub(crate) resource: Value,
    pub(crate) old: Option<(Value, u64)>,
    pub(crate) now: BTreeSet<String>,
    pub(crate) before: BTreeSet<String>,
}

/// Writes several Appointments in one commit with every slot they take or free: all or none.
pub async fn write_many(
    ctx: &Ctx,
    items: Vec<Item>,
    c: &Conditions,
    via: Via,
) -> Result<(Vec<WriteResult>, Vec<Issue>), ApiError> {
    let mut planned = Vec::with_capacity(items.len());
    let mut slots: BTreeMap<String, (Value, u64)> = BTreeMap::new();
    let mut issues = Vec::new();
    for Item { id, mut resource } in items {
        let updating = id.is_some();
        let (id, old) = match id {
            Some(id) => {
                let cur = ctx
                    .store
                    .read("Appointment", &id)
                    .await?
                    .filter(|r| !r.deleted);
                let old = cur.and_then(|r| {
                    serde_json::from_slice::<Value>(&r.json)
                        .ok()
                        .map(|v| (v, r.version))
                });
                (id, old)
            }
            None => (rest::new_id(), None),
        };
        let (now, before) = (
            held(&resource),
            old.as_ref().map(|(v, _)| held(v)).unwrap_or_default(),
        );
        for s in now.iter().chain(before.iter()) {
            if !slots.contains_key(s) {
                if let Some(r) = ctx.store.read("Slot", s).await?.filter(|r| !r.deleted) {
                    let v = serde_json::from_slice(&r.json)
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    slots.insert(s.clone(), (v, r.version));
                } else if now.contains(s) {
                    return Err(ApiError::not_found(format!("Slot/{s} is not known")));
                }
            }
        }
        fill_from_slots(&mut resource, &now, &slots, old.is_none());
        let checked = rest::prepare(ctx, "Appointment", &id, &mut resource)?;
        let refs: Vec<_> = checked
            .local_refs
            .into_iter()
            .map(|r| (String::new(), r))
            .collect();
        rest::check_references(&ctx.store, &refs, &Default::default()).await?;
        issues.extend(checked.issues);
        planned.push(Planned {
            id,
            updating,
            resource,
            old,
            now,
            before,
        });
    }
    // A slot already taken is the first thing to say (409), before any rule (422).
    let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
    for p in &planned {
        let status = p.resource.get("status").and_then(Value::as_str);
        let busy = if status == Some("pending") {
            "busy-tentative"
        } else {
            "busy"
        };
        for s in &p.now {
            if wanted.insert(s, busy).is_some() {
                return Err(rule(format!("Slot/{s} is booked twice in one request")));
            }
            if !p.before.contains(s) {
                let status = slots.get(s).and_then(|(v, _)| v.get("status"));
                if status.and_then(Value::as_str) != Some("free") {
                    return Err(taken(s));
                }
            }
        }
    }
    let who: BTreeSet<String> = planned.iter().flat_map(|p| patients(&p.resource)).collect();
    let _guards = ctx.booking.lock(&who).await;
    rules::check(ctx, &planned, via.channel.as_deref(), &slots).await?;

    let mut ops = Vec::new();
    let mut outbox = OutboxOps {
        enqueue: Vec::new(),
        ack: via.ack,
    };
    // If-Match speaks of one resource: it applies to a single-appointment write only.
    let if_match = c.if_match.filter(|_| planned.len() == 1);
    for p in &planned {
        let precondition = match (&p.old, if_match) {
            (_, Some(v)) => Precondition::VersionIs(v),
            (Some((_, v)), None) => Precondition::VersionIs(*v),
            // Create-on-update (also over a deleted one) or a fresh create.
            (None, None) if p.updating => Precondition::None,
            (None, None) => Precondition::MustNotExist,
        };
        ops.push(rest::put_op(
            ctx,
            "Appointment",
            &p.id,
            p.resource.clone(),
            precondition,
        ));
    }
    for p in &planned {
        for s in p.before.difference(&p.now) {
            wanted.entry(s).or_insert("free");
        }
    }
    for (s, want) in wanted {
        let Some((v, version)) = slots.get(s) else {
            continue;
        };
        let cur = v.get("status").and_then(Value::as_str).unwrap_or("");
        // A slot blocked or entered in error by its owner stays as it is when released.
        if cur == want || (want == "free" && !cur.starts_with("busy")) {
            continue;
        }
        let mut v = v.clone();
        v["status"] = json!(want);
        if want == "free" {
            outbox
                .enqueue
                .push((SLOT_FREED.to_string(), json!({"slot": s})));
        }
        ops.push(rest::put_op(
            ctx,
            "Slot",
            s,
            v,
            Precondition::VersionIs(*version),
        ));
    }
    let subtype = if planned.iter().any(|p| p.old.is_some()) {
        "update"
    } else {
        "create"
    };
    let n = planned.len();
    let freed = !outbox.enqueue.is_empty();
    let mut results = match crate::audit::commit_with_outbox(ctx, ops, subtype, outbox).await {
        Ok(r) => r,
        Err(StoreError::VersionConflict { rtype, id, .. }) if rtype == "Slot" => {
            return Err(taken(&id))
        }
        Err(e) => return Err(e.into()),
    };
    if freed {
        ctx.booking.wake.notify_one();
    }
    results.truncate(n);
    Ok((results, issues))
}

/// Gives a booking its time, specialty and service from its slots when it does not say them,
/// and a new booking its creation instant (the waiting time of the KPIs counts from it).
fn fill_from_slots(
    a: &mut Value,
    now: &BTreeSet<String>,
    slots: &BTreeMap<String, (Value, u64)>,
    creating: bool,
) {
    let held: Vec<&Value> = now
        .iter()
        .filter_map(|s| slots.get(s))
        .map(|(v, _)| v)
        .collect();
    let Some(o) = a.as_object_mut() else {
        return;
    };
    if creating && !o.contains_key("created") {
        let t = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        o.insert("created".into(), json!(t));
    }
    if held.is_empty() {
        return;
    }
    let first = |k: &str| held.iter().filter_map(|s| s.get(k)?.as_str()).min();
    let last = |k: &str| held.iter().filter_map(|s| s.get(k)?.as_str()).max();
    if !o.contains_key("start") {
        if let (Some(s), Some(e)) = (first("start"), last("end")) {
            o.insert("start".into(), json!(s));
            o.insert("end".into(), json!(e));
        }
    }
    for k in [
        "serviceType",
        "specialty",
        "appointmentType",
        "serviceCategory",
    ] {
        if !o.contains_key(k) {
            if let Some(v) = held.iter().find_map(|s| s.get(k)) {
                o.insert(k.into(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_holding_statuses_hold_slots() {
        let a = |status: &str| json!({"status": status, "slot": [{"reference": "Slot/s1"}, {"reference": "Slot/s2"}]});
        assert_eq!(held(&a("booked")).len(), 2);
        assert!(held(&a("cancelled")).is_empty());
        assert!(held(&a("proposed")).is_empty());
        assert!(held(&json!({"status": "booked"})).is_empty());
    }

    #[test]
    fn a_booking_takes_time_and_specialty_from_its_slot() {
        let slot = json!({"start": "2026-12-01T08:00:00+03:00", "end": "2026-12-01T08:15:00+03:00",
            "specialty": [{"coding": [{"code": "27"}]}]});
        let slots = BTreeMap::from([("s".to_string(), (slot, 1))]);
        let mut a = json!({"status": "booked", "specialty": [{"text": "own"}]});
        fill_from_slots(&mut a, &BTreeSet::from(["s".to_string()]), &slots, true);
        assert_eq!(a["start"], "2026-12-01T08:00:00+03:00");
        assert_eq!(a["end"], "2026-12-01T08:15:00+03:00");
        assert_eq!(
            a["specialty"][0]["text"], "own",
            "the appointment's own value wins"
        );
        assert!(a["created"].as_str().is_some_and(|s| s.ends_with('Z')));
    }
}
