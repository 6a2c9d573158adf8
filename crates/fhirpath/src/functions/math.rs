//! Math functions, and the precision functions (`lowBoundary`, `highBoundary`, `precision`,
//! `comparable`) that FHIRPath 2.1 added and the R4 test suite already exercises.

use super::{arg, int_arg, one, singleton};
use crate::ast::{Expr, Func};
use crate::decimal::Dec;
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{Item, Val};
use crate::quantity::Quantity;
use crate::Error;

/// Largest precision `lowBoundary`/`highBoundary` accept.
const MAX_PRECISION: i64 = 28;

fn num(v: &Val) -> Option<Dec> {
    match v {
        Val::Int(i) => Some(Dec::from_i64(*i)),
        Val::Dec(d) => Some(*d),
        _ => None,
    }
}

fn dec_item<'a>(d: Option<Dec>) -> Coll<'a> {
    d.map(Item::Dec).into_iter().collect()
}

fn float<'a>(v: f64) -> Coll<'a> {
    dec_item(Dec::from_f64(v))
}

/// The boundary of the interval a decimal stands for: `1.587` is anything in
/// `[1.5865, 1.5875)`, shown with `digits` decimal places.
fn dec_boundary(v: &Dec, digits: Option<i64>, high: bool) -> Option<Dec> {
    let p = digits.unwrap_or(8);
    if !(0..=MAX_PRECISION).contains(&p) {
        return None;
    }
    let p = p as u32;
    let half = Dec::new(5, v.scale() + 1);
    let b = if high { v.add(&half)? } else { v.sub(&half)? };
    if p > v.scale() {
        return Some(b.round(p));
    }
    if b.trunc_to(p).is_zero() {
        return Some(Dec::new(0, p));
    }
    Some(if high { b.ceil_to(p) } else { b.floor_to(p) })
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
    let v = item.val();
    let not_num = || Error::eval(format!("{f:?} needs a number, not {}", item.type_name().1));
    Ok(match f {
        Abs => match &v {
            Val::Int(i) => i.checked_abs().map(Item::Int).into_iter().collect(),
            Val::Dec(d) => one(Item::Dec(d.abs())),
            Val::Quantity(q) => one(Item::Quantity(Quantity::new(q.value.abs(), q.unit.clone()))),
            _ => return Err(not_num()),
        },
        Ceiling | Floor | Truncate => match &v {
            Val::Int(i) => one(Item::Int(*i)),
            Val::Dec(d) => {
                let r = match f {
                    Ceiling => d.ceil_i64(),
                    Floor => d.floor_i64(),
                    _ => d.trunc_i64(),
                };
                r.map(Item::Int).into_iter().collect()
            }
            _ => return Err(not_num()),
        },
        Exp => float(num(&v).ok_or_else(not_num)?.to_f64().exp()),
        Ln => {
            let x = num(&v).ok_or_else(not_num)?.to_f64();
            if x <= 0.0 {
                Vec::new()
            } else {
                float(x.ln())
            }
        }
        Log => {
            let x = num(&v).ok_or_else(not_num)?.to_f64();
            let base = match singleton(&arg(ctx, args, 0, scope)?)?.map(Item::val) {
                Some(b) => num(&b).ok_or_else(not_num)?.to_f64(),
                None => return Ok(Vec::new()),
            };
            if x <= 0.0 || base <= 0.0 || base == 1.0 {
                Vec::new()
            } else {
                float(x.ln() / base.ln())
            }
        }
        Sqrt => {
            let x = num(&v).ok_or_else(not_num)?.to_f64();
            if x < 0.0 {
                Vec::new()
            } else {
                float(x.sqrt())
            }
        }
        Power => {
            let exp = arg(ctx, args, 0, scope)?;
            let e = match singleton(&exp)?.map(Item::val) {
                Some(e) => e,
                None => return Ok(Vec::new()),
            };
            match (&v, &e) {
                (Val::Int(b), Val::Int(x)) if *x >= 0 => u32::try_from(*x)
                    .ok()
                    .and_then(|x| b.checked_pow(x))
                    .map(Item::Int)
                    .into_iter()
                    .collect(),
                (Val::Dec(b), Val::Int(x)) if (0..=64).contains(x) => dec_item(b.powi(*x as u32)),
                _ => {
                    let b = num(&v).ok_or_else(not_num)?.to_f64();
                    let x = num(&e).ok_or_else(not_num)?.to_f64();
                    let r = b.powf(x);
                    if r.is_nan() {
                        Vec::new()
                    } else {
                        float(r)
                    }
                }
            }
        }
        Round => {
            let p = int_arg(ctx, args, 0, scope)?.unwrap_or(0);
            if p < 0 {
                return Err(Error::eval("round() precision must not be negative"));
            }
            let d = num(&v).ok_or_else(not_num)?;
            one(Item::Dec(d.round(p.min(MAX_PRECISION) as u32)))
        }
        LowBoundary | HighBoundary => {
            let digits = int_arg(ctx, args, 0, scope)?;
            let high = f == HighBoundary;
            match &v {
                Val::Int(_) | Val::Dec(_) => {
                    dec_item(num(&v).and_then(|d| dec_boundary(&d, digits, high)))
                }
                Val::Quantity(q) => dec_boundary(&q.value, digits, high)
                    .map(|d| Item::Quantity(Quantity::new(d, q.unit.clone())))
                    .into_iter()
                    .collect(),
                Val::Dt(d) => d.boundary(digits, high).map(Item::Dt).into_iter().collect(),
                _ => return Err(not_num()),
            }
        }
        Precision => match &v {
            Val::Dec(d) => one(Item::Int(d.scale() as i64)),
            Val::Int(_) => one(Item::Int(0)),
            Val::Dt(d) => one(Item::Int(d.precision_digits())),
            _ => return Err(not_num()),
        },
        Comparable => {
            let other = arg(ctx, args, 0, scope)?;
            match (&v, singleton(&other)?.map(Item::val)) {
                (Val::Quantity(a), Some(Val::Quantity(b))) => one(Item::Bool(a.comparable(&b))),
                (_, None) => Vec::new(),
                _ => return Err(Error::eval("comparable() needs two quantities")),
            }
        }
        _ => return Err(Error::eval(format!("{f:?} is not a math function"))),
    })
}
