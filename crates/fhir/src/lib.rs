//! The FHIR R4 (4.0.1) core of zdrav, driven by the official definitions. It loads the vendored
//! StructureDefinitions, value sets, search parameters and the Patient compartment once
//! ([`r4`]), validates resources against them ([`validate()`]), applies JSON Patch and FHIR Patch
//! ([`patch`]), builds `_summary`/`_elements` views ([`view`]) and OperationOutcomes ([`outcome`]).
//! It knows nothing about storage or HTTP: every function takes and returns `serde_json::Value`s.

pub mod defs;
pub mod outcome;
pub mod patch;
pub mod primitives;
pub mod validate;
pub mod view;

pub use defs::{r4, Definitions};
pub use outcome::{operation_outcome, Issue, Severity};
pub use validate::{validate, validate_with, LocalRef, Options, Validation};

/// The FHIR version this core implements.
pub const FHIR_VERSION: &str = "4.0.1";
