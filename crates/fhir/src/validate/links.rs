//! The checks that look beyond the element itself: codes against the required value sets, and
//! references (syntax, target types, local targets to check for existence).

use super::*;

impl<'a> Validator<'a> {
    fn required_vs(&self, child: &Child) -> Option<&'a crate::defs::ValueSetCodes> {
        let b = child.element.binding.as_ref()?;
        if b.strength != "required" {
            return None;
        }
        self.defs.value_set(&b.value_set)
    }

    pub(super) fn check_binding_code(&mut self, child: &Child, code: &str, at: &str) {
        if let Some(vs) = self.required_vs(child) {
            if !vs.codes.contains(code) {
                let url = child
                    .element
                    .binding
                    .as_ref()
                    .map(|b| b.value_set.as_str())
                    .unwrap_or("");
                let mut allowed: Vec<&str> = vs.codes.iter().map(String::as_str).collect();
                allowed.sort_unstable();
                allowed.truncate(12);
                self.issue(
                    Issue::error(
                        "code-invalid",
                        format!(
                            "code '{code}' is not in the required value set {url} (allowed: {})",
                            allowed.join(", ")
                        ),
                    )
                    .at(at),
                );
            }
        }
    }

    pub(super) fn check_binding_codings(&mut self, child: &Child, codings: &[Value], at: &str) {
        let Some(vs) = self.required_vs(child) else {
            return;
        };
        let mut any_coded = false;
        let matched = codings.iter().any(|c| {
            let code = c.get("code").and_then(Value::as_str);
            let system = c.get("system").and_then(Value::as_str);
            match (system, code) {
                (Some(s), Some(k)) => {
                    any_coded = true;
                    vs.pairs.contains(&(s.to_string(), k.to_string()))
                }
                (None, Some(k)) => {
                    any_coded = true;
                    vs.codes.contains(k)
                }
                _ => false,
            }
        });
        if any_coded && !matched {
            let url = child
                .element
                .binding
                .as_ref()
                .map(|b| b.value_set.as_str())
                .unwrap_or("");
            self.issue(
                Issue::error(
                    "code-invalid",
                    format!("no coding is from the required value set {url}"),
                )
                .at(at),
            );
        }
    }

    pub(super) fn reference(&mut self, child: &Child, obj: &Map<String, Value>, at: &str) {
        let Some(Value::String(r)) = obj.get("reference") else {
            return;
        };
        let at_ref = format!("{at}.reference");
        if let Some(local) = r.strip_prefix('#') {
            if let Some(f) = self.frames.last_mut() {
                f.local_refs.insert(local.to_string());
                f.refs_at.push((r.clone(), at_ref));
            }
            return;
        }
        if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
            return;
        }
        if r.starts_with("http://") || r.starts_with("https://") {
            return;
        }
        let targets: Vec<&str> = child
            .element
            .types
            .iter()
            .filter(|t| t.code == "Reference")
            .flat_map(|t| t.targets.iter().map(String::as_str))
            .collect();
        let (path, conditional) = match r.split_once('?') {
            Some((t, _)) => (t, true),
            None => (r.as_str(), false),
        };
        let parts: Vec<&str> = path.split('/').collect();
        let well_formed = match parts.as_slice() {
            [t] => conditional && self.defs.is_resource_type(t),
            [t, id] => !conditional && self.defs.is_resource_type(t) && primitives::is_id(id),
            [t, id, "_history", v] => {
                !conditional
                    && self.defs.is_resource_type(t)
                    && primitives::is_id(id)
                    && primitives::is_id(v)
            }
            _ => false,
        };
        if !well_formed {
            self.issue(
                Issue::error(
                    "value",
                    format!(
                        "invalid reference '{r}': expected Type/id, Type/id/_history/version, an absolute URL, urn:uuid:, or #contained-id"
                    ),
                )
                .at(at_ref),
            );
            return;
        }
        let rtype = parts[0];
        if !targets.is_empty() && !targets.contains(&"Resource") && !targets.contains(&rtype) {
            let msg = format!(
                "reference to {rtype} is not allowed here (allowed: {})",
                targets.join(", ")
            );
            let issue = if self.options.strict_reference_targets {
                Issue::error("value", msg)
            } else {
                Issue::warning("value", msg)
            };
            self.issue(issue.at(at_ref.clone()));
            if self.options.strict_reference_targets {
                return;
            }
        }
        if let Some(Value::String(t)) = obj.get("type") {
            if t != rtype {
                self.issue(
                    Issue::error(
                        "value",
                        format!("Reference.type '{t}' does not match the reference '{r}'"),
                    )
                    .at(format!("{at}.type")),
                );
            }
        }
        if !conditional {
            self.out.local_refs.push(LocalRef {
                rtype: rtype.to_string(),
                id: parts[1].to_string(),
                expression: at_ref,
            });
        }
    }
}
