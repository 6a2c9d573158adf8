//! Conversion of one selected element (its JSON and FHIR type) into index values, by parameter
//! type, following the R4 search page's table of which types each parameter type indexes.

use crate::datetime::date_range;
use crate::model::{IndexValue, ParamType};
use crate::text::normalize;
use crate::ucum;
use serde_json::Value;

/// The UCUM code system.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The ISO 4217 currency code system (Money.currency as a quantity code).
pub const ISO4217: &str = "urn:iso:std:iso:4217";

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The strings of a property that may hold one string or an array of them.
fn strs<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    let val = v.get(key);
    let one = val.and_then(Value::as_str);
    let many = val.and_then(Value::as_array).into_iter().flatten();
    one.into_iter()
        .chain(many.filter_map(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// The text of a JSON number as written (decimal precision survives parsing).
fn number_text(v: &Value) -> Option<&str> {
    match v {
        Value::Number(n) => Some(n.as_str()),
        _ => None,
    }
}

/// A number's value and implicit range `[low, high)` from its written precision: `100` is
/// [99.5, 100.5), `1.5` is [1.45, 1.55), `1e2` is [50, 150).
pub fn number_range(text: &str) -> Option<(f64, f64, f64)> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite())?;
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
    let decimals = i32::try_from(decimals).unwrap_or(i32::MAX);
    let half = 0.5 * 10f64.powi(exp.saturating_sub(decimals));
    Some((value, value - half, value + half))
}

/// Converts one element to the index values of a parameter of type `ptype`, appending to `out`.
/// `fhir_type` is the element's type (the concrete type for choice elements). Elements a
/// parameter type cannot index are skipped.
pub fn to_index_values(
    ptype: ParamType,
    value: &Value,
    fhir_type: &str,
    out: &mut Vec<IndexValue>,
) {
    match ptype {
        ParamType::String => string_values(value, fhir_type, out),
        ParamType::Token => token_values(value, fhir_type, out),
        ParamType::Date => out.extend(date_value(value, fhir_type)),
        ParamType::Number => {
            let range = number_text(value).and_then(number_range);
            out.extend(range.map(|(value, low, high)| IndexValue::Number { value, low, high }));
        }
        ParamType::Quantity => out.extend(quantity_value(value, fhir_type)),
        ParamType::Reference => out.extend(reference_value(value, fhir_type)),
        ParamType::Uri => {
            if let Some(s) = value.as_str().filter(|s| !s.is_empty()) {
                out.push(IndexValue::Uri { uri: s.to_string() });
            }
        }
        ParamType::Composite | ParamType::Special => {}
    }
}

fn push_string(s: &str, out: &mut Vec<IndexValue>) {
    let norm = normalize(s);
    if !norm.is_empty() {
        out.push(IndexValue::String {
            norm,
            exact: s.to_string(),
        });
    }
}

fn string_values(v: &Value, fhir_type: &str, out: &mut Vec<IndexValue>) {
    let keys: &[&str] = match fhir_type {
        "HumanName" => &["family", "given", "prefix", "suffix", "text"],
        "Address" => &[
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "text",
        ],
        "CodeableConcept" => &["text"],
        "Coding" => &["display"],
        "Identifier" | "ContactPoint" => &["value"],
        "Annotation" => &["text"],
        _ => {
            if let Some(s) = v.as_str() {
                push_string(s, out);
            }
            return;
        }
    };
    for key in keys {
        for s in strs(v, key) {
            push_string(s, out);
        }
    }
    if fhir_type == "CodeableConcept" {
        for c in v
            .get("coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            string_values(c, "Coding", out);
        }
    }
}

fn token(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_string),
        code: code.map(str::to_string),
        text: text.map(normalize).filter(|t| !t.is_empty()),
        type_system: None,
        type_code: None,
    }
}

