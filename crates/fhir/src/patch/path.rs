//! The FHIRPath subset that FHIR Patch paths need: a type root, `.name` navigation (choice
//! elements by base name), `[n]`, `first()`, `last()` and `where(<path> = <literal>)`.
//!
//! It lives apart from the patch logic behind [`select`] and [`select_list`] so a full FHIRPath
//! engine can replace it without touching the patch operations.

use crate::defs::{Child, Definitions};
use serde_json::Value;

/// One step from a JSON value to a child value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// An object member.
    Key(String),
    /// An array item.
    Index(usize),
}

/// A JSON position in the resource, with what the definitions say about it.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// The steps from the resource root.
    pub steps: Vec<Step>,
    /// The definitions node describing the value when it is an object (`Patient`,
    /// `Patient.contact`, `HumanName`).
    pub node: Option<String>,
    /// The element through which the value was reached (`None` for the root).
    pub child: Option<Child>,
}

/// A path that is malformed or outside the supported subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PathError> {
    Err(PathError(msg.into()))
}

/// Evaluates `path` against `resource` and returns the matching positions, in document order.
pub(crate) fn select(
    defs: &Definitions,
    resource: &Value,
    path: &str,
) -> Result<Vec<Location>, PathError> {
    let expr = Parser::parse(path)?;
    eval(defs, resource, &expr)
}

/// For a path naming a list (`Patient.identifier`), evaluates everything before the last
/// `.name` and returns those containers with the name: unlike [`select`], this finds the place
/// of a list that is still empty.
pub(crate) fn select_list(
    defs: &Definitions,
    resource: &Value,
    path: &str,
) -> Result<(Vec<Location>, String), PathError> {
    let mut expr = Parser::parse(path)?;
    let Some(Op::Member(name)) = expr.ops.pop() else {
        return err("the path must end with the name of a list element (e.g. Patient.identifier)");
    };
    Ok((eval(defs, resource, &expr)?, name))
}

/// The JSON value at a position.
pub(crate) fn value_at<'a>(root: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |v, s| match s {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// The mutable JSON value at a position.
pub(crate) fn value_at_mut<'a>(root: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(root, |v, s| match s {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

#[derive(Debug, Clone)]
enum Op {
    Member(String),
    Index(usize),
    First,
    Last,
    Where(Box<Cond>),
}

#[derive(Debug, Clone)]
struct Cond {
    left: Vec<Op>,
    negate: bool,
    right: Literal,
}

#[derive(Debug, Clone)]
enum Literal {
    Str(String),
    Num(String),
    Bool(bool),
}

