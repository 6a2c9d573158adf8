//! JSON Patch (RFC 6902) with JSON Pointers (RFC 6901).

use super::{remove_key, PatchError};
use serde_json::Value;

/// Applies an RFC 6902 JSON Patch (`ops`, an array of operations) to `doc`, atomically.
pub fn json_patch(doc: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Value::Array(list) = ops else {
        return Err(PatchError::Invalid(
            "a JSON Patch document must be a JSON array of operations".into(),
        ));
    };
    let mut out = doc.clone();
    for (index, op) in list.iter().enumerate() {
        apply(&mut out, op, index)?;
    }
    Ok(out)
}

fn apply(doc: &mut Value, op: &Value, index: usize) -> Result<(), PatchError> {
    let name = op.get("op").and_then(Value::as_str).unwrap_or("");
    let path = op.get("path").and_then(Value::as_str);
    let fail = |reason: String| PatchError::Failed {
        index,
        op: if name.is_empty() {
            "?".into()
        } else {
            name.into()
        },
        path: path.unwrap_or("").to_string(),
        reason,
    };
    if !op.is_object() {
        return Err(fail("an operation must be a JSON object".into()));
    }
    let Some(path) = path else {
        return Err(fail("the operation has no string 'path'".into()));
    };
    let target = parse_pointer(path).map_err(fail)?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| fail(format!("'{name}' needs a 'value'")))
    };
    let from = || -> Result<Vec<String>, PatchError> {
        let f = op
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("'{name}' needs a string 'from'")))?;
        parse_pointer(f).map_err(|e| fail(format!("in 'from': {e}")))
    };
    match name {
        "add" => add(doc, &target, value()?).map_err(fail),
        "remove" => remove(doc, &target).map(drop).map_err(fail),
        "replace" => {
            let v = value()?;
            let slot = get_mut(doc, &target).map_err(fail)?;
            *slot = v;
            Ok(())
        }
        "move" => {
            let from = from()?;
            if from == target {
                return get_mut(doc, &from).map(drop).map_err(fail);
            }
            if target.len() > from.len() && target.starts_with(&from) {
                return Err(fail(
                    "a value cannot be moved into one of its own children".into(),
                ));
            }
            let v = remove(doc, &from).map_err(|e| fail(format!("in 'from': {e}")))?;
            add(doc, &target, v).map_err(fail)
        }
        "copy" => {
            let from = from()?;
            let v = get_mut(doc, &from)
                .map_err(|e| fail(format!("in 'from': {e}")))?
                .clone();
            add(doc, &target, v).map_err(fail)
        }
        "test" => {
            let expected = value()?;
            let actual = get_mut(doc, &target).map_err(fail)?;
            if json_equal(actual, &expected) {
                Ok(())
            } else {
                Err(PatchError::TestFailed {
                    index,
                    path: path.to_string(),
                    reason: format!("found {actual}, expected {expected}"),
                })
            }
        }
        "" => Err(fail("the operation has no string 'op'".into())),
        other => Err(fail(format!(
            "unknown operation '{other}' (expected add, remove, replace, move, copy or test)"
        ))),
    }
}