fn token_values(v: &Value, fhir_type: &str, out: &mut Vec<IndexValue>) {
    match fhir_type {
        "Coding" => {
            let (system, code, display) =
                (str_of(v, "system"), str_of(v, "code"), str_of(v, "display"));
            if system.is_some() || code.is_some() || display.is_some() {
                out.push(token(system, code, display));
            }
        }
        "CodeableConcept" => {
            for c in v
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                token_values(c, "Coding", out);
            }
            if let Some(text) = str_of(v, "text") {
                out.push(token(None, None, Some(text)));
            }
        }
        "Identifier" => {
            let ty = v.get("type");
            let first = ty
                .and_then(|t| t.get("coding"))
                .and_then(Value::as_array)
                .and_then(|c| c.first());
            let (system, value) = (str_of(v, "system"), str_of(v, "value"));
            if system.is_none() && value.is_none() {
                return;
            }
            out.push(IndexValue::Token {
                system: system.map(str::to_string),
                code: value.map(str::to_string),
                text: ty
                    .and_then(|t| str_of(t, "text"))
                    .map(normalize)
                    .filter(|t| !t.is_empty()),
                type_system: first.and_then(|c| str_of(c, "system")).map(str::to_string),
                type_code: first.and_then(|c| str_of(c, "code")).map(str::to_string),
            });
        }
        // R4: a ContactPoint token has no system; ContactPoint.system (phone, email) is not a
        // code system.
        "ContactPoint" => {
            if let Some(value) = str_of(v, "value") {
                out.push(token(None, Some(value), None));
            }
        }
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity"
        | "MoneyQuantity" => {
            let code = str_of(v, "code").or_else(|| str_of(v, "unit"));
            if code.is_some() {
                out.push(token(str_of(v, "system"), code, None));
            }
        }
        _ => match v {
            Value::Bool(b) => out.push(token(None, Some(if *b { "true" } else { "false" }), None)),
            Value::String(s) if !s.is_empty() => out.push(token(None, Some(s), None)),
            Value::Number(n) => out.push(token(None, Some(n.as_str()), None)),
            _ => {}
        },
    }
}

fn date_value(v: &Value, fhir_type: &str) -> Option<IndexValue> {
    let (low, high) = match fhir_type {
        "Period" => {
            let low = match str_of(v, "start") {
                Some(s) => date_range(s)?.0,
                None => i64::MIN,
            };
            let high = match str_of(v, "end") {
                Some(s) => date_range(s)?.1,
                None => i64::MAX,
            };
            if low == i64::MIN && high == i64::MAX {
                return None;
            }
            (low, high)
        }
        "Timing" => {
            let ranges = strs(v, "event").filter_map(date_range);
            let span = ranges.fold(None, |acc: Option<(i64, i64)>, (l, h)| {
                Some(acc.map_or((l, h), |(al, ah)| (al.min(l), ah.max(h))))
            });
            match span {
                Some(s) => s,
                None => {
                    let bounds = v.get("repeat").and_then(|r| r.get("boundsPeriod"))?;
                    return date_value(bounds, "Period");
                }
            }
        }
        _ => date_range(v.as_str()?)?,
    };
    Some(IndexValue::Date { low, high })
}

/// A quantity index value: value with its implicit range, system, code (or unit), and the UCUM
/// canonical form when the system is UCUM and the unit converts.
pub fn quantity(text: &str, system: Option<&str>, code: Option<&str>) -> Option<IndexValue> {
    let (value, low, high) = number_range(text)?;
    let canonical = match (system, code) {
        (Some(UCUM), Some(c)) => ucum::canonical(value, c),
        _ => None,
    };
    let (canonical_value, canonical_code) = canonical.unzip();
    Some(IndexValue::Quantity {
        value,
        low,
        high,
        system: system.map(str::to_string),
        code: code.map(str::to_string),
        canonical_value,
        canonical_code,
    })
}

fn quantity_value(v: &Value, fhir_type: &str) -> Option<IndexValue> {
    match fhir_type {
        "Money" => quantity(
            number_text(v.get("value")?)?,
            Some(ISO4217),
            str_of(v, "currency"),
        ),
        // A Range is indexed as its bounds (an open bound is unbounded); its value is the low
        // bound, or the high one when there is no low.
        "Range" => {
            let bound = |k: &str| {
                let b = v.get(k)?;
                Some((b, number_text(b.get("value")?)?.parse::<f64>().ok()?))
            };
            let (lo, hi) = (bound("low"), bound("high"));
            let (first, value) = lo.or(hi)?;
            Some(IndexValue::Quantity {
                value,
                low: lo.map_or(f64::MIN, |l| l.1),
                high: hi.map_or(f64::MAX, |h| h.1),
                system: str_of(first, "system").map(str::to_string),
                code: str_of(first, "code")
                    .or_else(|| str_of(first, "unit"))
                    .map(str::to_string),
                canonical_value: None,
                canonical_code: None,
            })
        }
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity"
        | "MoneyQuantity" => {
            let code = str_of(v, "code").or_else(|| str_of(v, "unit"));
            quantity(number_text(v.get("value")?)?, str_of(v, "system"), code)
        }
        _ => None,
    }
}

