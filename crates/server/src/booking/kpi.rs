//! The booking KPIs recommended to regions (seed 001, «Рекомендуемые КПЭ»), as
//! `GET Appointment/$kpi?start=DATE&end=DATE[&organization=…][&region=…][&practitioner=…]`
//! returning a MeasureReport for the period (both dates inclusive):
//! - share of competitive slots among the slots of the period;
//! - share of doctors (active PractitionerRoles) with a schedule that has slots in the period;
//! - slots per staff position (a role counts one position unless its `staff-rate` extension
//!   says otherwise, e.g. 0.5);
//! - share of successful ЕПГУ bookings among ЕПГУ attempts (refused attempts are recorded as
//!   AuditEvents by `$book`);
//! - average wait in days from booking (`Appointment.created`) to the appointment;
//! - bookings by channel.
//!
//! Bookings count in the period they were made in.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{channel_of, rules, scope};
use crate::error::ApiError;
use crate::rest::{Ctx, Reply};

/// The code system of the KPI groups.
pub const KPI: &str = "urn:zdrav:CodeSystem:booking-kpi";

/// The AuditEvent subtype system of a refused booking attempt; the code is the channel.
pub const ATTEMPT: &str = "urn:zdrav:CodeSystem:booking-attempt";

/// The PractitionerRole extension (valueDecimal) giving the position's staff rate.
pub const STAFF_RATE: &str = "urn:zdrav:StructureDefinition:staff-rate";

/// Appointments one KPI question reads at most.
const MAX_BOOKINGS: usize = 200_000;

/// Records a refused booking attempt (a 409 or 422) for the success-share KPI. Failing to
/// record it must not change the answer the client gets, so errors are only logged.
pub async fn record_failure(ctx: &Ctx, channel: &str, slots: &[String], e: &ApiError) {
    if !matches!(e.status.as_u16(), 409 | 422) {
        return;
    }
    let mut entities = Vec::new();
    for s in slots {
        entities.push(json!({"what": {"reference": format!("Slot/{s}")}}));
        if let Ok(Some(slot)) = crate::refs::resolve(ctx, &format!("Slot/{s}")).await {
            if let Some(sched) = slot.get("schedule") {
                entities.push(json!({"what": sched}));
            }
        }
    }
    let why = e
        .issues
        .first()
        .map(|i| i.diagnostics.clone())
        .unwrap_or_default();
    let event = attempt_event(channel, &why, entities);
    let id = crate::rest::new_id();
    let op = crate::rest::put_op(
        ctx,
        "AuditEvent",
        &id,
        event,
        zdrav_store::Precondition::MustNotExist,
    );
    if let Err(e) = ctx.store.commit(vec![op]).await {
        tracing::warn!(error = %e, "a refused booking attempt could not be recorded");
    }
}

fn attempt_event(channel: &str, why: &str, entities: Vec<Value>) -> Value {
    json!({"resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "operation"},
                    {"system": ATTEMPT, "code": channel}],
        "action": "E",
        "recorded": zdrav_store::format_instant(chrono::Utc::now().timestamp_micros()),
        "outcome": "4",
        "outcomeDesc": why,
        "agent": [{"requestor": true, "who": {"display": format!("booking channel {channel}")}}],
        "source": {"observer": {"display": "zdrav booking"}},
        "entity": entities})
}

fn date(q: &[(String, String)], k: &str) -> Result<NaiveDate, ApiError> {
    let v = crate::query::first(q, k)
        .ok_or_else(|| ApiError::bad_request(format!("$kpi needs '{k}' (YYYY-MM-DD)")))?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request(format!("'{k}' must be a date YYYY-MM-DD, not '{v}'")))
}

fn ids(found: &[Value], rtype: &str) -> Vec<String> {
    found
        .iter()
        .filter_map(|r| r.get("id")?.as_str())
        .map(|id| format!("{rtype}/{id}"))
        .collect()
}

