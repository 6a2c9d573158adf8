//! ValueSet expansion: `compose.include` and `exclude` by whole system, enumerated concepts,
//! hierarchy filters (`concept is-a`, `descendent-of`, `=`, `parent =`) and other value sets,
//! then the text filter of `$expand?filter=`.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::codesystem::CodeSystemIndex;
use crate::text::{fold, matches, words};

/// One code of an expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Code system URL.
    pub system: String,
    /// Code system version, if known.
    pub version: Option<String>,
    /// The code.
    pub code: String,
    /// Its display.
    pub display: Option<String>,
    /// Retired or inactive in its system.
    pub inactive: bool,
    /// The parent's code in an is-a hierarchy, when the code comes from its system.
    pub parent: Option<String>,
}

/// Finds a code system by URL and optional version.
pub type Systems<'a> = dyn Fn(&str, Option<&str>) -> Option<Arc<CodeSystemIndex>> + 'a;
/// Finds a value set by canonical URL.
pub type ValueSets<'a> = dyn Fn(&str) -> Option<Value> + 'a;

const MAX_DEPTH: usize = 8;

/// Expands `vs`, narrowed by the text `filter`; the error says what could not be expanded.
pub fn expand(
    vs: &Value,
    systems: &Systems<'_>,
    value_sets: &ValueSets<'_>,
    filter: Option<&str>,
) -> Result<Vec<Entry>, String> {
    // The text filter is a test of each code alone, so it can be applied where codes are
    // drawn from their systems (on the folded text compiled there), before unions and
    // exclusions; only codes that pass are copied out.
    let folded = filter
        .map(fold)
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty());
    let text = folded.as_deref().map(|f| TextFilter::Text {
        words: words(f),
        whole: f,
    });
    expand_at(vs, systems, value_sets, 0, text.as_ref())
}

/// What narrows an expansion where codes are drawn: a folded text filter, or one code.
enum TextFilter<'a> {
    Text { words: Vec<&'a str>, whole: &'a str },
    Code(String),
}

impl TextFilter<'_> {
    /// `code` and `display` folded.
    fn passes(&self, code: &str, display: &str) -> bool {
        match self {
            TextFilter::Text { words, whole } => matches(words, whole, code, display),
            TextFilter::Code(c) => c == code,
        }
    }
}

/// True if `vs` contains `code` of `system` (any system when `None`); the matching entry.
pub fn includes(
    vs: &Value,
    systems: &Systems<'_>,
    value_sets: &ValueSets<'_>,
    system: Option<&str>,
    code: &str,
) -> Result<Option<Entry>, String> {
    let only = TextFilter::Code(fold(code));
    Ok(expand_at(vs, systems, value_sets, 0, Some(&only))?
        .into_iter()
        .find(|e| e.code == code && system.is_none_or(|s| s == e.system)))
}

fn expand_at(
    vs: &Value,
    systems: &Systems<'_>,
    value_sets: &ValueSets<'_>,
    depth: usize,
    text: Option<&TextFilter<'_>>,
) -> Result<Vec<Entry>, String> {
    if depth > MAX_DEPTH {
        return Err("value sets include each other too deeply".into());
    }
    let Some(compose) = vs.get("compose") else {
        let mut all = pre_expanded(vs)?;
        if let Some(t) = text {
            all.retain(|e| {
                t.passes(
                    &fold(&e.code),
                    &e.display.as_deref().map(fold).unwrap_or_default(),
                )
            });
        }
        return Ok(all);
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for inc in compose
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for e in part(inc, systems, value_sets, depth, text)? {
            if seen.insert((e.system.clone(), e.code.clone())) {
                out.push(e);
            }
        }
    }
    let mut excluded = HashSet::new();
    for exc in compose
        .get("exclude")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for e in part(exc, systems, value_sets, depth, None)? {
            excluded.insert((e.system, e.code));
        }
    }
    out.retain(|e| !excluded.contains(&(e.system.clone(), e.code.clone())));
    Ok(out)
}

