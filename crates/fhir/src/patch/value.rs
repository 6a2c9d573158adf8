//! New element values for FHIR Patch: reading a `value` part (a `value[x]`, a `resource` or
//! nested `part`s for anonymous elements), checking its type against the definitions, and
//! placing it in a JSON object the way FHIR JSON expects (lists, `_name` companions, order).

use super::remove_key;
use crate::defs::{is_primitive, Child, Definitions};
use serde_json::{Map, Value};

/// A new element value from a `value` part: the JSON value and, for primitives, the `_x`
/// companion holding its id and extensions.
pub(super) struct NewValue {
    pub json: Value,
    pub ext: Option<Value>,
}

/// How a `value` part gives its content.
pub(super) enum Form<'a> {
    /// `value[x]` (and/or `_value[x]`): a datatype, named by the suffix.
    Typed { key: &'a str, type_code: String },
    /// `resource`: a resource.
    Resource(&'a Value),
    /// nested `part`s: an anonymous (backbone) element, one part per child element.
    Parts(&'a [Value]),
}

impl Form<'_> {
    pub(super) fn type_code(&self) -> Option<&str> {
        match self {
            Form::Typed { type_code, .. } => Some(type_code),
            Form::Resource(_) => Some("Resource"),
            Form::Parts(_) => None,
        }
    }
}

pub(super) fn form_of(part: &Map<String, Value>) -> Result<Form<'_>, String> {
    let mut forms: Vec<Form> = Vec::new();
    for (k, v) in part {
        let bare = k.strip_prefix('_').unwrap_or(k);
        if let Some(suffix) = bare.strip_prefix("value").filter(|_| is_value_key(bare)) {
            let seen = forms
                .iter()
                .any(|f| matches!(f, Form::Typed { key, .. } if *key == bare));
            if !seen {
                forms.push(Form::Typed {
                    key: bare,
                    type_code: type_code_of(suffix),
                });
            }
        } else if k == "resource" {
            forms.push(Form::Resource(v));
        } else if k == "part" {
            let Value::Array(parts) = v else {
                return Err("'part' must be an array".into());
            };
            forms.push(Form::Parts(parts));
        }
    }
    match forms.len() {
        1 => forms.pop().ok_or_else(String::new),
        0 => Err("the value has no value[x], resource or parts".into()),
        _ => Err("the value has more than one of value[x], resource and parts".into()),
    }
}

/// `Date` -> `date`, `HumanName` -> `HumanName`.
fn type_code_of(suffix: &str) -> String {
    let mut c = suffix.chars();
    let lower = match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    };
    if is_primitive(&lower) {
        lower
    } else {
        suffix.to_string()
    }
}

pub(super) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

pub(super) fn build(
    defs: &Definitions,
    part: &Map<String, Value>,
    form: &Form,
    child: Option<&Child>,
    key: &str,
) -> Result<NewValue, String> {
    check_type(child, key, form.type_code())?;
    Ok(match form {
        Form::Typed { key: vk, .. } => NewValue {
            json: part.get(*vk).cloned().unwrap_or(Value::Null),
            ext: part.get(&format!("_{vk}")).cloned(),
        },
        Form::Resource(r) => NewValue {
            json: (*r).clone(),
            ext: None,
        },
        Form::Parts(parts) => {
            let np = child.and_then(|c| defs.child_node_path(c));
            NewValue {
                json: Value::Object(build_object(defs, np.as_deref(), parts)?),
                ext: None,
            }
        }
    })
}

/// An anonymous element from parts: each part's name is a child element, its value the child's.
fn build_object(
    defs: &Definitions,
    np: Option<&str>,
    parts: &[Value],
) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for sub in parts {
        let sub = sub.as_object().ok_or("a value part must be an object")?;
        let name = sub
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a value part has no name")?;
        let inner = |e: String| format!("in part '{name}': {e}");
        let form = form_of(sub).map_err(inner)?;
        let (key, child) = resolve_key(defs, np, name, form.type_code())?;
        let nv = build(defs, sub, &form, child.as_ref(), &key).map_err(inner)?;
        add_member(defs, &mut obj, np, &key, child.as_ref(), nv)?;
    }
    if obj.is_empty() {
        return Err("an anonymous value needs at least one part".into());
    }
    Ok(obj)
}

