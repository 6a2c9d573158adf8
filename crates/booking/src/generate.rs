//! Laying a template out into slot times.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use crate::template::{MAX_SPAN_DAYS, SLOT_MINUTES};
use crate::{is_ru_holiday, Invalid, SlotTime, Template};

/// Seconds since midnight: plain integers, because adding to a `NaiveTime` wraps past midnight
/// silently.
fn secs(t: NaiveTime) -> u32 {
    t.num_seconds_from_midnight()
}

fn hms(s: u32) -> String {
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `+HH:MM`, the only offset form a FHIR instant allows (chrono would add seconds if present).
fn offset(t: &Template) -> String {
    let o = t.offset.local_minus_utc();
    let sign = if o < 0 { '-' } else { '+' };
    let m = o.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Rechecks what `from_parameters` guarantees, since a `Template` can also be built by hand:
/// without these, a zero slot length would never advance, an endless period would loop for
/// long, and overlapping intervals would repeat keys.
fn check(t: &Template) -> Result<(), Invalid> {
    if !SLOT_MINUTES.contains(&t.slot_minutes) {
        return Err(Invalid::new(
            "slotMinutes",
            format!(
                "the slot length must be from {} to {} minutes, not {}",
                SLOT_MINUTES.start(),
                SLOT_MINUTES.end(),
                t.slot_minutes
            ),
        ));
    }
    if (t.end - t.start).num_days() > MAX_SPAN_DAYS {
        return Err(Invalid::new(
            "end",
            format!("the period may end at most {MAX_SPAN_DAYS} days after its start"),
        ));
    }
    if t.offset.local_minus_utc() % 60 != 0 {
        return Err(Invalid::new(
            "timezone",
            "the UTC offset must be whole minutes",
        ));
    }
    for intervals in &t.days {
        let mut sorted = intervals.clone();
        sorted.sort();
        if sorted.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(Invalid::new(
                "day",
                "working intervals of one weekday overlap",
            ));
        }
    }
    Ok(())
}

fn slot(t: &Template, date: NaiveDate, start: u32, end: u32) -> SlotTime {
    let day = date.format("%Y-%m-%d");
    let offset = offset(t);
    SlotTime {
        start: format!("{day}T{}{offset}", hms(start)),
        end: format!("{day}T{}{offset}", hms(end)),
        key: format!(
            "{}{:02}{:02}",
            date.format("%Y%m%d"),
            start / 3600,
            start / 60 % 60
        ),
    }
}

/// All slot times of the template, in order; Err if more than `max` would be generated.
pub fn generate(t: &Template, max: usize) -> Result<Vec<SlotTime>, Invalid> {
    check(t)?;
    let length = t.slot_minutes * 60;
    let breaks: Vec<(u32, u32)> = t.breaks.iter().map(|(a, b)| (secs(*a), secs(*b))).collect();
    let mut out = Vec::new();
    for date in t.start.iter_days().take_while(|d| *d <= t.end) {
        if t.holidays.contains(&date) || (t.ru_holidays && is_ru_holiday(date)) {
            continue;
        }
        let mut intervals = t.days[date.weekday().num_days_from_monday() as usize].clone();
        intervals.sort();
        for (from, to) in intervals {
            let (mut at, to) = (secs(from), secs(to));
            while at + length <= to {
                let end = at + length;
                // Restart at the latest end among the breaks hit, so that a chain of
                // overlapping breaks is skipped as one.
                let hit = breaks
                    .iter()
                    .filter(|(a, b)| at < *b && *a < end)
                    .map(|(_, b)| *b)
                    .max();
                if let Some(resume) = hit {
                    at = resume;
                    continue;
                }
                if out.len() == max {
                    return Err(Invalid::new(
                        "Parameters",
                        format!(
                            "the template would generate more than {max} slots; shorten the period or lengthen the slots"
                        ),
                    ));
                }
                out.push(slot(t, date, at, end));
                at = end;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::parameters;
    use serde_json::{json, Value};

    fn template(extra: &[(&str, &str, Value)]) -> Template {
        let mut items = vec![
            ("start", "valueDate", json!("2026-11-30")),
            ("end", "valueDate", json!("2026-12-06")),
        ];
        items.extend(extra.iter().cloned());
        Template::from_parameters(&parameters(&items)).expect("test template is valid")
    }

    fn starts(slots: &[SlotTime], day: &str) -> Vec<String> {
        slots
            .iter()
            .filter(|s| s.start.starts_with(day))
            .map(|s| s.start[11..16].to_string())
            .collect()
    }

    #[test]
    fn a_hand_checked_week() {
        let t = template(&[
            ("day", "valueString", json!("mon-fri 08:00-12:00")),
            ("slotMinutes", "valueInteger", json!(30)),
            ("break", "valueString", json!("10:00-10:30")),
        ]);
        let slots = generate(&t, 1000).expect("within max");
        assert_eq!(slots.len(), 35);
        let day = [
            "08:00", "08:30", "09:00", "09:30", "10:30", "11:00", "11:30",
        ];
        for d in [
            "2026-11-30",
            "2026-12-01",
            "2026-12-02",
            "2026-12-03",
            "2026-12-04",
        ] {
            assert_eq!(starts(&slots, d), day, "{d}");
        }
        assert!(starts(&slots, "2026-12-05").is_empty() && starts(&slots, "2026-12-06").is_empty());
        assert_eq!(
            slots[0],
            SlotTime {
                start: "2026-11-30T08:00:00+03:00".into(),
                end: "2026-11-30T08:30:00+03:00".into(),
                key: "202611300800".into(),
            }
        );
        assert_eq!(slots[4].end, "2026-11-30T11:00:00+03:00");
        assert_eq!(slots[34].key, "202612041130");
        let mut keys: Vec<&str> = slots.iter().map(|s| s.key.as_str()).collect();
        keys.dedup();
        assert_eq!(keys.len(), 35, "keys are unique and in order");
    }

    #[test]
    fn after_a_break_slots_restart_at_its_end() {
        let t = template(&[
            ("day", "valueString", json!("mon 08:00-12:00")),
            ("slotMinutes", "valueInteger", json!(20)),
            ("break", "valueString", json!("10:10-10:40")),
        ]);
        let slots = generate(&t, 100).expect("within max");
        let want = [
            "08:00", "08:20", "08:40", "09:00", "09:20", "09:40", "10:40", "11:00", "11:20",
            "11:40",
        ];
        assert_eq!(starts(&slots, "2026-11-30"), want);
        assert_eq!(slots[5].end, "2026-11-30T10:00:00+03:00");
    }

    #[test]
    fn a_slot_running_past_the_interval_is_dropped() {
        let t = template(&[
            ("day", "valueString", json!("mon 08:00-09:50")),
            ("slotMinutes", "valueInteger", json!(30)),
        ]);
        let slots = generate(&t, 100).expect("within max");
        assert_eq!(starts(&slots, "2026-11-30"), ["08:00", "08:30", "09:00"]);
    }

    fn new_year(ru: bool) -> Vec<SlotTime> {
        let t = Template::from_parameters(&parameters(&[
            ("start", "valueDate", json!("2026-12-28")),
            ("end", "valueDate", json!("2027-01-10")),
            ("day", "valueString", json!("mon-fri 09:00-10:00")),
            ("slotMinutes", "valueInteger", json!(60)),
            ("ruHolidays", "valueBoolean", json!(ru)),
        ]))
        .expect("valid");
        generate(&t, 100).expect("within max")
    }

    #[test]
    fn russian_holidays_are_skipped_unless_turned_off() {
        let days = |slots: &[SlotTime]| {
            slots
                .iter()
                .map(|s| s.key[..8].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            days(&new_year(true)),
            ["20261228", "20261229", "20261230", "20261231"]
        );
        assert_eq!(
            days(&new_year(false)),
            [
                "20261228", "20261229", "20261230", "20261231", "20270101", "20270104", "20270105",
                "20270106", "20270107", "20270108"
            ]
        );
    }

    #[test]
    fn an_explicit_holiday_is_skipped() {
        let t = template(&[
            ("day", "valueString", json!("mon-fri 09:00-10:00")),
            ("slotMinutes", "valueInteger", json!(60)),
            ("holiday", "valueDate", json!("2026-12-02")),
            ("holiday", "valueDate", json!("2026-12-03")),
        ]);
        let keys: Vec<String> = generate(&t, 100)
            .expect("ok")
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(keys, ["202611300900", "202612010900", "202612040900"]);
    }

    #[test]
    fn russian_weekday_names_and_split_shifts() {
        let t = template(&[
            ("day", "valueString", json!("пн,ср,пт 14:00-16:00")),
            ("day", "valueString", json!("ПН 08:00-10:00")),
            ("day", "valueString", json!("сб 09:00-10:00")),
            ("slotMinutes", "valueInteger", json!(60)),
        ]);
        let slots = generate(&t, 100).expect("ok");
        assert_eq!(
            starts(&slots, "2026-11-30"),
            ["08:00", "09:00", "14:00", "15:00"]
        );
        assert!(starts(&slots, "2026-12-01").is_empty());
        assert_eq!(starts(&slots, "2026-12-02"), ["14:00", "15:00"]);
        assert_eq!(starts(&slots, "2026-12-04"), ["14:00", "15:00"]);
        assert_eq!(starts(&slots, "2026-12-05"), ["09:00"]);
        assert_eq!(slots.len(), 4 + 2 + 2 + 1);
    }

    #[test]
    fn the_offset_is_written_into_the_instants_but_not_the_key() {
        let t = template(&[
            ("day", "valueString", json!("tue 08:00-08:15")),
            ("slotMinutes", "valueInteger", json!(15)),
            ("timezone", "valueString", json!("+05:00")),
        ]);
        let slots = generate(&t, 100).expect("ok");
        assert_eq!(
            slots,
            [SlotTime {
                start: "2026-12-01T08:00:00+05:00".into(),
                end: "2026-12-01T08:15:00+05:00".into(),
                key: "202612010800".into(),
            }]
        );
    }

    #[test]
    fn max_limits_the_count() {
        let t = template(&[
            ("day", "valueString", json!("mon-fri 08:00-12:00")),
            ("slotMinutes", "valueInteger", json!(30)),
        ]);
        assert_eq!(generate(&t, 40).map(|s| s.len()), Ok(40));
        let err = generate(&t, 39).expect_err("41st slot is over the limit");
        assert_eq!(err.at, "Parameters");
        assert!(err.message.contains("39"), "{}", err.message);
    }

    #[test]
    fn a_hand_built_template_is_checked_too() {
        let mut t = template(&[
            ("day", "valueString", json!("mon 08:00-12:00")),
            ("slotMinutes", "valueInteger", json!(30)),
        ]);
        t.slot_minutes = 0;
        assert_eq!(
            generate(&t, 100).map_err(|e| e.at),
            Err("slotMinutes".to_string())
        );
        t.slot_minutes = 30;
        t.days[0].push(t.days[0][0]);
        assert_eq!(generate(&t, 100).map_err(|e| e.at), Err("day".to_string()));
    }
}
