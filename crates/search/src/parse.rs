//! Search request parsing: the query parameters of a type, system or compartment search become a
//! [`SearchQuery`] (conditions, sort, paging, includes), following the R4 search page. Unknown or
//! unsupported parameters are errors under `Prefer: handling=strict` and reported as ignored
//! otherwise; invalid values are always errors.

mod control;
mod values;

pub use control::parse_query;

use crate::model::*;
use crate::registry::{registry, ParamDef};
use values::{composite, parse_value, split_escaped};

/// What went wrong with a search request; every variant names the offending parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// An unknown resource type.
    #[error("parameter '{param}': unknown resource type '{name}'")]
    UnknownType {
        /// The parameter.
        param: String,
        /// The type name given.
        name: String,
    },
    /// A parameter the searched types do not define (strict mode).
    #[error("unknown search parameter '{param}' for {types}")]
    UnknownParam {
        /// The parameter.
        param: String,
        /// The searched types.
        types: String,
    },
    /// A modifier that does not exist or does not apply to the parameter (strict mode).
    #[error("parameter '{param}': modifier ':{modifier}' {reason}")]
    InvalidModifier {
        /// The parameter.
        param: String,
        /// The modifier.
        modifier: String,
        /// Why.
        reason: String,
    },
    /// A value that cannot be parsed for the parameter's type (always an error).
    #[error("parameter '{param}': invalid value '{value}': {reason}")]
    InvalidValue {
        /// The parameter.
        param: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A parameter this server does not support (strict mode).
    #[error("parameter '{param}' is not supported: {reason}")]
    Unsupported {
        /// The parameter.
        param: String,
        /// Why.
        reason: String,
    },
}

impl SearchError {
    /// The parameter the error is about.
    pub fn param(&self) -> &str {
        match self {
            SearchError::UnknownType { param, .. }
            | SearchError::UnknownParam { param, .. }
            | SearchError::InvalidModifier { param, .. }
            | SearchError::InvalidValue { param, .. }
            | SearchError::Unsupported { param, .. } => param,
        }
    }

    fn reason(&self) -> String {
        match self {
            SearchError::UnknownParam { types, .. } => format!("unknown for {types}"),
            SearchError::InvalidModifier {
                modifier, reason, ..
            } => format!("modifier :{modifier} {reason}"),
            SearchError::Unsupported { reason, .. } => format!("not supported: {reason}"),
            other => other.to_string(),
        }
    }
}

/// How to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// `Prefer: handling=strict`: unknown and unsupported parameters are errors.
    pub strict: bool,
    /// Page size when `_count` is absent.
    pub default_count: usize,
    /// Upper bound of `_count`.
    pub max_count: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            strict: false,
            default_count: 20,
            max_count: 1000,
        }
    }
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSearch {
    /// The query for the store.
    pub query: SearchQuery,
    /// Parameters ignored in lenient mode: `(name, why)`.
    pub ignored: Vec<(String, String)>,
    /// The parameters applied, `(name, value)` as given (`_count` as capped), for the self link;
    /// `_offset`, `_snapshot`, `_format` and `_pretty` are left to the caller.
    pub applied: Vec<(String, String)>,
    /// `_summary` (`true`, `false`, `text`, `data`, `count`).
    pub summary: Option<String>,
    /// `_elements`.
    pub elements: Option<Vec<String>>,
}

/// The Patient compartment condition for a search of `rtype` in `Patient/{id}` (the caller adds
/// it to the query's conditions). `None` when `rtype` is not in the compartment.
pub fn compartment_condition(compartment: &str, id: &str, rtype: &str) -> Option<Condition> {
    if compartment != "Patient" {
        return None;
    }
    let params = registry().compartment_params(compartment, rtype);
    if params.is_empty() && rtype != compartment {
        return None;
    }
    Some(Condition::Compartment {
        compartment: compartment.to_string(),
        id: id.to_string(),
        params: params.to_vec(),
    })
}

/// How deep chains and `_has` may nest.
const MAX_DEPTH: u32 = 6;
/// How many conditions one request may build (unqualified chains fan out over target types).
const MAX_WORK: u32 = 10_000;

struct Parser<'o> {
    options: &'o ParseOptions,
    /// Searched types; empty for a system search without `_type`.
    types: Vec<String>,
    ignored: Vec<(String, String)>,
    /// Current chain / `_has` nesting.
    depth: u32,
    /// Conditions built so far.
    work: u32,
}

fn is_resource_type(t: &str) -> bool {
    zdrav_fhir::r4().is_resource_type(t)
}

