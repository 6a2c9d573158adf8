//! Every official R4 example in ../shared/fhir-tests/r4/examples is validated. Examples that the
//! spec's own rules make invalid are listed with the reason; every other one must pass.

use std::path::PathBuf;

fn examples_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fhir-tests/r4/examples");
    dir.is_dir().then_some(dir)
}

/// Examples that are genuinely invalid against the base R4 definitions, with the issue expected.
/// These are errors in the published examples themselves (the R4 validator reports them too).
const KNOWN_INVALID: &[(&str, &str)] = &[
    // Questionnaire.item.linkId is 1..1; the nested display items have none.
    (
        "bundle-questionnaire.json",
        "Questionnaire.item[0].item[0].linkId",
    ),
];

/// Examples whose references name a type outside the element's targetProfile list: a warning by
/// default, an error with `Options { strict_reference_targets: true }`.
const WRONG_TARGET_TYPES: &[(&str, &str)] = &[
    // DeviceMetric.parent may only reference a Device.
    ("devicemetric-example.json", "DeviceMetric.parent.reference"),
    // DeviceUseStatement.reasonReference does not allow Procedure.
    (
        "deviceusestatement-example.json",
        "DeviceUseStatement.reasonReference[0].reference",
    ),
    // MedicationRequest.dispenseRequest.performer may only reference an Organization.
    (
        "medicationrequest0301.json",
        "MedicationRequest.dispenseRequest.performer.reference",
    ),
];

#[test]
fn wrong_reference_targets_warn_by_default_and_fail_when_strict() {
    let Some(dir) = examples_dir() else {
        eprintln!("SKIPPED: ../shared/fhir-tests not found");
        return;
    };
    let defs = zdrav_fhir::r4();
    for (name, at) in WRONG_TARGET_TYPES {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        let lenient = zdrav_fhir::validate(defs, &v);
        assert!(lenient.is_valid(), "{name}: {:?}", lenient.issues);
        assert!(lenient
            .issues
            .iter()
            .any(|i| !i.is_error() && i.expression.as_deref() == Some(at)));
        let strict = zdrav_fhir::validate_with(
            defs,
            &v,
            &zdrav_fhir::Options {
                strict_reference_targets: true,
            },
        );
        assert!(!strict.is_valid());
        assert!(strict
            .issues
            .iter()
            .any(|i| i.is_error() && i.expression.as_deref() == Some(at)));
    }
}

#[test]
fn official_examples_validate() {
    let Some(dir) = examples_dir() else {
        assert!(
            std::env::var("ZDRAV_REQUIRE_SHARED").is_err(),
            "ZDRAV_REQUIRE_SHARED is set but ../shared is missing"
        );
        eprintln!("SKIPPED: ../shared/fhir-tests not found");
        return;
    };
    let defs = zdrav_fhir::r4();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut ok, mut failed) = (0, Vec::new());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let res = zdrav_fhir::validate(defs, &v);
        let expected = KNOWN_INVALID.iter().find(|(n, _)| *n == name);
        match (res.is_valid(), expected) {
            (true, None) => ok += 1,
            (false, Some((_, why))) => {
                assert!(
                    res.issues.iter().any(
                        |i| i.diagnostics.contains(why) || i.expression.as_deref() == Some(why)
                    ),
                    "{name}: expected an issue about {why}, got {:?}",
                    res.issues
                );
                ok += 1;
            }
            (true, Some(_)) => failed.push(format!("{name}: expected invalid but passed")),
            (false, None) => failed.push(format!(
                "{name}: {:?}",
                res.issues
                    .iter()
                    .filter(|i| i.is_error())
                    .collect::<Vec<_>>()
            )),
        }
    }
    println!("official examples: {ok}/{} as expected", files.len());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
