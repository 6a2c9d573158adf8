//! The booking operations, in the spirit of the Argonaut Scheduling IG:
//! - `GET Appointment/$find`: free slots as proposed Appointments, by time window, specialty,
//!   service type, actor, organisation, region and channel (remote channels see only
//!   competitive slots);
//! - `POST Appointment/$book`: one or several appointments (a check-up's set) in one atomic
//!   commit, recording the channel (ЕПГУ, РПГУ, the 122 call centre, a kiosk, the registry
//!   desk, a referral); a refused remote attempt is recorded for the KPIs;
//! - `POST Appointment/[id]/$cancel` and `POST Appointment/[id]/$reschedule`.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{rules, scope, write_many, Item, Via};
use crate::error::ApiError;
use crate::rest::{Conditions, Ctx, Reply};

/// The extension recording the channel of a booking.
pub const CHANNEL: &str = "urn:zdrav:StructureDefinition:booking-channel";

/// The channels a booking can come through.
pub const CHANNELS: [&str; 6] = ["epgu", "rpgu", "call-122", "kiosk", "registry", "referral"];

/// Proposed appointments a `$find` returns at most.
const MAX_FIND: usize = 500;

/// `GET Appointment/$find?start=…&end=…[&specialty=…][&service-type=…][&actor=Type/id]
/// [&organization=…][&region=…][&practitioner=…][&channel=…][&_count=…][&_total=accurate]`.
pub async fn find(ctx: &Ctx, q: &[(String, String)]) -> Result<Reply, ApiError> {
    let get = |k: &str| crate::query::first(q, k);
    let (start, end) = match (get("start"), get("end")) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            return Err(ApiError::bad_request(
                "$find needs 'start' and 'end' (the time window)",
            ))
        }
    };
    let count = match get("_count") {
        None => 20,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=MAX_FIND).contains(c))
            .ok_or_else(|| {
                ApiError::bad_request(format!("_count must be a number from 1 to {MAX_FIND}"))
            })?,
    };
    // The most selective conditions first: the store lets the earliest of equally large
    // candidates drive the search.
    let mut params: Vec<(String, String)> = Vec::new();
    for k in ["specialty", "service-type"] {
        if let Some(v) = get(k) {
            params.push((k.into(), v.to_string()));
        }
    }
    params.extend([
        ("status".into(), "free".into()),
        ("start".into(), format!("ge{start}")),
        ("start".into(), format!("lt{end}")),
        ("_sort".into(), "start".into()),
        ("_count".into(), count.to_string()),
        // Counting every free slot of a region costs more than the page; ask for it explicitly.
        ("_total".into(), get("_total").unwrap_or("none").to_string()),
    ]);
    if let Some(actor) = get("actor") {
        params.push(("schedule:Schedule.actor".into(), actor.to_string()));
    }
    if let Some(channel) = get("channel") {
        check_channel(channel)?;
        if rules::REMOTE.contains(&channel) {
            params.push(("_tag".into(), format!("{}|competitive", super::SLOT_ACCESS)));
        }
    }
    let filter = scope::Filter::from_query(q);
    if let Some(schedules) = scope::schedules(ctx, &filter).await? {
        let ids: Vec<String> = schedules
            .iter()
            .filter_map(|s| s.get("id")?.as_str())
            .map(|id| format!("Schedule/{id}"))
            .collect();
        if ids.is_empty() {
            return Ok(searchset(Some(0), Vec::new()));
        }
        params.push(("schedule".into(), ids.join(",")));
    }
    let parsed = crate::search::parse(
        ctx,
        &crate::search::Scope::Type("Slot".into()),
        &params,
        true,
    )?;
    let page = ctx.store.search(&parsed.query).await?;
    let mut entries = Vec::with_capacity(page.matches.len());
    let mut actors: std::collections::HashMap<String, Value> = Default::default();
    for slot in page
        .matches
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.json).ok())
    {
        let sched = slot
            .pointer("/schedule/reference")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !actors.contains_key(&sched) {
            let found = crate::refs::resolve(ctx, &sched)
                .await?
                .and_then(|s| s.get("actor").cloned())
                .unwrap_or(json!([]));
            actors.insert(sched.clone(), found);
        }
        let participants: Vec<Value> = actors[&sched]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| json!({"actor": a, "status": "needs-action"}))
            .collect();
        let id = slot.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut a = json!({"resourceType": "Appointment", "status": "proposed",
            "slot": [{"reference": format!("Slot/{id}")}],
            "start": slot.get("start"), "end": slot.get("end"),
            "participant": participants});
        for k in [
            "serviceType",
            "specialty",
            "appointmentType",
            "serviceCategory",
        ] {
            if let Some(v) = slot.get(k) {
                a[k] = v.clone();
            }
        }
        entries.push(json!({"resource": a, "search": {"mode": "match"}}));
    }
    Ok(searchset(page.total, entries))
}

