//! Reading a [`Template`] from a FHIR Parameters resource.

use std::collections::BTreeSet;

use chrono::{FixedOffset, NaiveTime};
use serde_json::{Map, Value};

use crate::text::{self, WEEKDAY_NAMES};
use crate::{Invalid, Template};

/// The longest period one template may cover, in days after its start.
pub(crate) const MAX_SPAN_DAYS: i64 = 366;
/// The allowed slot lengths, in minutes.
pub(crate) const SLOT_MINUTES: std::ops::RangeInclusive<u32> = 5..=480;

/// The value type each known parameter takes, and whether it may repeat.
fn expected(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "start" | "end" => ("valueDate", false),
        "day" | "break" => ("valueString", true),
        "holiday" => ("valueDate", true),
        "slotMinutes" => ("valueInteger", false),
        "ruHolidays" | "competitive" => ("valueBoolean", false),
        "timezone" => ("valueString", false),
        _ => return None,
    })
}

/// Gets the one value of the expected type, refusing a parameter that carries another (or a
/// second) value, so a typo in the type is not silently read as "absent".
fn value<'a>(
    param: &'a Map<String, Value>,
    at: &str,
    name: &str,
    key: &str,
) -> Result<&'a Value, Invalid> {
    let others: Vec<&str> = param
        .keys()
        .map(String::as_str)
        .filter(|k| *k != key && (k.starts_with("value") || *k == "resource" || *k == "part"))
        .collect();
    match (param.get(key), others.first()) {
        (Some(v), None) => Ok(v),
        (_, Some(other)) => Err(Invalid::new(
            format!("{at}.{other}"),
            format!("parameter '{name}' takes {key}, not {other}"),
        )),
        (None, None) => Err(Invalid::new(at, format!("parameter '{name}' has no {key}"))),
    }
}

fn string<'a>(v: &'a Value, at: &str, name: &str) -> Result<&'a str, Invalid> {
    v.as_str()
        .ok_or_else(|| Invalid::new(at, format!("parameter '{name}' must be a JSON string")))
}

impl Template {
    /// Parses a FHIR Parameters resource (serde_json::Value). Err(Invalid) names the parameter and what is wrong.
    pub fn from_parameters(p: &Value) -> Result<Template, Invalid> {
        if p.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
            return Err(Invalid::new(
                "Parameters.resourceType",
                "the template must be a Parameters resource",
            ));
        }
        let params = match p.get("parameter") {
            Some(Value::Array(a)) => a.as_slice(),
            None => &[],
            Some(_) => {
                return Err(Invalid::new(
                    "Parameters.parameter",
                    "parameter must be an array",
                ))
            }
        };

        let mut start = None;
        let mut end = None;
        let mut slot_minutes = None;
        let mut days: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        let mut day_given = false;
        let mut breaks = Vec::new();
        let mut holidays = BTreeSet::new();
        let mut ru_holidays = None;
        let mut offset = None;
        let mut competitive = None;
        // Where each single-valued parameter was first seen, to refuse a repetition.
        let mut seen: Vec<&str> = Vec::new();
        // The day parameter each interval came from, for the overlap message.
        let mut day_origin: [Vec<usize>; 7] = Default::default();

