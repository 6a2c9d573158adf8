//! Structural validation of a resource against the base R4 StructureDefinitions: resource type,
//! element names, JSON shapes (arrays vs single values), choice types, cardinality, primitive
//! formats, required bindings, reference syntax and targets, and contained resources.

use crate::defs::{is_primitive, Child, Definitions};
use crate::outcome::Issue;
use crate::primitives;
use serde_json::{Map, Value};
use std::collections::HashSet;

mod links;

/// Stop collecting after this many issues: a client gets enough to fix, the server bounded work.
const MAX_ISSUES: usize = 100;

/// A literal reference to another resource on this server, found while validating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRef {
    /// Target type.
    pub rtype: String,
    /// Target id.
    pub id: String,
    /// Where the reference is.
    pub expression: String,
}

/// The result of validating one resource.
#[derive(Debug, Default)]
pub struct Validation {
    /// Problems found (errors and warnings).
    pub issues: Vec<Issue>,
    /// Relative references (`Type/id`, `Type/id/_history/n`) to check for existence.
    pub local_refs: Vec<LocalRef>,
}

impl Validation {
    /// True when no error was found.
    pub fn is_valid(&self) -> bool {
        !self.issues.iter().any(Issue::is_error)
    }
}

/// Validates a resource (any type; the JSON `resourceType` decides).
pub fn validate(defs: &Definitions, resource: &Value) -> Validation {
    validate_with(defs, resource, &Options::default())
}

/// Validation choices a deployment may make.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Treat a reference to a resource type outside the element's `targetProfile` list as an
    /// error. Off by default it is a warning: widely used generators (Synthea's self-pay
    /// `ExplanationOfBenefit.insurer` -> Patient) and three of the official R4 examples break this
    /// rule, and refusing whole transactions for it loses otherwise sound clinical data.
    pub strict_reference_targets: bool,
}

/// Validates a resource with explicit [`Options`].
pub fn validate_with(defs: &Definitions, resource: &Value, options: &Options) -> Validation {
    let mut v = Validator {
        defs,
        out: Validation::default(),
        frames: Vec::new(),
        options: *options,
        envelope_only: false,
    };
    let root = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("Resource")
        .to_string();
    v.resource(resource, &root, false);
    v.out
}

/// Validates the envelope of a batch or transaction Bundle: everything except the resources in
/// `Bundle.entry.resource`, which the caller validates one by one against the interaction each
/// entry asks for (and reports as `Bundle.entry[N].resource...`).
pub fn validate_bundle_envelope(
    defs: &Definitions,
    bundle: &Value,
    options: &Options,
) -> Validation {
    let mut v = Validator {
        defs,
        out: Validation::default(),
        frames: Vec::new(),
        options: *options,
        envelope_only: true,
    };
    v.resource(bundle, "Bundle", false);
    v.out
}

/// Per-resource bookkeeping for `#id` references to contained resources.
#[derive(Default)]
struct Frame {
    contained_ids: Vec<(String, String)>,
    contained_seen: HashSet<String>,
    local_refs: HashSet<String>,
    refs_at: Vec<(String, String)>,
}

struct Validator<'a> {
    defs: &'a Definitions,
    out: Validation,
    frames: Vec<Frame>,
    options: Options,
    /// Skip the resources of `Bundle.entry.resource` (see [`validate_bundle_envelope`]).
    envelope_only: bool,
}

fn ucfirst_eq(key: &str, prefix: &str) -> bool {
    key.len() > prefix.len()
        && key.starts_with(prefix)
        && key.as_bytes()[prefix.len()].is_ascii_uppercase()
}

impl<'a> Validator<'a> {
    fn issue(&mut self, issue: Issue) {
        if self.out.issues.len() < MAX_ISSUES {
            self.out.issues.push(issue);
        }
    }

    fn full(&self) -> bool {
        self.out.issues.len() >= MAX_ISSUES
    }

