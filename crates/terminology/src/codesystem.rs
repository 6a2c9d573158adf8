//! A CodeSystem compiled for lookups: concepts by code, the is-a hierarchy (nested concepts or
//! a `parent` property, as НСИ dictionaries carry it), status, and folded text for filtering.

use std::collections::HashMap;

use serde_json::{json, Value};

/// One concept.
#[derive(Debug, Clone)]
pub struct Concept {
    /// The code.
    pub code: String,
    /// Its display.
    pub display: Option<String>,
    /// The parent's index, in an is-a hierarchy.
    pub parent: Option<usize>,
    /// The children's indexes.
    pub children: Vec<usize>,
    /// Retired, inactive or deprecated.
    pub inactive: bool,
    /// Code and display folded for text filters, computed once: folding Cyrillic text is most
    /// of the cost of a filtered expansion.
    pub(crate) folded: (String, String),
}

/// A compiled CodeSystem.
#[derive(Debug, Clone)]
pub struct CodeSystemIndex {
    /// Canonical URL.
    pub url: String,
    /// Version, if stated.
    pub version: Option<String>,
    /// Name or title, for `$lookup`.
    pub name: String,
    /// Whether codes are case-sensitive (FHIR's default is not stated; НСИ codes are not).
    pub case_sensitive: bool,
    /// Whether every code of the system is here (`content` `complete`, the default); a
    /// `fragment` knows some codes, so a code missing from it is unknown, not wrong.
    pub complete: bool,
    /// Concepts in the system's order (parents before their children).
    pub concepts: Vec<Concept>,
    by_code: HashMap<String, usize>,
}

/// The answer of `$subsumes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsumption {
    /// The same concept.
    Equivalent,
    /// A is an ancestor of B.
    Subsumes,
    /// A is a descendant of B.
    SubsumedBy,
    /// Neither.
    NotSubsumed,
}

impl Subsumption {
    /// The code `$subsumes` returns.
    pub fn code(self) -> &'static str {
        match self {
            Subsumption::Equivalent => "equivalent",
            Subsumption::Subsumes => "subsumes",
            Subsumption::SubsumedBy => "subsumed-by",
            Subsumption::NotSubsumed => "not-subsumed",
        }
    }
}

fn property<'a>(c: &'a Value, code: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let code = code.to_string();
    c.get("property")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |p| p.get("code").and_then(Value::as_str) == Some(code.as_str()))
}

fn is_inactive(c: &Value) -> bool {
    property(c, "status").any(|p| {
        matches!(
            p.get("valueCode").and_then(Value::as_str),
            Some("retired" | "inactive" | "deprecated")
        )
    }) || property(c, "inactive").any(|p| p.get("valueBoolean") == Some(&Value::Bool(true)))
        || property(c, "deprecated").next().is_some()
}

impl CodeSystemIndex {
    /// Compiles a CodeSystem resource.
    pub fn from_resource(cs: &Value) -> Result<CodeSystemIndex, String> {
        let url = cs
            .get("url")
            .and_then(Value::as_str)
            .ok_or("a CodeSystem needs a url")?
            .to_string();
        let text = |k: &str| cs.get(k).and_then(Value::as_str).map(str::to_string);
        let mut ix = CodeSystemIndex {
            name: text("title")
                .or_else(|| text("name"))
                .unwrap_or_else(|| url.clone()),
            url,
            version: text("version"),
            case_sensitive: cs.get("caseSensitive").and_then(Value::as_bool) == Some(true),
            complete: !matches!(
                cs.get("content").and_then(Value::as_str),
                Some("fragment" | "example" | "not-present")
            ),
            concepts: Vec::new(),
            by_code: HashMap::new(),
        };
        let mut parents: Vec<(usize, String)> = Vec::new();
        if let Some(list) = cs.get("concept").and_then(Value::as_array) {
            ix.walk(list, None, &mut parents);
        }
        // Flat hierarchies name the parent by code.
        for (child, parent) in parents {
            if let Some(&p) = ix.by_code.get(&ix.key(&parent)) {
                if ix.concepts[child].parent.is_none() && p != child {
                    ix.concepts[child].parent = Some(p);
                    ix.concepts[p].children.push(child);
                }
            }
        }
        Ok(ix)
    }

    fn key(&self, code: &str) -> String {
        if self.case_sensitive {
            code.to_string()
        } else {
            code.to_lowercase()
        }
    }

    fn walk(&mut self, list: &[Value], parent: Option<usize>, parents: &mut Vec<(usize, String)>) {
        for c in list {
            let Some(code) = c.get("code").and_then(Value::as_str) else {
                continue;
            };
            let display = c.get("display").and_then(Value::as_str).map(str::to_string);
            let i = self.concepts.len();
            self.concepts.push(Concept {
                code: code.to_string(),
                folded: (
                    crate::text::fold(code),
                    display
                        .as_deref()
                        .map(crate::text::fold)
                        .unwrap_or_default(),
                ),
                display,
                parent,
                children: Vec::new(),
                inactive: is_inactive(c),
            });
            if let Some(p) = parent {
                self.concepts[p].children.push(i);
            }
            for p in property(c, "parent") {
                if let Some(code) = p.get("valueCode").and_then(Value::as_str) {
                    parents.push((i, code.to_string()));
                }
            }
            let key = self.key(code);
            self.by_code.entry(key).or_insert(i);
            if let Some(sub) = c.get("concept").and_then(Value::as_array) {
                self.walk(sub, Some(i), parents);
            }
        }
    }

