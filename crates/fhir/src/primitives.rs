//! Formats of the R4 primitive datatypes. Hand-written rather than regex-driven: the checks run on
//! every primitive of every write, and plain byte scans are an order of magnitude cheaper than
//! compiling and running the spec's regexes, while following them exactly.

use serde_json::Value;

/// Checks the JSON value of a primitive of type `code`. Returns a message on failure.
pub fn check(code: &str, v: &Value) -> Result<(), String> {
    match code {
        "boolean" => match v {
            Value::Bool(_) => Ok(()),
            _ => Err(format!(
                "expected a JSON boolean for boolean, found {}",
                kind(v)
            )),
        },
        "integer" | "positiveInt" | "unsignedInt" => check_integer(code, v),
        "decimal" => match v {
            Value::Number(n) => match n.to_string().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(()),
                _ => Err(format!("decimal out of range: {n}")),
            },
            _ => Err(format!(
                "expected a JSON number for decimal, found {}",
                kind(v)
            )),
        },
        _ => {
            let Value::String(s) = v else {
                return Err(format!(
                    "expected a JSON string for {code}, found {}",
                    kind(v)
                ));
            };
            check_string(code, s)
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_integer(code: &str, v: &Value) -> Result<(), String> {
    let Value::Number(n) = v else {
        return Err(format!(
            "expected a JSON number for {code}, found {}",
            kind(v)
        ));
    };
    let text = n.to_string();
    let Ok(i) = text.parse::<i64>() else {
        return Err(format!("{code} must be a whole number, found {text}"));
    };
    let (lo, hi) = match code {
        "positiveInt" => (1, i32::MAX as i64),
        "unsignedInt" => (0, i32::MAX as i64),
        _ => (i32::MIN as i64, i32::MAX as i64),
    };
    if i < lo || i > hi {
        return Err(format!("{code} out of range ({lo}..={hi}): {i}"));
    }
    Ok(())
}

/// Checks the lexical form of a string-valued primitive.
pub fn check_string(code: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{code} must not be empty"));
    }
    let ok = match code {
        // `[ \r\n\t\S]+`: any non-empty text.
        "string" | "markdown" => true,
        "code" => is_code(s),
        "id" => is_id(s),
        "uri" | "url" | "canonical" => !s.chars().any(char::is_whitespace),
        "oid" => is_oid(s),
        "uuid" => is_uuid(s),
        "base64Binary" => is_base64(s),
        "date" => is_date(s),
        "dateTime" => is_datetime(s),
        "instant" => is_instant(s),
        "time" => is_time(s),
        "xhtml" => s.trim_start().starts_with("<div") && s.trim_end().ends_with('>'),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {code}: {}", shorten(s)))
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("'{}...'", s.chars().take(60).collect::<String>())
    } else {
        format!("'{s}'")
    }
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or double whitespace.
fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    !b[0].is_ascii_whitespace()
        && !b[b.len() - 1].is_ascii_whitespace()
        && !s.contains("  ")
        && !s.contains(['\t', '\n', '\r'])
}

/// `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut parts = rest.split('.');
    let first_ok = matches!(parts.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = parts.all(|p| {
        count += 1;
        !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    });
    first_ok && rest_ok && count >= 1
}

fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_base64(s: &str) -> bool {
    // R4 allows whitespace inside base64 (`(\s*([0-9a-zA-Z\+\=]){4}\s*)+`), and '/' is base64.
    let mut n = 0usize;
    for c in s.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=') {
            return false;
        }
        n += 1;
    }
    n.is_multiple_of(4)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(slice.iter().fold(0, |acc, c| acc * 10 + (c - b'0') as u32))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` at the start; returns the length consumed.
fn date_prefix(b: &[u8]) -> Option<usize> {
    let year = digits(b, 0, 4)?;
    if b.len() == 4 || b[4] != b'-' {
        return Some(4);
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.len() == 7 || b[7] != b'-' {
        return Some(7);
    }
    let day = digits(b, 8, 2)?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(10)
}

fn is_date(s: &str) -> bool {
    date_prefix(s.as_bytes()) == Some(s.len())
}

/// `hh:mm:ss(.fraction)?`; returns the length consumed.
fn time_part(b: &[u8]) -> Option<usize> {
    let h = digits(b, 0, 2)?;
    let m = (b.get(2) == Some(&b':')).then(|| digits(b, 3, 2))??;
    let sec = (b.get(5) == Some(&b':')).then(|| digits(b, 6, 2))??;
    // 24:00:00 is not allowed in R4; leap second 60 is.
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut i = 8;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

fn zone(b: &[u8]) -> bool {
    match b {
        [b'Z'] => true,
        [b'+' | b'-', ..] if b.len() == 6 => {
            let hh = digits(b, 1, 2);
            let mm = digits(b, 4, 2);
            b[3] == b':' && matches!(hh, Some(0..=14)) && matches!(mm, Some(0..=59))
        }
        _ => false,
    }
}

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(d) = date_prefix(b) else {
        return false;
    };
    if d == b.len() {
        return true;
    }
    // A time requires a full date and a zone.
    if d != 10 || b[10] != b'T' {
        return false;
    }
    let Some(t) = time_part(&b[11..]) else {
        return false;
    };
    zone(&b[11 + t..])
}

fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    date_prefix(b) == Some(10) && b.len() > 11 && b[10] == b'T' && {
        match time_part(&b[11..]) {
            Some(t) => zone(&b[11 + t..]),
            None => false,
        }
    }
}

fn is_time(s: &str) -> bool {
    time_part(s.as_bytes()) == Some(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_and_times() {
        for ok in ["2024", "2024-02", "2024-02-29", "2023-12-31"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "2024-13",
            "24",
            "2024-1-01",
            "2024-01-01T10:00:00Z",
            "",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        for ok in [
            "2024",
            "2024-01-01",
            "2024-01-01T10:00:00Z",
            "2024-01-01T10:00:00.123+03:00",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "2024-01-01T10:00:00",
            "2024-01-01T25:00:00Z",
            "2024-01T10:00:00Z",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
        assert!(is_instant("2024-01-01T10:00:00.5Z"));
        assert!(!is_instant("2024-01-01"));
        assert!(is_time("23:59:59.25"));
        assert!(!is_time("24:00:00"));
    }

    #[test]
    fn numbers_and_strings() {
        assert!(check("integer", &json!(5)).is_ok());
        assert!(check("integer", &json!(5.5)).is_err());
        assert!(check("integer", &json!("5")).is_err());
        assert!(check("integer", &json!(3_000_000_000i64)).is_err());
        assert!(check("positiveInt", &json!(0)).is_err());
        assert!(check("unsignedInt", &json!(0)).is_ok());
        assert!(check("decimal", &json!(1.50)).is_ok());
        assert!(check("boolean", &json!("true")).is_err());
        assert!(check("id", &json!("a.b-1")).is_ok());
        assert!(check("id", &json!("a_b")).is_err());
        assert!(check("code", &json!(" x")).is_err());
        assert!(check("string", &json!("")).is_err());
        assert!(check("oid", &json!("urn:oid:1.2.643.5.1.13")).is_ok());
        assert!(check("oid", &json!("urn:oid:1.02")).is_err());
        assert!(check(
            "uuid",
            &json!("urn:uuid:a3fb8482-4839-4699-8034-cee2c7ee2b84")
        )
        .is_ok());
        assert!(check("base64Binary", &json!("aGVsbG8=")).is_ok());
        assert!(check("base64Binary", &json!("aGVsbG8")).is_err());
        assert!(check("uri", &json!("http://x y")).is_err());
    }
}
