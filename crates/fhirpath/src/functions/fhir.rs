//! Type functions, tree navigation, the clock, and the FHIR-specific functions (`extension`,
//! `hasValue`, `getValue`, `resolve`, `memberOf`, `conformsTo`, `htmlChecks`).

use super::{boolean, one, singleton, str_arg};
use crate::ast::{Expr, Func, TypeSpec};
use crate::dates::{Dt, Kind, Prec};
use crate::eval::{resource_elem, resource_type, Coll, Ctx, Scope};
use crate::items::{is_subtype, Elem, Item, Val, SYSTEM_TYPES};
use crate::Error;
use serde_json::Value;

const SD_BASE: &str = "http://hl7.org/fhir/StructureDefinition/";

fn known_type(ctx: &Ctx, spec: &TypeSpec) -> bool {
    let system = SYSTEM_TYPES.contains(&spec.name.as_str());
    let fhir = ctx.defs.structure(&spec.name).is_some();
    match spec.namespace.as_deref() {
        Some("System") => system,
        Some("FHIR") => fhir,
        None => system || fhir,
        Some(_) => false,
    }
}

pub(super) fn type_call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    spec: &TypeSpec,
) -> Result<Coll<'a>, Error> {
    let known = known_type(ctx, spec);
    match f {
        Func::Is => Ok(match singleton(&input)? {
            None => Vec::new(),
            // An unknown type is simply not the item's type (R4 invariants name R5 types).
            Some(i) => boolean(known && i.is_type(ctx.defs, spec)),
        }),
        Func::As | Func::OfType => {
            if !known {
                return Err(Error::eval(format!("unknown type '{}'", spec.name)));
            }
            if f == Func::As && input.len() > 1 && !ctx.lenient_as {
                return Err(Error::eval("as() on a collection of several items"));
            }
            Ok(input
                .into_iter()
                .filter(|i| i.as_type(ctx.defs, spec))
                .collect())
        }
        _ => Err(Error::eval(format!("{f:?} does not take a type"))),
    }
}

fn extensions<'a>(e: &Elem<'a>) -> impl Iterator<Item = &'a Value> {
    let holder = match e.value {
        Some(v @ Value::Object(_)) => Some(v),
        _ => e.ext,
    };
    holder
        .and_then(|h| h.get("extension"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The System value of a primitive element.
fn system_value<'a>(item: &Item<'a>) -> Option<Item<'a>> {
    Some(match item.val() {
        Val::Bool(b) => Item::Bool(b),
        Val::Int(i) => Item::Int(i),
        Val::Dec(d) => Item::Dec(d),
        Val::Str(s) => Item::str(s),
        Val::Dt(d) => Item::Dt(d),
        Val::Quantity(_) | Val::Other => return None,
    })
}

fn by_id<'a>(list: Option<&'a Value>, id: &str) -> Option<&'a Value> {
    list?
        .as_array()?
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

