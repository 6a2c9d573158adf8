//! Runs every case of ../shared/fhir-tests/r4/patch/json-patch-tests.json through `json_patch`.

mod support;

use serde_json::Value;
use zdrav_fhir::patch::json_patch;

#[test]
fn json_patch_test_cases() {
    let Some(file) = support::shared_test_file("r4/patch/json-patch-tests.json") else {
        return;
    };
    let cases: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let (mut passed, mut disabled, mut failures) = (0, 0, Vec::new());
    for (i, case) in cases.iter().enumerate() {
        let name = case["comment"].as_str().unwrap_or("?").to_string();
        if case["disabled"].as_bool() == Some(true) {
            disabled += 1;
            continue;
        }
        let result = json_patch(&case["doc"], &case["patch"]);
        match (result, case.get("expected"), case.get("error")) {
            (Ok(out), Some(expected), _) if &out == expected => passed += 1,
            (Ok(out), Some(expected), _) => {
                failures.push(format!("#{i} {name}: got {out}, expected {expected}"))
            }
            (Err(_), None, Some(_)) => passed += 1,
            (Ok(out), None, Some(why)) => {
                failures.push(format!("#{i} {name}: expected an error ({why}), got {out}"))
            }
            (Err(e), _, _) => failures.push(format!("#{i} {name}: unexpected error: {e}")),
            // A case with neither result nor error only checks that the patch applies.
            (Ok(_), None, None) => passed += 1,
        }
    }
    println!(
        "JSON Patch cases: {passed}/{} passed, {disabled} disabled",
        cases.len() - disabled
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
