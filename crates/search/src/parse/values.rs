//! Parsing of search values by parameter type: prefixes, escapes, implicit ranges, token and
//! reference forms.

use super::SearchError;
use crate::convert::{number_range, parse_reference, UCUM};
use crate::datetime::date_range;
use crate::model::{Modifier, ParamType, Prefix, SearchValue};
use crate::text::normalize;
use crate::ucum;

/// Splits `s` on `sep` where it is not escaped by a backslash; the parts keep their escapes.
pub(crate) fn split_escaped(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// Removes the search escapes `\,` `\$` `\|` `\\`; other backslashes are literal.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if matches!(n, ',' | '$' | '|' | '\\') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

fn invalid(param: &str, value: &str, reason: impl Into<String>) -> SearchError {
    SearchError::InvalidValue {
        param: param.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Splits a leading comparison prefix off a number, date or quantity value.
fn prefix(v: &str) -> (Prefix, &str) {
    let p = match v.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, v),
    };
    (p, &v[2..])
}

/// A decimal in the FHIR/JSON lexical form (no `inf`, `nan` or hex that `f64` would accept).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exp_ok
}

fn number(param: &str, raw: &str, text: &str) -> Result<(f64, f64, f64), SearchError> {
    if !is_decimal(text) {
        return Err(invalid(param, raw, "not a number"));
    }
    number_range(text).ok_or_else(|| invalid(param, raw, "number out of range"))
}

const DATE_FORMS: &str =
    "not a date (expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm])";

/// Parses one (comma-separated) alternative of a parameter of type `ptype` with `modifier`.
/// `targets` are the allowed target types of a reference parameter (empty: any).
pub(crate) fn parse_value(
    param: &str,
    ptype: ParamType,
    modifier: &Modifier,
    targets: &[String],
    raw: &str,
) -> Result<SearchValue, SearchError> {
    if *modifier == Modifier::Missing {
        return match raw {
            "true" => Ok(SearchValue::Missing(true)),
            "false" => Ok(SearchValue::Missing(false)),
            _ => Err(invalid(param, raw, ":missing takes true or false")),
        };
    }
    match ptype {
        ParamType::Number => {
            let (prefix, text) = prefix(raw);
            let (value, low, high) = number(param, raw, text)?;
            Ok(SearchValue::Number {
                prefix,
                value,
                low,
                high,
            })
        }
        ParamType::Date => {
            let (prefix, text) = prefix(raw);
            let (low, high) = date_range(text).ok_or_else(|| invalid(param, raw, DATE_FORMS))?;
            Ok(SearchValue::Date { prefix, low, high })
        }
        ParamType::String => {
            let text = unescape(raw);
            Ok(SearchValue::String(if *modifier == Modifier::Exact {
                text
            } else {
                normalize(&text)
            }))
        }
        ParamType::Token => token(param, modifier, raw),
        ParamType::Reference => reference(param, modifier, targets, raw),
        ParamType::Quantity => quantity(param, raw),
        ParamType::Uri => Ok(SearchValue::Uri(unescape(raw))),
        ParamType::Composite | ParamType::Special => Err(invalid(
            param,
            raw,
            "composite values are parsed per component",
        )),
    }
}

fn token(param: &str, modifier: &Modifier, raw: &str) -> Result<SearchValue, SearchError> {
    let opt = |s: &str| (!s.is_empty()).then(|| unescape(s));
    match modifier {
        Modifier::Text => Ok(SearchValue::Token {
            system: None,
            code: Some(normalize(&unescape(raw))),
            type_system: None,
            type_code: None,
        }),
        Modifier::OfType => match split_escaped(raw, '|')[..] {
            [ts, tc, v] if !tc.is_empty() && !v.is_empty() => Ok(SearchValue::Token {
                system: None,
                code: opt(v),
                type_system: opt(ts),
                type_code: opt(tc),
            }),
            _ => Err(invalid(
                param,
                raw,
                ":of-type takes type-system|type-code|value, with a type code and a value",
            )),
        },
        _ => match split_escaped(raw, '|')[..] {
            [code] => Ok(SearchValue::Token {
                system: None,
                code: opt(code),
                type_system: None,
                type_code: None,
            }),
            ["", ""] => Err(invalid(param, raw, "neither a system nor a code")),
            [system, code] => Ok(SearchValue::Token {
                system: Some(opt(system)),
                // A Russian identifier is stored normalised (a СНИЛС as XXX-XXX-XXX YY), so the
                // searched value is too: either written form finds it.
                code: opt(code).map(
                    |c| match zdrav_ru::check_identifier(&unescape(system), &c) {
                        Some(Ok(normal)) => normal,
                        _ => c,
                    },
                ),
                type_system: None,
                type_code: None,
            }),
            _ => Err(invalid(
                param,
                raw,
                "a token is [system|]code with at most one unescaped '|'",
            )),
        },
    }
}

