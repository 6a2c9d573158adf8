//! Date, DateTime and Time values with their precision. FHIRPath compares partial dates component
//! by component and answers "unknown" (empty) when the answer depends on a component one side
//! does not have, so the precision is part of the value, not formatting.

use std::cmp::Ordering;

/// Which of the three temporal types a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `System.Date`.
    Date,
    /// `System.DateTime`.
    DateTime,
    /// `System.Time`.
    Time,
}

/// The finest component present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prec {
    /// Year only.
    Year,
    /// Year and month.
    Month,
    /// A full date.
    Day,
    /// Hours.
    Hour,
    /// Minutes.
    Minute,
    /// Seconds.
    Second,
    /// Fractional seconds.
    Milli,
}

/// A calendar unit usable in date arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalUnit {
    /// Calendar years.
    Year,
    /// Calendar months.
    Month,
    /// Weeks (7 days).
    Week,
    /// Days.
    Day,
    /// Hours.
    Hour,
    /// Minutes.
    Minute,
    /// Seconds.
    Second,
    /// Milliseconds.
    Milli,
}

/// A temporal value: unused components are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dt {
    /// Date, DateTime or Time.
    pub kind: Kind,
    /// Finest component present.
    pub prec: Prec,
    /// Year.
    pub year: i32,
    /// Month 1-12.
    pub month: u32,
    /// Day 1-31.
    pub day: u32,
    /// Hour 0-23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Milliseconds.
    pub milli: u32,
    /// Timezone offset in minutes, when given.
    pub tz: Option<i32>,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in a month.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

struct Scan<'s> {
    b: &'s [u8],
    i: usize,
}

impl Scan<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0, |a, d| a * 10 + (d - b'0') as u32))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

impl Dt {
    fn empty(kind: Kind, prec: Prec) -> Dt {
        Dt {
            kind,
            prec,
            year: 0,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            milli: 0,
            tz: None,
        }
    }

    fn scan_time(sc: &mut Scan, dt: &mut Dt) -> Option<()> {
        dt.hour = sc.digits(2)?;
        dt.prec = Prec::Hour;
        if sc.eat(b':') {
            dt.minute = sc.digits(2)?;
            dt.prec = Prec::Minute;
            if sc.eat(b':') {
                dt.second = sc.digits(2)?;
                dt.prec = Prec::Second;
                if sc.peek() == Some(b'.') {
                    sc.i += 1;
                    let start = sc.i;
                    while sc.peek().is_some_and(|c| c.is_ascii_digit()) {
                        sc.i += 1;
                    }
                    let frac = &sc.b[start..sc.i];
                    if frac.is_empty() {
                        return None;
                    }
                    let mut ms = 0;
                    for k in 0..3 {
                        ms = ms * 10 + frac.get(k).map_or(0, |d| (d - b'0') as u32);
                    }
                    dt.milli = ms;
                    dt.prec = Prec::Milli;
                }
            }
        }
        (dt.hour < 24 && dt.minute < 60 && dt.second < 60).then_some(())
    }

    fn scan_tz(sc: &mut Scan, dt: &mut Dt) -> Option<()> {
        match sc.peek() {
            Some(b'Z') => {
                sc.i += 1;
                dt.tz = Some(0);
            }
            Some(c @ (b'+' | b'-')) => {
                sc.i += 1;
                let h = sc.digits(2)?;
                if !sc.eat(b':') {
                    return None;
                }
                let m = sc.digits(2)?;
                if h > 14 || m > 59 {
                    return None;
                }
                let off = (h * 60 + m) as i32;
                dt.tz = Some(if c == b'-' { -off } else { off });
            }
            _ => {}
        }
        Some(())
    }

