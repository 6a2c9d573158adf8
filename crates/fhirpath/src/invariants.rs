//! The invariants (`ElementDefinition.constraint`) of the R4 StructureDefinitions, evaluated on a
//! resource: at the root (`dom-*`, `pat-*`), on every backbone element (`pat-1` on
//! `Patient.contact`), on every datatype occurrence (`per-1` on each Period, `ext-1` on each
//! extension) and on every element (`ele-1`). Each distinct expression is compiled once for the
//! life of the process; a constraint the engine cannot parse or evaluate is skipped, never
//! reported, and counted in [`invariant_stats`].

use crate::eval::{child_path, child_type, companion, resource_elem, Ctx, Scope};
use crate::items::{Elem, Item};
use crate::ops::to_bool3;
use crate::Expression;
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use zdrav_fhir::defs::is_primitive;
use zdrav_fhir::{Definitions, Issue, Severity};

/// One compiled constraint.
struct Check {
    key: &'static str,
    severity: Severity,
    diagnostics: String,
    expr: Option<Arc<Expression>>,
}

/// Constraints by element path (`Patient.contact`) and by type name (`Period`, `Patient`).
struct Plan {
    by_path: HashMap<&'static str, Vec<Arc<Check>>>,
    distinct: usize,
    unparsable: Vec<String>,
}

/// Counts about the invariants, for tests and diagnostics.
#[derive(Debug, Clone, Default)]
pub struct InvariantStats {
    /// Distinct constraint expressions in the definitions.
    pub distinct_expressions: usize,
    /// Constraints whose expression does not parse (`key: error`); they are skipped.
    pub unparsable: Vec<String>,
    /// Evaluations that failed with an error since start-up; those checks were skipped.
    pub evaluation_errors: usize,
}

static EVAL_ERRORS: AtomicUsize = AtomicUsize::new(0);

/// Every type reachable from the resources: the complex datatypes whose root constraints
/// (`per-1`, `ext-1`, ...) apply wherever they occur.
fn reachable_structures(defs: &'static Definitions) -> Vec<&'static str> {
    let mut seen: HashSet<&'static str> = HashSet::new();
    let mut queue: VecDeque<&'static str> =
        defs.resource_types().iter().map(String::as_str).collect();
    let mut out = Vec::new();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name) {
            continue;
        }
        let Some(sd) = defs.structure(name) else {
            continue;
        };
        out.push(sd.name.as_str());
        for e in &sd.elements {
            for t in &e.types {
                if !is_primitive(&t.code) && !seen.contains(t.code.as_str()) {
                    queue.push_back(t.code.as_str());
                }
            }
        }
    }
    out
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let defs: &'static Definitions = zdrav_fhir::r4();
        let mut compiled: HashMap<&'static str, Option<Arc<Expression>>> = HashMap::new();
        let mut unparsable = Vec::new();
        let mut by_path: HashMap<&'static str, Vec<Arc<Check>>> = HashMap::new();
        let mut checks: HashMap<(&'static str, &'static str), Arc<Check>> = HashMap::new();
        for name in reachable_structures(defs) {
            let Some(sd) = defs.structure(name) else {
                continue;
            };
            for el in &sd.elements {
                for c in &el.constraints {
                    let expr = compiled
                        .entry(c.expression.as_str())
                        .or_insert_with(|| match Expression::parse(&c.expression) {
                            Ok(e) => Some(Arc::new(e)),
                            Err(err) => {
                                unparsable.push(format!("{}: {err}", c.key));
                                None
                            }
                        })
                        .clone();
                    let check = checks
                        .entry((c.key.as_str(), c.expression.as_str()))
                        .or_insert_with(|| {
                            Arc::new(Check {
                                key: c.key.as_str(),
                                severity: match c.severity.as_str() {
                                    "error" => Severity::Error,
                                    "warning" => Severity::Warning,
                                    _ => Severity::Information,
                                },
                                diagnostics: format!("{}: {}", c.key, c.human),
                                expr,
                            })
                        })
                        .clone();
                    let list = by_path.entry(el.path.as_str()).or_default();
                    if !list.iter().any(|x| x.key == check.key) {
                        list.push(check);
                    }
                }
            }
        }
        Plan {
            by_path,
            distinct: compiled.len(),
            unparsable,
        }
    })
}

