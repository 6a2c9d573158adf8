//! The column layout of the search index tables, shared by the writer and the query builder.

use rusqlite::types::ValueRef;
use zdrav_search::{IndexValue, ParamType};

/// Most fields any value kind has (quantity); also the column count of a composite component.
pub(super) const MAX_FIELDS: usize = 9;

/// Components a composite row can hold (R4 composites have two or three).
pub(super) const MAX_COMPONENTS: usize = 3;

/// The value kinds, one index table each (composites have their own table, see [`COMPOSITE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    String,
    Token,
    Date,
    Number,
    Quantity,
    Reference,
    Uri,
}

/// The composite table.
pub(super) const COMPOSITE: &str = "idx_composite";

/// Every index table, for deleting a resource's rows.
pub(super) const TABLES: [&str; 8] = [
    "idx_string",
    "idx_token",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_reference",
    "idx_uri",
    COMPOSITE,
];

impl Kind {
    /// All kinds, in [`TABLES`] order.
    pub(super) const ALL: [Kind; 7] = [
        Kind::String,
        Kind::Token,
        Kind::Date,
        Kind::Number,
        Kind::Quantity,
        Kind::Reference,
        Kind::Uri,
    ];

    pub(super) fn table(self) -> &'static str {
        TABLES[self as usize]
    }

    /// The value columns, in table order. Number's fields are a prefix of quantity's so that a
    /// plain number query can compare against a quantity component of a composite.
    pub(super) fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::String => &["norm", "exact"],
            Kind::Token => &["system", "code", "text", "type_system", "type_code"],
            Kind::Date => &["low", "high"],
            Kind::Number => &["value", "low", "high"],
            Kind::Quantity => &[
                "value",
                "low",
                "high",
                "system",
                "code",
                "canon_value",
                "canon_code",
                "canon_low",
                "canon_high",
            ],
            Kind::Reference => &[
                "target_type",
                "target_id",
                "version",
                "url",
                "id_system",
                "id_value",
            ],
            Kind::Uri => &["uri"],
        }
    }

    /// The table of a parameter type; `None` for composite and special.
    pub(super) fn of_param(ptype: ParamType) -> Option<Kind> {
        Some(match ptype {
            ParamType::String => Kind::String,
            ParamType::Token => Kind::Token,
            ParamType::Date => Kind::Date,
            ParamType::Number => Kind::Number,
            ParamType::Quantity => Kind::Quantity,
            ParamType::Reference => Kind::Reference,
            ParamType::Uri => Kind::Uri,
            ParamType::Composite | ParamType::Special => return None,
        })
    }
}

/// A column of a value kind, as seen through a table alias: either the kind's own table or one
/// component of a composite row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cols<'a> {
    pub alias: &'a str,
    pub kind: Kind,
    pub component: Option<usize>,
}

impl Cols<'_> {
    /// The SQL name of `field` (one of `kind.fields()`).
    pub(super) fn col(&self, field: &str) -> String {
        match self.component {
            None => format!("{}.{field}", self.alias),
            Some(c) => {
                let pos = self
                    .kind
                    .fields()
                    .iter()
                    .position(|f| *f == field)
                    .unwrap_or(MAX_FIELDS);
                format!("{}.c{c}_{pos}", self.alias)
            }
        }
    }
}

fn text(s: &Option<String>) -> ValueRef<'_> {
    match s {
        Some(s) => ValueRef::Text(s.as_bytes()),
        None => ValueRef::Null,
    }
}

/// The canonical range of a quantity from its written range, assuming the canonical unit is a
/// multiple of the written one (true of every UCUM conversion but the offset temperatures, where
/// the range comes out scaled; the model carries no canonical bounds).
pub(super) fn canonical_range(value: f64, low: f64, high: f64, canonical: f64) -> (f64, f64) {
    let factor = if value == 0.0 {
        1.0
    } else {
        (canonical / value).abs()
    };
    (
        canonical - (value - low) * factor,
        canonical + (high - value) * factor,
    )
}

/// The kind and the column values of a non-composite index value; `None` for a composite.
pub(super) fn columns(v: &IndexValue) -> Option<(Kind, [ValueRef<'_>; MAX_FIELDS])> {
    let mut out = [ValueRef::Null; MAX_FIELDS];
    let kind = match v {
        IndexValue::String { norm, exact } => {
            out[0] = ValueRef::Text(norm.as_bytes());
            out[1] = ValueRef::Text(exact.as_bytes());
            Kind::String
        }
        IndexValue::Token {
            system,
            code,
            text: display,
            type_system,
            type_code,
        } => {
            out[..5].copy_from_slice(&[
                text(system),
                text(code),
                text(display),
                text(type_system),
                text(type_code),
            ]);
            Kind::Token
        }
        IndexValue::Date { low, high } => {
            out[0] = ValueRef::Integer(*low);
            out[1] = ValueRef::Integer(*high);
            Kind::Date
        }
        IndexValue::Number { value, low, high } => {
            out[..3].copy_from_slice(&[real(*value), real(*low), real(*high)]);
            Kind::Number
        }
        IndexValue::Quantity {
            value,
            low,
            high,
            system,
            code,
            canonical_value,
            canonical_code,
        } => {
            let (clow, chigh) = match canonical_value {
                Some(cv) => {
                    let (l, h) = canonical_range(*value, *low, *high, *cv);
                    (real(l), real(h))
                }
                None => (ValueRef::Null, ValueRef::Null),
            };
            out = [
                real(*value),
                real(*low),
                real(*high),
                text(system),
                text(code),
                canonical_value.map_or(ValueRef::Null, real),
                text(canonical_code),
                clow,
                chigh,
            ];
            Kind::Quantity
        }
        IndexValue::Reference {
            target_type,
            target_id,
            version,
            url,
            identifier_system,
            identifier_value,
        } => {
            out[..6].copy_from_slice(&[
                text(target_type),
                text(target_id),
                text(version),
                text(url),
                text(identifier_system),
                text(identifier_value),
            ]);
            Kind::Reference
        }
        IndexValue::Uri { uri } => {
            out[0] = ValueRef::Text(uri.as_bytes());
            Kind::Uri
        }
        IndexValue::Composite(_) => return None,
    };
    Some((kind, out))
}

/// NaN has no SQL value; SQLite would store NULL anyway.
fn real(v: f64) -> ValueRef<'static> {
    if v.is_nan() {
        ValueRef::Null
    } else {
        ValueRef::Real(v)
    }
}
