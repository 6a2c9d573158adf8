//! FHIR Patch (R4 `fhirpatch.html`): a `Parameters` resource whose `operation` parameters add,
//! insert, delete, replace or move elements addressed by FHIRPath.

use super::path::{self, value_at, value_at_mut, Location, PathError, Step};
use super::value::{
    add_member, build, capitalize, form_of, is_value_key, list_len, lists, put_lists,
    replace_member, resolve_key,
};
use super::{remove_key, PatchError};
use crate::defs::{Child, Definitions};
use serde_json::{Map, Value};

/// Applies a FHIR Patch (`params`, a `Parameters` resource) to `resource`, atomically.
pub fn fhir_patch(
    defs: &Definitions,
    resource: &Value,
    params: &Value,
) -> Result<Value, PatchError> {
    if params.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(PatchError::Invalid(
            "a FHIR Patch must be a Parameters resource".into(),
        ));
    }
    if !resource.is_object() {
        return Err(PatchError::Invalid(
            "the resource to patch must be a JSON object".into(),
        ));
    }
    let list: &[Value] = match params.get("parameter") {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(PatchError::Invalid(
                "Parameters.parameter must be an array".into(),
            ))
        }
    };
    let mut out = resource.clone();
    for (index, p) in list.iter().enumerate() {
        let result = Operation::parse(p).and_then(|op| apply(defs, &mut out, &op));
        if let Err(e) = result {
            let (op, path) = (part_string(p, "type"), part_string(p, "path"));
            return Err(match e {
                OpError::Failed(reason) => PatchError::Failed {
                    index,
                    op,
                    path,
                    reason,
                },
                OpError::Path(reason) => PatchError::Path {
                    index,
                    op,
                    path,
                    reason,
                },
            });
        }
    }
    Ok(out)
}

enum OpError {
    Failed(String),
    Path(String),
}

impl From<String> for OpError {
    fn from(s: String) -> Self {
        OpError::Failed(s)
    }
}

impl From<&str> for OpError {
    fn from(s: &str) -> Self {
        OpError::Failed(s.to_string())
    }
}

impl From<PathError> for OpError {
    fn from(e: PathError) -> Self {
        OpError::Path(e.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Insert,
    Delete,
    Replace,
    Move,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "add" => Kind::Add,
            "insert" => Kind::Insert,
            "delete" => Kind::Delete,
            "replace" => Kind::Replace,
            "move" => Kind::Move,
            t => {
                return Err(format!(
                    "unknown operation type '{t}' (expected add, insert, delete, replace or move)"
                ))
            }
        })
    }
}

struct Operation<'a> {
    kind: Kind,
    path: String,
    name: String,
    value: Option<&'a Map<String, Value>>,
    index: usize,
    source: usize,
    destination: usize,
}

