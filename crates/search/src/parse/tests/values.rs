use super::*;
use crate::date_range;

#[test]
fn every_prefix_on_dates_numbers_and_quantities() {
    let (may_low, may_high) = date_range("2024-05").unwrap();
    for (text, prefix) in [
        ("", Prefix::Eq),
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ] {
        let c = cond("Patient", &format!("birthdate={text}2024-05"));
        let expected = SearchValue::Date {
            prefix,
            low: may_low,
            high: may_high,
        };
        assert_eq!(values(&c).2, [expected]);
        let c = cond("RiskAssessment", &format!("probability={text}100"));
        let expected = SearchValue::Number {
            prefix,
            value: 100.0,
            low: 99.5,
            high: 100.5,
        };
        assert_eq!(values(&c).2, [expected]);
        let c = cond("Observation", &format!("value-quantity={text}5.4"));
        assert!(matches!(values(&c).2[0], SearchValue::Quantity { prefix: p, .. } if p == prefix));
    }
    let c = cond("RiskAssessment", "probability=1.5");
    let SearchValue::Number { low, high, .. } = values(&c).2[0] else {
        panic!()
    };
    assert!((low - 1.45).abs() < 1e-12 && (high - 1.55).abs() < 1e-12);
}

#[test]
fn date_forms_and_time_zones() {
    let c = cond("Observation", "date=ge2024-05-01T10:00:00+03:00");
    let (low, high) = date_range("2024-05-01T07:00:00Z").unwrap();
    assert_eq!(
        values(&c).2,
        [SearchValue::Date {
            prefix: Prefix::Ge,
            low,
            high
        }]
    );
    let c = cond("Observation", "date=2024-05-01T10:00");
    let SearchValue::Date { low, high, .. } = values(&c).2[0] else {
        panic!()
    };
    assert_eq!(high - low, 60_000_000);
}

#[test]
fn tokens_in_every_form_with_or_and_and() {
    let c = cond(
        "Observation",
        "code=http://loinc.org|2339-0,|abc,http://snomed.info/sct|,xyz",
    );
    assert_eq!(
        values(&c).2,
        [
            tok(Some(Some("http://loinc.org")), Some("2339-0")),
            tok(Some(None), Some("abc")),
            tok(Some(Some("http://snomed.info/sct")), None),
            tok(None, Some("xyz")),
        ]
    );
    let p = lenient("Observation", "code=a&code=b");
    assert_eq!(p.query.conditions.len(), 2, "repeated parameters are ANDed");
    let c = cond("Patient", r"identifier=urn:x|a\|b\,c\\d");
    assert_eq!(values(&c).2, [tok(Some(Some("urn:x")), Some(r"a|b,c\d"))]);
    assert!(err("Observation", "code=a|b|c").contains("at most one unescaped '|'"));
    assert!(err("Observation", "code=|").contains("neither a system nor a code"));
}

#[test]
fn token_modifiers() {
    let c = cond("Observation", "code:not=http://loinc.org|1");
    assert_eq!(values(&c).1, &Modifier::Not);
    let c = cond("Observation", "code:text=Glucose  LEVEL");
    assert_eq!(values(&c).1, &Modifier::Text);
    assert_eq!(values(&c).2, [tok(None, Some("glucose level"))]);
    let c = cond(
        "Patient",
        "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053",
    );
    assert_eq!(
        values(&c).2,
        [SearchValue::Token {
            system: None,
            code: Some("446053".into()),
            type_system: Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
            type_code: Some("MR".into()),
        }]
    );
    assert!(err("Patient", "identifier:of-type=MR|446053").contains("type-system|type-code|value"));
    // :of-type applies to Identifier tokens only.
    let p = lenient("Patient", "gender:of-type=a|b|c");
    assert!(
        p.ignored[0].1.contains("Identifier tokens only"),
        "{:?}",
        p.ignored
    );
    // :in expands the value set; :not-in becomes :not over it.
    let c = cond(
        "Patient",
        "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender",
    );
    assert_eq!(values(&c).1, &Modifier::None);
    assert_eq!(values(&c).2.len(), 4);
    assert!(values(&c).2.contains(&tok(
        Some(Some("http://hl7.org/fhir/administrative-gender")),
        Some("female")
    )));
    let c = cond(
        "Patient",
        "gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender",
    );
    assert_eq!(values(&c).1, &Modifier::Not);
    assert!(err("Patient", "gender:in=http://x/vs").contains("value set not known"));
    let p = lenient("Observation", "code:below=http://loinc.org|1");
    assert!(p.ignored[0].1.contains("terminology"), "{:?}", p.ignored);
}

#[test]
fn string_modifiers_and_normalisation() {
    let c = cond("Patient", "name=Ёлкина");
    assert_eq!(
        values(&c),
        (
            "name",
            &Modifier::None,
            &[SearchValue::String("елкина".into())][..]
        )
    );
    let c = cond("Patient", "name:exact=Ёлкина");
    assert_eq!(values(&c).2, [SearchValue::String("Ёлкина".into())]);
    assert_eq!(
        values(&cond("Patient", "name:contains=ЛКИ")).1,
        &Modifier::Contains
    );
    assert_eq!(values(&cond("Patient", "name:text=x")).1, &Modifier::Text);
    let c = cond("Patient", r"address-city=Moscow\, RU,Москва");
    assert_eq!(
        values(&c).2,
        [
            SearchValue::String("moscow, ru".into()),
            SearchValue::String("москва".into())
        ]
    );
}

