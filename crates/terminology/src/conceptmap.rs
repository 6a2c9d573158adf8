//! `$translate` over a ConceptMap: the targets a source code maps to, with their equivalence.

use serde_json::Value;

/// One mapping of a source code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// `equivalent`, `wider`, `narrower`, `inexact`, `unmatched`, ...
    pub equivalence: String,
    /// Target system.
    pub system: String,
    /// Target code (absent for `unmatched`).
    pub code: Option<String>,
    /// Target display.
    pub display: Option<String>,
}

/// The mappings of `code` (of `system`, when given) into `target` (any target system when
/// `None`); `unmatched` mappings are kept, as they state that there is no match.
pub fn translate(
    map: &Value,
    system: Option<&str>,
    code: &str,
    target: Option<&str>,
) -> Vec<Translation> {
    let mut out = Vec::new();
    for g in map
        .get("group")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| g.get(k).and_then(Value::as_str);
        if system.is_some_and(|want| s("source").is_some_and(|have| have != want))
            || target.is_some_and(|want| s("target").is_some_and(|have| have != want))
        {
            continue;
        }
        let target_system = s("target").unwrap_or_default().to_string();
        for el in g
            .get("element")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if el.get("code").and_then(Value::as_str) != Some(code) {
                continue;
            }
            for t in el
                .get("target")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ts = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
                out.push(Translation {
                    equivalence: ts("equivalence").unwrap_or_else(|| "equivalent".into()),
                    system: target_system.clone(),
                    code: ts("code"),
                    display: ts("display"),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_codes_by_group() {
        let map = json!({"group": [
            {"source": "urn:a", "target": "urn:b", "element": [
                {"code": "1", "target": [{"code": "x", "display": "Икс", "equivalence": "equivalent"},
                                         {"code": "y", "equivalence": "wider"}]}]},
            {"source": "urn:a", "target": "urn:c", "element": [
                {"code": "1", "target": [{"equivalence": "unmatched"}]}]}]});
        let all = translate(&map, Some("urn:a"), "1", None);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].code.as_deref(), Some("x"));
        let to_b = translate(&map, Some("urn:a"), "1", Some("urn:b"));
        assert_eq!(to_b.len(), 2);
        assert!(translate(&map, Some("urn:z"), "1", None).is_empty());
        assert!(translate(&map, None, "2", None).is_empty());
    }
}
