//! FHIR Bulk Data export (HL7 Bulk Data Access IG v2): `$export` at system, Patient and Group
//! level as asynchronous jobs with a status endpoint and NDJSON files ([`http`], [`jobs`]), over an
//! engine that reads the store by keyset scans and is shared with `zdrav export` ([`engine`]).

pub mod engine;
pub mod http;
pub mod jobs;
pub mod params;

pub use engine::{run, ExportError, Level, Options, OutputFile, Plan, Progress};
pub use jobs::Exports;
