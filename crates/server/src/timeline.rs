//! The integrated electronic record's timeline (ИЭМК, issue 9): `Patient/[id]/$timeline`, the
//! patient's clinical events from every organisation, newest first, as a searchset Bundle.
//!
//! Each kind of event is dated by one element: Encounter `period.start`, DocumentReference
//! `date`, Condition `recordedDate` (else `onset[x]`), Procedure `performed[x]`, Immunization
//! `occurrenceDateTime`, MedicationRequest `authoredOn`, DiagnosticReport `effective[x]` (else
//! `issued`); a Period counts from its start. Resources with no such date are not events and
//! are left out (`$everything` has them). Each entry's `search` carries the date used as an
//! extension ([`DATE_EXTENSION`]); a DocumentReference's custodian Organization is included
//! (search mode `include`) so the document's organisation shows.
//!
//! Every source is an ordinary compartment search through [`crate::search::parse`], so a
//! practitioner's reach and a citizen's compartment apply exactly as to any other search. A
//! source is searched sorted by its date parameter, descending, in batches of the page bound
//! (`_offset + _count + 1`) under one snapshot. The store orders a descending date sort by the
//! end of each value's range and the timeline by the start, so the k-way merge needs a stopping
//! rule: a source is read no further once the end of its last value read lies before the
//! start of the page bound's last event, since nothing it still holds can start later. That is
//! usually after the first batch; long periods (a hospital stay) can need more.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{json, Value};
use zdrav_search::{Condition, Modifier, ParamType, Prefix, SearchValue, TotalMode};
use zdrav_store::StoredResource;

use crate::error::ApiError;
use crate::rest::{self, Ctx, Reply};
use crate::search::Scope;

/// The extension on `Bundle.entry.search` that states the date an entry is placed by.
pub const DATE_EXTENSION: &str = "urn:zdrav:StructureDefinition:timeline-date";

/// The default page size.
const DEFAULT_COUNT: usize = 50;
/// The largest page size.
const MAX_COUNT: usize = 500;

/// One searched kind of event: a type, its date search parameter (the store sorts by it), a
/// parameter that must be missing (for the fallback date of a type), and the elements holding
/// the date (choice types spelled out).
struct Source {
    rtype: &'static str,
    param: &'static str,
    without: Option<&'static str>,
    elements: &'static [&'static str],
}

const SOURCES: &[Source] = &[
    Source {
        rtype: "Encounter",
        param: "date",
        without: None,
        elements: &["period"],
    },
    Source {
        rtype: "DocumentReference",
        param: "date",
        without: None,
        elements: &["date"],
    },
    Source {
        rtype: "Condition",
        param: "recorded-date",
        without: None,
        elements: &["recordedDate"],
    },
    Source {
        rtype: "Condition",
        param: "onset-date",
        without: Some("recorded-date"),
        elements: &["onsetDateTime", "onsetPeriod"],
    },
    Source {
        rtype: "Procedure",
        param: "date",
        without: None,
        elements: &["performedDateTime", "performedPeriod"],
    },
    Source {
        rtype: "Immunization",
        param: "date",
        without: None,
        elements: &["occurrenceDateTime"],
    },
    Source {
        rtype: "MedicationRequest",
        param: "authoredon",
        without: None,
        elements: &["authoredOn"],
    },
    Source {
        rtype: "DiagnosticReport",
        param: "date",
        without: None,
        elements: &["effectiveDateTime", "effectivePeriod"],
    },
    Source {
        rtype: "DiagnosticReport",
        param: "issued",
        without: Some("date"),
        elements: &["issued"],
    },
];

/// The request's parameters.
struct Args {
    count: usize,
    offset: usize,
    snapshot: Option<i64>,
    types: Option<Vec<String>>,
    /// Events start at or after this instant (µs)...
    from: i64,
    /// ...and before this one.
    until: i64,
    /// The `type` and `date` parameters as given, for the paging links.
    echo: Vec<(String, String)>,
}

fn bad(message: String, at: &str) -> ApiError {
    ApiError::bad_request(message).at(at.to_string())
}