        for (i, param) in params.iter().enumerate() {
            let here = format!("Parameters.parameter[{i}]");
            let param = param
                .as_object()
                .ok_or_else(|| Invalid::new(&here, "a parameter must be a JSON object"))?;
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Invalid::new(format!("{here}.name"), "the parameter has no name"))?;
            let (key, repeats) = expected(name).ok_or_else(|| {
                Invalid::new(
                    format!("{here}.name"),
                    format!("unknown parameter '{name}'"),
                )
            })?;
            if !repeats {
                if seen.contains(&name) {
                    return Err(Invalid::new(
                        format!("{here}.name"),
                        format!("parameter '{name}' is given more than once"),
                    ));
                }
                seen.push(name);
            }
            let v = value(param, &here, name, key)?;
            let at = format!("{here}.{key}");
            let refuse = |msg: String| Invalid::new(&at, format!("parameter '{name}': {msg}"));
            match name {
                "start" => start = Some((text::date(string(v, &at, name)?).map_err(refuse)?, at)),
                "end" => end = Some((text::date(string(v, &at, name)?).map_err(refuse)?, at)),
                "holiday" => {
                    holidays.insert(text::date(string(v, &at, name)?).map_err(refuse)?);
                }
                "break" => breaks.push(text::interval(string(v, &at, name)?).map_err(refuse)?),
                "timezone" => offset = Some(text::offset(string(v, &at, name)?).map_err(refuse)?),
                "ruHolidays" | "competitive" => {
                    let b = v
                        .as_bool()
                        .ok_or_else(|| refuse("valueBoolean must be true or false".to_string()))?;
                    if name == "ruHolidays" {
                        ru_holidays = Some(b);
                    } else {
                        competitive = Some(b);
                    }
                }
                "slotMinutes" => {
                    let n = v
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|n| SLOT_MINUTES.contains(n))
                        .ok_or_else(|| {
                            refuse(format!(
                                "slot length must be a whole number of minutes from {} to {}, not {v}",
                                SLOT_MINUTES.start(),
                                SLOT_MINUTES.end()
                            ))
                        })?;
                    slot_minutes = Some(n);
                }
                "day" => {
                    day_given = true;
                    let (weekdays, (from, to)) =
                        text::day_spec(string(v, &at, name)?).map_err(refuse)?;
                    for wd in weekdays {
                        let clash = days[wd]
                            .iter()
                            .zip(&day_origin[wd])
                            .find(|((a, b), _)| from < *b && *a < to);
                        if let Some(((a, b), j)) = clash {
                            return Err(refuse(format!(
                                "{}–{} on {} overlaps {}–{} given in parameter[{j}]",
                                from.format("%H:%M"),
                                to.format("%H:%M"),
                                WEEKDAY_NAMES[wd],
                                a.format("%H:%M"),
                                b.format("%H:%M"),
                            )));
                        }
                        days[wd].push((from, to));
                        day_origin[wd].push(i);
                    }
                }
                _ => unreachable!("every name accepted by expected() is handled above"),
            }
        }

        let (start, _) = start.ok_or_else(|| required("start", "valueDate"))?;
        let (end, end_at) = end.ok_or_else(|| required("end", "valueDate"))?;
        if end < start {
            return Err(Invalid::new(
                end_at,
                format!("parameter 'end': {end} is before the start {start}"),
            ));
        }
        let span = (end - start).num_days();
        if span > MAX_SPAN_DAYS {
            return Err(Invalid::new(
                end_at,
                format!(
                    "parameter 'end': the period is {span} days after the start; at most {MAX_SPAN_DAYS} are allowed"
                ),
            ));
        }
        if !day_given {
            return Err(required("day", "valueString"));
        }
        let slot_minutes = slot_minutes.ok_or_else(|| required("slotMinutes", "valueInteger"))?;
        for intervals in &mut days {
            intervals.sort();
        }
        breaks.sort();
        Ok(Template {
            start,
            end,
            days,
            slot_minutes,
            breaks,
            holidays,
            ru_holidays: ru_holidays.unwrap_or(true),
            offset: offset.unwrap_or_else(moscow),
            competitive: competitive.unwrap_or(true),
        })
    }
}

fn required(name: &str, key: &str) -> Invalid {
    Invalid::new(
        name,
        format!("the required parameter '{name}' ({key}) is missing"),
    )
}

