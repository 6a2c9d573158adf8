//! The evaluator: walks the compiled tree over collections of [`Item`]s, navigating the FHIR
//! JSON with the types of the definitions.

use crate::ast::{Expr, Func, Lit};
use crate::items::{is_subtype, Elem, Item};
use crate::Error;
use serde_json::Value;
use std::collections::HashMap;
use zdrav_fhir::defs::{is_primitive, Child};
use zdrav_fhir::Definitions;

/// The `_name` companion of a primitive property, looked up without allocating.
pub(crate) fn companion<'v>(
    obj: &'v serde_json::Map<String, Value>,
    name: &str,
) -> Option<&'v Value> {
    let mut buf = [0u8; 64];
    if name.len() >= buf.len() {
        return obj.get(&format!("_{name}"));
    }
    buf[0] = b'_';
    buf[1..=name.len()].copy_from_slice(name.as_bytes());
    std::str::from_utf8(&buf[..=name.len()])
        .ok()
        .and_then(|k| obj.get(k))
}

/// A collection.
pub(crate) type Coll<'a> = Vec<Item<'a>>;

/// Whether an item's type defines a navigated name.
enum Known {
    Yes,
    No(&'static str),
    Untyped,
}

/// Evaluation-wide state: definitions and the environment variables.
pub(crate) struct Ctx<'a, 'v> {
    pub defs: &'static Definitions,
    /// `%resource`.
    pub resource: Option<Item<'a>>,
    /// `%rootResource`.
    pub root_resource: Option<Item<'a>>,
    /// `%context`.
    pub context: Option<Item<'a>>,
    /// Caller-supplied `%name` constants.
    pub vars: Option<&'v HashMap<String, String>>,
    /// Strict mode: a type name that does not match the focus is an error, not empty.
    pub strict: bool,
    /// `as()` on several items filters like `ofType()` instead of failing: the R4 definitions
    /// rely on it (`dom-3` applies `descendants().as(canonical)`).
    pub lenient_as: bool,
}

/// The iteration variables in scope.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'s, 'a> {
    /// `$this`.
    pub this: &'s [Item<'a>],
    /// `$index`.
    pub index: Option<usize>,
    /// `$total`.
    pub total: Option<&'s [Item<'a>]>,
}

const CONSTANTS: [(&str, &str); 3] = [
    ("sct", "http://snomed.info/sct"),
    ("loinc", "http://loinc.org"),
    ("ucum", "http://unitsofmeasure.org"),
];

