//! `Appointment/$find` and `Appointment/$book`, in the spirit of the Argonaut Scheduling IG.
//! `$find` offers free slots as proposed Appointments (by time window, specialty, service type,
//! and the schedule's actor: a practitioner, practitioner role, location or organisation);
//! `$book` books one of them for a patient through the same atomic path as `POST Appointment`
//! and records the channel the booking came through (ЕПГУ, the 122 call centre, a kiosk, the
//! registry desk, a referral).

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::rest::{Conditions, Ctx, Reply};

/// The extension recording the channel of a booking.
pub const CHANNEL: &str = "urn:zdrav:StructureDefinition:booking-channel";

/// The channels a booking can come through.
pub const CHANNELS: [&str; 5] = ["epgu", "call-122", "kiosk", "registry", "referral"];

/// `GET Appointment/$find?start=…&end=…[&specialty=…][&service-type=…][&actor=Type/id][&_count=…]`.
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
    let mut params: Vec<(String, String)> = vec![
        ("status".into(), "free".into()),
        ("start".into(), format!("ge{start}")),
        ("start".into(), format!("lt{end}")),
        ("_sort".into(), "start".into()),
        ("_count".into(), get("_count").unwrap_or("20").to_string()),
    ];
    for k in ["specialty", "service-type"] {
        if let Some(v) = get(k) {
            params.push((k.into(), v.to_string()));
        }
    }
    if let Some(actor) = get("actor") {
        params.push(("schedule:Schedule.actor".into(), actor.to_string()));
    }
    let parsed = crate::search::parse(
        ctx,
        &crate::search::Scope::Type("Slot".into()),
        &params,
        true,
    )?;
    let page = ctx.store.search(&parsed.query).await?;
    let entries: Vec<Value> = page
        .matches
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.json).ok())
        .map(|slot| {
            let id = slot.get("id").and_then(Value::as_str).unwrap_or_default();
            let mut a = json!({"resourceType": "Appointment", "status": "proposed",
                "slot": [{"reference": format!("Slot/{id}")}],
                "start": slot.get("start"), "end": slot.get("end"),
                "participant": [{"actor": slot.get("schedule"), "status": "needs-action"}]});
            for k in ["serviceType", "specialty", "appointmentType"] {
                if let Some(v) = slot.get(k) {
                    a[k] = v.clone();
                }
            }
            json!({"resource": a, "search": {"mode": "match"}})
        })
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        json!({"resourceType": "Bundle", "type": "searchset", "total": page.total, "entry": entries}),
    ))
}

/// `POST Appointment/$book` with `appointment-resource` (a proposed Appointment naming the
/// patient as a participant), optional `channel` (valueCode).
pub async fn book(ctx: &Ctx, body: &Value, c: &Conditions) -> Result<Reply, ApiError> {
    let param = |name: &str| {
        body.get("parameter")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
    };
    let mut a = param("appointment-resource")
        .and_then(|p| p.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Appointment"))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request("$book needs 'appointment-resource' holding an Appointment")
        })?;
    let has_patient = a
        .get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
        .any(|r| r.starts_with("Patient/"));
    if !has_patient {
        return Err(ApiError::bad_request(
            "the appointment must name the patient as a participant",
        )
        .at("Appointment.participant"));
    }
    let channel = param("channel")
        .and_then(|p| p.get("valueCode"))
        .and_then(Value::as_str)
        .unwrap_or("registry");
    if !CHANNELS.contains(&channel) {
        return Err(ApiError::bad_request(format!(
            "unknown channel '{channel}'; one of {}",
            CHANNELS.join(", ")
        )));
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
    crate::booking::write(ctx, None, a, c).await
}