/// The JSON property for element `name` of node `np`: the name itself, or for a choice element
/// the name with the value's type (`value` + `Quantity`).
pub(super) fn resolve_key(
    defs: &Definitions,
    np: Option<&str>,
    name: &str,
    given: Option<&str>,
) -> Result<(String, Option<Child>), String> {
    let Some(node) = np.and_then(|n| defs.node(n)) else {
        return Ok((name.to_string(), None));
    };
    if let Some(c) = node.children.get(name) {
        return Ok((name.to_string(), Some(c.clone())));
    }
    let is_choice = node
        .children
        .values()
        .any(|c| c.element.is_choice() && c.element.name() == name);
    if !is_choice {
        return Err(format!(
            "'{name}' is not an element of {}",
            np.unwrap_or("?")
        ));
    }
    let Some(t) = given else {
        return Err(format!("'{name}[x]' needs a typed value[x]"));
    };
    let key = format!("{name}{}", capitalize(t));
    match node.children.get(&key) {
        Some(c) => Ok((key, Some(c.clone()))),
        None => Err(format!("type {t} is not allowed for '{name}[x]'")),
    }
}

/// True for `valueString`, `valueHumanName`, ...: a part's typed value.
pub(super) fn is_value_key(k: &str) -> bool {
    k.strip_prefix("value")
        .is_some_and(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
}

const QUANTITIES: &[&str] = &[
    "Quantity",
    "Age",
    "Count",
    "Distance",
    "Duration",
    "SimpleQuantity",
    "MoneyQuantity",
];

/// Checks the value's type against the element: the spec requires an error for a wrong type.
/// Primitives only need the same JSON shape (a `valueString` may fill a `code` or the xhtml
/// `div`); validation of the patched resource checks their formats.
fn check_type(child: Option<&Child>, key: &str, given: Option<&str>) -> Result<(), String> {
    let Some(child) = child else {
        return Ok(());
    };
    let expected = child.type_code.as_deref();
    let backbone = child.element.content_reference.is_some()
        || matches!(expected, Some("BackboneElement" | "Element"));
    let Some(given) = given else {
        return match expected {
            _ if backbone => Ok(()),
            Some(t) if !is_primitive(t) && t != "Resource" => Ok(()),
            t => Err(format!(
                "'{key}' takes a value[x] of type {}, not parts",
                t.unwrap_or("?")
            )),
        };
    };
    if backbone {
        return Err(format!(
            "'{key}' is a backbone element: give its content as parts, not as a value[x]"
        ));
    }
    let Some(expected) = expected else {
        return Ok(());
    };
    let family = |t: &str| match t {
        _ if !is_primitive(t) => None,
        "boolean" => Some(0),
        "integer" | "positiveInt" | "unsignedInt" | "decimal" => Some(1),
        _ => Some(2),
    };
    let ok = expected == given
        || (QUANTITIES.contains(&expected) && QUANTITIES.contains(&given))
        || matches!((family(expected), family(given)), (Some(a), Some(b)) if a == b);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a value of type {given} cannot be used for '{key}' (type {expected})"
        ))
    }
}

/// Adds a member: appended for repeating elements, created for single ones (which must not
/// exist yet, as the spec says).
pub(super) fn add_member(
    defs: &Definitions,
    obj: &mut Map<String, Value>,
    np: Option<&str>,
    key: &str,
    child: Option<&Child>,
    nv: NewValue,
) -> Result<(), String> {
    let repeats = match child {
        Some(c) => c.element.is_array(),
        None => obj.get(key).is_some_and(Value::is_array),
    };
    if repeats {
        let len = list_len(obj, key)?;
        let (mut values, mut exts) = lists(obj, key, len);
        values.push(nv.json);
        exts.push(nv.ext.unwrap_or(Value::Null));
        put_lists(defs, obj, np, key, values, exts);
        return Ok(());
    }
    let node = np.and_then(|n| defs.node(n));
    let same_element = |k: &str| {
        let k = k.strip_prefix('_').unwrap_or(k);
        k == key
            || match (child, node.and_then(|n| n.children.get(k))) {
                (Some(a), Some(b)) => a.element.path == b.element.path,
                _ => false,
            }
    };
    if let Some(existing) = obj.keys().find(|k| same_element(k)) {
        return Err(format!(
            "'{existing}' already has a value; add only creates new elements (use replace)"
        ));
    }
    if !nv.json.is_null() {
        insert_ordered(defs, obj, np, key, nv.json);
    }
    if let Some(e) = nv.ext {
        insert_ordered(defs, obj, np, &format!("_{key}"), e);
    }
    Ok(())
}