    /// The index of a concept.
    pub fn find(&self, code: &str) -> Option<usize> {
        self.by_code.get(&self.key(code)).copied()
    }

    /// A concept by code.
    pub fn get(&self, code: &str) -> Option<&Concept> {
        self.find(code).map(|i| &self.concepts[i])
    }

    /// True if concept `a` is `b` or one of its ancestors.
    fn is_ancestor_or_self(&self, a: usize, b: usize) -> bool {
        let mut cur = Some(b);
        let mut steps = 0;
        while let Some(i) = cur {
            if i == a {
                return true;
            }
            steps += 1;
            if steps > self.concepts.len() {
                return false; // a cycle in bad data
            }
            cur = self.concepts[i].parent;
        }
        false
    }

    /// How `a` relates to `b`; `None` if either is unknown.
    pub fn subsumes(&self, a: &str, b: &str) -> Option<Subsumption> {
        let (ia, ib) = (self.find(a)?, self.find(b)?);
        Some(if ia == ib {
            Subsumption::Equivalent
        } else if self.is_ancestor_or_self(ia, ib) {
            Subsumption::Subsumes
        } else if self.is_ancestor_or_self(ib, ia) {
            Subsumption::SubsumedBy
        } else {
            Subsumption::NotSubsumed
        })
    }

    /// `i` and all its descendants, in the system's order.
    pub fn self_and_descendants(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        let mut k = 0;
        while k < out.len() {
            out.extend(self.concepts[out[k]].children.iter().copied());
            k += 1;
        }
        out.sort_unstable();
        out
    }

    /// The `$lookup` answer for `code`: a Parameters resource, or `None` if unknown.
    pub fn lookup(&self, code: &str) -> Option<Value> {
        let c = self.get(code)?;
        let mut params = vec![json!({"name": "name", "valueString": self.name})];
        if let Some(v) = &self.version {
            params.push(json!({"name": "version", "valueString": v}));
        }
        if let Some(d) = &c.display {
            params.push(json!({"name": "display", "valueString": d}));
        }
        let prop = |code: &str, value: &str| {
            json!({"name": "property", "part": [
                {"name": "code", "valueCode": code}, {"name": "value", "valueCode": value}]})
        };
        if let Some(p) = c.parent {
            params.push(prop("parent", &self.concepts[p].code));
        }
        for &ch in &c.children {
            params.push(prop("child", &self.concepts[ch].code));
        }
        params.push(json!({"name": "property", "part": [
            {"name": "code", "valueCode": "inactive"}, {"name": "value", "valueBoolean": c.inactive}]}));
        Some(json!({"resourceType": "Parameters", "parameter": params}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs() -> CodeSystemIndex {
        let v = json!({"resourceType": "CodeSystem", "url": "urn:x", "version": "1",
            "concept": [
                {"code": "A", "display": "Альфа", "concept": [
                    {"code": "A1", "display": "Альфа один"},
                    {"code": "A2", "display": "Альфа два", "property": [{"code": "status", "valueCode": "retired"}]}]},
                {"code": "B", "display": "Бета"},
                {"code": "B1", "display": "Бета один", "property": [{"code": "parent", "valueCode": "B"}]}]});
        CodeSystemIndex::from_resource(&v).unwrap()
    }

    #[test]
    fn hierarchy_from_nesting_and_parent_properties() {
        let c = cs();
        assert_eq!(c.subsumes("A", "A1"), Some(Subsumption::Subsumes));
        assert_eq!(c.subsumes("A1", "A"), Some(Subsumption::SubsumedBy));
        assert_eq!(
            c.subsumes("B", "b1"),
            Some(Subsumption::Subsumes),
            "not case-sensitive"
        );
        assert_eq!(c.subsumes("A1", "B1"), Some(Subsumption::NotSubsumed));
        assert_eq!(c.subsumes("A", "A"), Some(Subsumption::Equivalent));
        assert_eq!(c.subsumes("A", "Z"), None);
        assert!(c.get("A2").unwrap().inactive);
        let a = c.find("A").unwrap();
        let codes: Vec<&str> = c
            .self_and_descendants(a)
            .into_iter()
            .map(|i| c.concepts[i].code.as_str())
            .collect();
        assert_eq!(codes, ["A", "A1", "A2"]);
        let l = c.lookup("B1").unwrap();
        assert_eq!(l["parameter"][2]["valueString"], "Бета один");
        assert_eq!(l["parameter"][3]["part"][1]["valueCode"], "B");
    }
}
