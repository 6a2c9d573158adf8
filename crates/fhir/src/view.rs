//! Subsetted views of a resource for `_summary` and `_elements` (R4 search page, "Summary" and
//! "Elements"). A view that removed anything carries the `SUBSETTED` tag, so clients (and this
//! server, on a later update) can tell it is not the whole resource.

use crate::defs::{Child, Definitions, Node};
use serde_json::{json, Map, Value};

/// Code system of the `SUBSETTED` tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// Code of the tag marking a resource as incomplete.
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// The `_summary` modes that shape a single resource (`count` is a search concern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    /// Only the elements marked `isSummary` in the definitions.
    True,
    /// `text`, `id`, `meta` and the mandatory top-level elements.
    Text,
    /// Everything except `text`.
    Data,
    /// The whole resource.
    False,
}

impl SummaryMode {
    /// Parses a `_summary` value: `true`, `text`, `data` or `false`.
    pub fn parse(s: &str) -> Option<SummaryMode> {
        match s {
            "true" => Some(SummaryMode::True),
            "text" => Some(SummaryMode::Text),
            "data" => Some(SummaryMode::Data),
            "false" => Some(SummaryMode::False),
            _ => None,
        }
    }
}

/// The `_summary` view of a resource, tagged `SUBSETTED` when anything was left out.
pub fn summary(defs: &Definitions, resource: &Value, mode: SummaryMode) -> Value {
    let Some((obj, rtype, node)) = parts(defs, resource) else {
        return resource.clone();
    };
    let mut removed = false;
    let out = match mode {
        SummaryMode::False => return resource.clone(),
        SummaryMode::Data => keep_if(obj, &mut removed, |k, _| k != "text"),
        SummaryMode::Text => top_level(node, obj, &mut removed, |k, _| k == "text"),
        SummaryMode::True => summary_object(defs, rtype, obj, true, &mut removed),
    };
    finish(out, removed)
}

/// The `_elements` view: the named top-level elements (choice elements by base name, `value`
/// for `valueQuantity`) plus `id`, `meta` and mandatory elements, tagged `SUBSETTED` when
/// anything was left out. Names that are not elements are ignored; the caller reports them.
pub fn elements(defs: &Definitions, resource: &Value, names: &[&str]) -> Value {
    let Some((obj, rtype, node)) = parts(defs, resource) else {
        return resource.clone();
    };
    let prefix = format!("{rtype}.");
    let wanted: Vec<&str> = names
        .iter()
        .map(|n| n.trim())
        .map(|n| n.strip_prefix(prefix.as_str()).unwrap_or(n))
        .collect();
    let mut removed = false;
    let out = top_level(node, obj, &mut removed, |key, child| {
        wanted.contains(&key) || wanted.contains(&child.element.name())
    });
    finish(out, removed)
}

/// The object, its resource type and its definitions node; `None` leaves the value as it is,
/// since without definitions nothing can be said about what to keep.
fn parts<'a>(
    defs: &'a Definitions,
    resource: &'a Value,
) -> Option<(&'a Map<String, Value>, &'a str, &'a Node)> {
    let obj = resource.as_object()?;
    let rtype = obj.get("resourceType")?.as_str()?;
    Some((obj, rtype, defs.node(rtype)?))
}

fn keep_if(
    obj: &Map<String, Value>,
    removed: &mut bool,
    keep: impl Fn(&str, &Value) -> bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if keep(k.strip_prefix('_').unwrap_or(k), v) {
            out.insert(k.clone(), v.clone());
        } else {
            *removed = true;
        }
    }
    out
}

/// Keeps `resourceType`, `id`, `meta`, the mandatory elements and those `extra` accepts.
fn top_level(
    node: &Node,
    obj: &Map<String, Value>,
    removed: &mut bool,
    extra: impl Fn(&str, &Child) -> bool,
) -> Map<String, Value> {
    keep_if(obj, removed, |base, _| {
        matches!(base, "resourceType" | "id" | "meta")
            || node
                .children
                .get(base)
                .is_some_and(|c| c.element.min >= 1 || extra(base, c))
    })
}