/// Resolves one reference: contained resources and Bundle entries to their element, anything
/// else of the form `[base/]Type/id[/_history/v]` to a placeholder of type `Type`.
fn resolve_one<'a>(ctx: &Ctx<'a, '_>, reference: &str, out: &mut Coll<'a>) {
    let root = |c: &Option<Item<'a>>| c.as_ref().and_then(Item::elem).and_then(|e| e.value);
    if let Some(id) = reference.strip_prefix('#') {
        for holder in [root(&ctx.resource), root(&ctx.root_resource)]
            .into_iter()
            .flatten()
        {
            if id.is_empty() {
                out.push(Item::Elem(resource_elem(ctx.defs, holder)));
                return;
            }
            if let Some(r) = by_id(holder.get("contained"), id) {
                out.push(Item::Elem(resource_elem(ctx.defs, r)));
                return;
            }
        }
        return;
    }
    let path = match reference.find("/_history/") {
        Some(i) => &reference[..i],
        None => reference,
    };
    let mut segs = path.rsplit('/');
    let (id, ty) = (segs.next(), segs.next());
    let ty = ty.and_then(|t| resource_type(ctx.defs, t));
    if let Some(bundle) = root(&ctx.root_resource)
        .filter(|b| b.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
    {
        let entries = bundle.get("entry").and_then(Value::as_array);
        for entry in entries.into_iter().flatten() {
            let Some(res) = entry.get("resource") else {
                continue;
            };
            let full = entry.get("fullUrl").and_then(Value::as_str);
            let same_type = ty.is_some()
                && res.get("resourceType").and_then(Value::as_str) == ty
                && res.get("id").and_then(Value::as_str) == id;
            if full == Some(reference) || same_type {
                out.push(Item::Elem(resource_elem(ctx.defs, res)));
                return;
            }
        }
    }
    if let (Some(ty), Some(id)) = (ty, id) {
        if !id.is_empty() {
            out.push(Item::Resolved(ty));
        }
    }
}

fn member_of(ctx: &Ctx, item: &Item, url: &str) -> Option<bool> {
    let url = url.split('|').next().unwrap_or(url);
    let vs = ctx.defs.value_set(url)?;
    if let Some(code) = item.as_str() {
        return Some(vs.codes.contains(code));
    }
    let e = item.elem()?;
    let coding_in = |c: &Value| {
        let code = c.get("code").and_then(Value::as_str);
        let system = c.get("system").and_then(Value::as_str);
        match (system, code) {
            (Some(s), Some(c)) => vs.pairs.contains(&(s.to_string(), c.to_string())),
            (None, Some(c)) => vs.codes.contains(c),
            _ => false,
        }
    };
    let v = e.value?;
    if is_subtype(ctx.defs, e.ty, "Coding") {
        return Some(coding_in(v));
    }
    if is_subtype(ctx.defs, e.ty, "CodeableConcept") {
        let codings = v.get("coding").and_then(Value::as_array)?;
        return Some(codings.iter().any(coding_in));
    }
    None
}

pub(super) fn call<'a>(
    ctx: &Ctx<'a, '_>,
    f: Func,
    input: Coll<'a>,
    args: &[Expr],
    scope: Scope<'_, 'a>,
) -> Result<Coll<'a>, Error> {
    use Func::*;
    Ok(match f {
        Children => ctx.children(&input),
        Descendants => ctx.descendants(&input),
        Now => one(Item::Dt(Dt::now())),
        Today => {
            let n = Dt::now();
            one(Item::Dt(Dt {
                kind: Kind::Date,
                prec: Prec::Day,
                hour: 0,
                minute: 0,
                second: 0,
                milli: 0,
                tz: None,
                ..n
            }))
        }
        TimeOfDay => {
            let n = Dt::now();
            one(Item::Dt(Dt {
                kind: Kind::Time,
                tz: None,
                ..n
            }))
        }
        Type => input
            .iter()
            .map(|i| {
                let (ns, name) = i.type_name();
                Item::TypeInfo(ns, name.into())
            })
            .collect(),
        Extension => {
            let Some(url) = str_arg(ctx, args, 0, scope)? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for e in input.iter().filter_map(Item::elem) {
                for x in extensions(e) {
                    if x.get("url").and_then(Value::as_str) == Some(url.as_str()) {
                        out.push(Item::Elem(Elem {
                            value: Some(x),
                            ext: None,
                            ty: "Extension",
                            path: "Extension",
                        }));
                    }
                }
            }
            out
        }
        HasValue => boolean(matches!(
            input.as_slice(),
            [Item::Elem(e)] if e.has_primitive_value()
        )),
        GetValue => match input.as_slice() {
            [i @ Item::Elem(e)] if e.has_primitive_value() => system_value(i).into_iter().collect(),
            _ => Vec::new(),
        },
        Resolve => {
            let mut out = Vec::new();
            for item in &input {
                let reference = match item {
                    Item::Elem(e) if is_subtype(ctx.defs, e.ty, "Reference") => e
                        .value
                        .and_then(|v| v.get("reference"))
                        .and_then(Value::as_str),
                    other => other.as_str(),
                };
                if let Some(r) = reference {
                    resolve_one(ctx, r, &mut out);
                }
            }
            out
        }
        MemberOf => {
            let Some(url) = str_arg(ctx, args, 0, scope)? else {
                return Ok(Vec::new());
            };
            match singleton(&input)? {
                None => Vec::new(),
                Some(i) => member_of(ctx, i, &url)
                    .map(Item::Bool)
                    .into_iter()
                    .collect(),
            }
        }
        HtmlChecks => boolean(true),
        ConformsTo => {
            let Some(url) = str_arg(ctx, args, 0, scope)? else {
                return Ok(Vec::new());
            };
            let name = url
                .strip_prefix(SD_BASE)
                .filter(|n| ctx.defs.structure(n).is_some())
                .ok_or_else(|| Error::eval(format!("unknown profile '{url}'")))?;
            match singleton(&input)? {
                None => Vec::new(),
                Some(i) => {
                    let (_, ty) = i.type_name();
                    boolean(is_subtype(ctx.defs, ty, name))
                }
            }
        }
        Is | As | OfType => return Err(Error::eval("type functions need a type argument")),
        _ => return Err(Error::eval(format!("{f:?} is not a FHIR function"))),
    })
}
