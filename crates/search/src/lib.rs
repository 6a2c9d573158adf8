//! FHIR search for zdrav, driven by the specification's SearchParameter definitions. It compiles
//! the R4 search parameters per resource type ([`registry`](mod@registry)), extracts the index rows of a
//! resource at write time ([`extract()`]: strings normalised, dates as UTC ranges, quantities with
//! their UCUM canonical form ([`ucum`]), references split into type/id/version/url), and parses
//! search requests into a [`SearchQuery`] ([`parse`]). The [`model`] is the contract with the
//! store backends, which index and query these values in SQL; no SQL lives here.

#![warn(missing_docs)]

mod convert;
mod datetime;
pub mod extract;
pub mod model;
mod owner;
pub mod parse;
mod plan;
pub mod registry;
mod text;
pub mod ucum;

pub use convert::{number_range, parse_reference, quantity, to_index_values, RefParts};
pub use datetime::date_range;
pub use extract::extract;
pub use model::*;
pub use owner::patient_owner;
pub use parse::{compartment_condition, parse_query, ParseOptions, ParsedSearch, SearchError};
pub use registry::{registry, Component, ParamDef, Registry};
pub use text::normalize;
