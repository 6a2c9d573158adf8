//! The request-level parameters (`_type`, `_sort`, `_count`, `_include`...) and the entry point.

use super::{is_resource_type, type_list, ParseOptions, ParsedSearch, Parser, SearchError};
use crate::model::*;
use crate::registry::registry;

fn invalid(param: &str, value: &str, reason: impl Into<String>) -> SearchError {
    SearchError::InvalidValue {
        param: param.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn non_negative(param: &str, value: &str) -> Result<usize, SearchError> {
    value
        .parse::<usize>()
        .map_err(|_| invalid(param, value, "not a non-negative integer"))
}

/// Parameters this server recognises but does not implement.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("_contained", "contained resources are not searched"),
    ("_containedType", "contained resources are not searched"),
    ("_text", "narrative text search is not implemented"),
    ("_content", "full-text search is not implemented"),
    ("_query", "named queries are not implemented"),
    ("_filter", "the _filter syntax is not implemented"),
    ("_list", "list-based search is not implemented"),
];

/// Parses the query parameters of a search of `rtype` (`None`: a system search, where `_type`
/// may name the types). Repeated parameters are ANDed, comma-separated values ORed.
pub fn parse_query(
    rtype: Option<&str>,
    params: &[(String, String)],
    options: &ParseOptions,
) -> Result<ParsedSearch, SearchError> {
    let mut p = Parser {
        options,
        types: Vec::new(),
        ignored: Vec::new(),
        depth: 0,
        work: 0,
    };
    let mut applied = Vec::new();
    match rtype {
        Some(t) if is_resource_type(t) => p.types.push(t.to_string()),
        Some(t) => {
            return Err(SearchError::UnknownType {
                param: "type".to_string(),
                name: t.to_string(),
            })
        }
        None => {
            for (k, v) in params.iter().filter(|(k, _)| k == "_type") {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !is_resource_type(t) {
                        return Err(SearchError::UnknownType {
                            param: k.clone(),
                            name: t.to_string(),
                        });
                    }
                    if !p.types.iter().any(|x| x == t) {
                        p.types.push(t.to_string());
                    }
                }
                applied.push((k.clone(), v.clone()));
            }
        }
    }
    let mut query = SearchQuery {
        types: p.types.clone(),
        conditions: Vec::new(),
        sort: Vec::new(),
        count: options.default_count.min(options.max_count),
        offset: 0,
        total: TotalMode::default(),
        include: Vec::new(),
        revinclude: Vec::new(),
        snapshot: None,
        patients: None,
    };
    let (mut summary, mut elements) = (None, None);
    for (key, value) in params {
        let (base, modifier) = match key.split_once(':') {
            Some((b, m)) if !key.starts_with("_has:") => (b, Some(m)),
            _ => (key.as_str(), None),
        };
        match base {
            "_format" | "_pretty" => continue,
            "_type" => {
                if rtype.is_some() {
                    p.reject(SearchError::Unsupported {
                        param: key.clone(),
                        reason: "_type applies to system searches only".to_string(),
                    })?;
                }
                continue;
            }
            "_count" => {
                let n = non_negative(key, value)?.min(options.max_count);
                query.count = n;
                applied.push((key.clone(), n.to_string()));
                continue;
            }
            "_offset" => {
                query.offset = non_negative(key, value)?;
                continue;
            }
            "_snapshot" => {
                let s = value
                    .parse::<i64>()
                    .map_err(|_| invalid(key, value, "not an integer"))?;
                query.snapshot = Some(s);
                continue;
            }
            "_total" => {
                query.total = match value.as_str() {
                    "none" => TotalMode::None,
                    "estimate" => TotalMode::Estimate,
                    "accurate" => TotalMode::Accurate,
                    _ => return Err(invalid(key, value, "expected none, estimate or accurate")),
                };
                applied.push((key.clone(), value.clone()));
                continue;
            }
            "_summary" => {
                if !matches!(value.as_str(), "true" | "false" | "text" | "data" | "count") {
                    return Err(invalid(
                        key,
                        value,
                        "expected true, false, text, data or count",
                    ));
                }
                summary = Some(value.clone());
                applied.push((key.clone(), value.clone()));
                continue;
            }
            "_elements" => {
                let list: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect();
                elements.get_or_insert_with(Vec::new).extend(list);
                applied.push((key.clone(), value.clone()));
                continue;
            }
            "_sort" => {
                let keys = sort_keys(&mut p, key, value)?;
                if !keys.is_empty() {
                    let text: Vec<String> = keys
                        .iter()
                        .map(|k| match k.direction {
                            Direction::Asc => k.param.clone(),
                            Direction::Desc => format!("-{}", k.param),
                        })
                        .collect();
                    applied.push((key.clone(), text.join(",")));
                    query.sort.extend(keys);
                }
                continue;
            }
            "_include" | "_revinclude" => {
                let iterate = match modifier {
                    None => false,
                    Some("iterate" | "recurse") => true,
                    Some(m) => {
                        p.reject(SearchError::InvalidModifier {
                            param: key.clone(),
                            modifier: m.to_string(),
                            reason: "is not :iterate or :recurse".to_string(),
                        })?;
                        continue;
                    }
                };
                let rev = base == "_revinclude";
                if let Some(inc) = include(&mut p, key, value, iterate, rev)? {
                    if rev {
                        query.revinclude.push(inc);
                    } else {
                        query.include.push(inc);
                    }
                    applied.push((key.clone(), value.clone()));
                }
                continue;
            }
            _ => {}
        }
        if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == base) {
            p.reject(SearchError::Unsupported {
                param: key.clone(),
                reason: why.to_string(),
            })?;
            continue;
        }
        if value.is_empty() {
            // R4: a parameter without a value is ignored.
            p.ignored.push((key.clone(), "empty value".to_string()));
            continue;
        }
        let types = p.types.clone();
        if let Some(c) = p.condition(key, &types, key, value)? {
            query.conditions.push(c);
            applied.push((key.clone(), value.clone()));
        }
    }
    if summary.as_deref() == Some("count") {
        query.count = 0;
    }
    Ok(ParsedSearch {
        query,
        ignored: p.ignored,
        applied,
        summary,
        elements,
    })
}