fn type_list(types: &[String]) -> String {
    if types.is_empty() {
        "all resource types".to_string()
    } else {
        types.join(", ")
    }
}

impl Parser<'_> {
    /// Applies strictness to a problem with a parameter: an error in strict mode, recorded as
    /// ignored otherwise.
    fn reject(&mut self, err: SearchError) -> Result<(), SearchError> {
        if self.options.strict {
            return Err(err);
        }
        self.ignored.push((err.param().to_string(), err.reason()));
        Ok(())
    }

    /// The definitions of `code` on every type of `types` (`Resource` for a system search).
    fn lookup(&self, types: &[String], code: &str) -> Option<Vec<&'static ParamDef>> {
        let reg = registry();
        if types.is_empty() {
            return reg.param("Resource", code).map(|p| vec![p]);
        }
        types.iter().map(|t| reg.param(t, code)).collect()
    }

    /// Builds the condition of `name=value` on `types` (`name` may carry a modifier, a chain or
    /// be `_has:`). `Ok(None)` when the parameter is ignored.
    fn condition(
        &mut self,
        full: &str,
        types: &[String],
        name: &str,
        value: &str,
    ) -> Result<Option<Condition>, SearchError> {
        self.work += 1;
        if self.work > MAX_WORK {
            return Err(SearchError::Unsupported {
                param: full.to_string(),
                reason: "the request expands to too many conditions".to_string(),
            });
        }
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.nested(full, |p| p.has(full, types, rest, value));
        }
        let (head, chain) = match name.split_once('.') {
            Some((h, c)) => (h, Some(c)),
            None => (name, None),
        };
        let (code, modifier) = match head.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (head, None),
        };
        if let Some(chain) = chain {
            return self.nested(full, |p| p.chain(full, types, code, modifier, chain, value));
        }
        match (code, modifier) {
            ("_id", None) => {
                let ids = split_escaped(value, ',')
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .map(values::unescape)
                    .collect();
                return Ok(Some(Condition::Id(ids)));
            }
            ("_lastUpdated", None) => {
                let vals = self.values(full, ParamType::Date, &Modifier::None, &[], value)?;
                return Ok(Some(Condition::LastUpdated(vals)));
            }
            ("_id" | "_lastUpdated", Some(m)) => {
                self.reject(SearchError::InvalidModifier {
                    param: full.to_string(),
                    modifier: m.to_string(),
                    reason: format!("is not supported on {code}"),
                })?;
                return Ok(None);
            }
            _ => {}
        }
        let Some(defs) = self.lookup(types, code) else {
            self.reject(SearchError::UnknownParam {
                param: full.to_string(),
                types: type_list(types),
            })?;
            return Ok(None);
        };
        let p = defs[0];
        if let Some(why) = defs.iter().find_map(|d| d.unsupported.clone()) {
            self.reject(SearchError::Unsupported {
                param: full.to_string(),
                reason: why,
            })?;
            return Ok(None);
        }
        let targets: Vec<String> = defs.iter().flat_map(|d| d.targets.clone()).collect();
        let modifier = match modifier {
            None => Modifier::None,
            Some(m) => match check_modifier(p, m, &targets) {
                Ok(m) => m,
                Err(reason) => {
                    self.reject(SearchError::InvalidModifier {
                        param: full.to_string(),
                        modifier: m.to_string(),
                        reason,
                    })?;
                    return Ok(None);
                }
            },
        };
        let (modifier, values) = if p.ptype == ParamType::Composite && modifier != Modifier::Missing
        {
            let comps: Vec<(ParamType, &str)> = p
                .components
                .iter()
                .map(|c| (c.ptype, c.code.as_str()))
                .collect();
            let vals = split_escaped(value, ',')
                .into_iter()
                .filter(|v| !v.is_empty())
                .map(|v| composite(full, &comps, v))
                .collect::<Result<Vec<_>, _>>()?;
            (modifier, vals)
        } else if matches!(modifier, Modifier::In | Modifier::NotIn) {
            self.expand_value_sets(full, &modifier, value)?
        } else {
            let vals = self.values(full, p.ptype, &modifier, &targets, value)?;
            (modifier, vals)
        };
        Ok(Some(Condition::Param {
            param: code.to_string(),
            ptype: p.ptype,
            modifier,
            values,
        }))
    }

    /// Runs one level of a chain or `_has`, bounded by [`MAX_DEPTH`].
    fn nested(
        &mut self,
        full: &str,
        f: impl FnOnce(&mut Self) -> Result<Option<Condition>, SearchError>,
    ) -> Result<Option<Condition>, SearchError> {
        if self.depth >= MAX_DEPTH {
            self.reject(SearchError::Unsupported {
                param: full.to_string(),
                reason: format!("chains and _has nest at most {MAX_DEPTH} levels"),
            })?;
            return Ok(None);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn values(
        &self,
        full: &str,
        ptype: ParamType,
        modifier: &Modifier,
        targets: &[String],
        value: &str,
    ) -> Result<Vec<SearchValue>, SearchError> {
        split_escaped(value, ',')
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(|v| parse_value(full, ptype, modifier, targets, v))
            .collect()
    }

    /// `:in` / `:not-in` become plain / `:not` token matches on the value set's codes, so the
    /// store needs no terminology.
    fn expand_value_sets(
        &self,
        full: &str,
        modifier: &Modifier,
        value: &str,
    ) -> Result<(Modifier, Vec<SearchValue>), SearchError> {
        let mut out = Vec::new();
        for url in split_escaped(value, ',')
            .into_iter()
            .filter(|v| !v.is_empty())
        {
            let url = values::unescape(url);
            let base = url.split('|').next().unwrap_or(&url);
            let vs = zdrav_fhir::r4()
                .value_set(base)
                .ok_or_else(|| SearchError::InvalidValue {
                    param: full.to_string(),
                    value: url.clone(),
                    reason: "value set not known to this server".to_string(),
                })?;
            let mut pairs: Vec<&(String, String)> = vs.pairs.iter().collect();
            pairs.sort();
            out.extend(pairs.into_iter().map(|(s, c)| SearchValue::Token {
                system: Some(Some(s.clone())),
                code: Some(c.clone()),
                type_system: None,
                type_code: None,
            }));
        }
        let m = if *modifier == Modifier::NotIn {
            Modifier::Not
        } else {
            Modifier::None
        };
        Ok((m, out))
    }

    fn chain(
        &mut self,
        full: &str,
        types: &[String],
        code: &str,
        modifier: Option<&str>,
        rest: &str,
        value: &str,
    ) -> Result<Option<Condition>, SearchError> {
        let Some(defs) = self.lookup(types, code) else {
            self.reject(SearchError::UnknownParam {
                param: full.to_string(),
                types: type_list(types),
            })?;
            return Ok(None);
        };
        if defs.iter().any(|d| d.ptype != ParamType::Reference) {
            self.reject(SearchError::InvalidModifier {
                param: full.to_string(),
                modifier: format!("{code}.{rest}"),
                reason: format!("chains need a reference parameter; '{code}' is not one"),
            })?;
            return Ok(None);
        }
        let mut targets: Vec<String> = defs.iter().flat_map(|d| d.targets.clone()).collect();
        targets.sort();
        targets.dedup();
        if targets.is_empty() {
            targets = zdrav_fhir::r4().resource_types().to_vec();
        }
        let next = rest.split(['.', ':']).next().unwrap_or(rest).to_string();
        let candidates: Vec<String> = match modifier {
            Some(t) if is_resource_type(t) && targets.iter().any(|x| x == t) => vec![t.to_string()],
            Some(m) => {
                self.reject(SearchError::InvalidModifier {
                    param: full.to_string(),
                    modifier: m.to_string(),
                    reason: format!(
                        "is not a target type of '{code}' (allowed: {})",
                        targets.join(", ")
                    ),
                })?;
                return Ok(None);
            }
            None => targets
                .into_iter()
                .filter(|t| {
                    next == "_id"
                        || next == "_lastUpdated"
                        || next == "_has"
                        || registry().param(t, &next).is_some()
                })
                .collect(),
        };
        if candidates.is_empty() {
            self.reject(SearchError::UnknownParam {
                param: full.to_string(),
                types: format!("the targets of '{code}'"),
            })?;
            return Ok(None);
        }
        // With several candidate targets the chain applies to whichever the reference points at;
        // the chained parameter must mean the same on all of them.
        let inner = if candidates.len() == 1 {
            self.condition(full, &candidates, rest, value)?
        } else {
            self.condition_any(full, &candidates, rest, value)?
        };
        Ok(inner.map(|c| Condition::Chain {
            param: code.to_string(),
            target_type: (candidates.len() == 1).then(|| candidates[0].clone()),
            condition: Box::new(c),
        }))
    }

    /// Like [`Self::condition`] over several types, requiring the same parameter type on each.
    fn condition_any(
        &mut self,
        full: &str,
        types: &[String],
        name: &str,
        value: &str,
    ) -> Result<Option<Condition>, SearchError> {
        let mut found: Option<Condition> = None;
        for t in types {
            let c = self.condition(full, std::slice::from_ref(t), name, value)?;
            match (&found, c) {
                (None, c) => found = c,
                (Some(a), Some(b)) if *a == b => {}
                (Some(_), _) => {
                    return Err(SearchError::InvalidModifier {
                        param: full.to_string(),
                        modifier: name.to_string(),
                        reason: format!(
                            "is ambiguous: its meaning differs across {}; add the target type \
                             (e.g. '{}:{}')",
                            types.join(", "),
                            full.split(['.', ':']).next().unwrap_or(full),
                            types[0]
                        ),
                    })
                }
            }
        }
        Ok(found)
    }

    fn has(
        &mut self,
        full: &str,
        types: &[String],
        rest: &str,
        value: &str,
    ) -> Result<Option<Condition>, SearchError> {
        let mut parts = rest.splitn(3, ':');
        let (Some(rtype), Some(param), Some(inner)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SearchError::InvalidValue {
                param: full.to_string(),
                value: value.to_string(),
                reason: "_has takes the form _has:Type:reference-param:search-param".to_string(),
            });
        };
        if !is_resource_type(rtype) {
            self.reject(SearchError::UnknownType {
                param: full.to_string(),
                name: rtype.to_string(),
            })?;
            return Ok(None);
        }
        let refp = registry().param(rtype, param);
        let points_here = refp.is_some_and(|p| {
            p.ptype == ParamType::Reference
                && (p.targets.is_empty()
                    || types.is_empty()
                    || types.iter().any(|t| p.targets.contains(t)))
        });
        if !points_here {
            self.reject(SearchError::UnknownParam {
                param: full.to_string(),
                types: format!("{rtype} as a reference to {}", type_list(types)),
            })?;
            return Ok(None);
        }
        let cond = self.condition(full, &[rtype.to_string()], inner, value)?;
        Ok(cond.map(|c| Condition::Has {
            rtype: rtype.to_string(),
            param: param.to_string(),
            condition: Box::new(c),
        }))
    }
}

