//! String functions. Positions and lengths count characters, not bytes.

use super::{arg, one, singleton, str_arg};
use crate::ast::{Expr, Func};
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{Item, Val};
use crate::Error;
use base64::Engine;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled patterns, shared: invariants match the same few patterns over and over.
fn regex(pattern: &str, full: bool) -> Result<Arc<Regex>, Error> {
    type Cache = Mutex<HashMap<(String, bool), Arc<Regex>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_string(), full);
    if let Some(r) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(r);
    }
    // FHIRPath regexes run in single-line mode: `.` matches newlines.
    let src = if full {
        format!("(?s)^(?:{pattern})$")
    } else {
        format!("(?s){pattern}")
    };
    let re = Arc::new(
        Regex::new(&src).map_err(|e| Error::eval(format!("invalid regex '{pattern}': {e}")))?,
    );
    if let Ok(mut c) = cache.lock() {
        if c.len() > 1000 {
            c.clear();
        }
        c.insert(key, re.clone());
    }
    Ok(re)
}

/// The text of a string item (or of a FHIR primitive written as a JSON string).
fn text<'i>(item: &'i Item) -> Result<&'i str, Error> {
    if let Some(s) = item.as_str() {
        return Ok(s);
    }
    if let Some(Value::String(s)) = item.elem().and_then(|e| e.value) {
        return Ok(s);
    }
    Err(Error::semantic(format!(
        "a string function was called on {}",
        item.type_name().1
    )))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or("")
        .to_string()
}

fn json_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn encode(s: &str, format: &str) -> Option<String> {
    let b = base64::engine::general_purpose::STANDARD;
    let u = base64::engine::general_purpose::URL_SAFE;
    Some(match format {
        "base64" => b.encode(s),
        "urlbase64" => u.encode(s),
        "hex" => s.bytes().map(|c| format!("{c:02x}")).collect(),
        _ => return None,
    })
}

fn decode(s: &str, format: &str) -> Option<String> {
    let b = base64::engine::general_purpose::STANDARD;
    let u = base64::engine::general_purpose::URL_SAFE;
    let bytes = match format {
        "base64" => b.decode(s).ok()?,
        "urlbase64" => u.decode(s).ok()?,
        "hex" => {
            if !s.len().is_multiple_of(2) {
                return None;
            }
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

pub(super) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    use Func::*;
    if f == Join {
        let sep = str_arg(ctx, args, 0, scope)?.unwrap_or_default();
        let parts = input.iter().map(text).collect::<Result<Vec<_>, _>>()?;
        return Ok(one(Item::Str(parts.join(&sep).into())));
    }
    let Some(item) = singleton(&input)? else {
        return Ok(Vec::new());
    };
    let s = text(item)?;
    let s_ = |v: String| -> Coll<'a> { one(Item::Str(v.into())) };
    // A required string argument: an empty argument makes the result empty.
    macro_rules! sarg {
        ($i:expr) => {
            match str_arg(ctx, args, $i, scope)? {
                Some(v) => v,
                None => return Ok(Vec::new()),
            }
        };
    }
    Ok(match f {
        IndexOf => {
            let sub = sarg!(0);
            match s.find(&sub) {
                Some(b) => one(Item::Int(s[..b].chars().count() as i64)),
                None => one(Item::Int(-1)),
            }
        }
        Substring => {
            let start = match singleton(&arg(ctx, args, 0, scope)?)?.map(Item::val) {
                Some(Val::Int(i)) => i,
                None => return Ok(Vec::new()),
                _ => return Err(Error::eval("substring() start must be an integer")),
            };
            let len = match singleton(&arg(ctx, args, 1, scope)?)?.map(Item::val) {
                Some(Val::Int(i)) => Some(i),
                None => None,
                _ => return Err(Error::eval("substring() length must be an integer")),
            };
            let count = s.chars().count() as i64;
            if start < 0 || start >= count {
                return Ok(Vec::new());
            }
            let take = len.map_or(count, |l| l.max(0));
            s_(s.chars().skip(start as usize).take(take as usize).collect())
        }
        StartsWith => one(Item::Bool(s.starts_with(&sarg!(0)))),
        EndsWith => one(Item::Bool(s.ends_with(&sarg!(0)))),
        Contains => one(Item::Bool(s.contains(&sarg!(0)))),
        Upper => s_(s.to_uppercase()),
        Lower => s_(s.to_lowercase()),
        Replace => {
            let (pat, with) = (sarg!(0), sarg!(1));
            s_(s.replace(&pat, &with))
        }
        Matches | MatchesFull => {
            let pat = sarg!(0);
            one(Item::Bool(regex(&pat, f == MatchesFull)?.is_match(s)))
        }
        ReplaceMatches => {
            let (pat, with) = (sarg!(0), sarg!(1));
            if pat.is_empty() {
                s_(s.to_string())
            } else {
                s_(regex(&pat, false)?
                    .replace_all(s, with.as_str())
                    .into_owned())
            }
        }
        Length => one(Item::Int(s.chars().count() as i64)),
        ToChars => s.chars().map(|c| Item::Str(c.to_string().into())).collect(),
        Trim => s_(s.trim().to_string()),
        Split => {
            let sep = sarg!(0);
            s.split(sep.as_str()).map(|p| Item::Str(p.into())).collect()
        }
        Encode => encode(s, &sarg!(0)).map(s_).unwrap_or_default(),
        Decode => decode(s, &sarg!(0)).map(s_).unwrap_or_default(),
        Escape => match sarg!(0).as_str() {
            "html" => s_(html_escape(s)),
            "json" => s_(json_escape(s)),
            _ => Vec::new(),
        },
        Unescape => match sarg!(0).as_str() {
            "html" => s_(html_unescape(s)),
            "json" => json_unescape(s).map(s_).unwrap_or_default(),
            _ => Vec::new(),
        },
        _ => return Err(Error::eval(format!("{f:?} is not a string function"))),
    })
}
