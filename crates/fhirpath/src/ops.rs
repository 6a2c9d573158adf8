//! Operators: three-valued logic, equality and equivalence over collections, comparison, and
//! arithmetic on numbers, strings, quantities and dates.

use crate::ast::{BinOp, Expr};
use crate::decimal::Dec;
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{items_compare, items_equal, items_equivalent, Item, Val};
use crate::quantity::{arithmetic_unit, Quantity};
use crate::Error;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// Singleton evaluation to a boolean: empty is unknown, a single non-boolean counts as true.
pub(crate) fn to_bool3(c: &[Item]) -> Result<Option<bool>, Error> {
    match c {
        [] => Ok(None),
        [Item::Bool(b)] => Ok(Some(*b)),
        [i] => match i.val() {
            Val::Bool(b) => Ok(Some(b)),
            _ => Ok(Some(true)),
        },
        _ => Err(Error::eval(
            "a collection of several items cannot be used as a boolean",
        )),
    }
}

fn bool_coll<'a>(b: Option<bool>) -> Coll<'a> {
    b.map(Item::Bool).into_iter().collect()
}

/// Union without duplicates, keeping first occurrences in order.
pub(crate) fn union<'a>(a: Coll<'a>, b: Coll<'a>) -> Coll<'a> {
    let mut seen = Dedup::default();
    a.into_iter().chain(b).filter(|i| seen.insert(i)).collect()
}

/// Duplicate detection by FHIRPath equality in about linear time: strings, numbers and
/// booleans by a key, elements by identity first, the rest by comparison within a bucket.
#[derive(Default)]
pub(crate) struct Dedup<'a> {
    keys: HashSet<(u8, String)>,
    nodes: HashSet<usize>,
    buckets: HashMap<&'static str, Vec<Item<'a>>>,
}

impl<'a> Dedup<'a> {
    /// Records an item; false when an equal one was seen before.
    pub(crate) fn insert(&mut self, item: &Item<'a>) -> bool {
        let key = match item.val() {
            Val::Str(s) => Some((b's', s.to_string())),
            Val::Int(i) => Some((b'n', Dec::from_i64(i).to_string())),
            Val::Dec(d) => Some((b'n', d.trim().to_string())),
            Val::Bool(b) => Some((b'b', b.to_string())),
            _ => None,
        };
        if let Some(k) = key {
            return self.keys.insert(k);
        }
        let node = item
            .elem()
            .and_then(|e| e.value)
            .map(|v| v as *const Value as usize);
        if node.is_some_and(|n| self.nodes.contains(&n)) {
            return false;
        }
        let kind = match item {
            Item::Elem(e) => e.ty,
            Item::Resolved(t) => t,
            Item::Dt(_) => "Dt",
            Item::Quantity(_) => "Quantity",
            _ => "other",
        };
        let bucket = self.buckets.entry(kind).or_default();
        if bucket.iter().any(|x| items_equal(x, item) == Some(true)) {
            return false;
        }
        if let Some(n) = node {
            self.nodes.insert(n);
        }
        bucket.push(item.clone());
        true
    }
}

