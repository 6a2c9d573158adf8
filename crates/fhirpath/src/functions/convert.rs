//! Conversion functions (`toX()` and `convertsToX()`).

use super::{singleton, str_arg};
use crate::ast::{Expr, Func};
use crate::dates::{Dt, Kind, Prec};
use crate::decimal::Dec;
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{Item, Val};
use crate::quantity::{calendar_unit, Quantity};
use crate::Error;

fn is_integer_text(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal_text(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    match d.split_once('.') {
        Some((i, f)) => is_integer_text(i) && is_integer_text(f) && !f.starts_with(['+', '-']),
        None => is_integer_text(d),
    }
}

pub(crate) fn to_boolean(v: &Val) -> Option<bool> {
    match v {
        Val::Bool(b) => Some(*b),
        Val::Int(1) => Some(true),
        Val::Int(0) => Some(false),
        Val::Dec(d) => match d.as_i64_exact() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Val::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Parses `'1 day'`, `'4 \'wk\''`, `'1.5'` into a quantity.
pub(crate) fn parse_quantity(s: &str) -> Option<Quantity> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(s.len(), |(i, _)| i);
    let (num, rest) = s.split_at(end);
    if !is_decimal_text(num) {
        return None;
    }
    let value = Dec::parse(num)?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(Quantity::new(value, "1"));
    }
    if let Some(u) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(Quantity::new(value, u));
    }
    calendar_unit(rest).map(|_| Quantity::new(value, rest))
}

fn to_quantity(v: &Val) -> Option<Quantity> {
    match v {
        Val::Int(i) => Some(Quantity::new(Dec::from_i64(*i), "1")),
        Val::Dec(d) => Some(Quantity::new(*d, "1")),
        Val::Bool(b) => Some(Quantity::new(Dec::new(if *b { 10 } else { 0 }, 1), "1")),
        Val::Str(s) => parse_quantity(s),
        Val::Quantity(q) => Some(q.as_ref().clone()),
        _ => None,
    }
}

/// `toString()` of a System value.
pub(crate) fn to_text(v: &Val) -> Option<String> {
    Some(match v {
        Val::Str(s) => s.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Dec(d) => d.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Dt(d) => d.to_text(),
        Val::Quantity(q) => q.to_text(),
        Val::Other => return None,
    })
}

fn convert<'a>(f: Func, v: &Val, unit: Option<&str>) -> Option<Item<'a>> {
    use Func::*;
    Some(match f {
        ToBoolean | ConvertsToBoolean => Item::Bool(to_boolean(v)?),
        ToInteger | ConvertsToInteger => Item::Int(match v {
            Val::Int(i) => *i,
            Val::Bool(b) => *b as i64,
            Val::Str(s) if is_integer_text(s) => s.parse().ok()?,
            _ => return None,
        }),
        ToDecimal | ConvertsToDecimal => Item::Dec(match v {
            Val::Int(i) => Dec::from_i64(*i),
            Val::Dec(d) => *d,
            Val::Bool(b) => Dec::new(if *b { 10 } else { 0 }, 1),
            Val::Str(s) if is_decimal_text(s) => Dec::parse(s)?,
            _ => return None,
        }),
        ToString | ConvertsToString => Item::Str(to_text(v)?.into()),
        ToDate | ConvertsToDate => Item::Dt(match v {
            Val::Str(s) => Dt::parse_date(s).or_else(|| Dt::parse_datetime(s).map(date_part))?,
            Val::Dt(d) if d.kind != Kind::Time => date_part(*d),
            _ => return None,
        }),
        ToDateTime | ConvertsToDateTime => Item::Dt(match v {
            Val::Str(s) => Dt::parse_datetime(s)?,
            Val::Dt(d) if d.kind != Kind::Time => Dt {
                kind: Kind::DateTime,
                ..*d
            },
            _ => return None,
        }),
        ToTime | ConvertsToTime => Item::Dt(match v {
            Val::Str(s) => Dt::parse_time(s.strip_prefix('T').unwrap_or(s))?,
            Val::Dt(d) if d.kind == Kind::Time => *d,
            _ => return None,
        }),
        ToQuantity | ConvertsToQuantity => {
            let q = to_quantity(v)?;
            match unit {
                None => Item::Quantity(q),
                Some(u) => {
                    let target = Quantity::new(Dec::from_i64(1), u);
                    if target.unit == q.unit {
                        Item::Quantity(q)
                    } else {
                        let in_target = q.mul(&target, true)?;
                        // `q / 1 target` is dimensionless exactly when the units agree.
                        if in_target.unit != "1" {
                            return None;
                        }
                        Item::Quantity(Quantity::new(in_target.value, u))
                    }
                }
            }
        }
        _ => return None,
    })
}

fn date_part(d: Dt) -> Dt {
    Dt {
        kind: Kind::Date,
        prec: d.prec.min(Prec::Day),
        hour: 0,
        minute: 0,
        second: 0,
        milli: 0,
        tz: None,
        ..d
    }
}

pub(super) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    use Func::*;
    let Some(item) = singleton(&input)? else {
        return Ok(Vec::new());
    };
    let unit = str_arg(ctx, args, 0, scope)?;
    let converted = convert(f, &item.val(), unit.as_deref());
    let checks = matches!(
        f,
        ConvertsToBoolean
            | ConvertsToInteger
            | ConvertsToDecimal
            | ConvertsToString
            | ConvertsToDate
            | ConvertsToDateTime
            | ConvertsToTime
            | ConvertsToQuantity
    );
    Ok(if checks {
        vec![Item::Bool(converted.is_some())]
    } else {
        converted.into_iter().collect()
    })
}