#[test]
fn missing_uri_and_invalid_combinations() {
    let c = cond("Patient", "birthdate:missing=true");
    assert_eq!(
        values(&c),
        (
            "birthdate",
            &Modifier::Missing,
            &[SearchValue::Missing(true)][..]
        )
    );
    assert!(err("Patient", "birthdate:missing=maybe").contains("true or false"));
    let c = cond("ValueSet", "url:below=http://hl7.org/fhir/");
    assert_eq!(values(&c).1, &Modifier::Below);
    assert_eq!(
        values(&c).2,
        [SearchValue::Uri("http://hl7.org/fhir/".into())]
    );
    assert_eq!(
        values(&cond("ValueSet", "url:above=http://a/b")).1,
        &Modifier::Above
    );
    for (q, why) in [
        (
            "birthdate:exact=2020",
            "is not allowed on date parameter 'birthdate'",
        ),
        (
            "gender:contains=f",
            "is not allowed on token parameter 'gender'",
        ),
        ("name:foo=x", "is not a search modifier"),
        ("general-practitioner:Patient=1", "is not a target type"),
    ] {
        let p = lenient("Patient", q);
        assert!(p.query.conditions.is_empty(), "{q}");
        assert!(p.ignored[0].1.contains(why), "{q}: {:?}", p.ignored);
        let e = strict("Patient", q).unwrap_err();
        assert!(matches!(e, SearchError::InvalidModifier { .. }), "{q}: {e}");
        assert!(e.to_string().contains(why), "{e}");
    }
}

#[test]
fn references_in_every_form() {
    let c = cond(
        "Observation",
        "subject=Patient/123,123,Patient/123/_history/2,http://x.org/fhir/Patient/9",
    );
    assert_eq!(
        values(&c).2,
        [
            reference(Some("Patient"), Some("123"), None, None),
            reference(None, Some("123"), None, None),
            reference(Some("Patient"), Some("123"), Some("2"), None),
            reference(
                Some("Patient"),
                Some("9"),
                None,
                Some("http://x.org/fhir/Patient/9")
            ),
        ]
    );
    let c = cond("Observation", "subject:Patient=123");
    assert_eq!(values(&c).1, &Modifier::Type("Patient".into()));
    assert_eq!(
        values(&c).2,
        [reference(Some("Patient"), Some("123"), None, None)]
    );
    let c = cond("Observation", "subject:identifier=urn:oid:1.2|X1");
    assert_eq!(
        values(&c).2,
        [SearchValue::Reference {
            target_type: None,
            target_id: None,
            version: None,
            url: None,
            identifier: Some((Some("urn:oid:1.2".into()), "X1".into())),
        }]
    );
    let c = cond(
        "CarePlan",
        "instantiates-canonical=http://x/PlanDefinition/pd|2.0",
    );
    assert_eq!(
        values(&c).2,
        [reference(
            Some("PlanDefinition"),
            Some("pd"),
            Some("2.0"),
            Some("http://x/PlanDefinition/pd")
        )]
    );
    assert!(err("Observation", "subject=Foo/1").contains("'Foo' is not a resource type"));
    assert!(
        err("Observation", "subject=Medication/1").contains("subject cannot refer to Medication")
    );
    assert!(err("Observation", "subject:Patient=Group/1").contains("restricts to Patient"));
    assert!(err("Observation", "subject=a/b/c").contains("a reference is id, Type/id"));
    assert!(err("Observation", "subject=bad%id").contains("not a valid id"));
}

#[test]
fn quantities() {
    let c = cond(
        "Observation",
        "value-quantity=5.4|http://unitsofmeasure.org|mmol/L",
    );
    let SearchValue::Quantity {
        value,
        system,
        code,
        canonical_value,
        canonical_code,
        ..
    } = &values(&c).2[0]
    else {
        panic!()
    };
    assert_eq!(
        (*value, system.as_deref(), code.as_deref()),
        (5.4, Some(crate::convert::UCUM), Some("mmol/L"))
    );
    assert_eq!(
        (*canonical_value, canonical_code.as_deref()),
        (Some(3.251953818e24), Some("m-3"))
    );
    let c = cond("Observation", "value-quantity=gt5.4||mg");
    assert!(
        matches!(&values(&c).2[0], SearchValue::Quantity { prefix: Prefix::Gt, system: None,
        code: Some(c), canonical_value: None, .. } if c == "mg")
    );
    assert!(err("Observation", "value-quantity=5.4|mg").contains("number|system|code"));
    assert!(err("Observation", "value-quantity=abc").contains("not a number"));
    assert!(err("Observation", "value-quantity=inf").contains("not a number"));
}

#[test]
fn composites() {
    let c = cond(
        "Observation",
        r"code-value-quantity=http://loinc.org|2339-0$gt90|http://unitsofmeasure.org|mg/dL",
    );
    let SearchValue::Composite(parts) = &values(&c).2[0] else {
        panic!()
    };
    assert_eq!(
        parts[0],
        tok(Some(Some("http://loinc.org")), Some("2339-0"))
    );
    assert!(
        matches!(&parts[1], SearchValue::Quantity { prefix: Prefix::Gt, canonical_value: Some(v), .. } if *v == 900.0)
    );
    assert!(err("Observation", "code-value-quantity=abc")
        .contains("2 parts separated by '$' (code$value-quantity)"));
}
