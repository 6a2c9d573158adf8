//! The Russian non-working public holidays.

use chrono::{Datelike, NaiveDate};

/// (month, day) of each non-working public holiday in Labour Code art. 112 part 1.
const FIXED: [(u32, u32); 14] = [
    (1, 1),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (2, 23),
    (3, 8),
    (5, 1),
    (5, 9),
    (6, 12),
    (11, 4),
];

/// Whether `d` is a non-working public holiday in Russia (Labour Code art. 112).
///
/// Only the fixed dates of art. 112 part 1 are known here: 1–8 January, 23 February, 8 March,
/// 1 May, 9 May, 12 June and 4 November. The days off that move each year — a holiday falling
/// on a weekend carried to the next working day, and the transfers of the yearly government
/// decree — are not modelled, because they are only known once the decree is published; callers
/// give them to the template as explicit `holiday` dates.
pub fn is_ru_holiday(d: NaiveDate) -> bool {
    FIXED.contains(&(d.month(), d.day()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    #[test]
    fn the_fixed_holidays_and_nothing_else() {
        for d in 1..=8 {
            assert!(is_ru_holiday(date(2027, 1, d)), "January {d}");
        }
        assert!(!is_ru_holiday(date(2027, 1, 9)));
        assert!(!is_ru_holiday(date(2026, 12, 31)));
        for (m, d) in [(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)] {
            assert!(is_ru_holiday(date(2026, m, d)), "{m}-{d}");
            assert!(
                !is_ru_holiday(date(2026, m, d + 1)),
                "{m}-{} is a working day",
                d + 1
            );
        }
        // A leap day is an ordinary day; the table must not be off by one around it.
        assert!(!is_ru_holiday(date(2028, 2, 29)));
        let all = date(2026, 1, 1)
            .iter_days()
            .take_while(|d| *d <= date(2026, 12, 31))
            .filter(|d| is_ru_holiday(*d))
            .count();
        assert_eq!(all, 14);
    }
}
