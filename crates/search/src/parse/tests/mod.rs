//! Parser tests: value forms in `values`, request structure in `request`.

use super::*;

mod request;
mod values;

fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

fn lenient(rtype: &str, query: &str) -> ParsedSearch {
    parse_query(Some(rtype), &pairs(query), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn strict(rtype: &str, query: &str) -> Result<ParsedSearch, SearchError> {
    let opts = ParseOptions {
        strict: true,
        ..ParseOptions::default()
    };
    parse_query(Some(rtype), &pairs(query), &opts)
}

fn err(rtype: &str, query: &str) -> String {
    match parse_query(Some(rtype), &pairs(query), &ParseOptions::default()) {
        Ok(p) => panic!("{query} should fail, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

fn cond(rtype: &str, query: &str) -> Condition {
    let p = lenient(rtype, query);
    assert!(p.ignored.is_empty(), "{query}: {:?}", p.ignored);
    assert_eq!(p.query.conditions.len(), 1, "{query}");
    p.query.conditions[0].clone()
}

fn values(c: &Condition) -> (&str, &Modifier, &[SearchValue]) {
    match c {
        Condition::Param {
            param,
            modifier,
            values,
            ..
        } => (param, modifier, values),
        other => panic!("not a param condition: {other:?}"),
    }
}

fn tok(system: Option<Option<&str>>, code: Option<&str>) -> SearchValue {
    SearchValue::Token {
        system: system.map(|s| s.map(Into::into)),
        code: code.map(Into::into),
        type_system: None,
        type_code: None,
    }
}

fn reference(t: Option<&str>, id: Option<&str>, v: Option<&str>, url: Option<&str>) -> SearchValue {
    SearchValue::Reference {
        target_type: t.map(Into::into),
        target_id: id.map(Into::into),
        version: v.map(Into::into),
        url: url.map(Into::into),
        identifier: None,
    }
}