fn searchset(total: Option<u64>, entries: Vec<Value>) -> Reply {
    let mut b = json!({"resourceType": "Bundle", "type": "searchset"});
    if let Some(t) = total {
        b["total"] = json!(t);
    }
    if !entries.is_empty() {
        b["entry"] = Value::Array(entries);
    }
    Reply::json(StatusCode::OK, b)
}

fn check_channel(channel: &str) -> Result<(), ApiError> {
    if CHANNELS.contains(&channel) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "unknown channel '{channel}'; one of {}",
            CHANNELS.join(", ")
        )))
    }
}

fn params<'a>(body: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    body.get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |p| p.get("name").and_then(Value::as_str) == Some(name))
}

/// `POST Appointment/$book` with one or more `appointment-resource` (proposed Appointments
/// naming the patient as a participant) and an optional `channel` (valueCode). Several
/// appointments are booked together or not at all. `own` is a citizen's own patient id: they
/// book for themselves only.
pub async fn book(
    ctx: &Ctx,
    body: &Value,
    c: &Conditions,
    own: Option<&str>,
) -> Result<Reply, ApiError> {
    let channel = params(body, "channel")
        .next()
        .and_then(|p| p.get("valueCode"))
        .and_then(Value::as_str)
        .unwrap_or("registry")
        .to_string();
    check_channel(&channel)?;
    let mut items = Vec::new();
    for (i, p) in params(body, "appointment-resource").enumerate() {
        let a = p
            .get("resource")
            .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Appointment"))
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request("'appointment-resource' must hold an Appointment")
                    .at(format!("Parameters.parameter[{i}].resource"))
            })?;
        items.push(prepare_booking(a, &channel, own)?);
    }
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "$book needs 'appointment-resource' holding an Appointment",
        ));
    }
    let slots: Vec<String> = items
        .iter()
        .flat_map(|i| super::held(&i.resource))
        .collect();
    let via = Via {
        channel: Some(channel.clone()),
        ack: Vec::new(),
    };
    match write_many(ctx, items, c, via).await {
        Ok((results, _)) => {
            let entries: Vec<Value> = results
                .iter()
                .filter_map(|w| serde_json::from_slice::<Value>(&w.json).ok())
                .map(|r| json!({"resource": r, "response": {"status": "201 Created"}}))
                .collect();
            if let [one] = results.as_slice() {
                return Ok(crate::rest::write_reply(one, c.prefer, &[]));
            }
            Ok(Reply::json(
                StatusCode::OK,
                json!({"resourceType": "Bundle", "type": "collection", "entry": entries}),
            ))
        }
        Err(e) => {
            super::kpi::record_failure(ctx, &channel, &slots, &e).await;
            Err(e)
        }
    }
}

/// Makes a proposed Appointment a booking through `channel`; refuses one that names no
/// patient, or (for a citizen) another patient.
fn prepare_booking(mut a: Value, channel: &str, own: Option<&str>) -> Result<Item, ApiError> {
    let who = super::patients(&a);
    if who.is_empty() {
        return Err(ApiError::bad_request(
            "the appointment must name the patient as a participant",
        )
        .at("Appointment.participant"));
    }
    if let Some(own) = own {
        let own_ref = format!("Patient/{own}");
        if who.iter().any(|p| *p != own_ref) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("with patient/ scopes an appointment can only be booked for {own_ref}"),
            ));
        }
    }
    if let Some(o) = a.as_object_mut() {
        o.remove("id");
        o.insert("status".into(), json!("booked"));
        let mut ext = o
            .get("extension")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        ext.retain(|e| e.get("url").and_then(Value::as_str) != Some(CHANNEL));
        ext.push(json!({"url": CHANNEL, "valueCode": channel}));
        o.insert("extension".into(), Value::Array(ext));
        // The practitioner's side needs no action once the patient books a free slot.
        if let Some(Value::Array(parts)) = o.get_mut("participant") {
            for p in parts {
                p["status"] = json!("accepted");
            }
        }
    }
    Ok(Item {
        id: None,
        resource: a,
    })
}

