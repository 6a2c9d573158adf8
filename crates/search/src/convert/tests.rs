use super::*;
use serde_json::json;

fn conv(ptype: ParamType, v: Value, fhir_type: &str) -> Vec<IndexValue> {
    let mut out = Vec::new();
    to_index_values(ptype, &v, fhir_type, &mut out);
    out
}

fn s(norm: &str, exact: &str) -> IndexValue {
    IndexValue::String {
        norm: norm.into(),
        exact: exact.into(),
    }
}

fn tok(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(Into::into),
        code: code.map(Into::into),
        text: text.map(Into::into),
        type_system: None,
        type_code: None,
    }
}

#[test]
fn strings_from_names_and_addresses() {
    let name = json!({"family": "Øster", "given": ["Ana  María"], "prefix": ["Dr"],
        "suffix": ["Jr"], "text": "Dr Ana María Øster Jr"});
    assert_eq!(
        conv(ParamType::String, name, "HumanName"),
        [
            s("oster", "Øster"),
            s("ana maria", "Ana  María"),
            s("dr", "Dr"),
            s("jr", "Jr"),
            s("dr ana maria oster jr", "Dr Ana María Øster Jr"),
        ]
    );
    let addr = json!({"line": ["Тверская, 1", "кв. 5"], "city": "Москва", "district": "ЦАО",
        "state": "Москва", "postalCode": "125009", "country": "RU", "use": "home"});
    let got = conv(ParamType::String, addr, "Address");
    assert_eq!(got.len(), 7, "every part, `use` excluded: {got:?}");
    assert_eq!(got[2], s("москва", "Москва"));
    assert_eq!(
        conv(ParamType::String, json!("Some *markdown*"), "markdown"),
        [s("some *markdown*", "Some *markdown*")]
    );
    assert!(conv(ParamType::String, json!("   "), "string").is_empty());
}

#[test]
fn tokens_from_every_type() {
    let cc = json!({"coding": [{"system": "http://loinc.org", "code": "1", "display": "One"},
        {"system": "http://snomed.info/sct", "code": "2"}], "text": "Uno"});
    assert_eq!(
        conv(ParamType::Token, cc, "CodeableConcept"),
        [
            tok(Some("http://loinc.org"), Some("1"), Some("one")),
            tok(Some("http://snomed.info/sct"), Some("2"), None),
            tok(None, None, Some("uno")),
        ]
    );
    let id = json!({"system": "urn:identity:snils:Patient", "value": "123",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "SB"}]}});
    assert_eq!(
        conv(ParamType::Token, id, "Identifier"),
        [IndexValue::Token {
            system: Some("urn:identity:snils:Patient".into()),
            code: Some("123".into()),
            text: None,
            type_system: Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
            type_code: Some("SB".into()),
        }]
    );
    let cp = json!({"system": "email", "value": "a@b.c", "use": "work"});
    assert_eq!(
        conv(ParamType::Token, cp, "ContactPoint"),
        [tok(None, Some("a@b.c"), None)]
    );
    assert_eq!(
        conv(ParamType::Token, json!(true), "boolean"),
        [tok(None, Some("true"), None)]
    );
    assert_eq!(
        conv(ParamType::Token, json!("final"), "code"),
        [tok(None, Some("final"), None)]
    );
    assert_eq!(
        conv(ParamType::Token, json!("abc"), "id"),
        [tok(None, Some("abc"), None)]
    );
    let q = json!({"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"});
    assert_eq!(
        conv(ParamType::Token, q, "Quantity"),
        [tok(Some("http://unitsofmeasure.org"), Some("mg"), None)]
    );
    assert!(conv(ParamType::Token, json!({"text": ""}), "CodeableConcept").is_empty());
}

#[test]
fn dates_periods_and_timings() {
    let d = |t: &str| date_range(t).unwrap();
    assert_eq!(
        conv(ParamType::Date, json!("2024-05"), "dateTime"),
        [IndexValue::Date {
            low: d("2024-05").0,
            high: d("2024-05").1
        }]
    );
    assert_eq!(
        conv(ParamType::Date, json!({"start": "2024-01-01"}), "Period"),
        [IndexValue::Date {
            low: d("2024-01-01").0,
            high: i64::MAX
        }]
    );
    assert_eq!(
        conv(ParamType::Date, json!({"end": "2024-01-01"}), "Period"),
        [IndexValue::Date {
            low: i64::MIN,
            high: d("2024-01-01").1
        }]
    );
    assert!(conv(ParamType::Date, json!({}), "Period").is_empty());
    let timing = json!({"event": ["2024-03-01T10:00:00Z", "2024-01-01", "2024-02-01"]});
    assert_eq!(
        conv(ParamType::Date, timing, "Timing"),
        [IndexValue::Date {
            low: d("2024-01-01").0,
            high: d("2024-03-01T10:00:00Z").1
        }]
    );
    let bounded = json!({"repeat": {"boundsPeriod": {"start": "2024", "end": "2025"}}});
    assert_eq!(
        conv(ParamType::Date, bounded, "Timing"),
        [IndexValue::Date {
            low: d("2024").0,
            high: d("2025").1
        }]
    );
    assert!(conv(ParamType::Date, json!("garbage"), "dateTime").is_empty());
}

