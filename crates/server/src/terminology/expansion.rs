//! `ValueSet.expansion.contains`: flat (the default), or nested along the is-a hierarchy with
//! `excludeNested=false`, each code under its parent when the parent is in the expansion too;
//! `offset` and `count` then page the top level.

use std::collections::HashMap;

use serde_json::{json, Value};
use zdrav_terminology::Entry;

fn item(e: &Entry) -> Value {
    let mut c = json!({"system": e.system, "code": e.code});
    if let Some(v) = &e.version {
        c["version"] = Value::String(v.clone());
    }
    if let Some(d) = &e.display {
        c["display"] = Value::String(d.clone());
    }
    if e.inactive {
        c["inactive"] = Value::Bool(true);
    }
    c
}

/// The page `offset..offset + count` of `all`, flat or nested.
pub fn contains(all: &[Entry], offset: usize, count: usize, nested: bool) -> Vec<Value> {
    if !nested {
        return all.iter().skip(offset).take(count).map(item).collect();
    }
    let at: HashMap<(&str, &str), usize> = all
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.system.as_str(), e.code.as_str()), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); all.len()];
    let mut roots = Vec::new();
    for (i, e) in all.iter().enumerate() {
        let parent = e
            .parent
            .as_deref()
            .and_then(|p| at.get(&(e.system.as_str(), p)))
            .filter(|&&p| p != i);
        match parent {
            Some(&p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    fn build(i: usize, all: &[Entry], children: &[Vec<usize>], depth: usize) -> Value {
        let mut c = item(&all[i]);
        // Bad data could loop; a hierarchy deeper than this is not one people browse.
        if depth < 32 && !children[i].is_empty() {
            c["contains"] = Value::Array(
                children[i]
                    .iter()
                    .map(|&k| build(k, all, children, depth + 1))
                    .collect(),
            );
        }
        c
    }
    roots
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|i| build(i, all, &children, 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(code: &str, parent: Option<&str>) -> Entry {
        Entry {
            system: "urn:x".into(),
            version: None,
            code: code.into(),
            display: None,
            inactive: false,
            parent: parent.map(str::to_string),
        }
    }

    #[test]
    fn nests_under_parents_in_the_expansion() {
        let all = [
            e("I", None),
            e("A00", Some("I")),
            e("A00.0", Some("A00")),
            e("B99", Some("II")),
        ];
        let flat = contains(&all, 1, 2, false);
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0]["code"], "A00");
        let tree = contains(&all, 0, 10, true);
        assert_eq!(tree.len(), 2, "B99's parent is not in the expansion");
        assert_eq!(tree[0]["contains"][0]["contains"][0]["code"], "A00.0");
        assert_eq!(tree[1]["code"], "B99");
    }
}
