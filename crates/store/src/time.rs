//! FHIR instants and date ranges as microseconds since the Unix epoch.

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// Formats microseconds since the Unix epoch as a FHIR instant (`2026-11-23T09:10:00.123456Z`).
pub fn format_instant(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = in_day / MICROS_PER_SEC;
    let frac = in_day % MICROS_PER_SEC;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses a FHIR date, dateTime or instant of any precision into the half-open range
/// `[start, end)` of microseconds it denotes; a time without a zone is taken as UTC.
pub fn parse_fhir_datetime_range(s: &str) -> Option<(i64, i64)> {
    let mut p = Parser {
        b: s.as_bytes(),
        pos: 0,
    };
    let year = p.digits(4)?;
    if year == 0 {
        return None;
    }
    if p.done() {
        let start = days_from_civil(year, 1, 1) * MICROS_PER_DAY;
        return Some((start, days_from_civil(year + 1, 1, 1) * MICROS_PER_DAY));
    }
    p.expect(b'-')?;
    let month = p.digits(2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if p.done() {
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let start = days_from_civil(year, month, 1) * MICROS_PER_DAY;
        return Some((start, days_from_civil(ny, nm, 1) * MICROS_PER_DAY));
    }
    p.expect(b'-')?;
    let day = p.digits(2)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let day_start = days_from_civil(year, month, day) * MICROS_PER_DAY;
    if p.done() {
        return Some((day_start, day_start + MICROS_PER_DAY));
    }
    p.expect(b'T')?;
    let hour = p.digits(2)?;
    p.expect(b':')?;
    let minute = p.digits(2)?;
    if hour > 23 || minute > 59 {
        return None;
    }
    let mut local = day_start + (hour * 3600 + minute * 60) * MICROS_PER_SEC;
    // Without seconds the value denotes a whole minute (lenient: FHIR search clients send it).
    let mut width = 60 * MICROS_PER_SEC;
    if p.peek() == Some(b':') {
        p.pos += 1;
        let second = p.digits(2)?;
        // The FHIR regex admits a leap second 60; it lands on the next minute's first second.
        if second > 60 {
            return None;
        }
        local += second * MICROS_PER_SEC;
        width = MICROS_PER_SEC;
        if p.peek() == Some(b'.') {
            p.pos += 1;
            let (frac, ndigits) = p.fraction()?;
            local += frac;
            width = 10i64.pow(6u32.saturating_sub(ndigits)).max(1);
        }
    }
    let offset = match p.peek() {
        None => 0,
        Some(b'Z') => {
            p.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            p.pos += 1;
            let oh = p.digits(2)?;
            p.expect(b':')?;
            let om = p.digits(2)?;
            if oh > 14 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) * MICROS_PER_SEC;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        Some(_) => return None,
    };
    if !p.done() {
        return None;
    }
    let start = local - offset;
    Some((start, start + width))
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.pos == self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        if self.peek()? != c {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.pos..self.pos + n)?;
        let mut v = 0i64;
        for &c in s {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.pos += n;
        Some(v)
    }

    /// Fractional seconds as micros (extra digits truncated) and the number of digits given.
    fn fraction(&mut self) -> Option<(i64, u32)> {
        let mut micros = 0i64;
        let mut n = 0u32;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
            n += 1;
            self.pos += 1;
        }
        if n == 0 {
            return None;
        }
        Some((micros * 10i64.pow(6u32.saturating_sub(n)), n))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm, total over i64
/// ranges we can meet).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = MICROS_PER_SEC;

    #[test]
    fn formats_instants() {
        assert_eq!(format_instant(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_instant(1_795_425_000_123_456),
            "2026-11-23T09:10:00.123456Z"
        );
        assert_eq!(format_instant(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_instant(951_782_400 * S),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn parses_every_precision() {
        let day = 1_795_392_000 * S; // 2026-11-23T00:00:00Z
        assert_eq!(
            parse_fhir_datetime_range("2026"),
            Some((1_767_225_600 * S, 1_798_761_600 * S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11"),
            Some((1_793_491_200 * S, 1_796_083_200 * S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-12"),
            Some((1_796_083_200 * S, 1_798_761_600 * S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23"),
            Some((day, day + 86_400 * S))
        );
        let t = day + (9 * 3600 + 10 * 60) * S;
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10:00Z"),
            Some((t, t + S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10:00"),
            Some((t, t + S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10Z"),
            Some((t, t + 60 * S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10:00.5Z"),
            Some((t + 500_000, t + 600_000))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10:00.123456Z"),
            Some((t + 123_456, t + 123_457))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T09:10:00.1234567Z"),
            Some((t + 123_456, t + 123_457))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T12:10:00+03:00"),
            Some((t, t + S))
        );
        assert_eq!(
            parse_fhir_datetime_range("2026-11-23T04:40:00.25-04:30"),
            Some((t + 250_000, t + 260_000))
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "26",
            "2026-",
            "2026-13",
            "2026-02-29",
            "2026-11-23T",
            "2026-11-23T24:00:00Z",
            "2026-11-23T09:10:00.Z",
            "2026-11-23T09:10:00+15:00",
            "2026-11-23T09:10:00Zx",
            "2026-11-23 09:10:00Z",
            "0000",
            "２０２６",
        ] {
            assert_eq!(parse_fhir_datetime_range(s), None, "{s:?}");
        }
        assert!(parse_fhir_datetime_range("2024-02-29").is_some());
    }

    #[test]
    fn round_trips() {
        for micros in [0, 1, 1_795_425_000_123_456, 253_402_300_799_999_999] {
            let s = format_instant(micros);
            assert_eq!(parse_fhir_datetime_range(&s), Some((micros, micros + 1)));
        }
    }
}