fn parse_args(params: &[(String, String)]) -> Result<Args, ApiError> {
    let mut a = Args {
        count: DEFAULT_COUNT,
        offset: 0,
        snapshot: None,
        types: None,
        from: i64::MIN,
        until: i64::MAX,
        echo: Vec::new(),
    };
    let number = |k: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| bad(format!("{k} must be a whole number, not '{v}'"), k))
    };
    for (k, v) in params {
        match k.as_str() {
            "_count" => a.count = number(k, v)?.min(MAX_COUNT),
            "_offset" => a.offset = number(k, v)?,
            "_snapshot" => {
                a.snapshot = Some(v.parse().map_err(|_| {
                    bad(format!("_snapshot must be a number, not '{v}'"), "_snapshot")
                })?)
            }
            "type" => {
                let mut list = Vec::new();
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !SOURCES.iter().any(|s| s.rtype == t) {
                        let known: Vec<&str> = SOURCES.iter().map(|s| s.rtype).collect();
                        return Err(bad(
                            format!(
                                "type '{t}' is not on the timeline; it has {}",
                                known.join(", ")
                            ),
                            "type",
                        ));
                    }
                    list.push(t.to_string());
                }
                // An empty `type=` restricts nothing.
                if !list.is_empty() {
                    a.types.get_or_insert_with(Vec::new).extend(list);
                    a.echo.push((k.clone(), v.clone()));
                }
            }
            "date" => {
                let (prefix, text) = match v.get(..2) {
                    Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &v[2..]),
                    Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => {
                        return Err(bad(
                            format!("date takes the prefixes ge, gt, le, lt and eq, not '{p}'"),
                            "date",
                        ))
                    }
                    _ => ("eq", v.as_str()),
                };
                let (low, high) = zdrav_search::date_range(text).ok_or_else(|| {
                    bad(
                        format!("date must be a FHIR date or dateTime, not '{text}'"),
                        "date",
                    )
                })?;
                match prefix {
                    "ge" => a.from = a.from.max(low),
                    "gt" => a.from = a.from.max(high),
                    "le" => a.until = a.until.min(high),
                    "lt" => a.until = a.until.min(low),
                    _ => {
                        a.from = a.from.max(low);
                        a.until = a.until.min(high);
                    }
                }
                a.echo.push((k.clone(), v.clone()));
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(bad(
                    format!("unknown $timeline parameter '{other}'; it takes _count, _offset, type and date"),
                    other,
                ))
            }
        }
    }
    Ok(a)
}

/// The start and end (µs, half-open) of an event's date, and the date as written.
fn when(resource: &Value, elements: &[&str]) -> Option<(i64, i64, String)> {
    for e in elements {
        match resource.get(*e) {
            Some(Value::String(s)) => {
                if let Some((lo, hi)) = zdrav_search::date_range(s) {
                    return Some((lo, hi, s.clone()));
                }
            }
            Some(Value::Object(period)) => {
                let start = period.get("start").and_then(Value::as_str);
                let end = period.get("end").and_then(Value::as_str);
                let lo = start.and_then(zdrav_search::date_range).map(|r| r.0);
                let hi = end.and_then(zdrav_search::date_range).map(|r| r.1);
                if lo.is_some() || hi.is_some() {
                    let shown = start.or(end).unwrap_or("").to_string();
                    return Some((lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX), shown));
                }
            }
            _ => {}
        }
    }
    None
}

/// One event on the timeline.
struct Event {
    start: i64,
    date: String,
    resource: StoredResource,
    /// The resource as JSON (parsed once, for its date and the included custodian).
    json: Value,
}

/// How far one source has been read.
struct Cursor {
    source: &'static Source,
    read: usize,
    done: bool,
    /// The end of the last value read (the store's sort key for it).
    last_end: i64,
}

/// The `k`-th latest start among the events (1-based), once there are that many.
fn kth_start(events: &[Event], k: usize) -> Option<i64> {
    if k == 0 || events.len() < k {
        return None;
    }
    let mut starts: Vec<i64> = events.iter().map(|e| e.start).collect();
    let (_, kth, _) = starts.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    Some(*kth)
}

