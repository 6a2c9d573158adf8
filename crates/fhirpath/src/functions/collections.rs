//! Existence, filtering, subsetting and combining functions, `iif`, `aggregate` and `sort`.

use super::{arg, boolean, int_arg, singleton};
use crate::ast::{Expr, Func};
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{items_compare, items_equal, Item, Val};
use crate::ops::{to_bool3, union, Dedup};
use crate::Error;
use std::cmp::Ordering;

/// Runaway guard for `repeat()` (a projection like `$this + 1` never stops on its own).
const MAX_REPEAT: usize = 10_000;

fn each<'a>(
    ctx: &Ctx<'a, '_>,
    input: &[Item<'a>],
    e: &Expr,
    scope: Scope<'_, 'a>,
    mut f: impl FnMut(usize, &Item<'a>, Coll<'a>) -> Result<bool, Error>,
) -> Result<(), Error> {
    for (i, item) in input.iter().enumerate() {
        let this = std::slice::from_ref(item);
        let r = ctx.eval(
            e,
            Scope {
                this,
                index: Some(i),
                total: scope.total,
            },
        )?;
        if !f(i, item, r)? {
            break;
        }
    }
    Ok(())
}

fn contains(hay: &[Item], x: &Item) -> bool {
    hay.iter().any(|h| items_equal(x, h) == Some(true))
}

fn all_booleans(input: &[Item]) -> Result<Vec<bool>, Error> {
    input
        .iter()
        .map(|i| match i.val() {
            Val::Bool(b) => Ok(b),
            _ => Err(Error::eval("expected a collection of booleans")),
        })
        .collect()
}

pub(super) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
    explicit: bool,
) -> Result<Coll<'a>, Error> {
    use Func::*;
    Ok(match f {
        Empty => boolean(input.is_empty()),
        Exists => match args.first() {
            None => boolean(!input.is_empty()),
            Some(e) => {
                let mut found = false;
                each(ctx, &input, e, scope, |_, _, r| {
                    found = to_bool3(&r)? == Some(true);
                    Ok(!found)
                })?;
                boolean(found)
            }
        },
        All => {
            let mut ok = true;
            if let Some(e) = args.first() {
                each(ctx, &input, e, scope, |_, _, r| {
                    ok = to_bool3(&r)? == Some(true);
                    Ok(ok)
                })?;
            }
            boolean(ok)
        }
        AllTrue => boolean(all_booleans(&input)?.iter().all(|b| *b)),
        AnyTrue => boolean(all_booleans(&input)?.iter().any(|b| *b)),
        AllFalse => boolean(all_booleans(&input)?.iter().all(|b| !*b)),
        AnyFalse => boolean(all_booleans(&input)?.iter().any(|b| !*b)),
        SubsetOf => {
            let other = arg(ctx, args, 0, scope)?;
            boolean(input.iter().all(|x| contains(&other, x)))
        }
        SupersetOf => {
            let other = arg(ctx, args, 0, scope)?;
            boolean(other.iter().all(|x| contains(&input, x)))
        }
        Count => vec![Item::Int(input.len() as i64)],
        Distinct => union(input, Vec::new()),
        IsDistinct => {
            let n = input.len();
            boolean(union(input, Vec::new()).len() == n)
        }
        Not => match to_bool3(&input)? {
            None => Vec::new(),
            Some(b) => boolean(!b),
        },
        Where => {
            let mut out = Vec::new();
            each(ctx, &input, &args[0], scope, |_, item, r| {
                if to_bool3(&r)? == Some(true) {
                    out.push(item.clone());
                }
                Ok(true)
            })?;
            out
        }
        Select => {
            let mut out = Vec::new();
            each(ctx, &input, &args[0], scope, |_, _, mut r| {
                out.append(&mut r);
                Ok(true)
            })?;
            out
        }
        Repeat => {
            let mut out: Coll<'a> = Vec::new();
            let mut seen = Dedup::default();
            let mut level = input;
            while !level.is_empty() {
                let mut next = Vec::new();
                each(ctx, &level, &args[0], scope, |_, _, r| {
                    for x in r {
                        if seen.insert(&x) {
                            out.push(x.clone());
                            next.push(x);
                        }
                    }
                    Ok(out.len() <= MAX_REPEAT)
                })?;
                if out.len() > MAX_REPEAT {
                    return Err(Error::eval("repeat() produced too many items"));
                }
                level = next;
            }
            out
        }
        Single => {
            if input.len() > 1 {
                return Err(Error::eval("single() on a collection of several items"));
            }
            input
        }
        First => input.into_iter().take(1).collect(),
        Last => input.last().cloned().into_iter().collect(),
        Tail => input.into_iter().skip(1).collect(),
        Skip => {
            let n = int_arg(ctx, args, 0, scope)?.unwrap_or(0).max(0) as usize;
            input.into_iter().skip(n).collect()
        }
        Take => {
            let n = int_arg(ctx, args, 0, scope)?.unwrap_or(0).max(0) as usize;
            input.into_iter().take(n).collect()
        }
        Intersect => {
            let other = arg(ctx, args, 0, scope)?;
            let kept = input.into_iter().filter(|x| contains(&other, x)).collect();
            union(kept, Vec::new())
        }
        Exclude => {
            let other = arg(ctx, args, 0, scope)?;
            input.into_iter().filter(|x| !contains(&other, x)).collect()
        }
        Union => union(input, arg(ctx, args, 0, scope)?),
        Combine => {
            let mut out = input;
            out.extend(arg(ctx, args, 0, scope)?);
            out
        }
        Iif => iif(ctx, input, args, scope, explicit)?,
        Trace => input,
        Aggregate => {
            let mut total = arg(ctx, args, 1, scope)?;
            for (i, item) in input.iter().enumerate() {
                total = ctx.eval(
                    &args[0],
                    Scope {
                        this: std::slice::from_ref(item),
                        index: Some(i),
                        total: Some(&total),
                    },
                )?;
            }
            total
        }
        Sort => sort(ctx, input, args, scope)?,
        _ => return Err(Error::eval(format!("{f:?} is not a collection function"))),
    })
}

