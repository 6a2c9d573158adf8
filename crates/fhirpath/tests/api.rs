//! The public API beyond the official suite: options, errors, output types, thread safety.

use serde_json::json;
use zdrav_fhirpath::{eval_nodes, Expression, Options, Output};

fn eval(src: &str, v: &serde_json::Value) -> Result<Vec<String>, String> {
    let e = Expression::parse(src).map_err(|e| e.to_string())?;
    let out = e.evaluate(zdrav_fhir::r4(), v).map_err(|e| e.to_string())?;
    Ok(out
        .iter()
        .map(|o| format!("{}:{}", o.type_name(), o.to_text()))
        .collect())
}

#[test]
fn expressions_are_shareable_across_threads() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Expression>();
}

#[test]
fn syntax_errors_are_reported_at_parse_time() {
    for bad in [
        "1 +",
        "Patient.name[",
        "'open",
        "a.b(",
        "@2020-13-01",
        "x.nosuch()",
        "/* x",
    ] {
        let err = Expression::parse(bad).expect_err(bad);
        assert!(err.to_string().starts_with("FHIRPath"), "{err}");
    }
}

#[test]
fn external_constants_and_strict_mode() {
    let p = json!({"resourceType": "Patient", "gender": "male"});
    let e = Expression::parse("gender = %expected").unwrap();
    let mut opts = Options::default();
    opts.variables.insert("expected".into(), "male".into());
    let out = e.evaluate_with(zdrav_fhir::r4(), &p, &opts).unwrap();
    assert!(matches!(out.as_slice(), [Output::Boolean(true)]));
    assert!(
        e.evaluate(zdrav_fhir::r4(), &p).is_err(),
        "unknown constant"
    );

    let wrong = Expression::parse("Encounter.status").unwrap();
    assert!(wrong.evaluate(zdrav_fhir::r4(), &p).unwrap().is_empty());
    let strict = Options {
        strict: true,
        ..Options::default()
    };
    assert!(wrong.evaluate_with(zdrav_fhir::r4(), &p, &strict).is_err());
}

#[test]
fn values_keep_their_types_and_precision() {
    let o: serde_json::Value = serde_json::from_str(
        r#"{"resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "effectiveDateTime": "2020-02-03",
            "valueQuantity": {"value": 1.50, "system": "http://unitsofmeasure.org", "code": "mg"}}"#,
    )
    .unwrap();
    assert_eq!(eval("value.value", &o).unwrap(), ["decimal:1.50"]);
    assert_eq!(eval("value.value * 2", &o).unwrap(), ["Decimal:3.00"]);
    assert_eq!(eval("value = 1500 'ug'", &o).unwrap(), ["Boolean:true"]);
    assert_eq!(eval("effective", &o).unwrap(), ["dateTime:@2020-02-03"]);
    assert_eq!(
        eval("effective + 1 month", &o).unwrap(),
        ["DateTime:@2020-03-03T"]
    );
    assert_eq!(
        eval("effective < @2020-02-03T10:00", &o).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(eval("effective < @2020-03", &o).unwrap(), ["Boolean:true"]);
    assert_eq!(eval("(1 | 2 | 2).count()", &o).unwrap(), ["Integer:2"]);
    assert_eq!(
        eval("'abc'.replaceMatches('(b)', '[$1]')", &o).unwrap(),
        ["String:a[b]c"]
    );
}

#[test]
fn evaluation_errors_do_not_panic() {
    let p = json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]});
    for src in [
        "name.given + 1",
        "name.given.single()",
        "(1 | 2) < 3",
        "-'a'",
        "9223372036854775807 + 1",
        "(-9223372036854775807 - 1).abs()",
        "1 'm' + 1 's'",
        "@2020-01-01 + 1 'cm'",
        "@T10:00 + 1 day",
        "'x'.matches('(')",
        "(1).repeat($this + 1).count()",
        "99999999999999999999999999999999999999.0 * 10",
        "1e",
    ] {
        let _ = eval(src, &p);
    }
    assert_eq!(eval("name.given.count()", &p).unwrap(), ["Integer:2"]);
}

#[test]
fn eval_nodes_drops_computed_values() {
    let p = json!({"resourceType": "Patient", "name": [{"family": "F"}]});
    let e = Expression::parse("name.family | 'x' | name.family.upper()").unwrap();
    let nodes = eval_nodes(&e, zdrav_fhir::r4(), &p).unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].value, "F");
    assert_eq!(nodes[0].fhir_type, "string");
}

#[test]
fn deep_nesting_is_refused_or_evaluated_without_overflow() {
    let p = json!({"resourceType": "Patient"});
    for depth in [10, 50, 100, 1000, 100_000] {
        let parens = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        let _ = eval(&parens, &p);
        let calls = format!(
            "{}true{}",
            "iif(true, ".repeat(depth),
            ", false)".repeat(depth)
        );
        let _ = eval(&calls, &p);
        let wheres = format!(
            "Patient{}",
            ".where(true".repeat(depth) + &")".repeat(depth)
        );
        let _ = eval(&wheres, &p);
        let minus = format!("{}1", "-".repeat(depth));
        let _ = eval(&minus, &p);
    }
}

#[test]
fn long_chains_are_refused_or_evaluated_without_overflow() {
    let p = json!({"resourceType": "Patient"});
    for n in [10, 90, 1000, 100_000] {
        let _ = eval(&format!("1{}", " + 1".repeat(n)), &p);
        let _ = eval(&format!("Patient{}", ".name".repeat(n)), &p);
        let _ = eval(&format!("1{}", "[0]".repeat(n)), &p);
        let _ = eval(&format!("1{}", " is Integer".repeat(n)), &p);
    }
    assert_eq!(
        eval(&format!("0{}", " + 1".repeat(90)), &p).unwrap(),
        ["Integer:90"]
    );
}