/// Moscow time, UTC+3 all year since 2014.
pub(crate) fn moscow() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("+03:00 is within ±24 hours")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::parameters;
    use serde_json::json;

    /// A valid template: start is parameter[0], end [1], day [2], slotMinutes [3].
    fn base() -> Vec<(&'static str, &'static str, Value)> {
        vec![
            ("start", "valueDate", json!("2026-12-01")),
            ("end", "valueDate", json!("2026-12-31")),
            ("day", "valueString", json!("mon-fri 08:00-14:00")),
            ("slotMinutes", "valueInteger", json!(30)),
        ]
    }

    fn refused(items: &[(&str, &str, Value)]) -> Invalid {
        Template::from_parameters(&parameters(items)).expect_err("template must be refused")
    }

    fn with(
        i: usize,
        item: (&'static str, &'static str, Value),
    ) -> Vec<(&'static str, &'static str, Value)> {
        let mut items = base();
        items[i] = item;
        items
    }

    #[test]
    fn defaults() {
        let t = Template::from_parameters(&parameters(&base())).expect("valid");
        assert!(t.ru_holidays && t.competitive && t.holidays.is_empty() && t.breaks.is_empty());
        assert_eq!(t.offset.local_minus_utc(), 3 * 3600);
        assert_eq!(t.slot_minutes, 30);
        assert_eq!(t.days.iter().filter(|d| d.len() == 1).count(), 5);
        assert!(t.days[5].is_empty() && t.days[6].is_empty());
    }

    #[test]
    fn optional_parameters_are_read() {
        let mut items = base();
        items.extend([
            ("ruHolidays", "valueBoolean", json!(false)),
            ("competitive", "valueBoolean", json!(false)),
            ("timezone", "valueString", json!("+07:00")),
            ("holiday", "valueDate", json!("2026-12-31")),
            ("break", "valueString", json!("12:00-12:30")),
        ]);
        let t = Template::from_parameters(&parameters(&items)).expect("valid");
        assert!(!t.ru_holidays && !t.competitive);
        assert_eq!(t.offset.local_minus_utc(), 7 * 3600);
        assert_eq!(t.holidays.len(), 1);
        assert_eq!(t.breaks.len(), 1);
    }

    #[test]
    fn missing_start() {
        let mut items = base();
        items.remove(0);
        assert_eq!(refused(&items).at, "start");
        let mut items = base();
        items.remove(1);
        assert_eq!(refused(&items).at, "end");
    }

    #[test]
    fn end_before_start() {
        let e = refused(&with(1, ("end", "valueDate", json!("2026-11-30"))));
        assert_eq!(e.at, "Parameters.parameter[1].valueDate");
        assert!(e.message.contains("before"), "{}", e.message);
        // One day is allowed: start and end are both inclusive.
        let one = with(1, ("end", "valueDate", json!("2026-12-01")));
        assert!(Template::from_parameters(&parameters(&one)).is_ok());
    }

    #[test]
    fn more_than_366_days() {
        let ok = with(1, ("end", "valueDate", json!("2027-12-02")));
        assert!(Template::from_parameters(&parameters(&ok)).is_ok());
        let e = refused(&with(1, ("end", "valueDate", json!("2027-12-03"))));
        assert_eq!(e.at, "Parameters.parameter[1].valueDate");
        assert!(e.message.contains("367"), "{}", e.message);
    }

    #[test]
    fn bad_day_spec() {
        for spec in [
            "monday 08:00-14:00",
            "mon-fri",
            "mon-fri 14:00-08:00",
            "fri-mon 08:00-14:00",
        ] {
            let e = refused(&with(2, ("day", "valueString", json!(spec))));
            assert_eq!(e.at, "Parameters.parameter[2].valueString", "{spec}");
            assert!(e.message.contains("'day'"), "{}", e.message);
        }
        let mut items = base();
        items.remove(2);
        assert_eq!(refused(&items).at, "day");
    }

    #[test]
    fn overlapping_intervals() {
        let mut items = base();
        items.push(("day", "valueString", json!("пн,ср 13:00-15:00")));
        let e = refused(&items);
        assert_eq!(e.at, "Parameters.parameter[4].valueString");
        assert!(
            e.message.contains("Monday") && e.message.contains("parameter[2]"),
            "{}",
            e.message
        );
        // Touching intervals make a split shift, not an overlap.
        items[4] = ("day", "valueString", json!("пн,ср 14:00-15:00"));
        let t = Template::from_parameters(&parameters(&items)).expect("valid");
        assert_eq!(t.days[0].len(), 2);
    }

    #[test]
    fn slot_minutes_out_of_range() {
        for n in [
            json!(0),
            json!(4),
            json!(481),
            json!(-30),
            json!(30.5),
            json!("30"),
        ] {
            let e = refused(&with(3, ("slotMinutes", "valueInteger", n.clone())));
            assert_eq!(e.at, "Parameters.parameter[3].valueInteger", "{n}");
        }
        let mut items = base();
        items.remove(3);
        assert_eq!(refused(&items).at, "slotMinutes");
    }

    #[test]
    fn unknown_parameter() {
        let mut items = base();
        items.push(("slotMinute", "valueInteger", json!(30)));
        let e = refused(&items);
        assert_eq!(e.at, "Parameters.parameter[4].name");
        assert!(e.message.contains("'slotMinute'"), "{}", e.message);
    }

    #[test]
    fn wrong_value_types_and_repeats() {
        let e = refused(&with(
            0,
            ("start", "valueDateTime", json!("2026-12-01T00:00:00Z")),
        ));
        assert_eq!(e.at, "Parameters.parameter[0].valueDateTime");
        assert!(
            e.message.contains("'start'") && e.message.contains("valueDate"),
            "{}",
            e.message
        );
        let e = refused(&with(2, ("day", "valueString", json!(5))));
        assert_eq!(e.at, "Parameters.parameter[2].valueString");
        let mut items = base();
        items.push(("ruHolidays", "valueBoolean", json!("no")));
        assert_eq!(refused(&items).at, "Parameters.parameter[4].valueBoolean");
        items[4] = ("timezone", "valueString", json!("Europe/Moscow"));
        assert_eq!(refused(&items).at, "Parameters.parameter[4].valueString");
        items[4] = ("start", "valueDate", json!("2026-12-02"));
        assert_eq!(refused(&items).at, "Parameters.parameter[4].name");
        let e = Template::from_parameters(&json!({"resourceType": "Patient"}))
            .expect_err("not Parameters");
        assert_eq!(e.at, "Parameters.resourceType");
    }
}
