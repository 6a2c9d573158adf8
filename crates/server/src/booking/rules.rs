//! The rules a booking must meet before it commits, beyond a free slot:
//! - a patient holds no two overlapping appointments;
//! - nor two open (future, pending or booked) appointments of one specialty;
//! - nor more open appointments than the deployment allows (`--max-open-appointments`);
//! - remote channels (ЕПГУ, РПГУ, the 122 call centre, kiosks) book only competitive slots,
//!   and only at the patient's own organisation unless the schedule is extraterritorial;
//! - a referral booking is based on an active ServiceRequest of the same patient.
//!
//! The caller holds the patients' booking locks, so no second booking of the same patient
//! can pass these checks between them and the commit.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{patients, rule, scope, Planned, EXTRATERRITORIAL, SLOT_ACCESS};
use crate::error::ApiError;
use crate::rest::Ctx;

/// Statuses of an open appointment.
const OPEN: &str = "pending,booked";

/// Statuses of an appointment that takes the patient's time.
const ACTIVE: &str = "pending,booked,arrived,checked-in";

/// Channels from outside the clinic.
pub const REMOTE: [&str; 4] = ["epgu", "rpgu", "call-122", "kiosk"];

/// Longest appointment the overlap search looks back for (a day).
const LONGEST_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A FHIR date-time as µs since the epoch (its earliest instant).
pub(crate) fn micros(v: Option<&Value>) -> Option<i64> {
    zdrav_store::parse_fhir_datetime_range(v?.as_str()?).map(|(lo, _)| lo)
}

fn span(a: &Value) -> Option<(i64, i64)> {
    Some((micros(a.get("start"))?, micros(a.get("end"))?))
}

/// Every specialty coding as a search token: `system|code`, or the code alone.
pub(crate) fn specialties(a: &Value) -> BTreeSet<String> {
    a.get("specialty")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("coding")?.as_array())
        .flatten()
        .filter_map(|c| {
            let code = c.get("code")?.as_str()?;
            Some(match c.get("system").and_then(Value::as_str) {
                Some(system) => format!("{system}|{code}"),
                None => code.to_string(),
            })
        })
        .collect()
}

fn status(a: &Value) -> &str {
    a.get("status").and_then(Value::as_str).unwrap_or("")
}

/// Whether a planned write books time that the rules must look at: a new booking, a move, or
/// a return to an open status.
fn books(p: &Planned) -> bool {
    if !["pending", "booked"].contains(&status(&p.resource)) {
        return false;
    }
    match &p.old {
        None => true,
        Some((old, _)) => {
            !["pending", "booked"].contains(&status(old))
                || old.get("start") != p.resource.get("start")
                || p.now != p.before
        }
    }
}

/// Checks every planned booking; the first broken rule is a 422 saying which and why.
pub(crate) async fn check(
    ctx: &Ctx,
    planned: &[Planned],
    channel: Option<&str>,
    slots: &BTreeMap<String, (Value, u64)>,
) -> Result<(), ApiError> {
    let own: BTreeSet<&str> = planned.iter().map(|p| p.id.as_str()).collect();
    let now = chrono::Utc::now().timestamp_micros();
    let booking: Vec<&Planned> = planned.iter().filter(|p| books(p)).collect();
    let mut by_patient: BTreeMap<String, Vec<&Planned>> = BTreeMap::new();
    for p in &booking {
        for who in patients(&p.resource) {
            by_patient.entry(who).or_default().push(p);
        }
    }
    for (who, mine) in &by_patient {
        check_patient(ctx, who, mine, &own, now).await?;
    }
    if let Some(channel) = channel {
        for p in &booking {
            check_channel(ctx, p, channel, slots).await?;
        }
    }
    Ok(())
}

async fn check_patient(
    ctx: &Ctx,
    who: &str,
    mine: &[&Planned],
    own: &BTreeSet<&str>,
    now: i64,
) -> Result<(), ApiError> {
    let spans: Vec<(i64, i64)> = mine.iter().filter_map(|p| span(&p.resource)).collect();
    for (i, a) in spans.iter().enumerate() {
        if spans[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1) {
            return Err(rule(format!(
                "{who} cannot hold two overlapping appointments"
            )));
        }
    }
    for &(start, end) in &spans {
        let others = crate::search::unrestricted(
            ctx,
            "Appointment",
            &[
                ("patient", who.to_string()),
                ("status", ACTIVE.into()),
                ("date", format!("lt{}", zdrav_store::format_instant(end))),
                (
                    "date",
                    format!("ge{}", zdrav_store::format_instant(start - LONGEST_MICROS)),
                ),
            ],
            200,
        )
        .await?;
        if let Some(o) = others.iter().find(|o| {
            !own.contains(o.get("id").and_then(Value::as_str).unwrap_or(""))
                && span(o).is_some_and(|(s, e)| s < end && start < e)
        }) {
            return Err(rule(format!(
                "{who} already has Appointment/{} at that time; appointments of one patient cannot overlap",
                o.get("id").and_then(Value::as_str).unwrap_or("")
            )));
        }
    }
    let future: Vec<&&Planned> = mine
        .iter()
        .filter(|p| micros(p.resource.get("start")).is_none_or(|s| s >= now))
        .collect();
    let mut seen = BTreeSet::new();
    for p in &future {
        for s in specialties(&p.resource) {
            if !seen.insert(s.clone()) {
                return Err(rule(format!(
                    "{who} cannot hold two open appointments of specialty {s}"
                )));
            }
        }
    }
    let open = crate::search::unrestricted(
        ctx,
        "Appointment",
        &[
            ("patient", who.to_string()),
            ("status", OPEN.into()),
            ("date", format!("ge{}", zdrav_store::format_instant(now))),
        ],
        ctx.booking.max_open + future.len() + 1,
    )
    .await?;
    let open: Vec<&Value> = open
        .iter()
        .filter(|o| !own.contains(o.get("id").and_then(Value::as_str).unwrap_or("")))
        .collect();
    for o in &open {
        if let Some(s) = specialties(o).intersection(&seen).next() {
            return Err(rule(format!(
                "{who} already has an open appointment of specialty {s} (Appointment/{}); cancel or attend it first",
                o.get("id").and_then(Value::as_str).unwrap_or("")
            )));
        }
    }
    if open.len() + future.len() > ctx.booking.max_open {
        return Err(rule(format!(
            "{who} may hold at most {} open appointments",
            ctx.booking.max_open
        )));
    }
    Ok(())
}

