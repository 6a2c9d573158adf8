//! Static plans for the path expressions that make up almost all R4 search parameters
//! (`Patient.name`, `(Observation.value as Quantity)`, `Encounter.subject.where(resolve() is
//! Patient)`, `Patient.telecom.where(system='email')`, `Bundle.entry[0].resource`).
//!
//! Extraction runs on every write, so instead of interpreting FHIRPath for these, the registry
//! resolves them once against the definitions into JSON property lookups (choice elements become
//! their concrete properties: `value as Quantity` is `valueQuantity`, typed `Quantity`).
//! Expressions outside this subset (`deceased.exists() and ...`) have no plan and are evaluated
//! by the FHIRPath engine; a test checks that plans select exactly what the engine selects.

use serde_json::Value;
use std::collections::HashMap;
use zdrav_fhir::Definitions;

/// A statically typed position in the model: the FHIR type and, for object types, the node
/// path of [`Definitions::node`] that lists its children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct State {
    pub fhir_type: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone)]
enum Op {
    /// Per current state: the JSON properties to follow and the state each leads to.
    Child(Vec<Vec<(String, usize)>>),
    /// Per state: keep the node (an `as`/`ofType` that could not be folded into `Child`).
    Filter(Vec<bool>),
    /// `[n]` over the whole collection.
    Index(usize),
    /// `where(field = 'literal')`.
    WhereEq(String, String),
    /// `where(resolve() is Type)` on References: the reference's type segment.
    ResolveIs(String),
}

#[derive(Debug, Clone)]
struct Branch {
    /// True: starts at the resource (type root or `%resource`); false: at the context node.
    from_resource: bool,
    start: usize,
    ops: Vec<Op>,
}

/// A compiled union of path branches.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    states: Vec<State>,
    branches: Vec<Branch>,
}

/// A node selected by a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PNode<'a, 'p> {
    pub value: &'a Value,
    pub state: &'p State,
}

/// Path syntax, before it is resolved against the model.
#[derive(Debug, PartialEq)]
enum RawOp {
    Resource,
    Name(String),
    As(String),
    Index(usize),
    WhereEq(String, String),
    ResolveIs(String),
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with(' ') {
            self.i += 1;
        }
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        let rest = &self.s[self.i..];
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if n == 0 || rest.as_bytes()[0].is_ascii_digit() {
            return None;
        }
        self.i += n;
        Some(rest[..n].to_string())
    }
    fn literal(&mut self) -> Option<String> {
        if !self.eat("'") {
            return None;
        }
        let end = self.s[self.i..].find('\'')?;
        let lit = self.s[self.i..self.i + end].to_string();
        self.i += end + 1;
        Some(lit)
    }

    fn branch(&mut self, out: &mut Vec<RawOp>) -> Option<()> {
        self.ws();
        if self.eat("(") {
            self.branch(out)?;
            self.ws();
            if !self.eat(")") {
                return None;
            }
        } else if self.eat("%resource") {
            out.push(RawOp::Resource);
        } else {
            out.push(RawOp::Name(self.ident()?));
        }
        loop {
            if self.eat(".") {
                if self.eat("as(") || self.eat("ofType(") {
                    out.push(RawOp::As(self.ident()?));
                } else if self.eat("where(") {
                    self.ws();
                    if self.eat("resolve() is ") {
                        self.ws();
                        out.push(RawOp::ResolveIs(self.ident()?));
                    } else {
                        let field = self.ident()?;
                        self.ws();
                        if !self.eat("=") {
                            return None;
                        }
                        self.ws();
                        out.push(RawOp::WhereEq(field, self.literal()?));
                    }
                    self.ws();
                } else {
                    out.push(RawOp::Name(self.ident()?));
                    continue;
                }
                if !self.eat(")") {
                    return None;
                }
            } else if self.eat("[") {
                let n = self.s[self.i..]
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .count();
                let idx = self.s[self.i..self.i + n].parse().ok()?;
                self.i += n;
                if !self.eat("]") {
                    return None;
                }
                out.push(RawOp::Index(idx));
            } else {
                break;
            }
        }
        let save = self.i;
        self.ws();
        if self.eat("as ") {
            self.ws();
            out.push(RawOp::As(self.ident()?));
        } else {
            self.i = save;
        }
        Some(())
    }
}