/// `GET Appointment/$kpi`.
pub async fn kpi(ctx: &Ctx, q: &[(String, String)]) -> Result<Reply, ApiError> {
    let (start, end) = (date(q, "start")?, date(q, "end")?);
    if end < start || (end - start).num_days() > 366 {
        return Err(ApiError::bad_request(
            "'end' must be on or after 'start', at most a year later",
        ));
    }
    let after = end.succ_opt().unwrap_or(end);
    let (lo, hi) = (format!("ge{start}"), format!("lt{after}"));
    let filter = scope::Filter::from_query(q);
    let schedules = match scope::schedules(ctx, &filter).await? {
        Some(s) => s,
        None => crate::search::unrestricted(ctx, "Schedule", &[], scope::MAX_SCHEDULES).await?,
    };
    let sched_refs = ids(&schedules, "Schedule");
    let roles = scope::roles(ctx, &filter).await?;

    // Slots, and which schedules have any.
    let (mut slots, mut competitive) = (0u64, 0u64);
    let mut with_slots: BTreeSet<&str> = BTreeSet::new();
    for (s, r) in schedules.iter().zip(&sched_refs) {
        let n = crate::search::count_unrestricted(
            ctx,
            "Slot",
            &[
                ("schedule", r.clone()),
                ("start", lo.clone()),
                ("start", hi.clone()),
            ],
        )
        .await?;
        if n == 0 {
            continue;
        }
        slots += n;
        competitive += crate::search::count_unrestricted(
            ctx,
            "Slot",
            &[
                ("schedule", r.clone()),
                ("start", lo.clone()),
                ("start", hi.clone()),
                ("_tag", format!("{}|competitive", super::SLOT_ACCESS)),
            ],
        )
        .await?;
        for a in s
            .get("actor")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = a.get("reference").and_then(Value::as_str) {
                with_slots.insert(r);
            }
        }
    }
    let mut scheduled = 0u64;
    let mut positions = 0f64;
    for role in &roles {
        let me = format!(
            "PractitionerRole/{}",
            role.get("id").and_then(Value::as_str).unwrap_or("")
        );
        let doctor = role
            .pointer("/practitioner/reference")
            .and_then(Value::as_str);
        if with_slots.contains(me.as_str()) || doctor.is_some_and(|d| with_slots.contains(d)) {
            scheduled += 1;
        }
        positions += staff_rate(role);
    }

    let bookings = bookings(ctx, &filter, &lo, start, after).await?;
    let mut by_channel: BTreeMap<String, u64> = BTreeMap::new();
    let mut waits = Vec::new();
    for b in &bookings {
        *by_channel
            .entry(channel_of(b).unwrap_or_else(|| "other".into()))
            .or_default() += 1;
        if let (Some(made), Some(at)) = (
            rules::micros(b.get("created")),
            rules::micros(b.get("start")),
        ) {
            waits.push((at - made) as f64 / 86_400e6);
        }
    }
    let epgu_ok = by_channel.get("epgu").copied().unwrap_or(0);
    let in_scope: BTreeSet<&str> = sched_refs.iter().map(String::as_str).collect();
    let failed = crate::search::unrestricted(
        ctx,
        "AuditEvent",
        &[
            ("subtype", format!("{ATTEMPT}|epgu")),
            ("date", lo.clone()),
            ("date", hi.clone()),
        ],
        MAX_BOOKINGS,
    )
    .await?
    .iter()
    .filter(|e| {
        filter.is_empty()
            || e.get("entity")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.pointer("/what/reference").and_then(Value::as_str))
                .any(|r| in_scope.contains(r))
    })
    .count() as u64;

    let total: u64 = by_channel.values().sum();
    let mut groups = vec![
        ratio(
            "competitive-slots",
            "Доля конкурентных слотов",
            competitive,
            slots,
        ),
        ratio(
            "doctors-with-schedule",
            "Доля врачей с расписанием от общего числа врачей",
            scheduled,
            roles.len() as u64,
        ),
        per_position(slots, positions),
        ratio(
            "epgu-success",
            "Доля успешных записей через ЕПГУ в общем количестве попыток записи через ЕПГУ",
            epgu_ok,
            epgu_ok + failed,
        ),
        average_wait(&waits),
    ];
    groups.push(channels(&by_channel, total));
    let mut report = json!({"resourceType": "MeasureReport", "status": "complete", "type": "summary",
        "measure": "urn:zdrav:Measure:booking-kpi",
        "date": zdrav_store::format_instant(chrono::Utc::now().timestamp_micros()),
        "period": {"start": start.to_string(), "end": end.to_string()},
        "group": groups});
    if let Some(org) = scope::organisations(ctx, &filter).await?.and_then(|o| {
        if o.len() == 1 {
            o.into_iter().next()
        } else {
            None
        }
    }) {
        report["reporter"] = json!({"reference": org});
    }
    Ok(Reply::json(StatusCode::OK, report))
}