/// The length of the list `key` (counting `_key` items), 0 when absent.
pub(super) fn list_len(obj: &Map<String, Value>, key: &str) -> Result<usize, String> {
    let mut len = 0;
    for k in [key.to_string(), format!("_{key}")] {
        match obj.get(&k) {
            None => {}
            Some(Value::Array(a)) => len = len.max(a.len()),
            Some(_) => return Err(format!("'{key}' is not a list")),
        }
    }
    Ok(len)
}

/// The values and `_` companions of a list, both padded with nulls to `len`.
pub(super) fn lists(obj: &Map<String, Value>, key: &str, len: usize) -> (Vec<Value>, Vec<Value>) {
    let get = |k: &str| {
        let mut v = obj
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        v.resize(len, Value::Null);
        v
    };
    (get(key), get(&format!("_{key}")))
}

pub(super) fn put_lists(
    defs: &Definitions,
    obj: &mut Map<String, Value>,
    np: Option<&str>,
    key: &str,
    values: Vec<Value>,
    exts: Vec<Value>,
) {
    let ext_key = format!("_{key}");
    let no_exts = exts.iter().all(Value::is_null);
    if values.iter().all(Value::is_null) && no_exts {
        remove_key(obj, key);
    } else {
        insert_ordered(defs, obj, np, key, Value::Array(values));
    }
    if no_exts {
        remove_key(obj, &ext_key);
    } else {
        insert_ordered(defs, obj, np, &ext_key, Value::Array(exts));
    }
}

/// Sets `key`, placing a new member in definition order so patched resources read naturally.
fn insert_ordered(
    defs: &Definitions,
    obj: &mut Map<String, Value>,
    np: Option<&str>,
    key: &str,
    value: Value,
) {
    if let Some(slot) = obj.get_mut(key) {
        *slot = value;
        return;
    }
    let node = np.and_then(|n| defs.node(n));
    let order = np
        .and_then(|n| n.split('.').next())
        .and_then(|t| defs.structure(t));
    let rank = |k: &str| -> Option<(usize, bool)> {
        if k == "resourceType" {
            return Some((0, false));
        }
        let (base, ext) = match k.strip_prefix('_') {
            Some(b) => (b, true),
            None => (k, false),
        };
        let path = &node?.children.get(base)?.element.path;
        let pos = order?.elements.iter().position(|e| &e.path == path)?;
        Some((pos + 1, ext))
    };
    let pos = rank(key).and_then(|r| obj.keys().position(|k| rank(k).is_some_and(|rk| rk > r)));
    let Some(pos) = pos else {
        obj.insert(key.to_string(), value);
        return;
    };
    let mut value = Some(value);
    for (i, (k, v)) in std::mem::take(obj).into_iter().enumerate() {
        if i == pos {
            if let Some(value) = value.take() {
                obj.insert(key.to_string(), value);
            }
        }
        obj.insert(k, v);
    }
}

/// Puts `nv` where `old` (and its `_old` companion) was, under `new`, keeping member order.
pub(super) fn replace_member(obj: &mut Map<String, Value>, old: &str, new: &str, nv: NewValue) {
    let old_ext = format!("_{old}");
    let mut nv = Some(nv);
    for (k, v) in std::mem::take(obj) {
        if k != old && k != old_ext {
            obj.insert(k, v);
            continue;
        }
        if let Some(nv) = nv.take() {
            if !nv.json.is_null() {
                obj.insert(new.to_string(), nv.json);
            }
            if let Some(e) = nv.ext {
                obj.insert(format!("_{new}"), e);
            }
        }
    }
}