/// The parts of a reference string.
#[derive(Debug, Default, PartialEq)]
pub struct RefParts {
    /// Resource type of a `Type/id` reference (relative or at the end of an absolute URL).
    pub target_type: Option<String>,
    /// Resource id.
    pub target_id: Option<String>,
    /// Version from `/_history/v` or a canonical's `|version`.
    pub version: Option<String>,
    /// The absolute URL (or canonical without its version).
    pub url: Option<String>,
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `[.../]Type/id[/_history/v]` at the end of `segs`.
fn type_id(segs: &[&str]) -> Option<(String, String, Option<String>)> {
    let (segs, version) = match segs {
        [head @ .., "_history", v] if segs.len() >= 4 && is_id(v) => (head, Some(v.to_string())),
        _ => (segs, None),
    };
    match segs {
        [.., t, id] if zdrav_fhir::r4().is_resource_type(t) && is_id(id) => {
            Some((t.to_string(), id.to_string(), version))
        }
        _ => None,
    }
}

/// Splits a reference: `Patient/1` and `Patient/1/_history/2` are local; an absolute URL or URN
/// is kept as `url` (plus type/id/version when it ends in `Type/id[/_history/v]`); a canonical
/// `url|version` is split. `None` for contained (`#x`) and empty references.
pub fn parse_reference(s: &str) -> Option<RefParts> {
    let s = s.trim();
    if s.is_empty() || s.starts_with('#') {
        return None;
    }
    let absolute = s.contains("://") || s.starts_with("urn:");
    if absolute {
        let (url, version) = match s.split_once('|') {
            Some((u, v)) => (u, Some(v.to_string())),
            None => (s, None),
        };
        let segs: Vec<&str> = url.split('/').collect();
        let tid = if url.starts_with("urn:") {
            None
        } else {
            type_id(&segs)
        };
        let (target_type, target_id, v2) =
            tid.map_or((None, None, None), |(t, i, v)| (Some(t), Some(i), v));
        // The version lives in `version`, so `.../Patient/1/_history/2` matches `.../Patient/1`.
        let url = match &v2 {
            Some(v) => url
                .strip_suffix(v.as_str())
                .and_then(|u| u.strip_suffix("/_history/"))
                .unwrap_or(url),
            None => url,
        };
        return Some(RefParts {
            target_type,
            target_id,
            version: version.or(v2),
            url: Some(url.to_string()),
        });
    }
    let segs: Vec<&str> = s.split('/').collect();
    match type_id(&segs) {
        Some((t, id, version)) if segs.len() == 2 || segs.len() == 4 => Some(RefParts {
            target_type: Some(t),
            target_id: Some(id),
            version,
            url: None,
        }),
        _ => Some(RefParts {
            url: Some(s.to_string()),
            ..RefParts::default()
        }),
    }
}

fn reference_value(v: &Value, fhir_type: &str) -> Option<IndexValue> {
    let (parts, ident) = match fhir_type {
        "Reference" => {
            let parts = str_of(v, "reference").and_then(parse_reference);
            let ident = v.get("identifier").and_then(|i| {
                str_of(i, "value")
                    .map(|val| (str_of(i, "system").map(str::to_string), val.to_string()))
            });
            if parts.is_none() && ident.is_none() {
                return None;
            }
            (parts.unwrap_or_default(), ident)
        }
        "canonical" | "uri" | "url" | "uuid" | "oid" => (parse_reference(v.as_str()?)?, None),
        _ => return None,
    };
    let (identifier_system, identifier_value) = ident.unzip();
    Some(IndexValue::Reference {
        target_type: parts.target_type,
        target_id: parts.target_id,
        version: parts.version,
        url: parts.url,
        identifier_system: identifier_system.flatten(),
        identifier_value,
    })
}

#[cfg(test)]
mod tests;