/// Keeps the summary elements of an object, recursing into complex values. A datatype whose
/// own elements carry no summary flag (Extension, Narrative) is kept whole: in R4 all of it is
/// then part of the summary element that holds it.
fn summary_object(
    defs: &Definitions,
    node_path: &str,
    obj: &Map<String, Value>,
    top: bool,
    removed: &mut bool,
) -> Map<String, Value> {
    let Some(node) = defs.node(node_path) else {
        return obj.clone();
    };
    if !top && !node.children.values().any(|c| c.element.summary) {
        return obj.clone();
    }
    let mut out = Map::new();
    for (k, v) in obj {
        let base = k.strip_prefix('_').unwrap_or(k);
        // meta stays whole: versionId, lastUpdated and tags describe the resource itself.
        if top && matches!(base, "resourceType" | "id" | "meta") {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let Some(child) = node.children.get(base).filter(|c| c.element.summary) else {
            *removed = true;
            continue;
        };
        // Nested resources (Bundle.entry.resource, Parameters.parameter.resource) and primitives
        // have no node here and are kept whole.
        let value = match defs.child_node_path(child).filter(|_| !k.starts_with('_')) {
            Some(inner) => map_objects(v, &mut |o| {
                Value::Object(summary_object(defs, &inner, o, false, removed))
            }),
            None => v.clone(),
        };
        out.insert(k.clone(), value);
    }
    out
}

fn map_objects(v: &Value, f: &mut dyn FnMut(&Map<String, Value>) -> Value) -> Value {
    match v {
        Value::Object(o) => f(o),
        Value::Array(items) => Value::Array(items.iter().map(|i| map_objects(i, f)).collect()),
        other => other.clone(),
    }
}

fn is_subsetted(tag: &Value) -> bool {
    tag.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
        && tag.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
}

fn finish(mut out: Map<String, Value>, removed: bool) -> Value {
    if !removed {
        return Value::Object(out);
    }
    let tag = json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE});
    match out.get_mut("meta") {
        Some(Value::Object(meta)) => match meta.get_mut("tag") {
            Some(Value::Array(tags)) => {
                if !tags.iter().any(is_subsetted) {
                    tags.push(tag);
                }
            }
            None => {
                meta.insert("tag".into(), json!([tag]));
            }
            // A malformed meta is the validator's business, not the view's.
            Some(_) => {}
        },
        Some(_) => {}
        None => {
            // Rebuilt so meta sits after resourceType and id, where FHIR JSON puts it.
            let mut with_meta = Map::new();
            let mut meta = Some(json!({ "tag": [tag] }));
            for (k, v) in out {
                if !matches!(k.as_str(), "resourceType" | "id" | "_id") {
                    if let Some(m) = meta.take() {
                        with_meta.insert("meta".into(), m);
                    }
                }
                with_meta.insert(k, v);
            }
            if let Some(m) = meta {
                with_meta.insert("meta".into(), m);
            }
            return Value::Object(with_meta);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r4;

    const SUBSETTED: &str = "SUBSETTED";

    fn ext(v: &str) -> Value {
        json!([{"url": "http://example.org/x", "valueString": v}])
    }

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "meta": {"versionId": "2", "tag": [{"system": "http://example.org/t", "code": "a"}]},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jo</div>"},
            "extension": ext("e"),
            "identifier": [{"id": "i1", "extension": ext("i"), "system": "urn:s", "value": "1"}],
            "active": true,
            "name": [{"family": "Doe", "given": ["Jo", null], "_given": [null, {"extension": ext("g")}]}],
            "gender": "female",
            "birthDate": "1970-01-01",
            "_birthDate": {"extension": ext("b")},
            "maritalStatus": {"text": "married"},
            "contact": [{"name": {"text": "Al"}}],
            "link": [{"id": "l1", "other": {"reference": "Patient/p2"}, "type": "seealso"}],
            "managingOrganization": {"reference": "Organization/o1", "display": "Org"}
        })
    }

    fn tags(extra: bool) -> Value {
        let mut t = vec![json!({"system": "http://example.org/t", "code": "a"})];
        if extra {
            t.push(json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED}));
        }
        json!({"versionId": "2", "tag": t})
    }

    #[test]
    fn parses_modes() {
        assert_eq!(SummaryMode::parse("true"), Some(SummaryMode::True));
        assert_eq!(SummaryMode::parse("text"), Some(SummaryMode::Text));
        assert_eq!(SummaryMode::parse("data"), Some(SummaryMode::Data));
        assert_eq!(SummaryMode::parse("false"), Some(SummaryMode::False));
        assert_eq!(SummaryMode::parse("count"), None);
    }

    #[test]
    fn summary_true_keeps_summary_elements_recursively() {
        let got = summary(r4(), &patient(), SummaryMode::True);
        let want = json!({
            "resourceType": "Patient",
            "id": "p1",
            "meta": tags(true),
            "identifier": [{"system": "urn:s", "value": "1"}],
            "active": true,
            "name": [{"family": "Doe", "given": ["Jo", null], "_given": [null, {"extension": ext("g")}]}],
            "gender": "female",
            "birthDate": "1970-01-01",
            "_birthDate": {"extension": ext("b")},
            "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}],
            "managingOrganization": {"reference": "Organization/o1", "display": "Org"}
        });
        assert_eq!(got, want);
        let keys: Vec<&String> = got.as_object().unwrap().keys().take(3).collect();
        assert_eq!(keys, ["resourceType", "id", "meta"]);
    }

    #[test]
    fn summary_text_data_false() {
        let p = patient();
        let text = summary(r4(), &p, SummaryMode::Text);
        assert_eq!(
            text,
            json!({"resourceType": "Patient", "id": "p1", "meta": tags(true), "text": p["text"]})
        );
        let mut data = p.clone();
        data.as_object_mut().unwrap().remove("text");
        data["meta"] = tags(true);
        assert_eq!(summary(r4(), &p, SummaryMode::Data), data);
        assert_eq!(summary(r4(), &p, SummaryMode::False), p);
    }

    fn observation() -> Value {
        json!({
            "resourceType": "Observation",
            "id": "o1",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "status": "final",
            "category": [{"text": "vital-signs"}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 44, "unit": "beats/min", "extension": ext("q")},
            "interpretation": [{"text": "low"}],
            "component": [{"code": {"text": "c"}, "valueString": "v", "interpretation": [{"text": "n"}]}]
        })
    }

    #[test]
    fn summary_true_on_observation_recurses_into_backbone_elements() {
        let got = summary(r4(), &observation(), SummaryMode::True);
        let want = json!({
            "resourceType": "Observation",
            "id": "o1",
            "meta": {"tag": [{"system": SUBSETTED_SYSTEM, "code": SUBSETTED}]},
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 44, "unit": "beats/min"},
            "component": [{"code": {"text": "c"}, "valueString": "v"}]
        });
        assert_eq!(got, want);
        let keys: Vec<&String> = got.as_object().unwrap().keys().take(3).collect();
        assert_eq!(keys, ["resourceType", "id", "meta"]);
    }

    #[test]
    fn elements_keeps_named_mandatory_and_choice_elements() {
        let got = elements(
            r4(),
            &observation(),
            &["value", "Observation.subject", "bogus"],
        );
        let want = json!({
            "resourceType": "Observation",
            "id": "o1",
            "meta": {"tag": [{"system": SUBSETTED_SYSTEM, "code": SUBSETTED}]},
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 44, "unit": "beats/min", "extension": ext("q")}
        });
        assert_eq!(got, want);
        let p = elements(r4(), &patient(), &["birthDate", "name"]);
        assert_eq!(
            p,
            json!({"resourceType": "Patient", "id": "p1", "meta": tags(true),
                "name": patient()["name"], "birthDate": "1970-01-01",
                "_birthDate": {"extension": ext("b")}})
        );
    }

    #[test]
    fn nothing_removed_means_no_tag() {
        let small = json!({"resourceType": "Patient", "id": "p", "gender": "male"});
        assert_eq!(summary(r4(), &small, SummaryMode::True), small);
        assert_eq!(summary(r4(), &small, SummaryMode::Data), small);
        assert_eq!(elements(r4(), &small, &["gender"]), small);
        let tagged = summary(
            r4(),
            &summary(r4(), &patient(), SummaryMode::Text),
            SummaryMode::Data,
        );
        let n = tagged["meta"]["tag"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| is_subsetted(t))
            .count();
        assert_eq!(n, 1);
    }
}