fn iif<'a>(
    ctx: &Ctx<'a, '_>,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
    explicit: bool,
) -> Result<Coll<'a>, Error> {
    if explicit && input.len() > 1 {
        return Err(Error::eval("iif() on a collection of several items"));
    }
    let inner = if explicit {
        Scope {
            this: &input,
            ..scope
        }
    } else {
        scope
    };
    let crit = ctx.eval(&args[0], inner)?;
    let pick = match singleton(&crit)? {
        None => false,
        Some(i) => match i.val() {
            Val::Bool(b) => b,
            _ => return Err(Error::eval("iif() criterion must be a boolean")),
        },
    };
    if pick {
        ctx.eval(&args[1], inner)
    } else {
        match args.get(2) {
            Some(e) => ctx.eval(e, inner),
            None => Ok(Vec::new()),
        }
    }
}

fn sort<'a>(
    ctx: &Ctx<'a, '_>,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    // Each key: its expression and whether it sorts descending (a leading unary minus).
    let keys: Vec<(&Expr, bool)> = args
        .iter()
        .map(|e| match e {
            Expr::Unary(true, inner) => (inner.as_ref(), true),
            e => (e, false),
        })
        .collect();
    let mut rows = Vec::with_capacity(input.len());
    for (i, item) in input.into_iter().enumerate() {
        let mut vals = Vec::new();
        if keys.is_empty() {
            vals.push(Some(item.clone()));
        }
        for (k, _) in &keys {
            let r = ctx.eval(
                k,
                Scope {
                    this: std::slice::from_ref(&item),
                    index: Some(i),
                    total: scope.total,
                },
            )?;
            vals.push(singleton(&r)?.cloned());
        }
        rows.push((vals, item));
    }
    let mut err = None;
    rows.sort_by(|(a, _), (b, _)| {
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            let desc = keys.get(k).is_some_and(|(_, d)| *d);
            let o = match (x, y) {
                (None, None) => Ordering::Equal,
                // Empty keys sort last (so first under a descending key).
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => match items_compare(x, y) {
                    Ok(o) => o.unwrap_or(Ordering::Equal),
                    Err(e) => {
                        err = Some(e);
                        Ordering::Equal
                    }
                },
            };
            let o = if desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    if let Some(e) = err {
        return Err(Error::eval(e));
    }
    Ok(rows.into_iter().map(|(_, i)| i).collect())
}