/// Bookings made in `[start, after)` within the filter: Appointments through a booking
/// status (not proposals, waiting-list entries or entries in error).
async fn bookings(
    ctx: &Ctx,
    filter: &scope::Filter,
    lo: &str,
    start: NaiveDate,
    after: NaiveDate,
) -> Result<Vec<Value>, ApiError> {
    let statuses = "pending,booked,arrived,fulfilled,cancelled,noshow,checked-in".to_string();
    let mut found = Vec::new();
    match scope::actors(ctx, filter).await? {
        None => {
            found = crate::search::unrestricted(
                ctx,
                "Appointment",
                &[("status", statuses), ("date", lo.to_string())],
                MAX_BOOKINGS,
            )
            .await?;
        }
        Some(actors) => {
            for chunk in actors.chunks(100) {
                found.extend(
                    crate::search::unrestricted(
                        ctx,
                        "Appointment",
                        &[
                            ("status", statuses.clone()),
                            ("date", lo.to_string()),
                            ("actor", chunk.join(",")),
                        ],
                        MAX_BOOKINGS,
                    )
                    .await?,
                );
            }
        }
    }
    let (from, to) = (day_micros(start), day_micros(after));
    let mut seen = BTreeSet::new();
    found.retain(|a| {
        seen.insert(
            a.get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ) && rules::micros(a.get("created")).is_some_and(|c| from <= c && c < to)
    });
    Ok(found)
}

fn day_micros(d: NaiveDate) -> i64 {
    zdrav_store::parse_fhir_datetime_range(&d.to_string()).map_or(0, |(lo, _)| lo)
}

fn staff_rate(role: &Value) -> f64 {
    role.get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(STAFF_RATE))
        .and_then(|e| e.get("valueDecimal"))
        .and_then(Value::as_f64)
        .unwrap_or(1.0)
}

fn code(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": KPI, "code": code, "display": display}], "text": display})
}

fn population(code: &str, count: u64) -> Value {
    json!({"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population", "code": code}]},
        "count": count})
}

fn score(v: f64) -> Value {
    json!({"value": (v * 10_000.0).round() / 10_000.0})
}

fn ratio(c: &str, display: &str, numerator: u64, denominator: u64) -> Value {
    let mut g = json!({"code": code(c, display),
        "population": [population("numerator", numerator), population("denominator", denominator)]});
    if denominator > 0 {
        g["measureScore"] = score(numerator as f64 / denominator as f64);
    }
    g
}

fn per_position(slots: u64, positions: f64) -> Value {
    let mut g = json!({"code": code("slots-per-position", "Количество слотов на ставку"),
        "population": [population("numerator", slots)],
        "extension": [{"url": "urn:zdrav:StructureDefinition:kpi-positions", "valueDecimal": score(positions)["value"]}]});
    if positions > 0.0 {
        g["measureScore"] = score(slots as f64 / positions);
    }
    g
}

fn average_wait(waits: &[f64]) -> Value {
    let mut g = json!({"code": code("average-wait-days", "Средний срок ожидания приема по записи"),
        "population": [population("measure-population", waits.len() as u64)]});
    if !waits.is_empty() {
        let mean = waits.iter().sum::<f64>() / waits.len() as f64;
        let mut s = score(mean);
        s["unit"] = json!("d");
        s["system"] = json!("http://unitsofmeasure.org");
        s["code"] = json!("d");
        g["measureScore"] = s;
    }
    g
}

fn channels(by_channel: &BTreeMap<String, u64>, total: u64) -> Value {
    let strata: Vec<Value> = by_channel
        .iter()
        .map(|(ch, n)| {
            let mut s = json!({"value": {"coding": [{"system": super::CHANNEL, "code": ch}], "text": ch},
                "population": [population("initial-population", *n)]});
            if total > 0 {
                s["measureScore"] = score(*n as f64 / total as f64);
            }
            s
        })
        .collect();
    json!({"code": code("bookings-by-channel", "Структура записей по каналам"),
        "population": [population("initial-population", total)],
        "stratifier": [{"code": [{"text": "channel"}], "stratum": strata}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_events_are_valid_audit_events() {
        let e = attempt_event(
            "epgu",
            "Slot/s is already taken",
            vec![json!({"what": {"reference": "Slot/s"}})],
        );
        let v = zdrav_fhir::validate(zdrav_fhir::r4(), &e);
        assert!(v.is_valid(), "{:?}", v.issues);
    }

    #[test]
    fn ratios_round_and_skip_empty_denominators() {
        let g = ratio("x", "x", 2, 3);
        assert_eq!(g["measureScore"]["value"].as_f64(), Some(0.6667));
        assert!(ratio("x", "x", 0, 0).get("measureScore").is_none());
        let g = per_position(7, 2.5);
        assert_eq!(g["measureScore"]["value"].as_f64(), Some(2.8));
    }
}
