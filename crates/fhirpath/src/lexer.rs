//! Tokenizer for FHIRPath source text.

use crate::Error;

/// A token with its byte offset in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier (plain or `` `delimited` ``); `delimited` ones are never keywords.
    Ident(String, bool),
    /// A string literal, unescaped.
    Str(String),
    /// A number literal's text (`12`, `1.5`).
    Num(String),
    /// A date/time literal's text after `@`.
    DateTime(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    /// `%name` (external constant).
    Constant(String),
    /// An operator or punctuation.
    Op(&'static str),
    /// End of input.
    Eof,
}

const OPS: [&str; 20] = [
    "<=", ">=", "!=", "!~", "=", "~", "<", ">", "+", "-", "*", "/", "&", "|", ".", ",", "(", ")",
    "[", "]",
];

fn unescape(body: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| Error::syntax(format!("invalid escape \\u{hex}")))?;
                out.push(code);
            }
            Some(c @ ('\\' | '/' | '\'' | '"' | '`')) => out.push(c),
            Some(c) => return Err(Error::syntax(format!("invalid escape \\{c}"))),
            None => return Err(Error::syntax("unterminated escape")),
        }
    }
    Ok(out)
}

/// Reads a quoted body up to the closing `quote`, honouring backslash escapes.
fn quoted(src: &str, start: usize, quote: u8) -> Result<(String, usize), Error> {
    let b = src.as_bytes();
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Ok((unescape(&src[start + 1..i])?, i + 1)),
            _ => i += 1,
        }
    }
    Err(Error::syntax("unterminated string or identifier"))
}

fn date_time_end(b: &[u8], start: usize) -> usize {
    // The literal's characters; `Dt::parse_literal` validates the shape. A `.` belongs to it
    // only when a digit follows (fractional seconds), so `@2015.is(Date)` stops before `.is`.
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_digit()
            || c == b'-'
            || c == b':'
            || c == b'T'
            || c == b'Z'
            || (c == b'+' && i > start)
            || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !ok {
            break;
        }
        // A `-`/`+` not followed by a digit is an operator (`@2012-04-15 - 1 day` has spaces,
        // but `@2012-04-15-(1 day)` should still lex).
        if (c == b'-' || c == b'+') && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            break;
        }
        i += 1;
    }
    i
}

/// Splits source text into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, Error> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            match src[i + 2..].find("*/") {
                Some(end) => i = i + 2 + end + 2,
                None => return Err(Error::syntax("unterminated comment")),
            }
            continue;
        }
        let start = i;
        let tok = match c {
            b'\'' => {
                let (s, end) = quoted(src, i, b'\'')?;
                i = end;
                Tok::Str(s)
            }
            b'`' => {
                let (s, end) = quoted(src, i, b'`')?;
                i = end;
                Tok::Ident(s, true)
            }
            b'0'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                Tok::Num(src[start..i].to_string())
            }
            b'@' => {
                let end = date_time_end(b, i + 1);
                i = end;
                Tok::DateTime(src[start + 1..end].to_string())
            }
            b'$' | b'%' => {
                i += 1;
                let name = match b.get(i) {
                    Some(b'`') => {
                        let (s, end) = quoted(src, i, b'`')?;
                        i = end;
                        s
                    }
                    Some(b'\'') if c == b'%' => {
                        let (s, end) = quoted(src, i, b'\'')?;
                        i = end;
                        s
                    }
                    _ => {
                        let s = i;
                        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                            i += 1;
                        }
                        src[s..i].to_string()
                    }
                };
                if name.is_empty() {
                    return Err(Error::syntax(format!("empty name after '{}'", c as char)));
                }
                if c == b'$' {
                    Tok::Special(name)
                } else {
                    Tok::Constant(name)
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(src[start..i].to_string(), false)
            }
            _ => {
                let op = OPS
                    .iter()
                    .find(|op| src[i..].starts_with(**op))
                    .or_else(|| ["{", "}"].iter().find(|op| src[i..].starts_with(**op)))
                    .ok_or_else(|| {
                        let ch = src[i..].chars().next().unwrap_or(' ');
                        Error::syntax(format!("unexpected character '{ch}' at {i}"))
                    })?;
                i += op.len();
                Tok::Op(op)
            }
        };
        out.push((tok, start));
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}