/// `Patient/[id]/$timeline`.
pub async fn timeline(ctx: &Ctx, id: &str, params: &[(String, String)]) -> Result<Reply, ApiError> {
    rest::check_id(id)?;
    let args = parse_args(params)?;
    let patient = ctx
        .store
        .read("Patient", id)
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| ApiError::not_found(format!("Patient/{id} is not known")))?;
    crate::care::check_read(ctx, "Patient", id, &patient.json).await?;
    let need = args.offset.saturating_add(args.count).saturating_add(1);
    let mut cursors: Vec<Cursor> = SOURCES
        .iter()
        .filter(|s| {
            args.types
                .as_ref()
                .is_none_or(|l| l.iter().any(|t| t == s.rtype))
        })
        .map(|source| Cursor {
            source,
            read: 0,
            done: false,
            last_end: i64::MAX,
        })
        .collect();
    let mut events: Vec<Event> = Vec::new();
    let mut included: Vec<StoredResource> = Vec::new();
    let mut snapshot = args.snapshot;
    loop {
        let bound = kth_start(&events, need);
        let mut fetched = false;
        for c in cursors.iter_mut().filter(|c| !c.done) {
            if c.read > 0 && bound.is_some_and(|b| c.last_end < b) {
                c.done = true;
                continue;
            }
            fetched = true;
            let page = batch(ctx, id, c, need, &args, snapshot).await?;
            snapshot = Some(page.snapshot);
            c.read += page.matches.len();
            c.done = page.matches.len() < need;
            for r in page.matches {
                let json: Value = serde_json::from_slice(&r.json)
                    .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
                let (start, end, date) =
                    when(&json, c.source.elements).unwrap_or((i64::MIN, i64::MAX, String::new()));
                c.last_end = end;
                if start >= args.from && start < args.until {
                    events.push(Event {
                        start,
                        date,
                        resource: r,
                        json,
                    });
                }
            }
            included.extend(page.included);
        }
        if !fetched {
            break;
        }
    }
    events.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| a.resource.rtype.cmp(&b.resource.rtype))
            .then_with(|| a.resource.id.cmp(&b.resource.id))
    });
    let more = events.len() > args.offset.saturating_add(args.count);
    let page: Vec<Event> = events
        .into_iter()
        .skip(args.offset)
        .take(args.count)
        .collect();
    let bundle = bundle(ctx, id, &args, snapshot, &page, included, more)?;
    Ok(Reply::json(StatusCode::OK, bundle))
}

