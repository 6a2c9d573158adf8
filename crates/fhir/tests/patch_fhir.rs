//! Runs every `<case>` of ../shared/fhir-tests/r4/patch/fhir-patch-tests.xml through
//! `fhir_patch`: input, diff and output are FHIR XML, converted to JSON by the test support.

mod support;

use roxmltree::Node;
use support::fhir_xml;
use zdrav_fhir::patch::fhir_patch;

/// Cases that cannot run, with why. Keep this tiny.
const SKIP: &[(&str, &str)] = &[];

fn resource_in(defs: &zdrav_fhir::Definitions, case: Node, tag: &str) -> Option<serde_json::Value> {
    let holder = case.children().find(|n| n.has_tag_name(tag))?;
    let el = holder.children().find(Node::is_element)?;
    Some(fhir_xml::resource(defs, el).unwrap_or_else(|e| panic!("<{tag}>: {e}")))
}

#[test]
fn fhir_patch_test_cases() {
    let Some(file) = support::shared_test_file("r4/patch/fhir-patch-tests.xml") else {
        return;
    };
    let text = std::fs::read_to_string(&file).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let defs = zdrav_fhir::r4();
    let (mut total, mut passed, mut skipped, mut failures) = (0, 0, 0, Vec::new());
    for case in doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("case"))
    {
        total += 1;
        let name = case.attribute("name").unwrap_or("?");
        let mode = case.attribute("mode").unwrap_or("");
        assert!(
            matches!(mode, "forwards" | "both"),
            "{name}: unexpected mode '{mode}'"
        );
        if SKIP.iter().any(|(n, _)| *n == name) {
            skipped += 1;
            continue;
        }
        let input = resource_in(defs, case, "input").expect("case has an input");
        let diff = resource_in(defs, case, "diff").expect("case has a diff");
        let output = resource_in(defs, case, "output");
        let error = case
            .children()
            .find(|n| n.has_tag_name("error"))
            .and_then(|e| e.attribute("msg"));
        match (fhir_patch(defs, &input, &diff), output, error) {
            (Ok(got), Some(want), None) if got == want => passed += 1,
            (Ok(got), Some(want), None) => {
                failures.push(format!("{name}:\n  got  {got}\n  want {want}"))
            }
            (Err(e), None, Some(msg)) => {
                println!("{name}: failed as expected ('{msg}'): {e}");
                passed += 1;
            }
            (Ok(got), _, Some(msg)) => {
                failures.push(format!("{name}: expected error '{msg}', got {got}"))
            }
            (Err(e), _, _) => failures.push(format!("{name}: unexpected error: {e}")),
            (Ok(_), None, None) => failures.push(format!("{name}: case has no output or error")),
        }
    }
    let run = total - skipped;
    println!(
        "FHIR Patch cases: {passed}/{run} passed ({:.0}%), {skipped} skipped",
        100.0 * passed as f64 / run.max(1) as f64
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(passed, run);
}