/// The string of the first `value[x]` of the part called `name`, for error messages.
fn part_string(p: &Value, name: &str) -> String {
    p.get("part")
        .and_then(Value::as_array)
        .and_then(|parts| {
            parts
                .iter()
                .find(|q| q.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|q| string_value(q))
        .unwrap_or("?")
        .to_string()
}

fn value_entries(part: &Value) -> impl Iterator<Item = &Value> {
    part.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| is_value_key(k))
        .map(|(_, v)| v)
}

fn string_value(part: &Value) -> Option<&str> {
    value_entries(part).find_map(Value::as_str)
}

impl<'a> Operation<'a> {
    fn parse(p: &'a Value) -> Result<Operation<'a>, OpError> {
        match p.get("name").and_then(Value::as_str) {
            Some("operation") => {}
            Some(other) => {
                return Err(
                    format!("unexpected parameter '{other}' (only 'operation' is allowed)").into(),
                )
            }
            None => return Err("the parameter has no name".into()),
        }
        let Some(Value::Array(parts)) = p.get("part") else {
            return Err("the operation has no parts".into());
        };
        let (mut kind, mut path, mut name, mut value) = (None, None, None, None);
        let (mut index, mut source, mut destination) = (None, None, None);
        for part in parts {
            let pname = part
                .get("name")
                .and_then(Value::as_str)
                .ok_or("an operation part has no name")?;
            let text = || {
                string_value(part)
                    .map(str::to_string)
                    .ok_or_else(|| format!("part '{pname}' needs a string value"))
            };
            let int = || {
                value_entries(part)
                    .find_map(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| format!("part '{pname}' needs a non-negative integer value"))
            };
            let taken = match pname {
                "type" => kind.replace(Kind::parse(&text()?)?).is_some(),
                "path" => path.replace(text()?).is_some(),
                "name" => name.replace(text()?).is_some(),
                "value" => value.replace(part.as_object()).is_some(),
                "index" => index.replace(int()?).is_some(),
                "source" => source.replace(int()?).is_some(),
                "destination" => destination.replace(int()?).is_some(),
                other => {
                    return Err(format!(
                        "unknown part '{other}' (expected type, path, name, value, index, source or destination)"
                    )
                    .into())
                }
            };
            if taken {
                return Err(format!("part '{pname}' is given more than once").into());
            }
        }
        let kind = kind.ok_or("the operation has no 'type' part")?;
        let path = path.ok_or("the operation has no 'path' part")?;
        let need = |present: bool, part: &str| -> Result<(), OpError> {
            if present {
                Ok(())
            } else {
                Err(format!("this operation needs a '{part}' part").into())
            }
        };
        match kind {
            Kind::Add => {
                need(name.is_some(), "name")?;
                need(value.is_some(), "value")?;
            }
            Kind::Insert => {
                need(index.is_some(), "index")?;
                need(value.is_some(), "value")?;
            }
            Kind::Replace => need(value.is_some(), "value")?,
            Kind::Move => {
                need(source.is_some(), "source")?;
                need(destination.is_some(), "destination")?;
            }
            Kind::Delete => {}
        }
        Ok(Operation {
            kind,
            path,
            name: name.unwrap_or_default(),
            value: value.flatten(),
            index: index.unwrap_or(0),
            source: source.unwrap_or(0),
            destination: destination.unwrap_or(0),
        })
    }

    fn value(&self) -> Result<&'a Map<String, Value>, OpError> {
        self.value
            .ok_or_else(|| "the 'value' part must be an object".into())
    }
}

fn apply(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    match op.kind {
        Kind::Add => add(defs, doc, op),
        Kind::Insert => insert(defs, doc, op),
        Kind::Delete => delete(defs, doc, op),
        Kind::Replace => replace(defs, doc, op),
        Kind::Move => move_item(defs, doc, op),
    }
}

fn single(mut locs: Vec<Location>, doing: &str) -> Result<Location, OpError> {
    match locs.len() {
        0 => Err(format!("no content found at the path when {doing}").into()),
        1 => Ok(locs.remove(0)),
        n => Err(format!("the path matches {n} elements; it must match exactly one").into()),
    }
}

fn object_at<'a>(
    doc: &'a mut Value,
    steps: &[Step],
) -> Result<&'a mut Map<String, Value>, OpError> {
    match value_at_mut(doc, steps) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err("the element at the path is not a complex element".into()),
    }
}

fn add(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    let loc = single(path::select(defs, doc, &op.path)?, "adding")?;
    let part = op.value()?;
    let form = form_of(part)?;
    let np = loc.node.as_deref();
    let (key, child) = resolve_key(defs, np, &op.name, form.type_code())?;
    let nv = build(defs, part, &form, child.as_ref(), &key)?;
    let obj = object_at(doc, &loc.steps)?;
    add_member(defs, obj, np, &key, child.as_ref(), nv).map_err(Into::into)
}

/// The one object holding the list named by a path such as `Patient.identifier`.
fn list_target(defs: &Definitions, doc: &Value, path: &str) -> Result<(Location, String), OpError> {
    let (containers, name) = path::select_list(defs, doc, path)?;
    Ok((single(containers, "looking for the list")?, name))
}

fn insert(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    let (container, name) = list_target(defs, doc, &op.path)?;
    let part = op.value()?;
    let form = form_of(part)?;
    let np = container.node.as_deref();
    let (key, child) = resolve_key(defs, np, &name, form.type_code())?;
    if child.as_ref().is_some_and(|c| !c.element.is_array()) {
        return Err(format!("'{key}' is not a repeating element; use add or replace").into());
    }
    let nv = build(defs, part, &form, child.as_ref(), &key)?;
    let obj = object_at(doc, &container.steps)?;
    let len = list_len(obj, &key)?;
    if op.index > len {
        return Err(format!(
            "index {} is out of range: the list has {len} items",
            op.index
        )
        .into());
    }
    let (mut values, mut exts) = lists(obj, &key, len);
    values.insert(op.index, nv.json);
    exts.insert(op.index, nv.ext.unwrap_or(Value::Null));
    put_lists(defs, obj, np, &key, values, exts);
    Ok(())
}

