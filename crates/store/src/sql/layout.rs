//! The column layout of the search index tables, shared by the writers and the query builder
//! of both backends.

use zdrav_search::{IndexValue, ParamType};

use super::Dialect;

/// One column value of an index row, borrowed from the row it describes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// No value.
    Null,
    /// An integer (date bounds, in microseconds).
    Int(i64),
    /// A double (numbers and quantities).
    Real(f64),
    /// Text.
    Text(&'a str),
}

/// The SQL type of a value column (SQLite does not care; PostgreSQL tables are typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// `bigint`.
    Int,
    /// `double precision`.
    Real,
    /// `text`.
    Text,
}

/// Most fields any value kind has (quantity); also the column count of a composite component.
pub(crate) const MAX_FIELDS: usize = 9;

/// Components a composite row can hold (R4 composites have two or three).
pub(crate) const MAX_COMPONENTS: usize = 3;

/// The value kinds, one index table each (composites have their own table, see [`COMPOSITE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Token,
    Date,
    Number,
    Quantity,
    Reference,
    Uri,
}

/// The composite table.
pub(crate) const COMPOSITE: &str = "idx_composite";

/// Every index table, for deleting a resource's rows.
pub(crate) const TABLES: [&str; 8] = [
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
    pub(crate) const ALL: [Kind; 7] = [
        Kind::String,
        Kind::Token,
        Kind::Date,
        Kind::Number,
        Kind::Quantity,
        Kind::Reference,
        Kind::Uri,
    ];

    pub(crate) fn table(self) -> &'static str {
        TABLES[self as usize]
    }

    /// The value columns, in table order. Number's fields are a prefix of quantity's so that a
    /// plain number query can compare against a quantity component of a composite.
    pub(crate) fn fields(self) -> &'static [&'static str] {
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

    /// The SQL type of `field` (one of [`Kind::fields`]).
    pub(crate) fn field_type(self, field: &str) -> FieldType {
        match (self, field) {
            (Kind::Date, _) => FieldType::Int,
            (Kind::Number, _) => FieldType::Real,
            (Kind::Quantity, "system" | "code" | "canon_code") => FieldType::Text,
            (Kind::Quantity, _) => FieldType::Real,
            _ => FieldType::Text,
        }
    }

    /// The table of a parameter type; `None` for composite and special.
    pub(crate) fn of_param(ptype: ParamType) -> Option<Kind> {
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
pub(crate) struct Cols<'a> {
    pub alias: &'a str,
    pub kind: Kind,
    pub component: Option<usize>,
    pub dialect: Dialect,
}

impl Cols<'_> {
    /// The SQL name of `field` (one of `kind.fields()`).
    pub(crate) fn col(&self, field: &str) -> String {
        match self.component {
            None => format!("{}.{field}", self.alias),
            Some(c) => format!(
                "{}.{}",
                self.alias,
                composite_column(self.dialect, c, self.kind, field)
            ),
        }
    }
}

/// The column of `field` of a `kind` value held as component `c` of a composite row.
///
/// SQLite columns take any type, so a component spreads over `c<c>_<position>` in the field
/// order of its kind. PostgreSQL columns are typed, so each component has one column per field
/// name (`c<c>_<field>`; date bounds, the only integer fields, are `c<c>_dlow`/`c<c>_dhigh`):
/// number and quantity still share `value`, `low` and `high`, so a plain number query compares
/// against a quantity component as it does on SQLite.
pub(crate) fn composite_column(dialect: Dialect, c: usize, kind: Kind, field: &str) -> String {
    match dialect {
        Dialect::Sqlite => {
            let pos = kind
                .fields()
                .iter()
                .position(|f| *f == field)
                .unwrap_or(MAX_FIELDS);
            format!("c{c}_{pos}")
        }
        Dialect::Postgres if kind == Kind::Date => format!("c{c}_d{field}"),
        Dialect::Postgres => format!("c{c}_{field}"),
    }
}

/// Every typed component column of the PostgreSQL composite table, in table order.
pub(crate) fn pg_composite_columns() -> Vec<(String, FieldType)> {
    let mut out: Vec<(String, FieldType)> = Vec::new();
    for c in 0..MAX_COMPONENTS {
        for kind in Kind::ALL {
            for field in kind.fields() {
                let name = composite_column(Dialect::Postgres, c, kind, field);
                if !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, kind.field_type(field)));
                }
            }
        }
    }
    out
}

fn text(s: &Option<String>) -> Cell<'_> {
    match s {
        Some(s) => Cell::Text(s),
        None => Cell::Null,
    }
}

/// The canonical range of a quantity from its written range, assuming the canonical unit is a
/// multiple of the written one (true of every UCUM conversion but the offset temperatures, where
/// the range comes out scaled; the model carries no canonical bounds).
pub(crate) fn canonical_range(value: f64, low: f64, high: f64, canonical: f64) -> (f64, f64) {
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
pub(crate) fn columns(v: &IndexValue) -> Option<(Kind, [Cell<'_>; MAX_FIELDS])> {
    let mut out = [Cell::Null; MAX_FIELDS];
    let kind = match v {
        IndexValue::String { norm, exact } => {
            out[0] = Cell::Text(norm);
            out[1] = Cell::Text(exact);
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
            out[0] = Cell::Int(*low);
            out[1] = Cell::Int(*high);
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
                None => (Cell::Null, Cell::Null),
            };
            out = [
                real(*value),
                real(*low),
                real(*high),
                text(system),
                text(code),
                canonical_value.map_or(Cell::Null, real),
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
            out[0] = Cell::Text(uri);
            Kind::Uri
        }
        IndexValue::Composite(_) => return None,
    };
    Some((kind, out))
}

/// NaN has no SQL value; SQLite would store NULL anyway.
fn real(v: f64) -> Cell<'static> {
    if v.is_nan() {
        Cell::Null
    } else {
        Cell::Real(v)
    }
}
