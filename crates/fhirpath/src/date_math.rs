//! Date arithmetic with calendar units, and the precision functions (`lowBoundary`,
//! `highBoundary`, `precision`) on dates and times.

use crate::dates::{civil_from_days, days_from_civil, days_in_month, CalUnit, Dt, Kind, Prec};

impl Dt {
    fn clamp_day(&mut self) {
        self.day = self.day.min(days_in_month(self.year, self.month));
    }

    /// Adds `n` calendar units (already truncated to a whole number), keeping the precision.
    pub fn add(&self, n: i64, unit: CalUnit) -> Option<Dt> {
        let mut d = *self;
        let ms_per = |u: CalUnit| -> i64 {
            match u {
                CalUnit::Week => 604_800_000,
                CalUnit::Day => 86_400_000,
                CalUnit::Hour => 3_600_000,
                CalUnit::Minute => 60_000,
                CalUnit::Second => 1000,
                _ => 1,
            }
        };
        if d.kind == Kind::Time {
            if matches!(
                unit,
                CalUnit::Year | CalUnit::Month | CalUnit::Week | CalUnit::Day
            ) {
                return None;
            }
            let day_ms = 86_400_000i64;
            let cur = (d.hour as i64 * 3600 + d.minute as i64 * 60 + d.second as i64) * 1000
                + d.milli as i64;
            let t = cur
                .checked_add(n.checked_mul(ms_per(unit))?)?
                .rem_euclid(day_ms);
            d.hour = (t / 3_600_000) as u32;
            d.minute = (t / 60_000 % 60) as u32;
            d.second = (t / 1000 % 60) as u32;
            d.milli = (t % 1000) as u32;
            return Some(d);
        }
        match unit {
            CalUnit::Year => {
                d.year = i32::try_from((d.year as i64).checked_add(n)?).ok()?;
                d.clamp_day();
            }
            CalUnit::Month => {
                let total = (d.year as i64 * 12 + d.month as i64 - 1).checked_add(n)?;
                d.year = i32::try_from(total.div_euclid(12)).ok()?;
                d.month = (total.rem_euclid(12) + 1) as u32;
                d.clamp_day();
            }
            _ => {
                let ms = n.checked_mul(ms_per(unit))?;
                if d.prec <= Prec::Day {
                    // A date moves by whole days only.
                    let days = ms / 86_400_000;
                    if d.prec == Prec::Day {
                        let (y, m, dd) =
                            civil_from_days(days_from_civil(d.year, d.month, d.day) + days);
                        d.year = y;
                        d.month = m;
                        d.day = dd;
                    }
                } else {
                    let cur = d.epoch_minutes() * 60_000 + d.second as i64 * 1000 + d.milli as i64;
                    let t = cur.checked_add(ms)?;
                    d.set_epoch_minutes(t.div_euclid(60_000));
                    let rem = t.rem_euclid(60_000);
                    d.second = (rem / 1000) as u32;
                    d.milli = (rem % 1000) as u32;
                }
            }
        }
        (0..=9999).contains(&d.year).then_some(d)
    }

    /// The number of digits of precision (`@2014` is 4, `@T10:30` is 4, milliseconds 17 or 9).
    pub fn precision_digits(&self) -> i64 {
        let p = match self.prec {
            Prec::Year => 4,
            Prec::Month => 6,
            Prec::Day => 8,
            Prec::Hour => 10,
            Prec::Minute => 12,
            Prec::Second => 14,
            Prec::Milli => 17,
        };
        if self.kind == Kind::Time {
            p - 8
        } else {
            p
        }
    }

    /// `lowBoundary`/`highBoundary`: the earliest or latest value the partial value can stand
    /// for, at `digits` of precision.
    pub fn boundary(&self, digits: Option<i64>, high: bool) -> Option<Dt> {
        let time = self.kind == Kind::Time;
        let digits = digits.unwrap_or(match self.kind {
            Kind::Date => 8,
            Kind::DateTime => 17,
            Kind::Time => 9,
        });
        let target = match (time, digits) {
            (false, 4) => Prec::Year,
            (false, 6) => Prec::Month,
            (false, 8) => Prec::Day,
            (false, 10) if self.kind == Kind::DateTime => Prec::Hour,
            (false, 12) if self.kind == Kind::DateTime => Prec::Minute,
            (false, 14) if self.kind == Kind::DateTime => Prec::Second,
            (false, 17) if self.kind == Kind::DateTime => Prec::Milli,
            (true, 2) => Prec::Hour,
            (true, 4) => Prec::Minute,
            (true, 6) => Prec::Second,
            (true, 9) => Prec::Milli,
            _ => return None,
        };
        let mut d = *self;
        // An hour without minutes is not a FHIR time: read `T08` as `T08:00`.
        if d.prec == Prec::Hour {
            d.prec = Prec::Minute;
        }
        if d.prec < Prec::Month {
            d.month = if high { 12 } else { 1 };
        }
        if d.prec < Prec::Day {
            d.day = if high {
                days_in_month(d.year, d.month)
            } else {
                1
            };
        }
        if d.prec < Prec::Hour {
            d.hour = if high { 23 } else { 0 };
        }
        if d.prec < Prec::Minute {
            d.minute = if high { 59 } else { 0 };
        }
        if d.prec < Prec::Second {
            d.second = if high { 59 } else { 0 };
        }
        if d.prec < Prec::Milli {
            d.milli = if high { 999 } else { 0 };
        }
        if !time && target >= Prec::Hour && d.tz.is_none() {
            d.tz = Some(if high { -12 * 60 } else { 14 * 60 });
        }
        d.prec = target;
        if !time && target <= Prec::Day {
            d.kind = Kind::Date;
            d.tz = None;
        }
        Some(d)
    }

    /// The current local date and time.
    pub fn now() -> Dt {
        use chrono::{Datelike, Timelike};
        let n = chrono::Local::now();
        Dt {
            kind: Kind::DateTime,
            prec: Prec::Milli,
            year: n.year(),
            month: n.month(),
            day: n.day(),
            hour: n.hour(),
            minute: n.minute(),
            second: n.second().min(59),
            milli: n.timestamp_subsec_millis().min(999),
            tz: Some(n.offset().local_minus_utc() / 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Dt {
        Dt::parse_literal(s).unwrap()
    }

    #[test]
    fn adds_calendar_units() {
        let a = |s: &str, n, u| lit(s).add(n, u).unwrap().literal();
        assert_eq!(a("1973-12-25", 1, CalUnit::Month), "@1974-01-25");
        assert_eq!(a("2020-01-31", 1, CalUnit::Month), "@2020-02-29");
        assert_eq!(a("1973-12-25", 7, CalUnit::Day), "@1974-01-01");
        assert_eq!(
            a("1973-12-25T00:00:00.000+10:00", 10, CalUnit::Milli),
            "@1973-12-25T00:00:00.010+10:00"
        );
        assert_eq!(a("1974-12-25", -1, CalUnit::Month), "@1974-11-25");
    }
}
