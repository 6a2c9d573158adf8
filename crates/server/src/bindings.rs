//! Bindings a deployment requires beyond the base specification, e.g. `Condition.code` to
//! МКБ-10 (`--require-binding Condition.code=urn:oid:1.2.643.5.1.13.13.11.1005`): a written
//! resource whose element has no code from the value set is refused with 400. The value set is
//! expanded through the terminology service when the server starts (so an НСИ version imported
//! later applies from the next start); the write-time check is then a set lookup.

use std::collections::HashSet;

use serde_json::Value;
use zdrav_fhir::Issue;

use crate::error::ApiError;
use crate::rest::Ctx;

/// One required binding, expanded.
#[derive(Debug, Clone)]
pub struct Required {
    /// The resource type.
    pub rtype: String,
    /// The element (a CodeableConcept, Coding or code, or a list of them) under the resource.
    pub element: String,
    /// The value set's canonical URL.
    pub value_set: String,
    codes: HashSet<(String, String)>,
}

/// Resolves `Type.element=ValueSetURL` against the terminology service.
pub async fn resolve(ctx: &Ctx, spec: &str) -> Result<Required, String> {
    let (path, url) = spec
        .split_once('=')
        .ok_or_else(|| format!("--require-binding '{spec}': write Type.element=ValueSetURL"))?;
    let (rtype, element) = path
        .split_once('.')
        .filter(|(t, e)| ctx.defs.is_resource_type(t) && !e.is_empty() && !e.contains('.'))
        .ok_or_else(|| format!("--require-binding '{spec}': '{path}' is not Type.element"))?;
    let vs = crate::terminology::resolve::value_set(ctx, url)
        .await
        .map_err(|e| format!("--require-binding '{spec}': {}", e.issues[0].diagnostics))?
        .ok_or_else(|| format!("--require-binding '{spec}': value set {url} is not known"))?;
    let (systems, sets) = crate::terminology::resolve::prepare(ctx, &vs)
        .await
        .map_err(|e| format!("--require-binding '{spec}': {}", e.issues[0].diagnostics))?;
    let find = |u: &str, v: Option<&str>| systems.get(&format!("{u}|{}", v.unwrap_or(""))).cloned();
    let codes = zdrav_terminology::expand(&vs, &find, &|u: &str| sets.get(u).cloned(), None)
        .map_err(|e| format!("--require-binding '{spec}': {e}"))?
        .into_iter()
        .filter(|e| !e.inactive)
        .map(|e| (e.system, e.code))
        .collect();
    Ok(Required {
        rtype: rtype.to_string(),
        element: element.to_string(),
        value_set: url.to_string(),
        codes,
    })
}

/// The codings of a CodeableConcept, a Coding, or a bare code.
fn codings(v: &Value) -> Vec<(Option<&str>, &str)> {
    match v {
        Value::String(code) => vec![(None, code.as_str())],
        Value::Object(o) if o.contains_key("coding") => o["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let code = c.get("code").and_then(Value::as_str)?;
                Some((c.get("system").and_then(Value::as_str), code))
            })
            .collect(),
        Value::Object(o) => o
            .get("code")
            .and_then(Value::as_str)
            .map(|code| vec![(o.get("system").and_then(Value::as_str), code)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// 400 unless every value of each required binding on `rtype` has a code from its value set.
pub fn check(ctx: &Ctx, rtype: &str, resource: &Value) -> Result<(), ApiError> {
    let mut issues = Vec::new();
    for b in ctx.required_bindings.iter().filter(|b| b.rtype == rtype) {
        let (values, listed): (Vec<&Value>, bool) = match resource.get(&b.element) {
            None => continue,
            Some(Value::Array(a)) => (a.iter().collect(), true),
            Some(v) => (vec![v], false),
        };
        for (i, v) in values.into_iter().enumerate() {
            let cs = codings(v);
            let ok = cs.iter().any(|(system, code)| match system {
                Some(s) => b.codes.contains(&(s.to_string(), code.to_string())),
                None => b.codes.iter().any(|(_, c)| c == code),
            });
            if !ok {
                let shown: Vec<String> = cs
                    .iter()
                    .map(|(s, c)| format!("'{c}' ({})", s.unwrap_or("no system")))
                    .collect();
                let at = if listed {
                    format!("{rtype}.{}[{i}]", b.element)
                } else {
                    format!("{rtype}.{}", b.element)
                };
                let what = if shown.is_empty() {
                    "no code".to_string()
                } else {
                    shown.join(", ")
                };
                issues.push(
                    Issue::error(
                        "code-invalid",
                        format!(
                            "{rtype}.{} must have a code from {} (required here); it has {what}",
                            b.element, b.value_set
                        ),
                    )
                    .at(at),
                );
            }
        }
    }
    ApiError::unless_clean(issues)
}
