//! FHIRPath for zdrav: the normative FHIRPath 2.0 language as FHIR R4 uses it, evaluated over
//! resources held as `serde_json::Value`s. An [`Expression`] is parsed and compiled once (lexer,
//! precedence-climbing parser, function names and type specifiers resolved) and then evaluated
//! any number of times; navigation takes its types from the official definitions
//! ([`zdrav_fhir::Definitions`]), so `Observation.value` finds `valueQuantity` typed `Quantity`
//! and `is`/`as`/`ofType` follow the type hierarchy. Search uses [`eval_nodes`] to pick index
//! values; validation uses [`check_invariants`] to run the constraints of the StructureDefinitions.
//!
//! Written by hand: the FHIRPath crates on crates.io either need a newer Rust than this project's
//! toolchain or evaluate over their own typed FHIR model rather than plain JSON.
//!
//! Numbers are exact decimals (`decimal`), dates keep their precision (`dates`), quantities
//! convert between the common UCUM units (`quantity`).

mod ast;
mod date_math;
mod dates;
mod decimal;
mod eval;
mod functions;
mod invariants;
mod items;
mod lexer;
mod ops;
mod output;
mod parser;
mod quantity;

pub use invariants::{check_invariant_errors, check_invariants, invariant_stats, InvariantStats};
pub use output::Output;

use eval::{resource_elem, Coll, Ctx, Scope};
use items::Item;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use zdrav_fhir::Definitions;

/// A FHIRPath error (syntax or evaluation).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

impl Error {
    /// A syntax error.
    pub(crate) fn syntax(msg: impl std::fmt::Display) -> Error {
        Error(format!("FHIRPath syntax error: {msg}"))
    }

    /// A semantic error (unknown function, element or type).
    pub(crate) fn semantic(msg: impl std::fmt::Display) -> Error {
        Error(format!("FHIRPath semantic error: {msg}"))
    }

    /// An evaluation error.
    pub(crate) fn eval(msg: impl std::fmt::Display) -> Error {
        Error(format!("FHIRPath evaluation error: {msg}"))
    }
}

/// A compiled FHIRPath expression.
#[derive(Debug, Clone)]
pub struct Expression {
    /// The source text.
    pub source: String,
    root: Arc<ast::Expr>,
}

/// Evaluation options beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Strict mode: a root type name that does not match the input (`Encounter.id` on a
    /// Patient) is an error instead of an empty result.
    pub strict: bool,
    /// External constants: `%name` evaluates to the string `variables["name"]`.
    pub variables: HashMap<String, String>,
}

impl Expression {
    /// Parses and compiles an expression.
    pub fn parse(src: &str) -> Result<Expression, Error> {
        Ok(Expression {
            source: src.to_string(),
            root: Arc::new(parser::parse(src)?),
        })
    }

    /// Evaluates the expression on a resource (`Value::Null` for no input) and returns every
    /// result, computed values included.
    pub fn evaluate<'a>(
        &self,
        defs: &Definitions,
        resource: &'a Value,
    ) -> Result<Vec<Output<'a>>, Error> {
        self.evaluate_with(defs, resource, &Options::default())
    }

    /// [`Expression::evaluate`] with options.
    pub fn evaluate_with<'a>(
        &self,
        defs: &Definitions,
        resource: &'a Value,
        options: &Options,
    ) -> Result<Vec<Output<'a>>, Error> {
        let items = run(self, defs, resource, options, false)?;
        Ok(items.iter().map(output::from_item).collect())
    }
}

/// The definitions reachable from the API are always the `'static` ones of
/// [`zdrav_fhir::r4`] (it is the only constructor), which lets items borrow type names from
/// them for the whole evaluation.
fn static_defs(defs: &Definitions) -> &'static Definitions {
    let r4 = zdrav_fhir::r4();
    debug_assert!(std::ptr::eq(defs, r4));
    r4
}

fn run<'a>(
    expr: &Expression,
    defs: &Definitions,
    resource: &'a Value,
    options: &Options,
    lenient_as: bool,
) -> Result<Coll<'a>, Error> {
    let defs = static_defs(defs);
    let root: Coll<'a> = if resource.is_null() {
        Vec::new()
    } else {
        vec![Item::Elem(resource_elem(defs, resource))]
    };
    let ctx = Ctx {
        defs,
        resource: root.first().cloned(),
        root_resource: root.first().cloned(),
        context: root.first().cloned(),
        vars: Some(&options.variables),
        strict: options.strict,
        lenient_as,
    };
    ctx.eval(
        &expr.root,
        Scope {
            this: &root,
            index: None,
            total: None,
        },
    )
}

/// An element of the input selected by an expression, with its FHIR type.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The JSON value of the element (for a primitive, the JSON primitive).
    pub value: &'a Value,
    /// The FHIR type name: `CodeableConcept`, `dateTime`, `Reference`, `Patient`, ...
    pub fhir_type: String,
}

/// Evaluates `expr` on `resource` and returns the element nodes it selects (literals and computed
/// values are dropped). `as()` on several items filters like `ofType()`, as search parameter
/// expressions assume. `resolve()` needs no store: it yields a node typed by the reference's
/// type segment, which is all `where(resolve() is Patient)` in search parameters needs.
pub fn eval_nodes<'a>(
    expr: &Expression,
    defs: &Definitions,
    resource: &'a Value,
) -> Result<Vec<Node<'a>>, Error> {
    let items = run(expr, defs, resource, &Options::default(), true)?;
    Ok(items
        .iter()
        .filter_map(|i| match i {
            Item::Elem(e) => e.value.map(|value| Node {
                value,
                fhir_type: e.ty.to_string(),
            }),
            _ => None,
        })
        .collect())
}