fn quantity(param: &str, raw: &str) -> Result<SearchValue, SearchError> {
    let parts = split_escaped(raw, '|');
    let (num, system, code) = match parts[..] {
        [n] => (n, None, None),
        [n, s, c] => (
            n,
            (!s.is_empty()).then(|| unescape(s)),
            (!c.is_empty()).then(|| unescape(c)),
        ),
        _ => {
            return Err(invalid(
                param,
                raw,
                "a quantity is [prefix]number or [prefix]number|system|code",
            ))
        }
    };
    let (prefix, text) = prefix(num);
    let (value, low, high) = number(param, raw, text)?;
    let canonical = match (system.as_deref(), code.as_deref()) {
        (Some(UCUM), Some(c)) => ucum::canonical(value, c),
        _ => None,
    };
    let (canonical_value, canonical_code) = canonical.unzip();
    Ok(SearchValue::Quantity {
        prefix,
        value,
        low,
        high,
        system,
        code,
        canonical_value,
        canonical_code,
    })
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn reference(
    param: &str,
    modifier: &Modifier,
    targets: &[String],
    raw: &str,
) -> Result<SearchValue, SearchError> {
    if *modifier == Modifier::Identifier {
        let (system, value) = match split_escaped(raw, '|')[..] {
            [v] => (None, v),
            [s, v] => ((!s.is_empty()).then(|| unescape(s)), v),
            _ => return Err(invalid(param, raw, ":identifier takes [system|]value")),
        };
        if value.is_empty() {
            return Err(invalid(param, raw, ":identifier needs a value"));
        }
        return Ok(SearchValue::Reference {
            target_type: None,
            target_id: None,
            version: None,
            url: None,
            identifier: Some((system, unescape(value))),
        });
    }
    let text = unescape(raw);
    let modifier_type = match modifier {
        Modifier::Type(t) => Some(t.clone()),
        _ => None,
    };
    let check_type = |t: &str| -> Result<(), SearchError> {
        if !targets.is_empty() && !targets.iter().any(|x| x == t) {
            return Err(invalid(
                param,
                raw,
                format!(
                    "{param} cannot refer to {t} (allowed: {})",
                    targets.join(", ")
                ),
            ));
        }
        match &modifier_type {
            Some(m) if m != t => Err(invalid(
                param,
                raw,
                format!("the value refers to {t} but the modifier restricts to {m}"),
            )),
            _ => Ok(()),
        }
    };
    if text.contains("://") || text.starts_with("urn:") {
        let parts = parse_reference(&text).ok_or_else(|| invalid(param, raw, "empty URL"))?;
        if let Some(t) = &parts.target_type {
            check_type(t)?;
        }
        return Ok(SearchValue::Reference {
            target_type: parts.target_type,
            target_id: parts.target_id,
            version: parts.version,
            url: parts.url,
            identifier: None,
        });
    }
    let segs: Vec<&str> = text.split('/').collect();
    let (target_type, id, version) = match segs[..] {
        [id] => (modifier_type.clone(), id, None),
        [t, id] => (Some(t.to_string()), id, None),
        [t, id, "_history", v] if is_id(v) => (Some(t.to_string()), id, Some(v.to_string())),
        _ => {
            return Err(invalid(
                param,
                raw,
                "a reference is id, Type/id, Type/id/_history/version or an absolute URL",
            ))
        }
    };
    if let Some(t) = &target_type {
        if !zdrav_fhir::r4().is_resource_type(t) {
            return Err(invalid(param, raw, format!("'{t}' is not a resource type")));
        }
        check_type(t)?;
    }
    if !is_id(id) {
        return Err(invalid(
            param,
            raw,
            "not a valid id (1-64 of A-Z a-z 0-9 - .)",
        ));
    }
    Ok(SearchValue::Reference {
        target_type,
        target_id: Some(id.to_string()),
        version,
        url: None,
        identifier: None,
    })
}

/// Parses a composite value `v1$v2...` against the component types.
pub(crate) fn composite(
    param: &str,
    components: &[(ParamType, &str)],
    raw: &str,
) -> Result<SearchValue, SearchError> {
    let parts = split_escaped(raw, '$');
    if parts.len() != components.len() {
        let names: Vec<&str> = components.iter().map(|c| c.1).collect();
        return Err(invalid(
            param,
            raw,
            format!(
                "a composite value has {} parts separated by '$' ({})",
                components.len(),
                names.join("$")
            ),
        ));
    }
    let values = parts
        .iter()
        .zip(components)
        .map(|(part, (ptype, _))| parse_value(param, *ptype, &Modifier::None, &[], part))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SearchValue::Composite(values))
}