/// Splits a FHIRPath expression on its top-level `|` (outside parentheses and string literals).
pub(crate) fn split_union(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in expr.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            '|' if !quoted && depth == 0 => {
                out.push(expr[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(expr[start..].trim());
    out
}

/// The identifier a branch starts with (`Patient` in `(Patient.name)`), if any.
pub(crate) fn branch_root(branch: &str) -> &str {
    let b = branch.trim_start_matches(['(', ' ']);
    let n = b
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    &b[..n]
}

struct Builder<'d> {
    defs: &'d Definitions,
    states: Vec<State>,
    ids: HashMap<State, usize>,
}

impl Builder<'_> {
    fn state(&mut self, s: State) -> usize {
        if let Some(&i) = self.ids.get(&s) {
            return i;
        }
        self.states.push(s.clone());
        self.ids.insert(s, self.states.len() - 1);
        self.states.len() - 1
    }

    /// The properties `name` maps to at `state` (several for a choice element).
    fn children(&mut self, state: usize, name: &str) -> Option<Vec<(String, usize)>> {
        let path = self.states[state].path.clone()?;
        let node = self.defs.node(&path)?;
        let mut found: Vec<(String, State)> = Vec::new();
        if let Some(child) = node.children.get(name) {
            if child.element.is_choice() {
                return None;
            }
            found.push((name.to_string(), self.child_state(child)));
        } else {
            for (key, child) in &node.children {
                if child.element.is_choice() && child.element.name() == name {
                    found.push((key.clone(), self.child_state(child)));
                }
            }
            if found.is_empty() {
                return None;
            }
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Some(found.into_iter().map(|(k, s)| (k, self.state(s))).collect())
    }

    fn child_state(&self, child: &zdrav_fhir::defs::Child) -> State {
        let fhir_type = child
            .type_code
            .clone()
            .unwrap_or_else(|| "BackboneElement".to_string());
        State {
            path: self.defs.child_node_path(child),
            fhir_type,
        }
    }
}

/// Compiles `expr` into a plan. `root` is the resource type: a branch starting with it (or with
/// `Resource`/`DomainResource`, or `%resource`) starts at the resource; any other branch starts
/// at `context` (a composite's node), or at the resource when there is no context. `None` when
/// the expression is outside the planned subset.
pub(crate) fn compile(
    defs: &Definitions,
    expr: &str,
    root: &str,
    context: Option<&State>,
) -> Option<Plan> {
    let mut b = Builder {
        defs,
        states: Vec::new(),
        ids: HashMap::new(),
    };
    let root_state = b.state(State {
        fhir_type: root.to_string(),
        path: Some(root.to_string()),
    });
    let ctx_state = context.map(|c| b.state(c.clone()));
    let mut branches = Vec::new();
    for text in split_union(expr) {
        let mut raw = Vec::new();
        let mut cur = Cursor { s: text, i: 0 };
        cur.branch(&mut raw)?;
        cur.ws();
        if cur.i != text.len() {
            return None;
        }
        let mut ops = raw.into_iter().peekable();
        let (from_resource, start) = match ops.peek() {
            Some(RawOp::Resource) => {
                ops.next();
                (true, root_state)
            }
            Some(RawOp::Name(n))
                if context.is_none() || n == root || n == "Resource" || n == "DomainResource" =>
            {
                if n == root || n == "Resource" || n == "DomainResource" {
                    ops.next();
                }
                (true, root_state)
            }
            _ => (false, ctx_state?),
        };
        let mut current = vec![start];
        let mut compiled: Vec<Op> = Vec::new();
        for op in ops {
            match op {
                RawOp::Resource => return None,
                RawOp::Name(n) => {
                    let mut table = vec![Vec::new(); b.states.len()];
                    let mut next = Vec::new();
                    for &s in &current {
                        let kids = b.children(s, &n)?;
                        next.extend(kids.iter().map(|k| k.1));
                        if table.len() <= s {
                            table.resize(s + 1, Vec::new());
                        }
                        table[s] = kids;
                    }
                    next.sort_unstable();
                    next.dedup();
                    current = next;
                    compiled.push(Op::Child(table));
                }
                RawOp::As(t) => {
                    let keep = |s: usize| b.states[s].fhir_type.eq_ignore_ascii_case(&t);
                    if let Some(Op::Child(table)) = compiled.last_mut() {
                        for kids in table.iter_mut() {
                            kids.retain(|k| keep(k.1));
                        }
                    } else {
                        compiled.push(Op::Filter((0..b.states.len()).map(keep).collect()));
                    }
                    current.retain(|&s| keep(s));
                }
                RawOp::Index(i) => compiled.push(Op::Index(i)),
                RawOp::WhereEq(f, v) => compiled.push(Op::WhereEq(f, v)),
                RawOp::ResolveIs(t) => compiled.push(Op::ResolveIs(t)),
            }
        }
        branches.push(Branch {
            from_resource,
            start,
            ops: compiled,
        });
    }
    Some(Plan {
        states: b.states,
        branches,
    })
}

/// The resource type a reference string points at (`Patient/1`, `http://x/fhir/Patient/1`,
/// `Patient/1/_history/2`), as the FHIRPath engine's `resolve()` types it.
pub(crate) fn reference_type(reference: &str) -> Option<&str> {
    let path = reference.split(['?', '#']).next().unwrap_or("");
    let mut segs: Vec<&str> = path.split('/').collect();
    if segs.len() >= 4 && segs[segs.len() - 2] == "_history" {
        segs.truncate(segs.len() - 2);
    }
    let n = segs.len();
    if n < 2 || segs[n - 1].is_empty() {
        return None;
    }
    let t = segs[n - 2];
    t.starts_with(|c: char| c.is_ascii_uppercase()).then_some(t)
}

fn push_value<'a>(v: &'a Value, state: usize, out: &mut Vec<(&'a Value, usize)>) {
    match v {
        Value::Array(items) => {
            out.extend(items.iter().filter(|i| !i.is_null()).map(|i| (i, state)))
        }
        Value::Null => {}
        other => out.push((other, state)),
    }
}

impl Plan {
    /// Evaluates the plan: branches from the resource start at `resource`, the others at
    /// `context` (skipped when there is none).
    pub(crate) fn eval<'a, 'p>(
        &'p self,
        resource: &'a Value,
        context: Option<&'a Value>,
        out: &mut Vec<PNode<'a, 'p>>,
    ) {
        let mut cur: Vec<(&'a Value, usize)> = Vec::new();
        let mut next: Vec<(&'a Value, usize)> = Vec::new();
        for br in &self.branches {
            cur.clear();
            let start = if br.from_resource {
                Some(resource)
            } else {
                context
            };
            let Some(start) = start else { continue };
            cur.push((start, br.start));
            for op in &br.ops {
                next.clear();
                match op {
                    Op::Child(table) => {
                        for &(v, s) in &cur {
                            let (Some(obj), Some(kids)) = (v.as_object(), table.get(s)) else {
                                continue;
                            };
                            for (key, ns) in kids {
                                if let Some(c) = obj.get(key) {
                                    push_value(c, *ns, &mut next);
                                }
                            }
                        }
                    }
                    Op::Filter(keep) => next.extend(
                        cur.iter()
                            .filter(|(_, s)| keep.get(*s).copied().unwrap_or(false)),
                    ),
                    Op::Index(i) => next.extend(cur.get(*i).copied()),
                    Op::WhereEq(field, lit) => next.extend(cur.iter().filter(|(v, _)| {
                        v.get(field).and_then(Value::as_str) == Some(lit.as_str())
                    })),
                    Op::ResolveIs(t) => next.extend(cur.iter().filter(|(v, _)| {
                        v.get("reference")
                            .and_then(Value::as_str)
                            .and_then(reference_type)
                            == Some(t.as_str())
                    })),
                }
                std::mem::swap(&mut cur, &mut next);
                if cur.is_empty() {
                    break;
                }
            }
            out.extend(cur.iter().map(|&(value, s)| PNode {
                value,
                state: &self.states[s],
            }));
        }
    }

    /// The states the plan's results can have (to compile composite components against).
    pub(crate) fn result_states(&self) -> Vec<State> {
        let mut out: Vec<State> = Vec::new();
        for br in &self.branches {
            let mut cur = vec![br.start];
            for op in &br.ops {
                match op {
                    Op::Child(table) => {
                        cur = cur
                            .iter()
                            .flat_map(|&s| table.get(s).into_iter().flatten().map(|k| k.1))
                            .collect();
                    }
                    Op::Filter(keep) => cur.retain(|&s| keep.get(s).copied().unwrap_or(false)),
                    _ => {}
                }
            }
            for s in cur {
                if !out.contains(&self.states[s]) {
                    out.push(self.states[s].clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, root: &str, res: &Value) -> Vec<(String, String)> {
        let plan = compile(zdrav_fhir::r4(), expr, root, None).expect("plannable");
        let mut out = Vec::new();
        plan.eval(res, None, &mut out);
        out.iter()
            .map(|n| (n.value.to_string(), n.state.fhir_type.clone()))
            .collect()
    }

    #[test]
    fn choice_as_and_arrays() {
        let obs = json!({"resourceType": "Observation", "valueQuantity": {"value": 1},
            "effectivePeriod": {"start": "2020"}});
        let q = run("(Observation.value as Quantity)", "Observation", &obs);
        assert_eq!(q, vec![(r#"{"value":1}"#.into(), "Quantity".into())]);
        let e = run("Observation.effective", "Observation", &obs);
        assert_eq!(e, vec![(r#"{"start":"2020"}"#.into(), "Period".into())]);
        let p =
            json!({"resourceType": "Patient", "name": [{"given": ["A", "B"]}, {"given": ["C"]}]});
        let g = run("Patient.name.given", "Patient", &p);
        assert_eq!(g.len(), 3);
        assert_eq!(g[2], ("\"C\"".into(), "string".into()));
    }

    #[test]
    fn where_filters_and_index() {
        let p = json!({"resourceType": "Patient",
            "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}],
            "generalPractitioner": [{"reference": "Practitioner/1"},
                {"reference": "http://x/fhir/Organization/2/_history/3"}]});
        let t = run("Patient.telecom.where(system='email')", "Patient", &p);
        assert_eq!(t.len(), 1);
        assert!(t[0].0.contains("a@b"));
        let r = run(
            "Patient.generalPractitioner.where(resolve() is Organization)",
            "Patient",
            &p,
        );
        assert_eq!(r.len(), 1);
        assert!(r[0].0.contains("Organization/2"));
        let b = json!({"resourceType": "Bundle", "entry": [{"resource": {"id": "1"}},
            {"resource": {"id": "2"}}]});
        let e = run("Bundle.entry[0].resource", "Bundle", &b);
        assert_eq!(e, vec![(r#"{"id":"1"}"#.into(), "Resource".into())]);
    }

    #[test]
    fn unplannable_expressions() {
        let d = zdrav_fhir::r4();
        let src = "Patient.deceased.exists() and Patient.deceased != false";
        assert!(compile(d, src, "Patient", None).is_none());
        assert!(compile(d, "Patient.nosuch", "Patient", None).is_none());
    }

    #[test]
    fn splits_unions_outside_parentheses() {
        assert_eq!(
            split_union("(A.x as Quantity) | A.y.where(a='|') | A.z"),
            vec!["(A.x as Quantity)", "A.y.where(a='|')", "A.z"]
        );
        assert_eq!(
            branch_root("((Observation.value as Quantity))"),
            "Observation"
        );
        assert_eq!(reference_type("Patient/1"), Some("Patient"));
        assert_eq!(reference_type("#c1"), None);
    }
}
