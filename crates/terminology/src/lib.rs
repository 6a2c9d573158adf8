//! The terminology service's logic, without HTTP or storage: code systems compiled into
//! indexes ([`CodeSystemIndex`]: concepts, hierarchy, status, text search), value set
//! expansion ([`expand`]), concept map translation ([`translate`]), and the Минздрав НСИ CSV
//! form turned into CodeSystem resources ([`nsi::code_system_from_csv`]). It also carries the
//! terminology zdrav serves without any data: the R4 CodeSystems and ValueSets and the НСИ
//! dictionaries МКБ-10 (`urn:oid:1.2.643.5.1.13.13.11.1005`) and МКБ-О (`.1486`), vendored
//! by `tools/vendor_terminology.py` ([`Builtins`]). The server finds the resources (in the
//! store first, then here) and calls these functions.

mod builtins;
mod codesystem;
mod conceptmap;
pub mod nsi;
mod text;
mod valueset;

pub use builtins::Builtins;
pub use codesystem::{CodeSystemIndex, Concept, Subsumption};
pub use conceptmap::{translate, Translation};
pub use valueset::{expand, includes, Entry};

/// Compares two versions numerically where they are dotted numbers (`2.27` > `2.9`), else as
/// text; the newest version is the default one.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let nums = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    match (nums(a), nums(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("2.27", "2.9"), Greater);
        assert_eq!(version_cmp("2.7", "2.7"), Equal);
        assert_eq!(version_cmp("4.0.1", "4.0.0"), Greater);
    }
}