/// Interns a resource type name into the definitions' `'static` list.
pub(crate) fn resource_type(defs: &'static Definitions, name: &str) -> Option<&'static str> {
    let types = defs.resource_types();
    types
        .binary_search_by(|t| t.as_str().cmp(name))
        .ok()
        .map(|i| types[i].as_str())
}

/// An element for a whole resource (its type from `resourceType`).
pub(crate) fn resource_elem<'a>(defs: &'static Definitions, v: &'a Value) -> Elem<'a> {
    let ty = v
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(|t| resource_type(defs, t));
    Elem {
        value: Some(v),
        ext: None,
        ty: ty.unwrap_or("Resource"),
        path: ty.unwrap_or(""),
    }
}

/// The definitions node that describes a child's value (`None` for primitives).
pub(crate) fn child_path(child: &'static Child) -> &'static str {
    if let Some(target) = &child.element.content_reference {
        return target.as_str();
    }
    match child.type_code.as_deref() {
        Some("BackboneElement" | "Element") => child.element.path.as_str(),
        Some(code) if !is_primitive(code) && code != "Resource" => code,
        _ => "",
    }
}

/// The FHIR type of a child (`BackboneElement` for a content reference).
pub(crate) fn child_type(child: &'static Child) -> &'static str {
    match child.type_code.as_deref() {
        Some(t) => t,
        None => "BackboneElement",
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "decimal",
        _ => "Element",
    }
}

impl<'a> Ctx<'a, '_> {
    /// True for a whole resource (whose `id` is of type `id`, unlike `Element.id`).
    fn is_resource(&self, e: &Elem) -> bool {
        e.ty == e.path && self.defs.is_resource_type(e.ty)
    }

    /// Pushes the elements of one JSON property (flattening arrays, pairing `_name`).
    fn push_prop(
        &self,
        v: Option<&'a Value>,
        ext: Option<&'a Value>,
        ty: &'static str,
        path: &'static str,
        out: &mut Coll<'a>,
    ) {
        let mk = |value: Option<&'a Value>, ext: Option<&'a Value>| -> Option<Item<'a>> {
            let value = value.filter(|v| !v.is_null());
            let ext = ext.filter(|v| v.is_object());
            if value.is_none() && ext.is_none() {
                return None;
            }
            if ty == "Resource" {
                return value.map(|v| Item::Elem(resource_elem(self.defs, v)));
            }
            Some(Item::Elem(Elem {
                value,
                ext,
                ty,
                path,
            }))
        };
        match (v, ext) {
            (Some(Value::Array(items)), _) => {
                let exts = ext.and_then(Value::as_array);
                for (i, x) in items.iter().enumerate() {
                    out.extend(mk(Some(x), exts.and_then(|e| e.get(i))));
                }
            }
            (None, Some(Value::Array(exts))) => {
                for e in exts {
                    out.extend(mk(None, Some(e)));
                }
            }
            _ => out.extend(mk(v, ext)),
        }
    }

    /// Navigates to the property `name` of every item of `focus`.
    ///
    /// In strict mode a name that none of the typed items defines is a semantic error
    /// (`name.given1`); a mixed collection (`descendants().linkId`) only needs one item that
    /// defines it. Outside strict mode it is empty, because a dynamic check cannot tell
    /// `descendants().where(reference = '#')` (valid: some element may have a reference) from a
    /// typo. A choice element spelled with its type (`valueQuantity`) is always an error.
    pub fn members(&self, focus: &[Item<'a>], name: &str) -> Result<Coll<'a>, Error> {
        let mut out = Vec::new();
        let mut unknown_on = None;
        let mut known = false;
        for item in focus {
            match self.member(item, name, &mut out)? {
                Known::Yes => known = true,
                Known::No(ty) => unknown_on = unknown_on.or(Some(ty)),
                Known::Untyped => {}
            }
        }
        match unknown_on {
            Some(ty) if !known && self.strict => Err(Error::semantic(format!(
                "'{name}' is not an element of {ty}"
            ))),
            _ => Ok(out),
        }
    }

    fn member(&self, item: &Item<'a>, name: &str, out: &mut Coll<'a>) -> Result<Known, Error> {
        let e = match item {
            Item::Elem(e) => e,
            Item::TypeInfo(ns, n) => {
                match name {
                    "namespace" => out.push(Item::str(ns)),
                    "name" => out.push(Item::Str(n.clone())),
                    _ => {}
                }
                return Ok(Known::Untyped);
            }
            Item::Quantity(q) => {
                match name {
                    "value" => out.push(Item::Dec(q.value)),
                    "unit" => out.push(Item::str(&q.unit)),
                    _ => {}
                }
                return Ok(Known::Untyped);
            }
            _ => return Ok(Known::Untyped),
        };
        let Some(obj) = e.value.and_then(Value::as_object) else {
            // A primitive's only properties are the `id` and `extension` of its companion.
            if let (Some(ext), "id" | "extension") = (e.ext, name) {
                let ty = if name == "id" { "string" } else { "Extension" };
                let path = if name == "id" { "" } else { "Extension" };
                self.push_prop(ext.get(name), None, ty, path, out);
            }
            return Ok(Known::Untyped);
        };
        let defs: &'static Definitions = self.defs;
        let node = if e.path.is_empty() {
            None
        } else {
            defs.node(e.path)
        };
        let Some(node) = node else {
            // Untyped JSON (unknown resource type): navigate by name, types from the JSON.
            if let Some(v) = obj.get(name) {
                let ty = match v {
                    Value::Array(a) => a.first().map_or("Element", json_type),
                    v => json_type(v),
                };
                self.push_prop(Some(v), companion(obj, name), ty, "", out);
            }
            return Ok(Known::Untyped);
        };
        if let Some(child) = node.children.get(name) {
            if child.element.is_choice() {
                return Err(Error::semantic(format!(
                    "'{name}' is not an element of {}: use '{}'",
                    e.ty,
                    child.element.name()
                )));
            }
            {
                let mut ty = child_type(child);
                if name == "id" && self.is_resource(e) {
                    // Resource.id is typed `System.String` in the snapshot; FHIR calls it `id`.
                    ty = "id";
                }
                let ext = if is_primitive(ty) {
                    companion(obj, name)
                } else {
                    None
                };
                self.push_prop(obj.get(name), ext, ty, child_path(child), out);
                return Ok(Known::Yes);
            }
        }
        // A choice element: `value` finds `valueQuantity`, `_valueString`, ...
        let mut found = false;
        for (key, v) in obj {
            let k = key.strip_prefix('_').unwrap_or(key);
            let Some(rest) = k.strip_prefix(name) else {
                continue;
            };
            if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let Some(child) = node.children.get(k) else {
                continue;
            };
            if !child.element.is_choice() || child.element.name() != name {
                continue;
            }
            found = true;
            let ty = child_type(child);
            if key.starts_with('_') {
                if !obj.contains_key(k) {
                    self.push_prop(None, Some(v), ty, "", out);
                }
                continue;
            }
            let ext = companion(obj, k);
            self.push_prop(Some(v), ext, ty, child_path(child), out);
        }
        if found
            || node
                .children
                .values()
                .any(|c| c.element.is_choice() && c.element.name() == name)
        {
            return Ok(Known::Yes);
        }
        Ok(Known::No(e.ty))
    }

    /// `children()`: every element directly under the items.
    pub fn children(&self, focus: &[Item<'a>]) -> Coll<'a> {
        let mut out = Vec::new();
        for item in focus {
            let Some(e) = item.elem() else { continue };
            let Some(obj) = e.value.and_then(Value::as_object) else {
                if let Some(ext) = e.ext {
                    self.push_prop(ext.get("id"), None, "string", "", &mut out);
                    self.push_prop(
                        ext.get("extension"),
                        None,
                        "Extension",
                        "Extension",
                        &mut out,
                    );
                }
                continue;
            };
            let defs: &'static Definitions = self.defs;
            let node = if e.path.is_empty() {
                None
            } else {
                defs.node(e.path)
            };
            for (key, v) in obj {
                if key == "resourceType" {
                    continue;
                }
                let (k, only_ext) = match key.strip_prefix('_') {
                    Some(k) if obj.contains_key(k) => continue,
                    Some(k) => (k, true),
                    None => (key.as_str(), false),
                };
                let child = node.and_then(|n| n.children.get(k));
                let (ty, path) = match child {
                    Some(c) => {
                        let ty = if k == "id" && self.is_resource(e) {
                            "id"
                        } else {
                            child_type(c)
                        };
                        (ty, child_path(c))
                    }
                    None if only_ext => ("Element", ""),
                    None => (json_type(v), ""),
                };
                if only_ext {
                    self.push_prop(None, Some(v), ty, "", &mut out);
                } else {
                    let ext = if is_primitive(ty) {
                        companion(obj, k)
                    } else {
                        None
                    };
                    self.push_prop(Some(v), ext, ty, path, &mut out);
                }
            }
        }
        out
    }

    /// `descendants()`: children, recursively.
    pub fn descendants(&self, focus: &[Item<'a>]) -> Coll<'a> {
        let mut out = Vec::new();
        let mut level = self.children(focus);
        while !level.is_empty() {
            let next = self.children(&level);
            out.append(&mut level);
            level = next;
        }
        out
    }

    /// Evaluates an expression.
    pub fn eval(&self, e: &Expr, scope: Scope<'_, 'a>) -> Result<Coll<'a>, Error> {
        match e {
            Expr::Lit(l) => Ok(lit(l).into_iter().collect()),
            Expr::This => Ok(scope.this.to_vec()),
            Expr::Index => Ok(scope
                .index
                .map(|i| Item::Int(i as i64))
                .into_iter()
                .collect()),
            Expr::Total => Ok(scope.total.map(<[_]>::to_vec).unwrap_or_default()),
            Expr::Constant(name) => self.constant(name),
            Expr::Member(None, name) => self.root_member(scope.this, name),
            Expr::Member(Some(src), name) => {
                if self.strict {
                    self.check_cast_member(src, name)?;
                }
                let focus = self.eval(src, scope)?;
                self.members(&focus, name)
            }
            Expr::Call(src, f, args) => {
                if self.strict {
                    check_ordered(src.as_deref(), *f)?;
                }
                let input = match src {
                    Some(s) => self.eval(s, scope)?,
                    None => scope.this.to_vec(),
                };
                crate::functions::call(self, *f, input, args, scope, src.is_some())
            }
            Expr::TypeCall(src, f, spec) => {
                let input = match src {
                    Some(s) => self.eval(s, scope)?,
                    None => scope.this.to_vec(),
                };
                crate::functions::type_call(self, *f, input, spec)
            }
            Expr::Indexer(src, idx) => {
                let focus = self.eval(src, scope)?;
                let i = self.eval(idx, scope)?;
                let i = match i.as_slice() {
                    [] => return Ok(Vec::new()),
                    [Item::Int(i)] => *i,
                    _ => return Err(Error::eval("an index must be a single integer")),
                };
                Ok(usize::try_from(i)
                    .ok()
                    .and_then(|i| focus.get(i).cloned())
                    .into_iter()
                    .collect())
            }
            Expr::Unary(neg, operand) => {
                let v = self.eval(operand, scope)?;
                crate::ops::unary(*neg, v)
            }
            Expr::Binary(op, l, r) => crate::ops::binary(self, *op, l, r, scope),
        }
    }

    /// Strict mode: `(x as Period).unit` names an element the cast type does not have, which
    /// is a static error even when the cast yields nothing.
    fn check_cast_member(&self, src: &Expr, name: &str) -> Result<(), Error> {
        let Expr::TypeCall(_, Func::As | Func::OfType, spec) = src else {
            return Ok(());
        };
        let Some(node) = self.defs.node(&spec.name) else {
            return Ok(());
        };
        let known = node
            .children
            .get(name)
            .is_some_and(|c| !c.element.is_choice())
            || node
                .children
                .values()
                .any(|c| c.element.is_choice() && c.element.name() == name);
        if known {
            Ok(())
        } else {
            Err(Error::semantic(format!(
                "'{name}' is not an element of {}",
                spec.name
            )))
        }
    }

    fn constant(&self, name: &str) -> Result<Coll<'a>, Error> {
        match name {
            "resource" => return Ok(self.resource.iter().cloned().collect()),
            "rootResource" => return Ok(self.root_resource.iter().cloned().collect()),
            "context" => return Ok(self.context.iter().cloned().collect()),
            _ => {}
        }
        if let Some(v) = self.vars.and_then(|m| m.get(name)) {
            return Ok(vec![Item::str(v)]);
        }
        if let Some((_, v)) = CONSTANTS.iter().find(|(n, _)| *n == name) {
            return Ok(vec![Item::str(v)]);
        }
        if let Some(vs) = name.strip_prefix("vs-") {
            return Ok(vec![Item::Str(
                format!("http://hl7.org/fhir/ValueSet/{vs}").into(),
            )]);
        }
        if let Some(ext) = name.strip_prefix("ext-") {
            return Ok(vec![Item::Str(
                format!("http://hl7.org/fhir/StructureDefinition/{ext}").into(),
            )]);
        }
        Err(Error::eval(format!("unknown constant %{name}")))
    }

    /// An identifier with no focus: a type filter when it names the type of `$this`
    /// (`Patient.name` on a Patient), otherwise a member of `$this`.
    fn root_member(&self, this: &[Item<'a>], name: &str) -> Result<Coll<'a>, Error> {
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            let matching: Coll<'a> = this
                .iter()
                .filter(|i| match i {
                    Item::Elem(e) => is_subtype(self.defs, e.ty, name),
                    _ => false,
                })
                .cloned()
                .collect();
            if !matching.is_empty() {
                return Ok(matching);
            }
            if self.defs.structure(name).is_some() {
                if self.strict && !this.is_empty() {
                    return Err(Error::semantic(format!("the context is not a {name}")));
                }
                return Ok(Vec::new());
            }
        }
        self.members(this, name)
    }
}

/// Strict mode: functions that depend on order (`skip`, `first`, ...) cannot apply to
/// `children()`/`descendants()`, whose order is not defined.
fn check_ordered(src: Option<&Expr>, f: Func) -> Result<(), Error> {
    let ordered = matches!(
        f,
        Func::Skip | Func::Take | Func::First | Func::Last | Func::Tail
    );
    match src {
        Some(Expr::Call(_, Func::Children | Func::Descendants, _)) if ordered => Err(
            Error::semantic(format!("{f:?}() on an unordered collection")),
        ),
        _ => Ok(()),
    }
}

/// A literal as an item.
pub(crate) fn lit<'a>(l: &Lit) -> Option<Item<'a>> {
    Some(match l {
        Lit::Empty => return None,
        Lit::Bool(b) => Item::Bool(*b),
        Lit::Int(i) => Item::Int(*i),
        Lit::Dec(d) => Item::Dec(*d),
        Lit::Str(s) => Item::Str(s.clone()),
        Lit::Dt(d) => Item::Dt(*d),
        Lit::Quantity(q) => Item::Quantity(q.clone()),
    })
}
