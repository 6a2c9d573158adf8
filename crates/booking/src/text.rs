//! The lexical forms inside a template's parameters: dates, clock times, intervals, weekday
//! lists and UTC offsets. Errors are bare sentences; the caller adds where they were found.

use chrono::{FixedOffset, NaiveDate, NaiveTime};

/// Weekday abbreviations, Monday first, English then Russian.
const WEEKDAYS: [[&str; 2]; 7] = [
    ["mon", "пн"],
    ["tue", "вт"],
    ["wed", "ср"],
    ["thu", "чт"],
    ["fri", "пт"],
    ["sat", "сб"],
    ["sun", "вс"],
];

/// English weekday names for messages, Monday first.
pub(crate) const WEEKDAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Splits on an ASCII hyphen or an en dash, since Russian text usually types ranges with the dash.
fn split_range(s: &str) -> Option<(&str, &str)> {
    s.split_once('-').or_else(|| s.split_once('–'))
}

fn two_digits(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() == 2 && b.iter().all(u8::is_ascii_digit) {
        Some(u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'))
    } else {
        None
    }
}

/// A full FHIR date `YYYY-MM-DD`; the partial forms `YYYY` and `YYYY-MM` name no single day.
pub(crate) fn date(s: &str) -> Result<NaiveDate, String> {
    let bad = || format!("'{s}' is not a full date of the form YYYY-MM-DD");
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !s[..4].bytes().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let year: i32 = s[..4].parse().map_err(|_| bad())?;
    let month = two_digits(&s[5..7]).ok_or_else(bad)?;
    let day = two_digits(&s[8..10]).ok_or_else(bad)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| format!("'{s}' is not a calendar date"))
}

/// A clock time `HH:MM`, 00:00 to 23:59.
pub(crate) fn time(s: &str) -> Result<NaiveTime, String> {
    let bad = || format!("'{s}' is not a time of the form HH:MM between 00:00 and 23:59");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m) = (
        two_digits(h).ok_or_else(bad)?,
        two_digits(m).ok_or_else(bad)?,
    );
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

/// An interval `HH:MM-HH:MM` within one day, its end after its start.
pub(crate) fn interval(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (a, b) = split_range(s.trim())
        .ok_or_else(|| format!("'{s}' is not an interval of the form HH:MM-HH:MM"))?;
    let (a, b) = (time(a.trim())?, time(b.trim())?);
    if b <= a {
        return Err(format!(
            "the interval '{s}' ends before it starts (intervals cannot cross midnight)"
        ));
    }
    Ok((a, b))
}

fn weekday(s: &str) -> Result<usize, String> {
    let lower = s.trim().to_lowercase();
    WEEKDAYS
        .iter()
        .position(|names| names.contains(&lower.as_str()))
        .ok_or_else(|| {
            format!(
                "'{s}' is not a weekday (use mon tue wed thu fri sat sun or пн вт ср чт пт сб вс)"
            )
        })
}

/// A working-day line `<days> HH:MM-HH:MM`: the weekdays it names (Monday = 0, in the order
/// given) and the interval.
pub(crate) fn day_spec(s: &str) -> Result<(Vec<usize>, (NaiveTime, NaiveTime)), String> {
    let (days, hours) = s.trim().rsplit_once(char::is_whitespace).ok_or_else(|| {
        format!("'{s}' is not of the form '<days> HH:MM-HH:MM', e.g. 'mon-fri 08:00-14:00'")
    })?;
    let hours = interval(hours)?;
    let mut out = Vec::new();
    for item in days.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("'{s}' has an empty item in its list of weekdays"));
        }
        match split_range(item) {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                // A wrapping range such as fri-mon is more likely a typo than a wish.
                if b < a {
                    return Err(format!(
                        "the weekday range '{item}' runs backwards; ranges go from Monday to Sunday"
                    ));
                }
                out.extend(a..=b);
            }
            None => out.push(weekday(item)?),
        }
    }
    Ok((out, hours))
}

/// A UTC offset `+HH:MM` or `-HH:MM` (`Z` for UTC), at most 14 hours either way.
pub(crate) fn offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("'{s}' is not a UTC offset of the form +HH:MM, e.g. +03:00");
    if s == "Z" {
        return FixedOffset::east_opt(0).ok_or_else(bad);
    }
    let sign = match s.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let (h, m) = s[1..].split_once(':').ok_or_else(bad)?;
    let (h, m) = (
        two_digits(h).ok_or_else(bad)?,
        two_digits(m).ok_or_else(bad)?,
    );
    if h > 14 || m > 59 || (h == 14 && m > 0) {
        return Err(bad());
    }
    let secs = i32::try_from(h * 3600 + m * 60).map_err(|_| bad())?;
    FixedOffset::east_opt(sign * secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    #[test]
    fn dates_must_be_full_and_real() {
        assert_eq!(
            date("2026-12-01"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 1).expect("valid"))
        );
        for s in [
            "2026",
            "2026-12",
            "2026-13-01",
            "2026-02-30",
            "26-12-01",
            "2026-1-01",
            "+2026-12-01",
        ] {
            assert!(date(s).is_err(), "{s}");
        }
    }

    #[test]
    fn times_and_intervals() {
        assert_eq!(time("08:05"), Ok(t(8, 5)));
        for s in ["8:00", "24:00", "12:60", "12-00", "1200", ""] {
            assert!(time(s).is_err(), "{s}");
        }
        assert_eq!(interval("08:00-14:00"), Ok((t(8, 0), t(14, 0))));
        assert_eq!(interval("08:00–14:00"), Ok((t(8, 0), t(14, 0))));
        assert!(interval("14:00-08:00").is_err());
        assert!(interval("08:00-08:00").is_err());
        assert!(interval("08:00").is_err());
    }

    #[test]
    fn weekday_lists_in_english_and_russian() {
        assert_eq!(
            day_spec("mon-fri 08:00-14:00"),
            Ok((vec![0, 1, 2, 3, 4], (t(8, 0), t(14, 0))))
        );
        assert_eq!(
            day_spec("пн,ср,пт 14:00-20:00"),
            Ok((vec![0, 2, 4], (t(14, 0), t(20, 0))))
        );
        assert_eq!(
            day_spec("Сб 09:00-13:00"),
            Ok((vec![5], (t(9, 0), t(13, 0))))
        );
        assert_eq!(
            day_spec("пн–чт, sun 09:00-13:00").map(|d| d.0),
            Ok(vec![0, 1, 2, 3, 6])
        );
        for s in [
            "fri-mon 08:00-12:00",
            "mo 08:00-12:00",
            "mon,,tue 08:00-12:00",
            "mon",
            "08:00-12:00",
            "mon 12:00-08:00",
        ] {
            assert!(day_spec(s).is_err(), "{s}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(offset("+05:00").map(|o| o.local_minus_utc()), Ok(5 * 3600));
        assert_eq!(
            offset("-03:30").map(|o| o.local_minus_utc()),
            Ok(-(3 * 3600 + 1800))
        );
        assert_eq!(offset("Z").map(|o| o.local_minus_utc()), Ok(0));
        for s in ["03:00", "+3:00", "+15:00", "+03:60", "+0300", "", "+"] {
            assert!(offset(s).is_err(), "{s}");
        }
    }
}