fn equal_colls(a: &[Item], b: &[Item]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut unknown = false;
    for (x, y) in a.iter().zip(b) {
        match items_equal(x, y) {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    (!unknown).then_some(true)
}

fn equivalent_colls(a: &[Item], b: &[Item]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let hit = b
            .iter()
            .enumerate()
            .find(|(i, y)| !used[*i] && items_equivalent(x, y));
        match hit {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

fn single<'c, 'a>(c: &'c [Item<'a>], what: &str) -> Result<Option<&'c Item<'a>>, Error> {
    match c {
        [] => Ok(None),
        [i] => Ok(Some(i)),
        _ => Err(Error::eval(format!(
            "the {what} operand must be a single item, not {}",
            c.len()
        ))),
    }
}

/// Evaluates a binary operator.
pub(crate) fn binary<'a>(
    ctx: &Ctx<'a, '_>,
    op: BinOp,
    l: &Expr,
    r: &Expr,
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    use BinOp::*;
    let left = ctx.eval(l, scope)?;
    match op {
        And | Or | Implies => {
            let a = to_bool3(&left)?;
            // Short-circuit where the left side decides.
            match (op, a) {
                (And, Some(false)) => return Ok(bool_coll(Some(false))),
                (Or, Some(true)) => return Ok(bool_coll(Some(true))),
                (Implies, Some(false)) => return Ok(bool_coll(Some(true))),
                _ => {}
            }
            let b = to_bool3(&ctx.eval(r, scope)?)?;
            let res = match op {
                And => match (a, b) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                Or => match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                _ => match (a, b) {
                    (_, Some(true)) => Some(true),
                    (Some(true), Some(false)) => Some(false),
                    (None, Some(false)) | (_, None) => None,
                    _ => None,
                },
            };
            Ok(bool_coll(res))
        }
        Xor => {
            let a = to_bool3(&left)?;
            let b = to_bool3(&ctx.eval(r, scope)?)?;
            Ok(bool_coll(match (a, b) {
                (Some(x), Some(y)) => Some(x != y),
                _ => None,
            }))
        }
        _ => {
            let right = ctx.eval(r, scope)?;
            apply(op, left, right)
        }
    }
}

fn apply<'a>(op: BinOp, left: Coll<'a>, right: Coll<'a>) -> Result<Coll<'a>, Error> {
    use BinOp::*;
    Ok(match op {
        Union => union(left, right),
        Eq => bool_coll(equal_colls(&left, &right)),
        Ne => bool_coll(equal_colls(&left, &right).map(|b| !b)),
        Equiv => bool_coll(Some(equivalent_colls(&left, &right))),
        NotEquiv => bool_coll(Some(!equivalent_colls(&left, &right))),
        Lt | Gt | Le | Ge => {
            let (Some(a), Some(b)) = (single(&left, "left")?, single(&right, "right")?) else {
                return Ok(Vec::new());
            };
            let ord = items_compare(a, b).map_err(Error::eval)?;
            bool_coll(ord.map(|o| match op {
                Lt => o == Ordering::Less,
                Gt => o == Ordering::Greater,
                Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        In | Contains => {
            let (needle, hay) = if op == In {
                (left, right)
            } else {
                (right, left)
            };
            match single(&needle, "searched")? {
                None => Vec::new(),
                Some(n) => bool_coll(Some(hay.iter().any(|h| items_equal(n, h) == Some(true)))),
            }
        }
        Concat => {
            let text = |c: &[Item]| -> Result<String, Error> {
                match single(c, "string")? {
                    None => Ok(String::new()),
                    Some(i) => i
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Error::eval("& needs strings")),
                }
            };
            vec![Item::Str((text(&left)? + &text(&right)?).into())]
        }
        _ => {
            let (Some(a), Some(b)) = (single(&left, "left")?, single(&right, "right")?) else {
                return Ok(Vec::new());
            };
            arith(op, a, b)?.into_iter().collect()
        }
    })
}

fn num(v: &Val) -> Option<Dec> {
    match v {
        Val::Int(i) => Some(Dec::from_i64(*i)),
        Val::Dec(d) => Some(*d),
        _ => None,
    }
}

fn arith<'a>(op: BinOp, a: &Item<'a>, b: &Item<'a>) -> Result<Option<Item<'a>>, Error> {
    use BinOp::*;
    let (va, vb) = (a.val(), b.val());
    let fail = || {
        Error::eval(format!(
            "cannot apply {op:?} to {} and {}",
            a.type_name().1,
            b.type_name().1
        ))
    };
    Ok(match (&va, &vb) {
        (Val::Int(x), Val::Int(y)) => match op {
            Add => x.checked_add(*y).map(Item::Int),
            Sub => x.checked_sub(*y).map(Item::Int),
            Mul => x.checked_mul(*y).map(Item::Int),
            Div => Dec::from_i64(*x).div(&Dec::from_i64(*y)).map(Item::Dec),
            IntDiv => (*y != 0).then(|| Item::Int(x.wrapping_div(*y))),
            Mod => (*y != 0).then(|| Item::Int(x.wrapping_rem(*y))),
            _ => return Err(fail()),
        },
        (Val::Str(x), Val::Str(y)) if op == Add => Some(Item::Str(format!("{x}{y}").into())),
        (Val::Dt(d), Val::Quantity(q)) if op == Add || op == Sub => {
            let unit = arithmetic_unit(&q.unit)
                .ok_or_else(|| Error::eval(format!("cannot add '{}' to a date", q.unit)))?;
            let n = q.value.trunc_i64().ok_or_else(fail)?;
            let n = if op == Sub { -n } else { n };
            Some(Item::Dt(d.add(n, unit).ok_or_else(|| {
                Error::eval("date arithmetic out of range or on a time")
            })?))
        }
        (Val::Quantity(x), Val::Quantity(y)) => match op {
            Add | Sub => x.add(y, op == Sub).map(Item::Quantity),
            Mul | Div => x.mul(y, op == Div).map(Item::Quantity),
            _ => return Err(fail()),
        },
        (Val::Quantity(x), _) if num(&vb).is_some() && (op == Mul || op == Div) => {
            let n = num(&vb).ok_or_else(fail)?;
            let v = if op == Mul {
                x.value.mul(&n)
            } else {
                x.value.div(&n)
            };
            v.map(|v| Item::Quantity(Quantity::new(v, x.unit.clone())))
        }
        (_, Val::Quantity(y)) if num(&va).is_some() && op == Mul => {
            let n = num(&va).ok_or_else(fail)?;
            y.value
                .mul(&n)
                .map(|v| Item::Quantity(Quantity::new(v, y.unit.clone())))
        }
        _ => {
            let (Some(x), Some(y)) = (num(&va), num(&vb)) else {
                return Err(fail());
            };
            match op {
                Add => x.add(&y).map(Item::Dec),
                Sub => x.sub(&y).map(Item::Dec),
                Mul => x.mul(&y).map(Item::Dec),
                Div => x.div(&y).map(Item::Dec),
                IntDiv => x.int_div(&y).and_then(|d| d.trunc_i64()).map(Item::Int),
                Mod => x.modulo(&y).map(Item::Dec),
                _ => return Err(fail()),
            }
        }
    })
}

/// Unary `-` (`neg`) or `+`.
pub(crate) fn unary(neg: bool, v: Coll) -> Result<Coll, Error> {
    let Some(item) = single(&v, "unary")? else {
        return Ok(Vec::new());
    };
    let out = match item.val() {
        Val::Int(i) => match if neg { i.checked_neg() } else { Some(i) } {
            Some(i) => Item::Int(i),
            None => return Ok(Vec::new()),
        },
        Val::Dec(d) => Item::Dec(if neg { d.neg() } else { d }),
        Val::Quantity(q) => Item::Quantity(Quantity::new(
            if neg { q.value.neg() } else { q.value },
            q.unit.clone(),
        )),
        _ => {
            return Err(Error::eval(format!(
                "unary minus/plus needs a number, not {}",
                item.type_name().1
            )))
        }
    };
    Ok(vec![out])
}