#[test]
fn numbers_with_implicit_ranges() {
    assert_eq!(number_range("100"), Some((100.0, 99.5, 100.5)));
    assert_eq!(number_range("1e2"), Some((100.0, 50.0, 150.0)));
    let (v, l, h) = number_range("1.5").unwrap();
    assert_eq!(v, 1.5);
    assert!((l - 1.45).abs() < 1e-12 && (h - 1.55).abs() < 1e-12);
    let n: Value = serde_json::from_str("100.00").unwrap();
    let got = conv(ParamType::Number, n, "decimal");
    assert!(matches!(got[..], [IndexValue::Number { value, low, high }]
        if value == 100.0 && (low - 99.995).abs() < 1e-9 && (high - 100.005).abs() < 1e-9));
    assert!(conv(ParamType::Number, json!("7"), "string").is_empty());
}

#[test]
fn quantities_money_and_ranges() {
    let q = json!({"value": 97, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"});
    assert_eq!(
        conv(ParamType::Quantity, q, "Quantity"),
        [IndexValue::Quantity {
            value: 97.0,
            low: 96.5,
            high: 97.5,
            system: Some(UCUM.into()),
            code: Some("mg/dL".into()),
            canonical_value: Some(970.0),
            canonical_code: Some("g.m-3".into()),
        }]
    );
    // No UCUM system: no canonical form; the unit stands in for a missing code.
    let q = json!({"value": 3, "unit": "tablets"});
    assert!(matches!(&conv(ParamType::Quantity, q, "Quantity")[..],
        [IndexValue::Quantity { code: Some(c), system: None, canonical_value: None, .. }] if c == "tablets"));
    let age = json!({"value": 2, "system": UCUM, "code": "h"});
    assert!(matches!(&conv(ParamType::Quantity, age, "Duration")[..],
        [IndexValue::Quantity { canonical_value: Some(v), .. }] if *v == 7200.0));
    let money = json!({"value": 10.5, "currency": "EUR"});
    assert!(matches!(&conv(ParamType::Quantity, money, "Money")[..],
        [IndexValue::Quantity { system: Some(s), code: Some(c), .. }] if s == ISO4217 && c == "EUR"));
    let range = json!({"low": {"value": 5, "unit": "mg"}, "high": {"value": 10, "unit": "mg"}});
    assert!(matches!(&conv(ParamType::Quantity, range, "Range")[..],
        [IndexValue::Quantity { value, low, high, .. }] if *value == 5.0 && *low == 5.0 && *high == 10.0));
    let open = json!({"high": {"value": 10}});
    assert!(matches!(&conv(ParamType::Quantity, open, "Range")[..],
        [IndexValue::Quantity { low, high, .. }] if *low == f64::MIN && *high == 10.0));
    assert!(conv(ParamType::Quantity, json!({"unit": "mg"}), "Quantity").is_empty());
    assert!(conv(ParamType::Quantity, json!({"origin": {}}), "SampledData").is_empty());
}

#[test]
fn references_in_every_form() {
    let r = |reference: &str| {
        conv(
            ParamType::Reference,
            json!({"reference": reference}),
            "Reference",
        )
    };
    let full = |t: Option<&str>, id: Option<&str>, v: Option<&str>, url: Option<&str>| {
        vec![IndexValue::Reference {
            target_type: t.map(Into::into),
            target_id: id.map(Into::into),
            version: v.map(Into::into),
            url: url.map(Into::into),
            identifier_system: None,
            identifier_value: None,
        }]
    };
    assert_eq!(r("Patient/1"), full(Some("Patient"), Some("1"), None, None));
    assert_eq!(
        r("Patient/1/_history/2"),
        full(Some("Patient"), Some("1"), Some("2"), None)
    );
    assert_eq!(
        r("https://ex.org/fhir/Patient/1"),
        full(
            Some("Patient"),
            Some("1"),
            None,
            Some("https://ex.org/fhir/Patient/1")
        )
    );
    assert_eq!(
        r("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"),
        full(
            None,
            None,
            None,
            Some("urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0")
        )
    );
    assert_eq!(
        r("http://ex.org/page"),
        full(None, None, None, Some("http://ex.org/page"))
    );
    assert!(r("#contained").is_empty());
    let canonical = conv(
        ParamType::Reference,
        json!("http://ex.org/Questionnaire/q|2.1"),
        "canonical",
    );
    assert_eq!(
        canonical,
        full(
            Some("Questionnaire"),
            Some("q"),
            Some("2.1"),
            Some("http://ex.org/Questionnaire/q")
        )
    );
    let ident = json!({"identifier": {"system": "urn:oid:1", "value": "X"}, "display": "x"});
    assert_eq!(
        conv(ParamType::Reference, ident, "Reference"),
        [IndexValue::Reference {
            target_type: None,
            target_id: None,
            version: None,
            url: None,
            identifier_system: Some("urn:oid:1".into()),
            identifier_value: Some("X".into()),
        }]
    );
    assert!(conv(
        ParamType::Reference,
        json!({"display": "only"}),
        "Reference"
    )
    .is_empty());
}

#[test]
fn uris() {
    assert_eq!(
        conv(ParamType::Uri, json!("http://ex.org/vs|1.0"), "canonical"),
        [IndexValue::Uri {
            uri: "http://ex.org/vs|1.0".into()
        }]
    );
    assert!(conv(ParamType::Uri, json!(""), "uri").is_empty());
}