fn move_item(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    let (container, key) = list_target(defs, doc, &op.path)?;
    let np = container.node.clone();
    let obj = object_at(doc, &container.steps)?;
    let len = list_len(obj, &key)?;
    for (what, i) in [("source", op.source), ("destination", op.destination)] {
        if i >= len {
            return Err(
                format!("{what} index {i} is out of range: the list has {len} items").into(),
            );
        }
    }
    let (mut values, mut exts) = lists(obj, &key, len);
    let v = values.remove(op.source);
    values.insert(op.destination, v);
    let e = exts.remove(op.source);
    exts.insert(op.destination, e);
    put_lists(defs, obj, np.as_deref(), &key, values, exts);
    Ok(())
}

fn delete(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    let mut locs = path::select(defs, doc, &op.path)?;
    let loc = match locs.len() {
        0 => return Ok(()),
        1 => locs.remove(0),
        n => {
            return Err(format!(
                "the path matches {n} elements; only one element can be deleted at a time"
            )
            .into())
        }
    };
    remove_at(defs, doc, &loc.steps)?;
    // FHIR JSON has no empty objects or arrays, so containers emptied by the delete go too.
    for depth in (1..loc.steps.len()).rev() {
        let anc = &loc.steps[..depth];
        let empty = match value_at(doc, anc) {
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            remove_at(defs, doc, anc)?;
        }
    }
    Ok(())
}

fn remove_at(defs: &Definitions, doc: &mut Value, steps: &[Step]) -> Result<(), OpError> {
    let Some((last, parent)) = steps.split_last() else {
        return Err("the resource itself cannot be deleted".into());
    };
    match last {
        Step::Key(k) => {
            let obj = object_at(doc, parent)?;
            remove_key(obj, k);
            remove_key(obj, &format!("_{k}"));
        }
        Step::Index(i) => {
            let Some((Step::Key(k), obj_steps)) = parent.split_last() else {
                return Err("the path does not address a list item".into());
            };
            let obj = object_at(doc, obj_steps)?;
            let len = list_len(obj, k)?;
            let (mut values, mut exts) = lists(obj, k, len);
            if *i < len {
                values.remove(*i);
                exts.remove(*i);
            }
            put_lists(defs, obj, None, k, values, exts);
        }
    }
    Ok(())
}

fn replace(defs: &Definitions, doc: &mut Value, op: &Operation) -> Result<(), OpError> {
    let loc = single(path::select(defs, doc, &op.path)?, "replacing")?;
    let part = op.value()?;
    let form = form_of(part)?;
    let Some((last, parent)) = loc.steps.split_last() else {
        return Err("the whole resource cannot be replaced; use update instead".into());
    };
    match last {
        Step::Index(i) => {
            let Some((Step::Key(k), obj_steps)) = parent.split_last() else {
                return Err("the path does not address a list item".into());
            };
            let nv = build(defs, part, &form, loc.child.as_ref(), k)?;
            let obj = object_at(doc, obj_steps)?;
            let len = list_len(obj, k)?;
            let (mut values, mut exts) = lists(obj, k, len);
            if let (Some(v), Some(e)) = (values.get_mut(*i), exts.get_mut(*i)) {
                *v = nv.json;
                *e = nv.ext.unwrap_or(Value::Null);
            }
            put_lists(defs, obj, None, k, values, exts);
        }
        Step::Key(k) => {
            let (new_key, child) = match &loc.child {
                Some(c) if c.element.is_choice() => {
                    let base = c.element.name();
                    let t = form
                        .type_code()
                        .ok_or_else(|| format!("'{base}[x]' needs a typed value[x]"))?;
                    if !c.element.types.iter().any(|tr| tr.code == t) {
                        return Err(format!("type {t} is not allowed for '{base}[x]'").into());
                    }
                    let chosen = Child {
                        element: c.element.clone(),
                        type_code: Some(t.to_string()),
                    };
                    (format!("{base}{}", capitalize(t)), Some(chosen))
                }
                other => (k.clone(), other.clone()),
            };
            let nv = build(defs, part, &form, child.as_ref(), &new_key)?;
            let obj = object_at(doc, parent)?;
            replace_member(obj, k, &new_key, nv);
        }
    }
    Ok(())
}