    /// Parses a date or date-time. `literal` accepts the FHIRPath literal forms (`2015T`,
    /// `2015-02-04T14`); otherwise a time needs hours and minutes, as in FHIR.
    fn parse_dt(s: &str, allow_time: bool, literal: bool) -> Option<Dt> {
        let mut sc = Scan {
            b: s.as_bytes(),
            i: 0,
        };
        let mut dt = Dt::empty(Kind::Date, Prec::Year);
        dt.year = sc.digits(4)? as i32;
        if sc.eat(b'-') {
            dt.month = sc.digits(2)?;
            dt.prec = Prec::Month;
            if !(1..=12).contains(&dt.month) {
                return None;
            }
            if sc.eat(b'-') {
                dt.day = sc.digits(2)?;
                dt.prec = Prec::Day;
                if dt.day < 1 || dt.day > days_in_month(dt.year, dt.month) {
                    return None;
                }
            }
        }
        if allow_time && sc.eat(b'T') {
            dt.kind = Kind::DateTime;
            if sc.peek().is_some_and(|c| c.is_ascii_digit()) {
                if dt.prec != Prec::Day {
                    return None;
                }
                Dt::scan_time(&mut sc, &mut dt)?;
                if !literal && dt.prec == Prec::Hour {
                    return None;
                }
                Dt::scan_tz(&mut sc, &mut dt)?;
            } else if !literal {
                return None;
            }
        } else if allow_time {
            dt.kind = Kind::DateTime;
        }
        sc.done().then_some(dt)
    }

    /// Parses a FHIR `date` (or the text of `toDate()`).
    pub fn parse_date(s: &str) -> Option<Dt> {
        Dt::parse_dt(s, false, false)
    }

    /// Parses a FHIR `dateTime`/`instant` (or the text of `toDateTime()`).
    pub fn parse_datetime(s: &str) -> Option<Dt> {
        Dt::parse_dt(s, true, false).or_else(|| {
            // `toDateTime()` also takes the partial literal forms such as `2015-02-04T14`.
            Dt::parse_dt(s, true, true).filter(|d| d.prec >= Prec::Hour)
        })
    }

    /// Parses a time `HH[:MM[:SS[.fff]]]`.
    pub fn parse_time(s: &str) -> Option<Dt> {
        let mut sc = Scan {
            b: s.as_bytes(),
            i: 0,
        };
        let mut dt = Dt::empty(Kind::Time, Prec::Hour);
        Dt::scan_time(&mut sc, &mut dt)?;
        sc.done().then_some(dt)
    }

    /// Parses the body of a FHIRPath literal (after `@`).
    pub fn parse_literal(s: &str) -> Option<Dt> {
        if let Some(t) = s.strip_prefix('T') {
            return Dt::parse_time(t);
        }
        let dt = Dt::parse_dt(s, true, true)?;
        if s.contains('T') {
            Some(dt)
        } else {
            Some(Dt {
                kind: Kind::Date,
                ..dt
            })
        }
    }

    fn time_text(&self) -> String {
        let mut out = format!("{:02}", self.hour);
        if self.prec >= Prec::Minute {
            out += &format!(":{:02}", self.minute);
        }
        if self.prec >= Prec::Second {
            out += &format!(":{:02}", self.second);
        }
        if self.prec >= Prec::Milli {
            out += &format!(".{:03}", self.milli);
        }
        out
    }

    fn date_text(&self) -> String {
        let mut out = format!("{:04}", self.year);
        if self.prec >= Prec::Month {
            out += &format!("-{:02}", self.month);
        }
        if self.prec >= Prec::Day {
            out += &format!("-{:02}", self.day);
        }
        out
    }

    fn tz_text(&self) -> String {
        match self.tz {
            None => String::new(),
            Some(0) => "Z".into(),
            Some(o) => format!(
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            ),
        }
    }

    /// The value as `toString()` gives it (ISO 8601, no `@`).
    pub fn to_text(self) -> String {
        match self.kind {
            Kind::Time => self.time_text(),
            Kind::Date => self.date_text(),
            Kind::DateTime if self.prec <= Prec::Day => self.date_text(),
            Kind::DateTime => format!(
                "{}T{}{}",
                self.date_text(),
                self.time_text(),
                self.tz_text()
            ),
        }
    }

    /// The value as a FHIRPath literal (`@2014-01-01`, `@T10:30`, `@2015T`).
    pub fn literal(&self) -> String {
        match self.kind {
            Kind::Time => format!("@T{}", self.time_text()),
            Kind::Date => format!("@{}", self.date_text()),
            Kind::DateTime if self.prec <= Prec::Day => format!("@{}T", self.date_text()),
            Kind::DateTime => format!("@{}", self.to_text()),
        }
    }