/// Reads the next batch of one source: an ordinary compartment search of the caller.
async fn batch(
    ctx: &Ctx,
    id: &str,
    c: &Cursor,
    need: usize,
    args: &Args,
    snapshot: Option<i64>,
) -> Result<zdrav_store::SearchPage, ApiError> {
    let s = c.source;
    let mut params = vec![
        ("_sort".to_string(), format!("-{}", s.param)),
        (format!("{}:missing", s.param), "false".to_string()),
    ];
    if let Some(without) = s.without {
        params.push((format!("{without}:missing"), "true".to_string()));
    }
    if s.rtype == "DocumentReference" {
        params.push(("_include".into(), "DocumentReference:custodian".into()));
    }
    let scope = Scope::Compartment {
        compartment: "Patient".into(),
        id: id.to_string(),
        rtype: s.rtype.to_string(),
    };
    let mut query = crate::search::parse(ctx, &scope, &params, true)?.query;
    // The store compares ranges: a value ending after `from` may start after it, one starting
    // before `until` may start before it; the exact test on the start follows on each event.
    let date = |prefix: Prefix, at: i64| Condition::Param {
        param: s.param.to_string(),
        ptype: ParamType::Date,
        modifier: Modifier::None,
        values: vec![SearchValue::Date {
            prefix,
            low: at,
            high: at,
        }],
    };
    if args.from > i64::MIN {
        query.conditions.push(date(Prefix::Gt, args.from));
    }
    if args.until < i64::MAX {
        query.conditions.push(date(Prefix::Lt, args.until));
    }
    query.count = need;
    query.offset = c.read;
    query.snapshot = snapshot;
    query.total = TotalMode::None;
    Ok(ctx.store.search(&query).await?)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The searchset Bundle of a page, with its custodians included and paging links.
fn bundle(
    ctx: &Ctx,
    id: &str,
    args: &Args,
    snapshot: Option<i64>,
    page: &[Event],
    included: Vec<StoredResource>,
    more: bool,
) -> Result<Value, ApiError> {
    let link = |rel: &str, offset: usize| {
        let mut q: Vec<String> = args
            .echo
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        q.push(format!("_count={}", args.count));
        if let Some(s) = snapshot {
            q.push(format!("_snapshot={s}"));
        }
        q.push(format!("_offset={offset}"));
        json!({"relation": rel, "url": format!("{}/Patient/{id}/$timeline?{}", ctx.base, q.join("&"))})
    };
    let mut links = vec![link("self", args.offset), link("first", 0)];
    if more {
        links.push(link("next", args.offset + args.count));
    }
    if args.offset > 0 {
        links.push(link("previous", args.offset.saturating_sub(args.count)));
    }
    let mut entries = Vec::new();
    let mut custodians = HashSet::new();
    for e in page {
        let r = &e.resource;
        if let Some(c) = e
            .json
            .pointer("/custodian/reference")
            .and_then(Value::as_str)
        {
            custodians.insert(c.to_string());
        }
        let mut search = json!({"mode": "match"});
        if !e.date.is_empty() {
            search["extension"] = json!([{"url": DATE_EXTENSION, "valueDateTime": e.date}]);
        }
        entries.push(json!({
            "fullUrl": format!("{}/{}/{}", ctx.base, r.rtype, r.id),
            "resource": e.json,
            "search": search,
        }));
    }
    let mut seen = HashSet::new();
    for r in included {
        let key = format!("{}/{}", r.rtype, r.id);
        if custodians.contains(&key) && seen.insert(key) {
            let v: Value = serde_json::from_slice(&r.json)
                .map_err(|e| ApiError::internal(format!("stored JSON is unreadable: {e}")))?;
            entries.push(json!({
                "fullUrl": format!("{}/{}/{}", ctx.base, r.rtype, r.id),
                "resource": v,
                "search": {"mode": "include"},
            }));
        }
    }
    let mut bundle =
        json!({"resourceType": "Bundle", "id": rest::new_id(), "type": "searchset", "link": links});
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(q: &str) -> Result<Args, ApiError> {
        parse_args(&crate::query::parse(q))
    }

    #[test]
    fn parameters_are_checked_and_bound_the_dates() {
        let a = args("date=ge2020-01-01&date=le2020-12-31&type=Encounter,Condition&_count=900")
            .unwrap();
        assert_eq!(a.count, MAX_COUNT);
        assert_eq!(a.from, zdrav_search::date_range("2020-01-01").unwrap().0);
        assert_eq!(a.until, zdrav_search::date_range("2021-01-01").unwrap().0);
        assert_eq!(a.types.unwrap(), ["Encounter", "Condition"]);
        let eq = args("date=2020-05").unwrap();
        assert_eq!(eq.from, zdrav_search::date_range("2020-05-01").unwrap().0);
        assert_eq!(eq.until, zdrav_search::date_range("2020-06-01").unwrap().0);
        assert!(args("type=").unwrap().types.is_none());
        for wrong in [
            "type=Observation",
            "date=sa2020",
            "date=2020-13",
            "_count=x",
            "foo=1",
        ] {
            assert!(args(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn events_are_dated_by_their_start() {
        let enc =
            json!({"period": {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"}});
        let (lo, hi, shown) = when(&enc, &["period"]).unwrap();
        assert!(lo < hi);
        assert_eq!(shown, "2020-01-01T10:00:00Z");
        let open = json!({"period": {"start": "2020-01-01"}});
        assert_eq!(when(&open, &["period"]).unwrap().1, i64::MAX);
        let onset = json!({"onsetPeriod": {"start": "2019"}});
        assert_eq!(
            when(&onset, &["onsetDateTime", "onsetPeriod"]).unwrap().2,
            "2019"
        );
        assert!(when(&json!({"onsetString": "детство"}), &["onsetDateTime"]).is_none());
    }
}