    fn resource(&mut self, v: &Value, expr: &str, contained: bool) {
        let Value::Object(obj) = v else {
            self.issue(Issue::error("structure", "a resource must be a JSON object").at(expr));
            return;
        };
        let rtype = match obj.get("resourceType") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.issue(Issue::error("structure", "resourceType must be a string").at(expr));
                return;
            }
            None => {
                self.issue(Issue::error("required", "resourceType is missing").at(expr));
                return;
            }
        };
        if !self.defs.is_resource_type(rtype) {
            self.issue(
                Issue::error("not-supported", format!("unknown resource type '{rtype}'")).at(expr),
            );
            return;
        }
        let expr = if contained || expr == rtype || expr.is_empty() {
            if expr.is_empty() {
                rtype.to_string()
            } else {
                expr.to_string()
            }
        } else {
            expr.to_string()
        };
        if contained {
            if obj.contains_key("contained") {
                self.issue(
                    Issue::error(
                        "invariant",
                        "a contained resource must not contain resources (dom-2)",
                    )
                    .at(format!("{expr}.contained")),
                );
            }
            if obj.contains_key("meta")
                && obj
                    .get("meta")
                    .is_some_and(|m| m.get("versionId").is_some() || m.get("lastUpdated").is_some())
            {
                self.issue(
                    Issue::error(
                        "invariant",
                        "a contained resource must not have meta.versionId or meta.lastUpdated (dom-4)",
                    )
                    .at(format!("{expr}.meta")),
                );
            }
            match obj.get("id").and_then(Value::as_str) {
                Some(id) => {
                    let duplicate = self
                        .frames
                        .last_mut()
                        .is_some_and(|f| !f.contained_seen.insert(id.to_string()));
                    if duplicate {
                        // `#id` references must resolve to exactly one contained resource.
                        self.issue(
                            Issue::error(
                                "invariant",
                                format!("contained resource id '{id}' is used more than once"),
                            )
                            .at(format!("{expr}.id")),
                        );
                    } else if let Some(f) = self.frames.last_mut() {
                        f.contained_ids.push((id.to_string(), expr.clone()));
                    }
                }
                None => self.issue(
                    Issue::error("required", "a contained resource must have an id")
                        .at(format!("{expr}.id")),
                ),
            }
            self.object(rtype, obj, &expr, true);
        } else {
            self.frames.push(Frame::default());
            self.object(rtype, obj, &expr, true);
            if let Some(frame) = self.frames.pop() {
                self.check_frame(frame);
            }
        }
    }

    fn check_frame(&mut self, frame: Frame) {
        let ids: HashSet<&str> = frame
            .contained_ids
            .iter()
            .map(|(i, _)| i.as_str())
            .collect();
        for (reference, at) in &frame.refs_at {
            let id = &reference[1..];
            if !id.is_empty() && !ids.contains(id) {
                self.issue(
                    Issue::error(
                        "not-found",
                        format!("reference '{reference}' does not match any contained resource"),
                    )
                    .at(at.clone()),
                );
            }
        }
        for (id, at) in &frame.contained_ids {
            if !frame.local_refs.contains(id.as_str()) {
                self.issue(
                    Issue::error(
                        "invariant",
                        format!(
                            "contained resource '{id}' is not referenced from the resource (dom-3)"
                        ),
                    )
                    .at(at.clone()),
                );
            }
        }
    }

    fn object(&mut self, node_path: &str, obj: &Map<String, Value>, expr: &str, root: bool) {
        let defs = self.defs;
        let Some(node) = defs.node(node_path) else {
            return;
        };
        let content = obj.len() - usize::from(root && obj.contains_key("resourceType"));
        if content == 0 {
            self.issue(
                Issue::error(
                    "structure",
                    "an element must have a value or children, not be empty",
                )
                .at(expr),
            );
            return;
        }
        let mut choices: Vec<(&str, &str)> = Vec::new();
        for (key, val) in obj {
            if self.full() {
                return;
            }
            if root && key == "resourceType" {
                continue;
            }
            if let Some(base) = key.strip_prefix('_') {
                self.primitive_extension(node, base, obj, val, &format!("{expr}.{base}"));
                continue;
            }
            let Some(child) = node.children.get(key) else {
                self.issue(
                    Issue::error("structure", format!("unknown element '{key}'"))
                        .at(format!("{expr}.{key}")),
                );
                continue;
            };
            let el = &child.element;
            if el.max == "0" {
                self.issue(
                    Issue::error("structure", format!("element '{key}' is not allowed"))
                        .at(format!("{expr}.{key}")),
                );
                continue;
            }
            if el.is_choice() {
                if let Some((_, other)) = choices.iter().find(|(p, _)| *p == el.path.as_str()) {
                    self.issue(
                        Issue::error(
                            "structure",
                            format!("only one of '{other}' and '{key}' may be present"),
                        )
                        .at(format!("{expr}.{key}")),
                    );
                }
                choices.push((el.path.as_str(), key.as_str()));
            }
            let has_ext = obj.contains_key(&format!("_{key}"));
            if el.is_array() {
                let Value::Array(items) = val else {
                    self.issue(
                        Issue::error("structure", format!("'{key}' must be a JSON array"))
                            .at(format!("{expr}.{key}")),
                    );
                    continue;
                };
                if items.is_empty() {
                    self.issue(
                        Issue::error("structure", format!("'{key}' must not be an empty array"))
                            .at(format!("{expr}.{key}")),
                    );
                }
                if let Some(max) = el.max_count() {
                    if items.len() > max as usize {
                        self.issue(
                            Issue::error(
                                "structure",
                                format!(
                                    "'{key}' allows at most {max} values, found {}",
                                    items.len()
                                ),
                            )
                            .at(format!("{expr}.{key}")),
                        );
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{expr}.{key}[{i}]");
                    if item.is_null()
                        && has_ext
                        && child.type_code.as_deref().is_some_and(is_primitive)
                    {
                        continue;
                    }
                    self.value(child, item, &at);
                }
            } else {
                if val.is_array() {
                    self.issue(
                        Issue::error(
                            "structure",
                            format!("'{key}' must be a single value, not an array"),
                        )
                        .at(format!("{expr}.{key}")),
                    );
                    continue;
                }
                self.value(child, val, &format!("{expr}.{key}"));
            }
        }
        for el in &node.required {
            let name = el.name();
            let present = if el.is_choice() {
                obj.keys().any(|k| {
                    ucfirst_eq(k, name) || k.strip_prefix('_').is_some_and(|k| ucfirst_eq(k, name))
                })
            } else {
                obj.contains_key(name) || obj.contains_key(&format!("_{name}"))
            };
            if !present {
                self.issue(
                    Issue::error(
                        "required",
                        format!(
                            "missing required element '{name}' (minimum cardinality {})",
                            el.min
                        ),
                    )
                    .at(format!("{expr}.{name}")),
                );
            }
        }
    }

    /// `_name` companions carry the id and extensions of primitive values.
    fn primitive_extension(
        &mut self,
        node: &crate::defs::Node,
        base: &str,
        obj: &Map<String, Value>,
        val: &Value,
        at: &str,
    ) {
        let Some(child) = node.children.get(base) else {
            self.issue(Issue::error("structure", format!("unknown element '_{base}'")).at(at));
            return;
        };
        if !child.type_code.as_deref().is_some_and(is_primitive) {
            self.issue(
                Issue::error(
                    "structure",
                    format!("'_{base}' is only allowed for primitive elements"),
                )
                .at(at),
            );
            return;
        }
        let check = |this: &mut Self, v: &Value, at: &str| match v {
            Value::Object(o) => this.object("Element", o, at, false),
            _ => {
                this.issue(Issue::error("structure", format!("'_{base}' must be an object")).at(at))
            }
        };
        if child.element.is_array() {
            let Value::Array(items) = val else {
                self.issue(
                    Issue::error("structure", format!("'_{base}' must be a JSON array")).at(at),
                );
                return;
            };
            let values = obj.get(base).and_then(Value::as_array);
            if values.is_some_and(|v| v.len() != items.len()) {
                self.issue(
                    Issue::error(
                        "structure",
                        format!("'{base}' and '_{base}' must have the same number of items"),
                    )
                    .at(at),
                );
            }
            for (i, item) in items.iter().enumerate() {
                let paired = values.and_then(|v| v.get(i)).is_some_and(|v| !v.is_null());
                if item.is_null() {
                    if !paired {
                        self.issue(
                            Issue::error(
                                "structure",
                                "a repeating primitive item has neither value nor extension",
                            )
                            .at(format!("{at}[{i}]")),
                        );
                    }
                    continue;
                }
                check(self, item, &format!("{at}[{i}]"));
            }
        } else {
            check(self, val, at);
        }
    }

    fn value(&mut self, child: &Child, v: &Value, at: &str) {
        let defs = self.defs;
        match child.type_code.as_deref() {
            Some(code) if is_primitive(code) => {
                let code = if code == "string" && is_resource_id(defs, &child.element.path) {
                    "id"
                } else {
                    code
                };
                if let Err(msg) = primitives::check(code, v) {
                    self.issue(Issue::error("value", msg).at(at));
                    return;
                }
                if let Value::String(s) = v {
                    if s.starts_with('#') && matches!(code, "canonical" | "uri" | "url") {
                        if let Some(f) = self.frames.last_mut() {
                            f.local_refs.insert(s[1..].to_string());
                        }
                    }
                    if code == "code" {
                        self.check_binding_code(child, s, at);
                    }
                }
            }
            // Only `contained` holds contained resources; Bundle entries and Parameters values are
            // resources in their own right, with their own `#id` scope.
            Some("Resource")
                if self.envelope_only && child.element.path == "Bundle.entry.resource" =>
            {
                if !v.is_object() {
                    self.issue(
                        Issue::error("structure", "a resource must be a JSON object").at(at),
                    );
                }
            }
            Some("Resource") => self.resource(v, at, child.element.path.ends_with(".contained")),
            _ => {
                let Some(node_path) = defs.child_node_path(child) else {
                    return;
                };
                let Value::Object(obj) = v else {
                    self.issue(
                        Issue::error(
                            "structure",
                            format!("expected a JSON object for {node_path}"),
                        )
                        .at(at),
                    );
                    return;
                };
                self.object(&node_path, obj, at, false);
                match child.type_code.as_deref() {
                    Some("Reference") => self.reference(child, obj, at),
                    Some("Coding") => {
                        self.check_binding_codings(child, std::slice::from_ref(v), at)
                    }
                    Some("CodeableConcept") => {
                        if let Some(Value::Array(codings)) = obj.get("coding") {
                            self.check_binding_codings(child, codings, at);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `Resource.id` is declared as System.String in the snapshots, but is an `id` by definition.
fn is_resource_id(defs: &Definitions, path: &str) -> bool {
    path.ends_with(".id") && path.matches('.').count() == 1 && {
        let t = &path[..path.len() - 3];
        defs.is_resource_type(t) || t == "Resource" || t == "DomainResource"
    }
}
