//! The two patch formats of the FHIR `patch` interaction: JSON Patch (RFC 6902,
//! [`json_patch`]) and FHIR Patch (a `Parameters` resource addressing elements by FHIRPath,
//! [`fhir_patch`]). Both are atomic: they return a new value and leave the input untouched, so a
//! failing operation never leaves a half-patched resource behind. Neither validates the result;
//! the caller validates the patched resource like any other update.

mod fhir;
mod json;
mod path;
mod value;

pub use fhir::fhir_patch;
pub use json::json_patch;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document as a whole is malformed (not an array of operations, not a
    /// `Parameters` resource, ...).
    #[error("invalid patch document: {0}")]
    Invalid(String),
    /// One operation could not be applied.
    #[error("patch operation {index} ({op} at '{path}') failed: {reason}")]
    Failed {
        /// Zero-based index of the operation in the patch document.
        index: usize,
        /// The operation type (`add`, `replace`, ...).
        op: String,
        /// The operation's path (JSON Pointer or FHIRPath).
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A JSON Patch `test` operation found a different value.
    #[error("patch operation {index} (test at '{path}') failed: {reason}")]
    TestFailed {
        /// Zero-based index of the operation in the patch document.
        index: usize,
        /// The JSON Pointer that was tested.
        path: String,
        /// What differed.
        reason: String,
    },
    /// A FHIR Patch path is malformed or outside the supported FHIRPath subset.
    #[error("patch operation {index} ({op}): cannot evaluate the path '{path}': {reason}")]
    Path {
        /// Zero-based index of the operation in the `Parameters`.
        index: usize,
        /// The operation type.
        op: String,
        /// The FHIRPath expression.
        path: String,
        /// Why it cannot be evaluated.
        reason: String,
    },
}

/// Removes an object member keeping the order of the others (with `preserve_order`,
/// `Map::remove` would move the last member into the gap).
pub(crate) fn remove_key(
    obj: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<serde_json::Value> {
    if !obj.contains_key(key) {
        return None;
    }
    let mut removed = None;
    for (k, v) in std::mem::take(obj) {
        if k == key {
            removed = Some(v);
        } else {
            obj.insert(k, v);
        }
    }
    removed
}