/// Counts of the compiled invariants and of the evaluations skipped so far.
pub fn invariant_stats() -> InvariantStats {
    let p = plan();
    InvariantStats {
        distinct_expressions: p.distinct,
        unparsable: p.unparsable.clone(),
        evaluation_errors: EVAL_ERRORS.load(Ordering::Relaxed),
    }
}

/// `ele-1` applies to every element, so it is checked natively: same semantics as its
/// expression `hasValue() or (children().count() > id.count())` (a value, or a child other than
/// `id`), which the tests verify against the engine on every element of the examples.
const ELE_1: &str = "hasValue() or (children().count() > id.count())";

fn yields(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => a.iter().any(|x| !x.is_null()),
        _ => true,
    }
}

fn ele_1(e: &Elem) -> bool {
    if e.has_primitive_value() {
        return true;
    }
    match e.value.and_then(Value::as_object) {
        Some(obj) => obj.iter().any(|(k, v)| match k.strip_prefix('_') {
            // A companion counts for the primitive it extends (or alone, if that is absent).
            Some(base) => !obj.get(base).is_some_and(yields) && base != "id" && yields(v),
            None => k != "id" && k != "resourceType" && yields(v),
        }),
        None => e.ext.and_then(|x| x.get("extension")).is_some_and(yields),
    }
}

struct Walker<'a> {
    defs: &'static Definitions,
    plan: &'static Plan,
    root: Item<'a>,
    issues: Vec<Issue>,
    /// The location of the node being checked, grown and truncated as the walk goes.
    loc: String,
    /// Test hook: evaluate `ele-1` with the engine too and record where the answers differ.
    verify_ele_1: bool,
    mismatches: Vec<String>,
    /// Skip warning- and information-level constraints (the write path rejects only on errors,
    /// and skipping the rest saves their evaluation).
    errors_only: bool,
}

impl<'a> Walker<'a> {
    fn report(&mut self, check: &Check) {
        self.issues.push(Issue {
            severity: check.severity,
            code: "invariant",
            diagnostics: check.diagnostics.clone(),
            expression: Some(self.loc.clone()),
        });
    }