/// Splits an RFC 6901 pointer into unescaped reference tokens.
fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!(
            "'{p}' is not a JSON Pointer (it must start with '/')"
        ));
    };
    rest.split('/')
        .map(|tok| {
            let mut out = String::with_capacity(tok.len());
            let mut chars = tok.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(format!("invalid escape in pointer token '{tok}'")),
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index token: digits without leading zeros, or `-` (one past the end) if allowed.
fn array_index(tok: &str, len: usize, for_insert: bool) -> Result<usize, String> {
    if tok == "-" {
        return if for_insert {
            Ok(len)
        } else {
            Err("'-' refers to a nonexistent array element".into())
        };
    }
    let valid = !tok.is_empty()
        && tok.bytes().all(|b| b.is_ascii_digit())
        && (tok == "0" || !tok.starts_with('0'));
    let i: usize = match tok.parse() {
        Ok(i) if valid => i,
        _ => return Err(format!("'{tok}' is not a valid array index")),
    };
    let limit = if for_insert {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > limit || (!for_insert && len == 0) {
        return Err(format!(
            "array index {i} is out of bounds (array length {len})"
        ));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for (depth, tok) in tokens.iter().enumerate() {
        let at = || pointer_of(&tokens[..=depth]);
        cur = match cur {
            Value::Object(m) => m
                .get_mut(tok.as_str())
                .ok_or_else(|| format!("{} does not exist", at()))?,
            Value::Array(a) => {
                let i = array_index(tok, a.len(), false).map_err(|e| format!("{}: {e}", at()))?;
                &mut a[i]
            }
            _ => {
                return Err(format!(
                    "{} does not exist: {} is not an object or array",
                    at(),
                    pointer_of(&tokens[..depth])
                ))
            }
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add to {}: it is not an object or array",
            pointer_of(parent)
        )),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("the whole document cannot be removed".into());
    };
    let at = pointer_of(tokens);
    match get_mut(doc, parent)? {
        Value::Object(m) => remove_key(m, last).ok_or_else(|| format!("{at} does not exist")),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false).map_err(|e| format!("{at}: {e}"))?;
            Ok(a.remove(i))
        }
        _ => Err(format!("{at} does not exist")),
    }
}

fn pointer_of(tokens: &[String]) -> String {
    if tokens.is_empty() {
        return "the document root".into();
    }
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// RFC 6902 equality: numbers compare by value (`1` equals `1.0`), objects ignore member order.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64().is_some() && x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_unescape_in_the_right_order() {
        assert_eq!(parse_pointer("/~01/a~1b").unwrap(), vec!["~1", "a/b"]);
        assert_eq!(parse_pointer("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_pointer("/").unwrap(), vec![""]);
        assert!(parse_pointer("a").is_err());
        assert!(parse_pointer("/~2").is_err());
    }

    #[test]
    fn indexes_reject_leading_zeros_and_out_of_range() {
        let doc = json!({"a": [1, 2]});
        let op = |p: &str| json!([{"op": "replace", "path": p, "value": 0}]);
        assert!(json_patch(&doc, &op("/a/01")).is_err());
        assert!(json_patch(&doc, &op("/a/2")).is_err());
        assert!(json_patch(&doc, &op("/a/-")).is_err());
        assert_eq!(json_patch(&doc, &op("/a/1")).unwrap(), json!({"a": [1, 0]}));
        let add = json!([{"op": "add", "path": "/a/2", "value": 3}]);
        assert_eq!(json_patch(&doc, &add).unwrap(), json!({"a": [1, 2, 3]}));
    }

    #[test]
    fn copy_move_test_and_errors_name_the_operation() {
        let doc = json!({"a": {"b": 1.0}, "c": [1]});
        let ops = json!([
            {"op": "copy", "from": "/a", "path": "/d"},
            {"op": "move", "from": "/c/0", "path": "/a/e"},
            {"op": "test", "path": "/d/b", "value": 1},
        ]);
        assert_eq!(
            json_patch(&doc, &ops).unwrap(),
            json!({"a": {"b": 1.0, "e": 1}, "c": [], "d": {"b": 1.0}})
        );
        let bad =
            json!([{"op": "test", "path": "/a/b", "value": 1}, {"op": "remove", "path": "/x"}]);
        let e = json_patch(&doc, &bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "patch operation 1 (remove at '/x') failed: /x does not exist"
        );
        let into_child = json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]);
        assert!(json_patch(&doc, &into_child).is_err());
        assert!(json_patch(&doc, &json!({"op": "add"})).is_err());
    }

    #[test]
    fn removal_keeps_member_order() {
        let doc = json!({"a": 1, "b": 2, "c": 3});
        let out = json_patch(&doc, &json!([{"op": "remove", "path": "/a"}])).unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "c"]);
    }
}
