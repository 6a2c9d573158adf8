//! Form and query input: `application/x-www-form-urlencoded` pairs, read leniently (a
//! malformed field is simply absent) because every page checks what it needs and answers
//! with a message, never an error.

/// The fields of a form or query string, in order.
pub type Fields = Vec<(String, String)>;

/// The pairs of an urlencoded form body or query string.
pub fn parse(body: &str) -> Fields {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name`, if any.
pub fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first non-blank value of `name`, trimmed.
pub fn filled<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    first(pairs, name).map(str::trim).filter(|v| !v.is_empty())
}

/// Encodes one query-string value.
pub fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Whether `id` is a valid FHIR id (so it can be put in a path).
pub fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whether `d` is a calendar date `YYYY-MM-DD`.
pub fn is_date(d: &str) -> bool {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() && d.len() == 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_leniently() {
        let f = parse("a=1&b=%D0%B4%D0%B0&c=+x+&a=2&bad=%ZZ");
        assert_eq!(first(&f, "a"), Some("1"));
        assert_eq!(first(&f, "b"), Some("да"));
        assert_eq!(filled(&f, "c"), Some("x"));
        assert_eq!(filled(&f, "missing"), None);
        assert_eq!(enc("a b&c"), "a+b%26c");
    }

    #[test]
    fn ids_and_dates() {
        assert!(is_id("p-1.2"));
        assert!(!is_id("p/1"));
        assert!(!is_id(""));
        assert!(is_date("2026-12-01"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("01.12.2026"));
    }
}
