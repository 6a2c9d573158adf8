//! What a FHIRPath collection holds: FHIR elements (borrowed from the resource, with their type
//! from the definitions) and System values computed by the expression. Elements are converted
//! to System values only where an operator needs one, so navigation never copies JSON.

use crate::ast::TypeSpec;
use crate::dates::{Dt, Kind};
use crate::decimal::Dec;
use crate::quantity::Quantity;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;
use zdrav_fhir::Definitions;

/// A FHIR element of the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Elem<'a> {
    /// The JSON value (`None` for a primitive that has only extensions).
    pub value: Option<&'a Value>,
    /// The `_name` companion of a primitive (its `id` and `extension`).
    pub ext: Option<&'a Value>,
    /// FHIR type name.
    pub ty: &'static str,
    /// The definitions node describing its properties (`Patient.contact`, `HumanName`), empty
    /// for primitives and untyped JSON.
    pub path: &'static str,
}

/// One item of a collection.
#[derive(Debug, Clone)]
pub(crate) enum Item<'a> {
    /// An element of the input.
    Elem(Elem<'a>),
    /// `System.Boolean`.
    Bool(bool),
    /// `System.Integer`.
    Int(i64),
    /// `System.Decimal`.
    Dec(Dec),
    /// `System.String`.
    Str(Arc<str>),
    /// `System.Date`, `System.DateTime`, `System.Time`.
    Dt(Dt),
    /// `System.Quantity`.
    Quantity(Quantity),
    /// The result of `type()`.
    TypeInfo(&'static str, Arc<str>),
    /// What `resolve()` yields for a reference it cannot load: only its type is known.
    Resolved(&'static str),
}

/// A borrowed System-level view of an item, for operators.
#[derive(Debug)]
pub(crate) enum Val<'x> {
    Bool(bool),
    Int(i64),
    Dec(Dec),
    Str(&'x str),
    Dt(Dt),
    Quantity(Cow<'x, Quantity>),
    /// A complex element or anything without a System value.
    Other,
}

/// The System type names.
pub(crate) const SYSTEM_TYPES: [&str; 8] = [
    "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
];

/// True when `ty` is `target` or derives from it (`Age` is a `Quantity`, `code` a `string`).
pub(crate) fn is_subtype(defs: &Definitions, ty: &str, target: &str) -> bool {
    let mut cur = ty;
    for _ in 0..16 {
        if cur == target {
            return true;
        }
        match defs.structure(cur).and_then(|s| s.base.as_deref()) {
            Some(b) => cur = b,
            None => return false,
        }
    }
    false
}

fn quantity_of(obj: &Value) -> Option<Quantity> {
    let value = Dec::parse(&number_text(obj.get("value")?)?)?;
    let ucum = obj.get("system").and_then(Value::as_str) == Some("http://unitsofmeasure.org");
    let code = obj.get("code").and_then(Value::as_str);
    let unit = match (ucum, code) {
        (true, Some(c)) => c,
        _ => obj
            .get("unit")
            .and_then(Value::as_str)
            .or(code)
            .unwrap_or("1"),
    };
    Some(Quantity::new(value, unit))
}

/// The exact text of a JSON number.
pub(crate) fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl<'a> Item<'a> {
    /// A string item.
    pub fn str(s: &str) -> Item<'a> {
        Item::Str(Arc::from(s))
    }

    /// The item's System-level value.
    pub fn val(&self) -> Val<'_> {
        match self {
            Item::Bool(b) => Val::Bool(*b),
            Item::Int(i) => Val::Int(*i),
            Item::Dec(d) => Val::Dec(*d),
            Item::Str(s) => Val::Str(s),
            Item::Dt(d) => Val::Dt(*d),
            Item::Quantity(q) => Val::Quantity(Cow::Borrowed(q)),
            Item::Elem(e) => e.val(),
            Item::TypeInfo(..) | Item::Resolved(_) => Val::Other,
        }
    }

    /// The string value, for string items and string-like FHIR primitives.
    pub fn as_str(&self) -> Option<&str> {
        match self.val() {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The element, if this is one.
    pub fn elem(&self) -> Option<&Elem<'a>> {
        match self {
            Item::Elem(e) => Some(e),
            _ => None,
        }
    }

    /// Namespace and name of the item's type.
    pub fn type_name(&self) -> (&'static str, &str) {
        match self {
            Item::Elem(e) => ("FHIR", e.ty),
            Item::Resolved(t) => ("FHIR", t),
            Item::Bool(_) => ("System", "Boolean"),
            Item::Int(_) => ("System", "Integer"),
            Item::Dec(_) => ("System", "Decimal"),
            Item::Str(_) => ("System", "String"),
            Item::Dt(d) => (
                "System",
                match d.kind {
                    Kind::Date => "Date",
                    Kind::DateTime => "DateTime",
                    Kind::Time => "Time",
                },
            ),
            Item::Quantity(_) => ("System", "Quantity"),
            Item::TypeInfo(..) => ("System", "Object"),
        }
    }

    /// `is` semantics: the item's type is the specified type or derives from it.
    pub fn is_type(&self, defs: &Definitions, spec: &TypeSpec) -> bool {
        let (ns, name) = self.type_name();
        if spec.namespace.as_deref().is_some_and(|n| n != ns) {
            return false;
        }
        if ns == "FHIR" {
            is_subtype(defs, name, &spec.name)
        } else {
            name == spec.name
        }
    }

    /// `as`/`ofType` semantics: like `is`, but a FHIR primitive must match exactly (a `code`
    /// is not returned by `as(string)`).
    pub fn as_type(&self, defs: &Definitions, spec: &TypeSpec) -> bool {
        match self {
            Item::Elem(e) if zdrav_fhir::defs::is_primitive(e.ty) => {
                spec.namespace.as_deref().is_none_or(|n| n == "FHIR") && e.ty == spec.name
            }
            _ => self.is_type(defs, spec),
        }
    }
}

impl<'a> Elem<'a> {
    /// True for a primitive with a value.
    pub fn has_primitive_value(&self) -> bool {
        matches!(
            self.value,
            Some(Value::String(_) | Value::Number(_) | Value::Bool(_))
        )
    }

    fn val(&self) -> Val<'a> {
        let Some(v) = self.value else {
            return Val::Other;
        };
        match v {
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => {
                let text = n.to_string();
                if self.ty == "decimal" {
                    return Dec::parse(&text).map_or(Val::Other, Val::Dec);
                }
                match text.parse::<i64>() {
                    Ok(i) => Val::Int(i),
                    Err(_) => Dec::parse(&text).map_or(Val::Other, Val::Dec),
                }
            }
            Value::String(s) => match self.ty {
                "date" => Dt::parse_date(s).map_or(Val::Str(s), Val::Dt),
                "dateTime" | "instant" => Dt::parse_datetime(s).map_or(Val::Str(s), Val::Dt),
                "time" => Dt::parse_time(s).map_or(Val::Str(s), Val::Dt),
                "integer" | "positiveInt" | "unsignedInt" => {
                    s.parse().map_or(Val::Str(s), Val::Int)
                }
                "decimal" => Dec::parse(s).map_or(Val::Str(s), Val::Dec),
                _ => Val::Str(s),
            },
            Value::Object(_) if is_quantity_type(self.ty) => {
                quantity_of(v).map_or(Val::Other, |q| Val::Quantity(Cow::Owned(q)))
            }
            _ => Val::Other,
        }
    }
}

fn is_quantity_type(ty: &str) -> bool {
    matches!(
        ty,
        "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity" | "MoneyQuantity"
    )
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (Dec::parse(&x.to_string()), Dec::parse(&y.to_string())) {
                (Some(x), Some(y)) => x.cmp_num(&y) == Ordering::Equal,
                _ => x == y,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn numbers(a: &Val, b: &Val) -> Option<(Dec, Dec)> {
    let d = |v: &Val| match v {
        Val::Int(i) => Some(Dec::from_i64(*i)),
        Val::Dec(d) => Some(*d),
        _ => None,
    };
    Some((d(a)?, d(b)?))
}

fn dt_compatible(a: &Dt, b: &Dt) -> bool {
    (a.kind == Kind::Time) == (b.kind == Kind::Time)
}

/// FHIRPath `=` on two items: `None` when the answer is unknown (partial dates).
pub(crate) fn items_equal(a: &Item, b: &Item) -> Option<bool> {
    let (va, vb) = (a.val(), b.val());
    match (&va, &vb) {
        (Val::Bool(x), Val::Bool(y)) => Some(x == y),
        (Val::Str(x), Val::Str(y)) => Some(x == y),
        (Val::Dt(x), Val::Dt(y)) => {
            if !dt_compatible(x, y) {
                return Some(false);
            }
            x.compare(y).map(|o| o == Ordering::Equal)
        }
        (Val::Quantity(x), Val::Quantity(y)) => x.equals(y),
        (Val::Other, Val::Other) => Some(match (a, b) {
            (Item::Elem(x), Item::Elem(y)) => {
                let v = match (x.value, y.value) {
                    (Some(p), Some(q)) => json_equal(p, q),
                    (None, None) => true,
                    _ => false,
                };
                v && match (x.ext, y.ext) {
                    (Some(p), Some(q)) => json_equal(p, q),
                    (None, None) => true,
                    _ => false,
                }
            }
            (Item::TypeInfo(n1, a1), Item::TypeInfo(n2, a2)) => n1 == n2 && a1 == a2,
            (Item::Resolved(x), Item::Resolved(y)) => x == y,
            _ => false,
        }),
        _ => match numbers(&va, &vb) {
            Some((x, y)) => Some(x.cmp_num(&y) == Ordering::Equal),
            None => Some(false),
        },
    }
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// FHIRPath `~` on two items.
pub(crate) fn items_equivalent(a: &Item, b: &Item) -> bool {
    let (va, vb) = (a.val(), b.val());
    match (&va, &vb) {
        (Val::Str(x), Val::Str(y)) => normalize_ws(x) == normalize_ws(y),
        (Val::Dt(x), Val::Dt(y)) => dt_compatible(x, y) && x.equivalent(y),
        (Val::Quantity(x), Val::Quantity(y)) => x.equivalent(y),
        _ => match numbers(&va, &vb) {
            Some((x, y)) => {
                let s = x.scale().min(y.scale());
                x.round(s).cmp_num(&y.round(s)) == Ordering::Equal
            }
            None => items_equal(a, b) == Some(true),
        },
    }
}

/// Orders two items for `<`, `>`, `sort()`: `Ok(None)` when unknown, `Err` when the types
/// cannot be compared.
pub(crate) fn items_compare(a: &Item, b: &Item) -> Result<Option<Ordering>, String> {
    let (va, vb) = (a.val(), b.val());
    match (&va, &vb) {
        (Val::Str(x), Val::Str(y)) => Ok(Some(x.cmp(y))),
        (Val::Dt(x), Val::Dt(y)) if dt_compatible(x, y) => Ok(x.compare(y)),
        (Val::Quantity(x), Val::Quantity(y)) => Ok(x.compare(y)),
        (Val::Bool(x), Val::Bool(y)) => Ok(Some(x.cmp(y))),
        _ => match numbers(&va, &vb) {
            Some((x, y)) => Ok(Some(x.cmp_num(&y))),
            None => Err(format!(
                "cannot compare {} with {}",
                a.type_name().1,
                b.type_name().1
            )),
        },
    }
}