    /// Minutes since the epoch for the date and time parts.
    pub(crate) fn epoch_minutes(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 1440
            + self.hour as i64 * 60
            + self.minute as i64
    }

    pub(crate) fn set_epoch_minutes(&mut self, mins: i64) {
        let (y, m, d) = civil_from_days(mins.div_euclid(1440));
        let rem = mins.rem_euclid(1440);
        self.year = y;
        self.month = m;
        self.day = d;
        self.hour = (rem / 60) as u32;
        self.minute = (rem % 60) as u32;
    }

    fn to_utc(self) -> Dt {
        let mut d = self;
        if let Some(tz) = self.tz {
            d.set_epoch_minutes(self.epoch_minutes() - tz as i64);
            d.tz = Some(0);
        }
        d
    }

    fn components(&self) -> [i64; 6] {
        [
            self.year as i64,
            self.month as i64,
            self.day as i64,
            self.hour as i64,
            self.minute as i64,
            (self.second * 1000 + self.milli) as i64,
        ]
    }

    /// Seconds and milliseconds are one precision for comparison (`10:30:00 = 10:30:00.0`).
    fn cmp_prec(&self) -> Prec {
        self.prec.min(Prec::Second)
    }

    /// Compares two values; `None` when the answer depends on a component only one side has
    /// (or on a timezone only one side has). Callers must pair Time with Time only.
    pub fn compare(&self, other: &Dt) -> Option<Ordering> {
        let (pa, pb) = (self.cmp_prec(), other.cmp_prec());
        let min = pa.min(pb);
        let (mut a, mut b) = (*self, *other);
        if min >= Prec::Hour && self.kind != Kind::Time {
            match (a.tz, b.tz) {
                (Some(_), Some(_)) => {
                    a = a.to_utc();
                    b = b.to_utc();
                }
                (None, None) => {}
                _ => return None,
            }
        }
        let (ca, cb) = (a.components(), b.components());
        let (first, last) = if self.kind == Kind::Time {
            (3, min as usize)
        } else {
            (0, min as usize)
        };
        for i in first..=last {
            match ca[i].cmp(&cb[i]) {
                Ordering::Equal => {}
                o => return Some(o),
            }
        }
        (pa == pb).then_some(Ordering::Equal)
    }

    /// FHIRPath equivalence: equal precision and equal value.
    pub fn equivalent(&self, other: &Dt) -> bool {
        self.cmp_prec() == other.cmp_prec() && self.compare(other) == Some(Ordering::Equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Dt {
        Dt::parse_literal(s).unwrap()
    }

    #[test]
    fn parses_and_prints_literals() {
        for s in [
            "2015",
            "2015-02",
            "2015-02-04",
            "2015T",
            "2015-02-04T14",
            "2015-02-04T14:34:28.123Z",
            "2015-02-04T14:34:28+10:00",
            "T14:34",
        ] {
            assert_eq!(lit(s).literal(), format!("@{s}"), "{s}");
        }
        assert!(Dt::parse_literal("2015-13").is_none());
        assert!(Dt::parse_datetime("2015-02-04T14:34:28").is_some());
        assert!(Dt::parse_date("2015-02-30").is_none());
    }

    #[test]
    fn compares_with_precision() {
        let c = |a: &str, b: &str| lit(a).compare(&lit(b));
        assert_eq!(c("2012-04-15", "2012-04-15T10:00:00"), None);
        assert_eq!(c("2018-03", "2018-04-01"), Some(Ordering::Less));
        assert_eq!(c("T10:30:00", "T10:30:00.0"), Some(Ordering::Equal));
        assert_eq!(
            c("2017-11-05T01:30:00.0-04:00", "2017-11-05T00:30:00.0-05:00"),
            Some(Ordering::Equal)
        );
        assert_eq!(c("2012-04-15T15:00:00Z", "2012-04-15T10:00:00"), None);
    }
}
