//! The public form of evaluation results.

use crate::dates::Kind;
use crate::items::Item;
use crate::Node;
use serde_json::Value;

static NULL: Value = Value::Null;

/// One result of [`crate::Expression::evaluate`]: an element of the input or a System value.
#[derive(Debug, Clone)]
pub enum Output<'a> {
    /// An element of the input (`value` is `null` for a primitive that has only extensions).
    Node(Node<'a>),
    /// `System.Boolean`.
    Boolean(bool),
    /// `System.Integer`.
    Integer(i64),
    /// `System.Decimal`, as exact decimal text.
    Decimal(String),
    /// `System.String`.
    String(String),
    /// `System.Date`, as a FHIRPath literal (`@2014-01-01`).
    Date(String),
    /// `System.DateTime`, as a FHIRPath literal.
    DateTime(String),
    /// `System.Time`, as a FHIRPath literal (`@T10:30`).
    Time(String),
    /// `System.Quantity`: decimal text and unit.
    Quantity(String, String),
    /// A type descriptor from `type()`: namespace and name.
    Type(String, String),
}

impl Output<'_> {
    /// The type name: the FHIR type of a node, or the System type (`Boolean`, `Quantity`, ...).
    pub fn type_name(&self) -> &str {
        match self {
            Output::Node(n) => &n.fhir_type,
            Output::Boolean(_) => "Boolean",
            Output::Integer(_) => "Integer",
            Output::Decimal(_) => "Decimal",
            Output::String(_) => "String",
            Output::Date(_) => "Date",
            Output::DateTime(_) => "DateTime",
            Output::Time(_) => "Time",
            Output::Quantity(..) => "Quantity",
            Output::Type(..) => "TypeInfo",
        }
    }

    /// The value as text: literals for dates and quantities (`@2014-01-01`, `1 'mg'`), JSON
    /// text for nodes (FHIR `date`/`dateTime`/`time` primitives also get their `@` form).
    pub fn to_text(&self) -> String {
        match self {
            Output::Node(n) => match n.value {
                Value::String(s) => match n.fhir_type.as_str() {
                    "date" | "dateTime" | "instant" => format!("@{s}"),
                    "time" => format!("@T{s}"),
                    _ => s.clone(),
                },
                v => v.to_string(),
            },
            Output::Boolean(b) => b.to_string(),
            Output::Integer(i) => i.to_string(),
            Output::Decimal(d) | Output::String(d) => d.clone(),
            Output::Date(d) | Output::DateTime(d) | Output::Time(d) => d.clone(),
            Output::Quantity(v, u) => format!("{v} '{u}'"),
            Output::Type(ns, n) => format!("{ns}.{n}"),
        }
    }
}

pub(crate) fn from_item<'a>(item: &Item<'a>) -> Output<'a> {
    match item {
        Item::Elem(e) => Output::Node(Node {
            value: e.value.unwrap_or(&NULL),
            fhir_type: e.ty.to_string(),
        }),
        Item::Bool(b) => Output::Boolean(*b),
        Item::Int(i) => Output::Integer(*i),
        Item::Dec(d) => Output::Decimal(d.to_string()),
        Item::Str(s) => Output::String(s.to_string()),
        Item::Dt(d) => match d.kind {
            Kind::Date => Output::Date(d.literal()),
            Kind::DateTime => Output::DateTime(d.literal()),
            Kind::Time => Output::Time(d.literal()),
        },
        Item::Quantity(q) => Output::Quantity(q.value.to_string(), q.unit.clone()),
        Item::TypeInfo(ns, n) => Output::Type(ns.to_string(), n.to_string()),
        Item::Resolved(t) => Output::Node(Node {
            value: &NULL,
            fhir_type: t.to_string(),
        }),
    }
}
