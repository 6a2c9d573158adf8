//! FHIR dates and times as implicit ranges `[low, high)` in microseconds since the Unix epoch,
//! UTC. A value covers the whole span its precision names (`2024` is all of 2024, `2024-05-01T10:00Z`
//! the whole minute); a time without a zone is taken as UTC.

/// Microseconds per second.
const SEC: i64 = 1_000_000;

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian), after Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses exactly `n` ASCII digits at `pos`.
fn digits(b: &[u8], pos: usize, n: usize) -> Option<i64> {
    let s = b.get(pos..pos + n)?;
    s.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// The range of a FHIR `date`, `dateTime` or `instant` (also the forms search values use:
/// `2024`, `2024-05`, `2024-05-01`, `2024-05-01T10:00`, `2024-05-01T10:00:30.5+03:00`).
/// `None` when the text is not a valid date.
pub fn date_range(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    if b.len() == 4 {
        let low = days_from_civil(year, 1, 1) * 86_400 * SEC;
        return Some((low, days_from_civil(year + 1, 1, 1) * 86_400 * SEC));
    }
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.len() == 7 {
        let low = days_from_civil(year, month, 1) * 86_400 * SEC;
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        return Some((low, days_from_civil(ny, nm, 1) * 86_400 * SEC));
    }
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(b, 8, 2)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let day_start = days_from_civil(year, month, day) * 86_400 * SEC;
    if b.len() == 10 {
        return Some((day_start, day_start + 86_400 * SEC));
    }
    if b.get(10) != Some(&b'T') {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(b, 14, 2)?;
    if hour > 23 || minute > 59 {
        return None;
    }
    let mut pos = 16;
    let mut low = day_start + (hour * 3600 + minute * 60) * SEC;
    let mut width = 60 * SEC;
    if b.get(pos) == Some(&b':') {
        let sec = digits(b, pos + 1, 2)?;
        if sec > 60 {
            return None;
        }
        low += sec * SEC;
        width = SEC;
        pos += 3;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let n = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            // Digits beyond microseconds narrow nothing the index can represent.
            let used = n.min(6);
            let frac = digits(b, pos, used)?;
            let scale = 10i64.pow(6 - used as u32);
            low += frac * scale;
            width = scale;
            pos += n;
        }
    }
    let offset = match b.get(pos) {
        None => 0,
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, pos + 1, 2)?;
            if b.get(pos + 3) != Some(&b':') || b.len() != pos + 6 {
                return None;
            }
            let om = digits(b, pos + 4, 2)?;
            if oh > 14 || om > 59 {
                return None;
            }
            let o = (oh * 3600 + om * 60) * SEC;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    Some((low - offset, low - offset + width))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * SEC;

    #[test]
    fn precisions() {
        assert_eq!(date_range("1970"), Some((0, 365 * DAY)));
        assert_eq!(date_range("1970-02"), Some((31 * DAY, 59 * DAY)));
        assert_eq!(date_range("2024-02-29").map(|r| r.1 - r.0), Some(DAY));
        assert_eq!(date_range("1970-01-01T00:01"), Some((60 * SEC, 120 * SEC)));
        assert_eq!(date_range("1970-01-01T00:00:01Z"), Some((SEC, 2 * SEC)));
        assert_eq!(
            date_range("1970-01-01T00:00:01.5Z"),
            Some((1_500_000, 1_600_000))
        );
        assert_eq!(
            date_range("1970-01-01T00:00:00.1234567Z"),
            Some((123_456, 123_457))
        );
        assert_eq!(date_range("1969-12-31").map(|r| r.0), Some(-DAY));
    }

    #[test]
    fn zones_go_to_utc() {
        let utc = date_range("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(date_range("2024-05-01T13:00:00+03:00"), Some(utc));
        assert_eq!(date_range("2024-05-01T05:00:00-05:00"), Some(utc));
        assert_eq!(date_range("2024-05-01T10:00:00"), Some(utc));
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "notadate",
            "202",
            "2024-13",
            "2023-02-29",
            "2024-1-01",
            "2024-05-01T25:00",
            "2024-05-01T10",
            "2024-05-01T10:00:00+3",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00Zjunk",
            "2024/05/01",
        ] {
            assert_eq!(date_range(bad), None, "{bad}");
        }
    }
}
