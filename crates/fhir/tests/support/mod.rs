//! Helpers shared by the integration tests.
// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod fhir_xml;

use std::path::PathBuf;

/// A file of ../shared/fhir-tests (beside the repository), or `None` after a loud SKIPPED
/// message when it is missing; CI sets ZDRAV_REQUIRE_SHARED so that a missing file fails.
pub fn shared_test_file(rel: &str) -> Option<PathBuf> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fhir-tests")
        .join(rel);
    if file.is_file() {
        return Some(file);
    }
    assert!(
        std::env::var_os("ZDRAV_REQUIRE_SHARED").is_none(),
        "ZDRAV_REQUIRE_SHARED is set but {} is missing",
        file.display()
    );
    eprintln!(
        "SKIPPED!!! {} not found: these cases did not run",
        file.display()
    );
    None
}