async fn check_channel(
    ctx: &Ctx,
    p: &Planned,
    channel: &str,
    slots: &BTreeMap<String, (Value, u64)>,
) -> Result<(), ApiError> {
    if channel == "referral" {
        return check_referral(ctx, p).await;
    }
    if !REMOTE.contains(&channel) {
        return Ok(());
    }
    for s in p.now.difference(&p.before) {
        let Some((slot, _)) = slots.get(s) else {
            continue;
        };
        if !is_competitive(slot) {
            return Err(rule(format!(
                "Slot/{s} is not open to remote booking (channel {channel}); book it at the registry desk or by referral"
            )));
        }
        let Some(sched) = slot.pointer("/schedule/reference").and_then(Value::as_str) else {
            continue;
        };
        let Some(schedule) = crate::refs::resolve(ctx, sched).await? else {
            continue;
        };
        if extraterritorial(&schedule) {
            continue;
        }
        let org = scope::organisation_of(ctx, &schedule).await?;
        for who in patients(&p.resource) {
            let attached = scope::attachment(ctx, &who).await?;
            if let (Some(org), Some(attached)) = (&org, &attached) {
                if org != attached {
                    return Err(rule(format!(
                        "{who} is attached to {attached}; the schedule of {org} does not take patients attached elsewhere (extraterritorial booking)"
                    )));
                }
            }
        }
    }
    Ok(())
}

async fn check_referral(ctx: &Ctx, p: &Planned) -> Result<(), ApiError> {
    let referrals: Vec<&str> = p
        .resource
        .get("basedOn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("reference")?.as_str())
        .filter(|r| r.starts_with("ServiceRequest/"))
        .collect();
    if referrals.is_empty() {
        return Err(
            rule("a booking by referral names its ServiceRequest in Appointment.basedOn")
                .at("Appointment.basedOn"),
        );
    }
    let who = patients(&p.resource);
    for r in referrals {
        let sr = crate::refs::resolve(ctx, r)
            .await?
            .ok_or_else(|| rule(format!("{r} is not known")))?;
        if status(&sr) != "active" {
            return Err(rule(format!("{r} is not active ({})", status(&sr))));
        }
        let subject = sr.pointer("/subject/reference").and_then(Value::as_str);
        if !who.iter().any(|w| Some(w.as_str()) == subject) {
            return Err(rule(format!("{r} is not a referral of this patient")));
        }
    }
    Ok(())
}

/// Whether a slot carries the competitive tag.
pub fn is_competitive(slot: &Value) -> bool {
    slot.pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            t.get("system").and_then(Value::as_str) == Some(SLOT_ACCESS)
                && t.get("code").and_then(Value::as_str) == Some("competitive")
        })
}

/// Whether a schedule takes patients attached elsewhere.
pub fn extraterritorial(schedule: &Value) -> bool {
    schedule
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.get("url").and_then(Value::as_str) == Some(EXTRATERRITORIAL)
                && e.get("valueBoolean").and_then(Value::as_bool) == Some(true)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specialty_keys_and_spans() {
        let a = json!({"specialty": [{"coding": [{"system": "s", "code": "27"}, {"code": "x"}]}],
            "start": "2026-12-01T08:00:00+03:00", "end": "2026-12-01T08:15:00+03:00"});
        assert_eq!(
            specialties(&a),
            BTreeSet::from(["s|27".to_string(), "x".to_string()])
        );
        let (s, e) = span(&a).unwrap_or_default();
        assert_eq!(e - s, 15 * 60 * 1_000_000);
    }

    #[test]
    fn competitive_and_extraterritorial_flags() {
        let slot = json!({"meta": {"tag": [{"system": SLOT_ACCESS, "code": "competitive"}]}});
        assert!(is_competitive(&slot));
        assert!(!is_competitive(&json!({})));
        let sch = json!({"extension": [{"url": EXTRATERRITORIAL, "valueBoolean": true}]});
        assert!(extraterritorial(&sch));
        assert!(!extraterritorial(
            &json!({"extension": [{"url": EXTRATERRITORIAL, "valueBoolean": false}]})
        ));
    }
}