    /// Runs the checks of an element definition and of its type at one node.
    fn run(&mut self, res: &Item<'a>, node: Item<'a>, paths: [&str; 3]) {
        let this = [node];
        let mut seen: [&str; 16] = [""; 16];
        let mut n_seen = 0;
        for path in paths.into_iter().filter(|p| !p.is_empty()) {
            let Some(list) = self.plan.by_path.get(path) else {
                continue;
            };
            for check in list {
                if seen[..n_seen].contains(&check.key)
                    || (self.errors_only && check.severity != Severity::Error)
                {
                    continue;
                }
                if n_seen < seen.len() {
                    seen[n_seen] = check.key;
                    n_seen += 1;
                }
                let Some(expr) = &check.expr else { continue };
                let native = match (&this[0], expr.source.as_str()) {
                    (Item::Elem(e), ELE_1) if check.key == "ele-1" => Some(ele_1(e)),
                    _ => None,
                };
                if let (Some(n), false) = (native, self.verify_ele_1) {
                    if !n {
                        self.report(check);
                    }
                    continue;
                }
                let ctx = Ctx {
                    defs: self.defs,
                    resource: Some(res.clone()),
                    root_resource: Some(self.root.clone()),
                    context: Some(this[0].clone()),
                    vars: None,
                    strict: false,
                    lenient_as: true,
                };
                let scope = Scope {
                    this: &this,
                    index: None,
                    total: None,
                };
                let result = ctx.eval(&expr.root, scope).and_then(|r| to_bool3(&r));
                if let Some(n) = native {
                    if result.as_ref().ok().copied().flatten().unwrap_or(true) != n {
                        self.mismatches.push(self.loc.clone());
                    }
                }
                match result {
                    Ok(Some(false)) => self.report(check),
                    Ok(_) => {}
                    Err(_) => {
                        EVAL_ERRORS.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn resource(&mut self, v: &'a Value) {
        let elem = resource_elem(self.defs, v);
        let res = Item::Elem(elem);
        self.run(&res, res.clone(), [elem.ty, "", ""]);
        if !elem.path.is_empty() {
            self.object(&res, v, elem.path);
        }
    }

    /// Walks the properties of an object node described by `node_path`.
    fn object(&mut self, res: &Item<'a>, v: &'a Value, node_path: &'static str) {
        let defs: &'static Definitions = self.defs;
        let (Some(obj), Some(node)) = (v.as_object(), defs.node(node_path)) else {
            return;
        };
        for (key, val) in obj {
            if key == "resourceType" {
                continue;
            }
            let (name, companion_only) = match key.strip_prefix('_') {
                Some(base) if obj.contains_key(base) => continue,
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            let Some(child) = node.children.get(name) else {
                continue;
            };
            let ty = child_type(child);
            let primitive = is_primitive(ty);
            let companion = match (companion_only, primitive) {
                (true, _) => Some(val),
                (false, true) => companion(obj, name),
                (false, false) => None,
            };
            let value = (!companion_only).then_some(val);
            let is_array = child.element.is_array();
            let count = match (value, companion) {
                (Some(Value::Array(a)), _) => a.len(),
                (None, Some(Value::Array(c))) => c.len(),
                _ => 1,
            };
            for i in 0..count {
                let (value, ext) = match (value, companion) {
                    (Some(Value::Array(a)), c) => (a.get(i), c.and_then(|c| c.get(i))),
                    (None, Some(Value::Array(c))) => (None, c.get(i)),
                    (v, c) => (v, c),
                };
                let value = value.filter(|v| !v.is_null());
                let ext = ext.filter(|e| e.is_object());
                if value.is_none() && ext.is_none() {
                    continue;
                }
                let len = self.loc.len();
                self.loc.push('.');
                self.loc.push_str(name);
                if is_array {
                    let _ = write!(self.loc, "[{i}]");
                }
                if ty == "Resource" {
                    if let Some(r) = value {
                        self.resource(r);
                    }
                } else {
                    let elem = Elem {
                        value,
                        ext,
                        ty,
                        path: if primitive { "" } else { child_path(child) },
                    };
                    let type_key = if primitive { "" } else { ty };
                    // A content reference (`Questionnaire.item.item`) reuses the constraints of
                    // the element it points to (`que-*` on `Questionnaire.item`).
                    let reused = child.element.content_reference.as_deref().unwrap_or("");
                    let paths = [child.element.path.as_str(), type_key, reused];
                    self.run(res, Item::Elem(elem), paths);
                    if let Some(v) = value.filter(|_| !elem.path.is_empty()) {
                        self.object(res, v, elem.path);
                    }
                    if let Some(ext) = ext {
                        self.object(res, ext, "Element");
                    }
                }
                self.loc.truncate(len);
            }
        }
    }
}

fn check(resource: &Value, verify_ele_1: bool, errors_only: bool) -> (Vec<Issue>, Vec<String>) {
    let defs: &'static Definitions = zdrav_fhir::r4();
    let mut w = Walker {
        defs,
        plan: plan(),
        root: Item::Elem(resource_elem(defs, resource)),
        issues: Vec::new(),
        loc: resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("Resource")
            .to_string(),
        verify_ele_1,
        mismatches: Vec::new(),
        errors_only,
    };
    w.resource(resource);
    (w.issues, w.mismatches)
}

/// Evaluates every invariant of the resource's definitions at every node it applies to, and
/// returns one `invariant` issue per constraint that evaluates to false (an empty result counts
/// as satisfied), located at the node (`Patient.contact[0]`).
pub fn check_invariants(defs: &Definitions, resource: &Value) -> Vec<Issue> {
    let _ = crate::static_defs(defs);
    check(resource, false, false).0
}

/// Like [`check_invariants`], but evaluates only error-severity constraints: what a write must
/// pass.
pub fn check_invariant_errors(defs: &Definitions, resource: &Value) -> Vec<Issue> {
    let _ = crate::static_defs(defs);
    check(resource, false, true).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_ele_1_agrees_with_the_engine() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fhir-tests/r4/examples");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let (_, mismatches) = check(&v, true, false);
                assert!(mismatches.is_empty(), "{:?}: {mismatches:?}", entry.path());
                files += 1;
            }
        }
        let odd: Value = serde_json::json!({
            "resourceType": "Patient",
            "maritalStatus": {},
            "name": [{"given": [null, "a"], "_given": [{"id": "x"}, null]}],
            "_birthDate": {"extension": [{"url": "u", "valueString": "v"}]},
            "telecom": [{"id": "only-id"}]
        });
        let (issues, mismatches) = check(&odd, true, false);
        assert!(mismatches.is_empty(), "{mismatches:?}");
        assert_eq!(
            issues
                .iter()
                .filter(|i| i.diagnostics.starts_with("ele-1"))
                .count(),
            3,
            "{issues:?}"
        );
        println!("ele-1 verified on {files} examples");
    }
}
