//! Every search parameter expression of the base specification parses, and evaluates without
//! error on every official example of its base resource types.

use serde_json::Value;
use std::path::Path;
use zdrav_fhirpath::{eval_nodes, Expression};

fn examples() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fhir-tests/r4/examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) == Some("json") {
            if let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&p).unwrap()) {
                out.push(v);
            }
        }
    }
    out
}

#[test]
fn all_search_parameter_expressions_parse() {
    let defs = zdrav_fhir::r4();
    let mut bad = Vec::new();
    for sp in &defs.search_params {
        if let Some(e) = &sp.expression {
            if let Err(err) = Expression::parse(e) {
                bad.push(format!("{}: {e}: {err}", sp.id));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn search_parameters_evaluate_on_examples() {
    let defs = zdrav_fhir::r4();
    let examples = examples();
    if examples.is_empty() {
        println!("SKIPPED: no examples");
        return;
    }
    let mut errors = Vec::new();
    let mut hits = 0;
    for sp in &defs.search_params {
        let Some(src) = &sp.expression else { continue };
        let Ok(expr) = Expression::parse(src) else {
            continue;
        };
        for ex in &examples {
            let rt = ex.get("resourceType").and_then(Value::as_str).unwrap_or("");
            if !sp
                .base
                .iter()
                .any(|b| b == rt || b == "Resource" || b == "DomainResource")
            {
                continue;
            }
            match eval_nodes(&expr, defs, ex) {
                Ok(nodes) => hits += nodes.len(),
                Err(e) => errors.push(format!("{} on {rt}: {e}", sp.id)),
            }
        }
    }
    println!("search parameter nodes found: {hits}");
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(hits > 500, "only {hits} nodes");
}

#[test]
fn resolve_types_references_without_a_store() {
    let defs = zdrav_fhir::r4();
    let obs: Value = serde_json::json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/123"},
        "performer": [{"reference": "Practitioner/9"}, {"reference": "#org"}],
        "contained": [{"resourceType": "Organization", "id": "org"}]
    });
    let e = Expression::parse("Observation.subject.where(resolve() is Patient)").unwrap();
    let nodes = eval_nodes(&e, defs, &obs).unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].fhir_type, "Reference");
    let e = Expression::parse("Observation.performer.where(resolve() is Organization)").unwrap();
    assert_eq!(eval_nodes(&e, defs, &obs).unwrap().len(), 1);
    let e = Expression::parse("Observation.performer.resolve()").unwrap();
    let nodes = eval_nodes(&e, defs, &obs).unwrap();
    assert_eq!(
        nodes.len(),
        1,
        "only the contained resource is an input node"
    );
    assert_eq!(nodes[0].fhir_type, "Organization");
}

#[test]
fn eval_nodes_reports_concrete_types() {
    let defs = zdrav_fhir::r4();
    // Parsed from text so the decimal keeps its written precision.
    let obs: Value = serde_json::from_str(
        r#"{"resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "valueQuantity": {"value": 1.50, "unit": "mg"},
            "component": [{"code": {"text": "c"}, "valueString": "s"}]}"#,
    )
    .unwrap();
    let types = |src: &str| -> Vec<String> {
        let e = Expression::parse(src).unwrap();
        eval_nodes(&e, defs, &obs)
            .unwrap()
            .into_iter()
            .map(|n| n.fhir_type)
            .collect()
    };
    assert_eq!(types("Observation.value"), ["Quantity"]);
    assert_eq!(
        types("Observation.value.ofType(Quantity).value"),
        ["decimal"]
    );
    assert_eq!(types("Observation.component"), ["BackboneElement"]);
    assert_eq!(types("Observation.component.value"), ["string"]);
    assert_eq!(types("Observation"), ["Observation"]);
    assert_eq!(types("Observation.status | 'literal'"), ["code"]);
    let e = Expression::parse("Observation.value.value").unwrap();
    assert_eq!(
        eval_nodes(&e, defs, &obs).unwrap()[0].value.to_string(),
        "1.50"
    );
}