/// Checks that modifier `m` applies to parameter `p`; the reason when it does not.
fn check_modifier(p: &ParamDef, m: &str, targets: &[String]) -> Result<Modifier, String> {
    use ParamType as T;
    let modifier = match m {
        "missing" => Modifier::Missing,
        "exact" => Modifier::Exact,
        "contains" => Modifier::Contains,
        "text" => Modifier::Text,
        "not" => Modifier::Not,
        "above" => Modifier::Above,
        "below" => Modifier::Below,
        "in" => Modifier::In,
        "not-in" => Modifier::NotIn,
        "identifier" => Modifier::Identifier,
        "of-type" => Modifier::OfType,
        t if is_resource_type(t) => Modifier::Type(t.to_string()),
        _ => return Err("is not a search modifier".to_string()),
    };
    let kind = format!("{:?}", p.ptype).to_lowercase();
    let ok = match (&modifier, p.ptype) {
        (Modifier::Missing, _) => true,
        (Modifier::Exact | Modifier::Contains | Modifier::Text, T::String) => true,
        (Modifier::Text | Modifier::Not | Modifier::In | Modifier::NotIn, T::Token) => true,
        (Modifier::OfType, T::Token) => {
            let on_identifier = p.plan.as_ref().is_some_and(|pl| {
                pl.result_states()
                    .iter()
                    .any(|s| s.fhir_type == "Identifier")
            });
            if !on_identifier {
                return Err(format!(
                    "applies to Identifier tokens only; '{}' is not one",
                    p.code
                ));
            }
            true
        }
        (Modifier::Above | Modifier::Below, T::Token | T::Reference) => {
            return Err("needs terminology or hierarchy support, which this server lacks".into())
        }
        (Modifier::Above | Modifier::Below | Modifier::Contains, T::Uri) => true,
        (Modifier::Identifier, T::Reference) => true,
        (Modifier::Type(t), T::Reference) => {
            if !targets.is_empty() && !targets.contains(t) {
                return Err(format!(
                    "is not a target type of '{}' (allowed: {})",
                    p.code,
                    targets.join(", ")
                ));
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(modifier)
    } else {
        Err(format!("is not allowed on {kind} parameter '{}'", p.code))
    }
}

#[cfg(test)]
mod tests;