fn pre_expanded(vs: &Value) -> Result<Vec<Entry>, String> {
    let Some(contains) = vs.pointer("/expansion/contains").and_then(Value::as_array) else {
        return Err("the value set has neither a compose nor an expansion".into());
    };
    let mut out = Vec::new();
    fn walk(list: &[Value], out: &mut Vec<Entry>) {
        for c in list {
            if let (Some(system), Some(code)) = (
                c.get("system").and_then(Value::as_str),
                c.get("code").and_then(Value::as_str),
            ) {
                out.push(Entry {
                    system: system.into(),
                    version: c.get("version").and_then(Value::as_str).map(str::to_string),
                    code: code.into(),
                    display: c.get("display").and_then(Value::as_str).map(str::to_string),
                    inactive: c.get("inactive") == Some(&Value::Bool(true)),
                    parent: None,
                });
            }
            if let Some(sub) = c.get("contains").and_then(Value::as_array) {
                walk(sub, out);
            }
        }
    }
    walk(contains, &mut out);
    Ok(out)
}

fn entry(cs: &CodeSystemIndex, i: usize) -> Entry {
    let c = &cs.concepts[i];
    Entry {
        system: cs.url.clone(),
        version: cs.version.clone(),
        code: c.code.clone(),
        display: c.display.clone(),
        inactive: c.inactive,
        parent: c.parent.map(|p| cs.concepts[p].code.clone()),
    }
}

/// The codes of one `include` or `exclude`.
fn part(
    inc: &Value,
    systems: &Systems<'_>,
    value_sets: &ValueSets<'_>,
    depth: usize,
    text: Option<&TextFilter<'_>>,
) -> Result<Vec<Entry>, String> {
    let mut from_sets: Option<HashSet<(String, String)>> = None;
    let mut set_entries = Vec::new();
    for url in inc
        .get("valueSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let url = url.as_str().unwrap_or_default();
        let canonical = url.split('|').next().unwrap_or(url);
        let sub =
            value_sets(canonical).ok_or_else(|| format!("value set {canonical} is not known"))?;
        let codes = expand_at(&sub, systems, value_sets, depth + 1, text)?;
        let keys: HashSet<(String, String)> = codes
            .iter()
            .map(|e| (e.system.clone(), e.code.clone()))
            .collect();
        from_sets = Some(match from_sets {
            None => keys,
            Some(prev) => prev.intersection(&keys).cloned().collect(),
        });
        set_entries.extend(codes);
    }
    let Some(system) = inc.get("system").and_then(Value::as_str) else {
        let keep = from_sets.unwrap_or_default();
        let mut seen = HashSet::new();
        set_entries.retain(|e| {
            let k = (e.system.clone(), e.code.clone());
            keep.contains(&k) && seen.insert(k)
        });
        return Ok(set_entries);
    };
    let version = inc.get("version").and_then(Value::as_str);
    let cs = systems(system, version);
    let mut out: Vec<Entry> = Vec::new();
    if let Some(concepts) = inc.get("concept").and_then(Value::as_array) {
        for c in concepts {
            let Some(code) = c.get("code").and_then(Value::as_str) else {
                continue;
            };
            let known = cs
                .as_ref()
                .and_then(|cs| cs.find(code).map(|i| entry(cs, i)));
            let e = known.unwrap_or_else(|| Entry {
                system: system.into(),
                version: version.map(str::to_string),
                code: code.into(),
                display: c.get("display").and_then(Value::as_str).map(str::to_string),
                inactive: false,
                parent: None,
            });
            let display = e.display.as_deref().map(fold).unwrap_or_default();
            if text.is_none_or(|t| t.passes(&fold(&e.code), &display)) {
                out.push(e);
            }
        }
    } else {
        let cs = cs.ok_or_else(|| format!("code system {system} is not known here"))?;
        let mut selected: Vec<usize> = (0..cs.concepts.len()).collect();
        for f in inc
            .get("filter")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let keep: HashSet<usize> = filter(&cs, f)?.into_iter().collect();
            selected.retain(|i| keep.contains(i));
        }
        if let Some(t) = text {
            selected.retain(|&i| {
                let (code, display) = &cs.concepts[i].folded;
                t.passes(code, display)
            });
        }
        out.extend(selected.into_iter().map(|i| entry(&cs, i)));
    }
    if let Some(keep) = from_sets {
        out.retain(|e| keep.contains(&(e.system.clone(), e.code.clone())));
    }
    Ok(out)
}