/// Reads an Appointment for an operation on it; a citizen sees only their own (404 else).
async fn appointment(ctx: &Ctx, id: &str, own: Option<&str>) -> Result<Value, ApiError> {
    let a = crate::refs::resolve(ctx, &format!("Appointment/{id}"))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Appointment/{id} is not known")))?;
    if let Some(own) = own {
        if !super::patients(&a).contains(&format!("Patient/{own}")) {
            return Err(ApiError::not_found(format!(
                "Appointment/{id} is not known"
            )));
        }
    }
    Ok(a)
}

/// `POST Appointment/[id]/$cancel` with an optional `reason` (valueString): the appointment
/// is cancelled and its slots freed (and offered to the waiting list).
pub async fn cancel(
    ctx: &Ctx,
    id: &str,
    body: Option<&Value>,
    c: &Conditions,
    own: Option<&str>,
) -> Result<Reply, ApiError> {
    let mut a = appointment(ctx, id, own).await?;
    let status = a.get("status").and_then(Value::as_str).unwrap_or("");
    if ["cancelled", "entered-in-error"].contains(&status) {
        return Ok(Reply::json(StatusCode::OK, a));
    }
    if ["fulfilled", "arrived", "checked-in", "noshow"].contains(&status) {
        return Err(super::rule(format!(
            "Appointment/{id} is {status}; only a future booking can be cancelled"
        )));
    }
    a["status"] = json!("cancelled");
    if let Some(reason) = body
        .and_then(|b| params(b, "reason").next())
        .and_then(|p| p.get("valueString"))
        .and_then(Value::as_str)
    {
        a["cancelationReason"] = json!({"text": reason});
    }
    let item = Item {
        id: Some(id.to_string()),
        resource: a,
    };
    let (results, issues) = write_many(ctx, vec![item], c, Via::default()).await?;
    one(&results, c, &issues)
}

fn one(
    results: &[zdrav_store::WriteResult],
    c: &Conditions,
    issues: &[zdrav_fhir::Issue],
) -> Result<Reply, ApiError> {
    let w = results
        .first()
        .ok_or_else(|| ApiError::internal("the store returned no result for the appointment"))?;
    Ok(crate::rest::write_reply(w, c.prefer, issues))
}

/// `POST Appointment/[id]/$reschedule` with `slot` (valueReference to a free Slot): the
/// appointment moves to that slot in one commit that frees the old one.
pub async fn reschedule(
    ctx: &Ctx,
    id: &str,
    body: Option<&Value>,
    c: &Conditions,
    own: Option<&str>,
) -> Result<Reply, ApiError> {
    let slot = body
        .and_then(|b| params(b, "slot").next())
        .and_then(|p| p.pointer("/valueReference/reference"))
        .and_then(Value::as_str)
        .filter(|r| r.starts_with("Slot/"))
        .ok_or_else(|| {
            ApiError::bad_request("$reschedule needs 'slot' (valueReference to a Slot)")
        })?
        .to_string();
    let mut a = appointment(ctx, id, own).await?;
    let status = a.get("status").and_then(Value::as_str).unwrap_or("");
    if !["booked", "pending"].contains(&status) {
        return Err(super::rule(format!(
            "Appointment/{id} is {status}; only a booked appointment can be rescheduled"
        )));
    }
    let new = crate::refs::resolve(ctx, &slot)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{slot} is not known")))?;
    a["slot"] = json!([{"reference": slot}]);
    a["status"] = json!("booked");
    for k in ["start", "end"] {
        a[k] = new.get(k).cloned().unwrap_or(Value::Null);
    }
    let channel = super::channel_of(&a);
    let item = Item {
        id: Some(id.to_string()),
        resource: a,
    };
    let via = Via {
        channel,
        ack: Vec::new(),
    };
    let (results, issues) = write_many(ctx, vec![item], c, via).await?;
    one(&results, c, &issues)
}
