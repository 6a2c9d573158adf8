//! Query strings: `application/x-www-form-urlencoded` pairs, in order, repeated keys kept.

/// Parses a query string into decoded `(name, value)` pairs.
pub fn parse(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name`.
pub fn first<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_and_keeps_repeats() {
        let q = super::parse("a=1&a=2&name=%D0%98%D0%B2%D0%B0%D0%BD+X&_format=json");
        assert_eq!(q.len(), 4);
        assert_eq!(q[2].1, "Иван X");
        assert_eq!(super::first(&q, "a"), Some("1"));
    }
}