#[derive(Debug)]
struct Expr {
    type_root: Option<String>,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Eq,
    Ne,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, PathError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let single = match c {
            '.' => Some(Tok::Dot),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
            continue;
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Ne);
                i += 2;
            }
            '\'' => {
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err("unterminated string literal"),
                        Some('\'') => break,
                        Some('\\') => {
                            lit.push(match chars.get(i + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some(&e @ ('\'' | '\\' | '"' | '`' | '/')) => e,
                                _ => return err("unsupported escape in string literal"),
                            });
                            i += 2;
                        }
                        Some(&ch) => {
                            lit.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Tok::Str(lit));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&ch| ch == '`')
                    .ok_or_else(|| PathError("unterminated `identifier`".into()))?;
                out.push(Tok::Ident(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                // A decimal point followed by a digit belongs to the number, not navigation.
                if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit)
                {
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unsupported character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn parse(path: &str) -> Result<Expr, PathError> {
        let mut p = Parser {
            toks: tokenize(path)?,
            pos: 0,
        };
        let Some(Tok::Ident(first)) = p.next() else {
            return err("a path must start with a type or element name");
        };
        let mut expr = Expr {
            type_root: None,
            ops: Vec::new(),
        };
        if first.starts_with(|c: char| c.is_ascii_uppercase()) {
            expr.type_root = Some(first);
        } else {
            expr.ops.push(Op::Member(first));
        }
        p.tail(&mut expr.ops)?;
        match p.next() {
            None => Ok(expr),
            Some(t) => err(format!("unexpected {} after the path", describe(&t))),
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn expect(&mut self, want: Tok) -> Result<(), PathError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => err(format!(
                "expected {}, found {}",
                describe(&want),
                describe(&t)
            )),
            None => err(format!(
                "expected {}, found the end of the path",
                describe(&want)
            )),
        }
    }

    /// Parses `.name`, `.fn(...)` and `[n]` steps until something else comes.
    fn tail(&mut self, ops: &mut Vec<Op>) -> Result<(), PathError> {
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    let Some(Tok::Ident(name)) = self.next() else {
                        return err("expected a name after '.'");
                    };
                    if self.peek() == Some(&Tok::LParen) {
                        self.pos += 1;
                        ops.push(self.function(&name)?);
                    } else {
                        ops.push(Op::Member(name));
                    }
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let Some(Tok::Num(n)) = self.next() else {
                        return err("expected a non-negative integer index inside [ ]");
                    };
                    let n = n
                        .parse()
                        .map_err(|_| PathError(format!("invalid index '{n}'")))?;
                    self.expect(Tok::RBracket)?;
                    ops.push(Op::Index(n));
                }
                _ => return Ok(()),
            }
        }
    }

    fn function(&mut self, name: &str) -> Result<Op, PathError> {
        match name {
            "first" | "last" => {
                self.expect(Tok::RParen)?;
                Ok(if name == "first" { Op::First } else { Op::Last })
            }
            "where" => {
                let Some(Tok::Ident(first)) = self.next() else {
                    return err("where() supports only '<path> = <literal>' conditions");
                };
                let mut left = vec![Op::Member(first)];
                self.tail(&mut left)?;
                let negate = match self.next() {
                    Some(Tok::Eq) => false,
                    Some(Tok::Ne) => true,
                    _ => return err("where() supports only '<path> = <literal>' conditions"),
                };
                let right = match self.next() {
                    Some(Tok::Str(s)) => Literal::Str(s),
                    Some(Tok::Num(n)) => Literal::Num(n),
                    Some(Tok::Ident(b)) if b == "true" || b == "false" => {
                        Literal::Bool(b == "true")
                    }
                    _ => return err("the right side of a where() condition must be a literal"),
                };
                self.expect(Tok::RParen)?;
                Ok(Op::Where(Box::new(Cond {
                    left,
                    negate,
                    right,
                })))
            }
            other => err(format!(
                "function '{other}()' is not supported (supported: where, first, last)"
            )),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Dot => "'.'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Eq => "'='".into(),
        Tok::Ne => "'!='".into(),
    }
}

fn eval(defs: &Definitions, resource: &Value, expr: &Expr) -> Result<Vec<Location>, PathError> {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(t) = &expr.type_root {
        // FHIRPath would yield an empty collection here; for a patch that silently does nothing,
        // so a mismatch is reported instead.
        if t != rtype && t != "Resource" && t != "DomainResource" {
            return err(format!(
                "the path starts with '{t}' but the resource is a '{rtype}'"
            ));
        }
    }
    let root = Location {
        steps: Vec::new(),
        node: Some(rtype.to_string()).filter(|t| !t.is_empty()),
        child: None,
    };
    Ok(run(defs, resource, vec![root], &expr.ops))
}

fn run(defs: &Definitions, root: &Value, mut items: Vec<Location>, ops: &[Op]) -> Vec<Location> {
    for op in ops {
        items = match op {
            Op::Member(name) => items
                .iter()
                .flat_map(|it| member(defs, root, it, name))
                .collect(),
            Op::Index(n) => items.into_iter().nth(*n).into_iter().collect(),
            Op::First => items.into_iter().next().into_iter().collect(),
            Op::Last => items.into_iter().last().into_iter().collect(),
            Op::Where(cond) => items
                .into_iter()
                .filter(|it| holds(defs, root, it, cond))
                .collect(),
        };
    }
    items
}

