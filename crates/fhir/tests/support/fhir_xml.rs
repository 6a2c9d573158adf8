//! FHIR XML -> FHIR JSON for test fixtures, driven by the R4 definitions: `value` attributes
//! become primitives (booleans and numbers by their FHIR type), cardinality decides arrays, `id`
//! and `extension` of primitives go to the `_name` companion, nested resources get their
//! `resourceType`, and the xhtml `div` becomes its XML text.

use roxmltree::Node;
use serde_json::{Map, Value};
use zdrav_fhir::defs::{Child, Definitions};

const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Converts a resource element (`<Patient xmlns="http://hl7.org/fhir">`) to JSON.
pub fn resource(defs: &Definitions, el: Node) -> Result<Value, String> {
    let rtype = el.tag_name().name();
    if !defs.is_resource_type(rtype) {
        return Err(format!("<{rtype}> is not a resource type"));
    }
    let mut obj = Map::new();
    obj.insert("resourceType".into(), Value::String(rtype.into()));
    fill(defs, rtype, el, &mut obj)?;
    Ok(Value::Object(obj))
}

/// The values and `_` companions collected for one JSON property.
struct Entry {
    child: Child,
    values: Vec<Value>,
    exts: Vec<Value>,
}

fn fill(
    defs: &Definitions,
    node_path: &str,
    el: Node,
    obj: &mut Map<String, Value>,
) -> Result<(), String> {
    let node = defs
        .node(node_path)
        .ok_or_else(|| format!("no definitions for {node_path}"))?;
    for a in el.attributes() {
        if matches!(a.name(), "id" | "url") {
            obj.insert(a.name().into(), Value::String(a.value().into()));
        }
    }
    let mut entries: Vec<(String, Entry)> = Vec::new();
    for c in el.children().filter(Node::is_element) {
        let name = c.tag_name().name();
        let child = node
            .children
            .get(name)
            .ok_or_else(|| format!("unknown element {node_path}.{name}"))?;
        let (value, ext) = convert(defs, child, c)?;
        let pos = match entries.iter().position(|(n, _)| n == name) {
            Some(p) => p,
            None => {
                entries.push((
                    name.to_string(),
                    Entry {
                        child: child.clone(),
                        values: Vec::new(),
                        exts: Vec::new(),
                    },
                ));
                entries.len() - 1
            }
        };
        entries[pos].1.values.push(value);
        entries[pos].1.exts.push(ext);
    }
    for (name, e) in entries {
        let any = |v: &[Value]| v.iter().any(|x| !x.is_null());
        if e.child.element.is_array() {
            if any(&e.values) {
                obj.insert(name.clone(), Value::Array(e.values));
            }
            if any(&e.exts) {
                obj.insert(format!("_{name}"), Value::Array(e.exts));
            }
        } else {
            if e.values.len() > 1 {
                return Err(format!("{node_path}.{name} repeats but is not a list"));
            }
            let (value, ext) = (e.values.into_iter().next(), e.exts.into_iter().next());
            if let Some(v) = value.filter(|v| !v.is_null()) {
                obj.insert(name.clone(), v);
            }
            if let Some(x) = ext.filter(|x| !x.is_null()) {
                obj.insert(format!("_{name}"), x);
            }
        }
    }
    Ok(())
}

/// One element as (value, `_` companion or null).
fn convert(defs: &Definitions, child: &Child, c: Node) -> Result<(Value, Value), String> {
    let code = child.type_code.as_deref();
    if code == Some("xhtml") {
        let mut s = String::new();
        xhtml(c, &mut s, true);
        return Ok((Value::String(s), Value::Null));
    }
    if code == Some("Resource") {
        let inner = c
            .children()
            .find(Node::is_element)
            .ok_or("a resource element holds no resource")?;
        return Ok((resource(defs, inner)?, Value::Null));
    }
    if let Some(path) = defs
        .child_node_path(child)
        .filter(|p| defs.node(p).is_some())
    {
        let mut obj = Map::new();
        fill(defs, &path, c, &mut obj)?;
        return Ok((Value::Object(obj), Value::Null));
    }
    let value = match c.attribute("value") {
        None => Value::Null,
        Some(s) => match code {
            Some("boolean") => Value::Bool(s == "true"),
            Some("integer" | "positiveInt" | "unsignedInt" | "decimal") => {
                serde_json::from_str(s).map_err(|e| format!("bad number '{s}': {e}"))?
            }
            _ => Value::String(s.into()),
        },
    };
    let mut ext = Map::new();
    fill(defs, "Element", c, &mut ext)?;
    let ext = if ext.is_empty() {
        Value::Null
    } else {
        Value::Object(ext)
    };
    Ok((value, ext))
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Serialises the narrative `div` as XML text, declaring the xhtml namespace on the root only.
fn xhtml(n: Node, out: &mut String, root: bool) {
    let name = n.tag_name().name();
    out.push('<');
    out.push_str(name);
    if root {
        out.push_str(&format!(" xmlns=\"{XHTML_NS}\""));
    }
    for a in n.attributes() {
        let prefix = if a.namespace() == Some(XML_NS) {
            "xml:"
        } else {
            ""
        };
        out.push_str(&format!(
            " {prefix}{}=\"{}\"",
            a.name(),
            escape(a.value(), true)
        ));
    }
    if !n.has_children() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in n.children() {
        if c.is_element() {
            xhtml(c, out, false);
        } else if let Some(t) = c.text().filter(|_| c.is_text()) {
            out.push_str(&escape(t, false));
        }
    }
    out.push_str(&format!("</{name}>"));
}