fn sort_keys(p: &mut Parser<'_>, key: &str, value: &str) -> Result<Vec<SortKey>, SearchError> {
    let mut keys = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (direction, code) = match item.strip_prefix('-') {
            Some(c) => (Direction::Desc, c),
            None => (Direction::Asc, item),
        };
        let ptype = match code {
            "_id" => Some(ParamType::Token),
            "_lastUpdated" => Some(ParamType::Date),
            _ => p.lookup(&p.types, code).and_then(|defs| {
                let d = defs[0];
                let sortable = d.unsupported.is_none()
                    && !matches!(d.ptype, ParamType::Composite | ParamType::Special);
                sortable.then_some(d.ptype)
            }),
        };
        match ptype {
            Some(ptype) => keys.push(SortKey {
                param: code.to_string(),
                ptype,
                direction,
            }),
            None => p.reject(SearchError::UnknownParam {
                param: format!("{key}={item}"),
                types: format!("sorting {}", type_list(&p.types)),
            })?,
        }
    }
    Ok(keys)
}

fn include(
    p: &mut Parser<'_>,
    key: &str,
    value: &str,
    iterate: bool,
    rev: bool,
) -> Result<Option<Include>, SearchError> {
    if value == "*" {
        return Ok(Some(Include {
            source_type: "*".to_string(),
            param: "*".to_string(),
            target_type: None,
            iterate,
        }));
    }
    let parts: Vec<&str> = value.split(':').collect();
    let (source, param, target) = match parts[..] {
        [s, p] => (s, p, None),
        [s, p, t] => (s, p, Some(t)),
        _ => {
            return Err(invalid(
                key,
                value,
                "expected Type:search-param[:TargetType] or *",
            ))
        }
    };
    for t in std::iter::once(source).chain(target) {
        if !is_resource_type(t) {
            p.reject(SearchError::UnknownType {
                param: key.to_string(),
                name: t.to_string(),
            })?;
            return Ok(None);
        }
    }
    // A non-iterating _include starts from the matches, so its source must be a searched type
    // (a _revinclude's source is the referring type, anything).
    if !rev && !iterate && !p.types.is_empty() && !p.types.iter().any(|t| t == source) {
        p.reject(SearchError::Unsupported {
            param: format!("{key}={value}"),
            reason: format!("{source} is not a searched type; use :iterate"),
        })?;
        return Ok(None);
    }
    if param != "*" {
        let def = registry().param(source, param);
        let Some(def) = def.filter(|d| d.ptype == ParamType::Reference) else {
            p.reject(SearchError::UnknownParam {
                param: format!("{key}={value}"),
                types: format!("{source} as a reference parameter"),
            })?;
            return Ok(None);
        };
        if let Some(t) = target {
            if !def.targets.is_empty() && !def.targets.iter().any(|x| x == t) {
                p.reject(SearchError::InvalidModifier {
                    param: format!("{key}={value}"),
                    modifier: t.to_string(),
                    reason: format!(
                        "is not a target type of {source}:{param} (allowed: {})",
                        def.targets.join(", ")
                    ),
                })?;
                return Ok(None);
            }
        }
    }
    Ok(Some(Include {
        source_type: source.to_string(),
        param: param.to_string(),
        target_type: target.map(str::to_string),
        iterate,
    }))
}