/// The concepts a `compose.include.filter` selects.
fn filter(cs: &CodeSystemIndex, f: &Value) -> Result<Vec<usize>, String> {
    let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
    let (property, op, value) = (s("property"), s("op"), s("value"));
    let root = || {
        cs.find(value)
            .ok_or_else(|| format!("filter value {value} is not a code of {}", cs.url))
    };
    match (property, op) {
        ("concept", "is-a") => Ok(cs.self_and_descendants(root()?)),
        ("concept", "descendent-of") => {
            let r = root()?;
            Ok(cs
                .self_and_descendants(r)
                .into_iter()
                .filter(|&i| i != r)
                .collect())
        }
        ("concept", "=") => Ok(vec![root()?]),
        ("parent", "=") => Ok(cs.concepts[root()?].children.clone()),
        ("concept", "is-not-a") => {
            let below: HashSet<usize> = cs.self_and_descendants(root()?).into_iter().collect();
            Ok((0..cs.concepts.len())
                .filter(|i| !below.contains(i))
                .collect())
        }
        _ => Err(format!("the filter {property} {op} is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn system() -> Arc<CodeSystemIndex> {
        let v = json!({"resourceType": "CodeSystem", "url": "urn:icd", "concept": [
            {"code": "I", "display": "Инфекции", "concept": [
                {"code": "A00", "display": "Холера", "concept": [{"code": "A00.0", "display": "Холера классическая"}]},
                {"code": "A01", "display": "Тиф"}]},
            {"code": "II", "display": "Новообразования"}]});
        Arc::new(CodeSystemIndex::from_resource(&v).unwrap())
    }

    fn run(vs: Value, text: Option<&str>) -> Result<Vec<String>, String> {
        let cs = system();
        let systems = |url: &str, _: Option<&str>| (url == "urn:icd").then(|| cs.clone());
        let other = json!({"compose": {"include": [{"system": "urn:icd", "concept": [{"code": "A01"}, {"code": "II"}]}]}});
        let sets = |url: &str| (url == "urn:vs:other").then(|| other.clone());
        Ok(expand(&vs, &systems, &sets, text)?
            .into_iter()
            .map(|e| e.code)
            .collect())
    }

    #[test]
    fn compose_filters_and_text() {
        let whole = json!({"compose": {"include": [{"system": "urn:icd"}]}});
        assert_eq!(run(whole.clone(), None).unwrap().len(), 5);
        assert_eq!(run(whole, Some("холер")).unwrap(), ["A00", "A00.0"]);
        let is_a = json!({"compose": {"include": [{"system": "urn:icd",
            "filter": [{"property": "concept", "op": "is-a", "value": "A00"}]}]}});
        assert_eq!(run(is_a, None).unwrap(), ["A00", "A00.0"]);
        let desc = json!({"compose": {"include": [{"system": "urn:icd",
            "filter": [{"property": "concept", "op": "descendent-of", "value": "I"}]}],
            "exclude": [{"system": "urn:icd", "concept": [{"code": "A01"}]}]}});
        assert_eq!(run(desc, None).unwrap(), ["A00", "A00.0"]);
        let nested = json!({"compose": {"include": [{"valueSet": ["urn:vs:other"]}]}});
        assert_eq!(run(nested, None).unwrap(), ["A01", "II"]);
        let unknown = json!({"compose": {"include": [{"system": "urn:nope"}]}});
        assert!(run(unknown, None).unwrap_err().contains("urn:nope"));
    }
}
