//! Schedule templates for appointment booking, without storage or HTTP: a practitioner's
//! working pattern — a period, working hours per weekday, a slot length, breaks and days off —
//! arrives as a FHIR Parameters resource, [`Template::from_parameters`] checks and reads it, and
//! [`generate`] lays out the slot times from which the server creates FHIR `Slot` resources for
//! the Russian appointment-booking service (запись на приём). Russian public holidays are
//! skipped by default ([`is_ru_holiday`]); times carry a fixed UTC offset, Moscow's by default,
//! because Russia keeps no daylight saving time.

#![warn(missing_docs)]

mod generate;
mod holidays;
mod template;
mod text;

use std::collections::BTreeSet;
use std::fmt;

use chrono::{FixedOffset, NaiveDate, NaiveTime};

pub use generate::generate;
pub use holidays::is_ru_holiday;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
    /// Working intervals per weekday, Monday = 0, sorted and not overlapping.
    pub days: [Vec<(NaiveTime, NaiveTime)>; 7],
    /// Length of every slot, in minutes.
    pub slot_minutes: u32,
    /// Times of day no slot may overlap, on every day.
    pub breaks: Vec<(NaiveTime, NaiveTime)>,
    /// Explicit extra days off.
    pub holidays: BTreeSet<NaiveDate>,
    /// Whether to observe Russian public holidays (default true).
    pub ru_holidays: bool,
    /// The UTC offset of the times (default +03:00, Moscow).
    pub offset: FixedOffset,
    /// Whether the slots are bookable competitively, i.e. by several channels at once (default true).
    pub competitive: bool,
}

/// Why a template is refused: `at` is the FHIRPath-ish location, `message` a human sentence in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where: e.g. `Parameters.parameter[3].valueString`, or the parameter name when it is missing.
    pub at: String,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl Invalid {
    fn new(at: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            at: at.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for Invalid {}

/// One generated slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTime {
    /// The start as a FHIR instant with the template's offset, e.g. `2026-12-01T08:00:00+03:00`.
    pub start: String,
    /// The end as a FHIR instant with the template's offset.
    pub end: String,
    /// `YYYYMMDDHHMM` of the local start, unique within the template and usable in a resource id.
    pub key: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    /// A Parameters resource from (name, value type, value) triples.
    pub(crate) fn parameters(items: &[(&str, &str, Value)]) -> Value {
        let list: Vec<Value> = items
            .iter()
            .map(|(name, key, value)| {
                let mut p = serde_json::Map::new();
                p.insert("name".into(), json!(name));
                p.insert((*key).into(), value.clone());
                Value::Object(p)
            })
            .collect();
        json!({"resourceType": "Parameters", "parameter": list})
    }

    #[test]
    fn invalid_displays_where_and_what() {
        let e = crate::Invalid::new("start", "the required parameter 'start' is missing");
        assert_eq!(
            e.to_string(),
            "start: the required parameter 'start' is missing"
        );
    }
}
