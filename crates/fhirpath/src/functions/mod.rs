//! The function library, dispatched on the [`Func`] resolved at parse time. Arguments are
//! expressions: iterating functions (`where`, `select`, `all`, ...) evaluate them once per item
//! with `$this` bound to the item; the others evaluate them once, in the caller's scope.

mod collections;
mod convert;
mod fhir;
mod math;
mod strings;

use crate::ast::{Expr, Func, TypeSpec};
use crate::eval::{Coll, Ctx, Scope};
use crate::items::{Item, Val};
use crate::Error;

/// Calls a function on `input`; `explicit` is true when it was invoked on a focus
/// (`x.iif(...)`) rather than on `$this`.
pub(crate) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
    explicit: bool,
) -> Result<Coll<'a>, Error> {
    use Func::*;
    match f {
        Empty | Exists | All | AllTrue | AnyTrue | AllFalse | AnyFalse | SubsetOf | SupersetOf
        | Count | Distinct | IsDistinct | Where | Select | Repeat | Single | First | Last
        | Tail | Skip | Take | Intersect | Exclude | Union | Combine | Iif | Trace | Aggregate
        | Not | Sort => collections::call(ctx, f, input, args, scope, explicit),
        ToBoolean | ConvertsToBoolean | ToInteger | ConvertsToInteger | ToDecimal
        | ConvertsToDecimal | ToString | ConvertsToString | ToDate | ConvertsToDate
        | ToDateTime | ConvertsToDateTime | ToTime | ConvertsToTime | ToQuantity
        | ConvertsToQuantity => convert::call(ctx, f, input, args, scope),
        IndexOf | Substring | StartsWith | EndsWith | Contains | Upper | Lower | Replace
        | Matches | MatchesFull | ReplaceMatches | Length | ToChars | Trim | Split | Join
        | Encode | Decode | Escape | Unescape => strings::call(ctx, f, input, args, scope),
        Abs | Ceiling | Exp | Floor | Ln | Log | Power | Round | Sqrt | Truncate | LowBoundary
        | HighBoundary | Precision | Comparable => math::call(ctx, f, input, args, scope),
        Children | Descendants | Now | Today | TimeOfDay | Type | Extension | HasValue
        | GetValue | Resolve | MemberOf | HtmlChecks | ConformsTo | Is | As | OfType => {
            fhir::call(ctx, f, input, args, scope)
        }
    }
}

/// `is(T)`, `as(T)`, `ofType(T)` and the `is`/`as` operators.
pub(crate) fn type_call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    spec: &TypeSpec,
) -> Result<Coll<'a>, Error> {
    fhir::type_call(ctx, f, input, spec)
}

/// Evaluates an argument once, in the caller's scope.
pub(crate) fn arg<'a>(
    ctx: &Ctx<'a, '_>,
    args: &[Expr],
    i: usize,
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    match args.get(i) {
        Some(e) => ctx.eval(e, scope),
        None => Ok(Vec::new()),
    }
}

/// The single item of a collection: `None` when empty, an error when there are several.
pub(crate) fn singleton<'c, 'a>(c: &'c [Item<'a>]) -> Result<Option<&'c Item<'a>>, Error> {
    match c {
        [] => Ok(None),
        [i] => Ok(Some(i)),
        _ => Err(Error::eval(format!(
            "expected a single item, got {}",
            c.len()
        ))),
    }
}

/// An optional integer argument.
pub(crate) fn int_arg<'a>(
    ctx: &Ctx<'a, '_>,
    args: &[Expr],
    i: usize,
    scope: Scope<'_, 'a>,
) -> Result<Option<i64>, Error> {
    let v = arg(ctx, args, i, scope)?;
    match singleton(&v)? {
        None => Ok(None),
        Some(item) => match item.val() {
            Val::Int(n) => Ok(Some(n)),
            _ => Err(Error::eval("expected an integer argument")),
        },
    }
}

/// An optional string argument.
pub(crate) fn str_arg<'a>(
    ctx: &Ctx<'a, '_>,
    args: &[Expr],
    i: usize,
    scope: Scope<'_, 'a>,
) -> Result<Option<String>, Error> {
    let v = arg(ctx, args, i, scope)?;
    match singleton(&v)? {
        None => Ok(None),
        Some(item) => match item.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(Error::eval("expected a string argument")),
        },
    }
}

/// A one-item collection.
pub(crate) fn one(item: Item) -> Coll {
    vec![item]
}

/// A boolean collection.
pub(crate) fn boolean<'a>(b: bool) -> Coll<'a> {
    vec![Item::Bool(b)]
}
