//! The `$export` kick-off parameters, from the query string or a `Parameters` body: `_outputFormat`,
//! `_type` and `_since` are supported; the IG's other parameters (and unknown ones) are refused
//! under `Prefer: handling=strict` and otherwise ignored with a warning in the manifest.

use crate::error::ApiError;
use serde_json::Value;
use zdrav_fhir::{Definitions, Issue};

/// The output formats accepted (all mean FHIR NDJSON).
const FORMATS: &[&str] = &["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// Parameters that only shape the HTTP response, never the export.
const TRANSPORT: &[&str] = &["_format", "_pretty"];

/// A checked kick-off request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KickOff {
    /// `_type`, in the order given, without repeats.
    pub types: Option<Vec<String>>,
    /// `_since`, µs since the epoch.
    pub since_micros: Option<i64>,
    /// Warnings about what was ignored (lenient handling), for the manifest's `error` file.
    pub ignored: Vec<Issue>,
}

/// A `+` sent unencoded in a query string arrives as a space (`application/fhir+ndjson`,
/// `+03:00`); no valid value of these parameters has a space, so it is put back.
fn unspace(v: &str) -> String {
    v.trim().replace(' ', "+")
}

/// Parses a `_type` list: comma-separated resource types.
pub fn parse_types(defs: &Definitions, v: &str) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for t in v.split(',').map(str::trim) {
        if t.is_empty() {
            return Err(ApiError::bad_request(format!(
                "_type '{v}' has an empty entry: expected a comma-separated list of resource types"
            )));
        }
        if !defs.is_resource_type(t) {
            return Err(ApiError::bad_request(format!(
                "_type names '{t}', which is not a FHIR R4 resource type"
            )));
        }
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Parses `_since`: a FHIR instant (date, time to the second and zone), to µs since the epoch.
pub fn parse_since(v: &str) -> Result<i64, ApiError> {
    let v = unspace(v);
    zdrav_fhir::primitives::check_string("instant", &v)
        .ok()
        .and_then(|()| zdrav_store::parse_fhir_datetime_range(&v))
        .map(|(start, _)| start)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "_since '{v}' is not a FHIR instant, e.g. 2024-05-01T00:00:00Z or 2024-05-01T03:00:00+03:00"
            ))
        })
}

/// Checks the kick-off parameters. `strict` is `Prefer: handling=strict`.
pub fn parse(
    defs: &Definitions,
    pairs: &[(String, String)],
    strict: bool,
) -> Result<KickOff, ApiError> {
    let mut k = KickOff::default();
    for (name, value) in pairs {
        match name.as_str() {
            "_outputFormat" => {
                let f = unspace(value);
                if !FORMATS.contains(&f.as_str()) {
                    return Err(ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "not-supported",
                        format!(
                            "_outputFormat '{f}' is not supported: use application/fhir+ndjson"
                        ),
                    ));
                }
            }
            "_type" => {
                let list = parse_types(defs, value)?;
                let types = k.types.get_or_insert_with(Vec::new);
                for t in list {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
            }
            "_since" => {
                if k.since_micros.is_some() {
                    return Err(ApiError::bad_request("_since is given more than once"));
                }
                k.since_micros = Some(parse_since(value)?);
            }
            n if TRANSPORT.contains(&n) => {}
            n => {
                let known = matches!(
                    n,
                    "_elements" | "patient" | "_typeFilter" | "includeAssociatedData" | "_until"
                );
                let what = if known {
                    format!("the $export parameter '{n}' is not supported by this server")
                } else {
                    format!("'{n}' is not an $export parameter")
                };
                if strict {
                    return Err(ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "not-supported",
                        what,
                    ));
                }
                k.ignored.push(Issue::warning(
                    "not-supported",
                    format!("{what}; it was ignored (Prefer: handling=strict refuses it)"),
                ));
            }
        }
    }
    Ok(k)
}

/// The parameters of a `POST $export` `Parameters` body as `(name, value)` pairs: strings,
/// codes, instants as they are, a Reference as its `reference`. A parameter with `part`s (or a
/// value of another kind) keeps its name with an empty value, so that it is refused or ignored
/// like any unsupported parameter.
pub fn from_parameters(
    defs: &Definitions,
    body: &Value,
) -> Result<Vec<(String, String)>, ApiError> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(ApiError::bad_request(
            "the body of POST $export must be a Parameters resource",
        ));
    }
    let checked = zdrav_fhir::validate(defs, body);
    if !checked.is_valid() {
        return Err(ApiError {
            status: axum::http::StatusCode::BAD_REQUEST,
            issues: checked.issues,
        });
    }
    let mut pairs = Vec::new();
    let params = body.get("parameter").and_then(Value::as_array);
    for p in params.into_iter().flatten() {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let value = p
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.starts_with("value")))
            .map(|(_, v)| match v {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("reference")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        pairs.push((name.to_string(), value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn supported_parameters() {
        let defs = zdrav_fhir::r4();
        let k = parse(
            defs,
            &pairs(&[
                ("_outputFormat", "application/fhir ndjson"),
                ("_type", "Patient,Observation"),
                ("_type", "Patient"),
                ("_since", "2024-05-01T03:00:00 03:00"),
            ]),
            true,
        );
        let k = k.unwrap_or_default();
        assert_eq!(
            k.types,
            Some(vec!["Patient".to_string(), "Observation".to_string()])
        );
        assert_eq!(k.since_micros, Some(1_714_521_600_000_000));
        assert!(k.ignored.is_empty());
    }

    #[test]
    fn bad_parameters_are_400() {
        let defs = zdrav_fhir::r4();
        for bad in [
            ("_outputFormat", "text/csv"),
            ("_type", "Patient,Nope"),
            ("_type", "Patient,"),
            ("_since", "2024-05-01"),
            ("_since", "yesterday"),
        ] {
            let e = parse(defs, &pairs(&[bad]), false).err();
            assert_eq!(e.map(|e| e.status.as_u16()), Some(400), "{bad:?}");
        }
    }

    #[test]
    fn unsupported_parameters_depend_on_handling() {
        let defs = zdrav_fhir::r4();
        let p = pairs(&[("_elements", "id"), ("_typeFilter", "Patient?x=1")]);
        assert!(parse(defs, &p, true).is_err());
        let k = parse(defs, &p, false).unwrap_or_default();
        assert_eq!(k.ignored.len(), 2);
    }

    #[test]
    fn parameters_body() {
        let defs = zdrav_fhir::r4();
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_since", "valueInstant": "2024-05-01T00:00:00Z"},
            {"name": "patient", "valueReference": {"reference": "Patient/1"}}]});
        let got = from_parameters(defs, &body).unwrap_or_default();
        assert_eq!(
            got,
            pairs(&[
                ("_type", "Patient"),
                ("_since", "2024-05-01T00:00:00Z"),
                ("patient", "Patient/1")
            ])
        );
        assert!(from_parameters(defs, &json!({"resourceType": "Patient"})).is_err());
    }
}