fn member(defs: &Definitions, root: &Value, item: &Location, name: &str) -> Vec<Location> {
    let Some(Value::Object(obj)) = value_at(root, &item.steps) else {
        return Vec::new();
    };
    let node = item.node.as_deref().and_then(|n| defs.node(n));
    let present = |k: &str| obj.contains_key(k) || obj.contains_key(&format!("_{k}"));
    let keys: Vec<String> = if present(name) {
        vec![name.to_string()]
    } else if let Some(node) = node {
        let mut keys: Vec<String> = node
            .children
            .iter()
            .filter(|(k, c)| c.element.is_choice() && c.element.name() == name && present(k))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for key in keys {
        let child = node.and_then(|n| n.children.get(&key)).cloned();
        let val = obj.get(&key);
        let ext = obj.get(&format!("_{key}"));
        let len = |v: Option<&Value>| v.and_then(Value::as_array).map(Vec::len);
        let mut steps = item.steps.clone();
        steps.push(Step::Key(key.clone()));
        match len(val).or(if val.is_none() { len(ext) } else { None }) {
            Some(n) => {
                let n = n.max(len(ext).unwrap_or(0));
                for i in 0..n {
                    let mut s = steps.clone();
                    s.push(Step::Index(i));
                    let node = node_of(defs, child.as_ref(), value_at(root, &s));
                    out.push(Location {
                        steps: s,
                        node,
                        child: child.clone(),
                    });
                }
            }
            None => {
                let node = node_of(defs, child.as_ref(), val);
                out.push(Location { steps, node, child });
            }
        }
    }
    out
}

/// The definitions node of a value reached through `child`; a nested resource is described by
/// its own `resourceType`.
pub(crate) fn node_of(
    defs: &Definitions,
    child: Option<&Child>,
    v: Option<&Value>,
) -> Option<String> {
    let child = child?;
    if child.type_code.as_deref() == Some("Resource") {
        return v?.get("resourceType")?.as_str().map(str::to_string);
    }
    defs.child_node_path(child)
}

fn holds(defs: &Definitions, root: &Value, item: &Location, cond: &Cond) -> bool {
    let found = run(defs, root, vec![item.clone()], &cond.left);
    let values: Vec<&Value> = found
        .iter()
        .filter_map(|l| value_at(root, &l.steps))
        .filter(|v| !v.is_null())
        .collect();
    // FHIRPath equality on anything but a single value is empty, which where() treats as false.
    let [v] = values.as_slice() else {
        return false;
    };
    let equal = match (&cond.right, v) {
        (Literal::Str(s), Value::String(x)) => s == x,
        (Literal::Bool(b), Value::Bool(x)) => b == x,
        (Literal::Num(n), Value::Number(x)) => {
            matches!((n.parse::<f64>(), x.as_f64()), (Ok(a), Some(b)) if a == b)
        }
        _ => false,
    };
    equal != cond.negate
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(v: &Value, p: &str) -> Vec<Vec<Step>> {
        select(crate::r4(), v, p)
            .unwrap()
            .into_iter()
            .map(|l| l.steps)
            .collect()
    }

    fn k(s: &str) -> Step {
        Step::Key(s.into())
    }

    #[test]
    fn navigates_choices_indexes_and_where() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "valueQuantity": {"value": 1},
            "component": [{"code": {"text": "a"}}, {"code": {"text": "b"}, "valueString": "s"}]});
        assert_eq!(
            paths(&obs, "Observation.value"),
            vec![vec![k("valueQuantity")]]
        );
        assert_eq!(
            paths(&obs, "Observation.component.where(code.text = 'b').value"),
            vec![vec![k("component"), Step::Index(1), k("valueString")]]
        );
        assert_eq!(
            paths(&obs, "Observation.component.last()"),
            vec![vec![k("component"), Step::Index(1)]]
        );
        assert_eq!(paths(&obs, "Observation.component[0].code.text").len(), 1);
        assert!(paths(&obs, "Observation.component[2]").is_empty());
        assert!(paths(&obs, "Observation.component.where(code.text != 'b').value").is_empty());
    }

    #[test]
    fn rejects_unsupported_and_mismatched_paths() {
        let p = json!({"resourceType": "Patient"});
        let defs = crate::r4();
        assert!(select(defs, &p, "Patient.name.exists()").is_err());
        assert!(select(defs, &p, "Observation.status").is_err());
        assert!(select(defs, &p, "Patient.name[").is_err());
        assert!(select(defs, &p, "Patient.name.where(given = 'a' and family = 'b')").is_err());
        assert!(select(defs, &p, "Patient.name.where(given = 'a')")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn primitive_lists_with_extensions_count_as_elements() {
        let p = json!({"resourceType": "Patient", "name": [{"given": ["a", null],
            "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}]}]});
        assert_eq!(paths(&p, "Patient.name.given").len(), 2);
    }
}
