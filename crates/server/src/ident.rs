//! Russian identifiers on write: a resource's СНИЛС, ЕНП, ОГРН, ИНН, КПП and ФРМО OID are
//! checked with their control numbers and stored in one normalised form (`zdrav_ru`), so that
//! a search by any written form finds them and a mistyped number is caught at the desk.

use serde_json::Value;
use zdrav_fhir::Issue;

use crate::error::ApiError;

/// Normalises the Russian identifiers in `resource.identifier`; 400 naming each bad one.
pub fn normalise(rtype: &str, resource: &mut Value) -> Result<(), ApiError> {
    let Some(list) = resource.get_mut("identifier") else {
        return Ok(());
    };
    let mut issues = Vec::new();
    let (items, indexed): (Vec<&mut Value>, bool) = match list {
        Value::Array(a) => (a.iter_mut().collect(), true),
        other => (vec![other], false),
    };
    for (i, id) in items.into_iter().enumerate() {
        let (Some(system), Some(value)) = (
            id.get("system").and_then(Value::as_str),
            id.get("value").and_then(Value::as_str),
        ) else {
            continue;
        };
        match zdrav_ru::check_identifier(system, value) {
            None => {}
            Some(Ok(normal)) => id["value"] = Value::String(normal),
            Some(Err(why)) => {
                let at = if indexed {
                    format!("{rtype}.identifier[{i}].value")
                } else {
                    format!("{rtype}.identifier.value")
                };
                issues.push(Issue::error("value", why).at(at));
            }
        }
    }
    ApiError::unless_clean(issues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_are_normalised_or_refused_where_they_are() {
        let mut p = json!({"resourceType": "Patient", "identifier": [
            {"system": "urn:identity:snils:Patient", "value": "11223344595"},
            {"system": "http://example.org/mrn", "value": "abc"}]});
        assert!(normalise("Patient", &mut p).is_ok());
        assert_eq!(p["identifier"][0]["value"], "112-233-445 95");
        assert_eq!(p["identifier"][1]["value"], "abc");
        let mut bad = json!({"resourceType": "Patient", "identifier": [
            {"system": "http://example.org/mrn", "value": "abc"},
            {"system": "urn:identity:enp:Patient", "value": "1234567890123456"}]});
        let e = normalise("Patient", &mut bad).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            e.issues[0].expression.as_deref(),
            Some("Patient.identifier[1].value")
        );
        assert!(e.issues[0].diagnostics.contains("ЕНП"));
    }
}
