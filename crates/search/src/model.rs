//! The search model shared by the parser (this crate), the index extractor (this crate) and the
//! query executors (the store backends). It is the contract between FHIR search semantics and
//! SQL: the store never interprets FHIR, and this crate never writes SQL.

/// The type of a search parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// number
    Number,
    /// date
    Date,
    /// string
    String,
    /// token
    Token,
    /// reference
    Reference,
    /// quantity
    Quantity,
    /// uri
    Uri,
    /// composite
    Composite,
    /// special (e.g. Location `near`)
    Special,
}

/// One value extracted from a resource for one search parameter, as stored in the index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// string: `norm` is lower-cased, accents removed, whitespace collapsed (for the default
    /// starts-with and `:contains` matches); `exact` is the original text (for `:exact`).
    String {
        /// Normalised text.
        norm: String,
        /// Original text.
        exact: String,
    },
    /// token: from code, Coding, CodeableConcept, Identifier, ContactPoint, boolean, string, id,
    /// uri-as-code. `text` is the display / CodeableConcept.text / Identifier.type.text for `:text`,
    /// normalised like strings. `type_system`/`type_code` are Identifier.type's first coding (for
    /// `:of-type`).
    Token {
        /// Code system (or identifier system, or ContactPoint system); `None` when absent.
        system: Option<String>,
        /// The code / value.
        code: Option<String>,
        /// Normalised display text.
        text: Option<String>,
        /// Identifier.type coding system (for `:of-type`).
        type_system: Option<String>,
        /// Identifier.type coding code (for `:of-type`).
        type_code: Option<String>,
    },
    /// date: the implicit range of the value in microseconds since the Unix epoch, `[low, high)`
    /// (a date `2024-05` is May 2024 whole; a Period is start..end, an open end is `i64::MAX`).
    Date {
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
    },
    /// number: the value and its implicit range from its precision (`100` is [99.5, 100.5)).
    Number {
        /// The value.
        value: f64,
        /// Inclusive lower bound of the implicit range.
        low: f64,
        /// Exclusive upper bound of the implicit range.
        high: f64,
    },
    /// quantity: as written, plus the UCUM canonical form when the unit is convertible.
    Quantity {
        /// The value.
        value: f64,
        /// Implicit range lower bound (from the value's precision).
        low: f64,
        /// Implicit range upper bound.
        high: f64,
        /// Quantity.system.
        system: Option<String>,
        /// Quantity.code (or unit when there is no code).
        code: Option<String>,
        /// Canonical value (UCUM base units), when convertible.
        canonical_value: Option<f64>,
        /// Canonical unit (e.g. `g.m-3`), when convertible.
        canonical_code: Option<String>,
    },
    /// reference: a local `Type/id` (optionally versioned), or an absolute URL / canonical.
    Reference {
        /// Target type for local references.
        target_type: Option<String>,
        /// Target id for local references.
        target_id: Option<String>,
        /// Version, for `Type/id/_history/n`.
        version: Option<String>,
        /// Absolute URL or canonical (`url|version` split off into `version`).
        url: Option<String>,
        /// Reference.identifier (for `:identifier`): system.
        identifier_system: Option<String>,
        /// Reference.identifier value.
        identifier_value: Option<String>,
    },
    /// uri: the URI as written.
    Uri {
        /// The URI.
        uri: String,
    },
    /// composite: one value per component, in the parameter's component order. Each component
    /// value is itself a non-composite `IndexValue`.
    Composite(Vec<IndexValue>),
}

/// One index entry: a parameter code (e.g. `code`, `subject`, `_lastUpdated`) and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// The search parameter code (as used in queries).
    pub param: String,
    /// The extracted value.
    pub value: IndexValue,
}

/// A comparison prefix (`eq ne gt lt ge le sa eb ap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefix {
    /// eq (default): the value's range fully contains the target's range.
    #[default]
    Eq,
    /// ne
    Ne,
    /// gt
    Gt,
    /// lt
    Lt,
    /// ge
    Ge,
    /// le
    Le,
    /// sa: starts after
    Sa,
    /// eb: ends before
    Eb,
    /// ap: approximately (±10 % of the value, or the date range widened by 10 % of the gap to now)
    Ap,
}

/// A modifier after `:` on a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Modifier {
    /// No modifier.
    #[default]
    None,
    /// `:missing=true|false` (the value says which).
    Missing,
    /// `:exact` (string)
    Exact,
    /// `:contains` (string, uri)
    Contains,
    /// `:text` (token: matches display text; string: same as default)
    Text,
    /// `:not` (token)
    Not,
    /// `:above` (uri, token hierarchy)
    Above,
    /// `:below` (uri, token hierarchy)
    Below,
    /// `:in` (token in value set)
    In,
    /// `:not-in`
    NotIn,
    /// `:identifier` (reference by Reference.identifier)
    Identifier,
    /// `:of-type` (token on Identifier: type-system|type-code|value)
    OfType,
    /// `:[type]` on a reference: restricts the target type (`subject:Patient=123`).
    Type(String),
}

/// One value to compare against, already parsed according to the parameter type.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    /// number
    Number {
        /// Prefix.
        prefix: Prefix,
        /// The number.
        value: f64,
        /// Implicit range from the query's precision.
        low: f64,
        /// Exclusive upper bound.
        high: f64,
    },
    /// date: the implicit range of the query value, `[low, high)` in microseconds.
    Date {
        /// Prefix.
        prefix: Prefix,
        /// Inclusive lower bound.
        low: i64,
        /// Exclusive upper bound.
        high: i64,
    },
    /// string (normalised like [`IndexValue::String::norm`], except for `:exact` where it is
    /// the original text).
    String(String),
    /// token: `system|code`, `|code` (no system: `system == Some(None)`), `system|` (any code),
    /// `code` (any system: `system == None`). For `:text`, `code` holds the normalised text.
    /// For `:of-type`, `type_system|type_code|value` fill the type fields and `code`.
    Token {
        /// `None`: any system; `Some(None)`: no system; `Some(Some(s))`: that system.
        system: Option<Option<String>>,
        /// The code; `None` means any code of the system.
        code: Option<String>,
        /// For `:of-type`: Identifier.type system.
        type_system: Option<String>,
        /// For `:of-type`: Identifier.type code.
        type_code: Option<String>,
    },
    /// reference: `Type/id`, `id` alone (any type allowed by the parameter: `target_type` None),
    /// an absolute URL, or for `:identifier` a token in `identifier`.
    Reference {
        /// Target type, when given (`Patient/123` or `:Patient`).
        target_type: Option<String>,
        /// Target id.
        target_id: Option<String>,
        /// Version, when given.
        version: Option<String>,
        /// Absolute URL / canonical, when the value is one.
        url: Option<String>,
        /// For `:identifier`: `(system, value)`.
        identifier: Option<(Option<String>, String)>,
    },
    /// quantity: `[prefix]number|system|code`.
    Quantity {
        /// Prefix.
        prefix: Prefix,
        /// The number.
        value: f64,
        /// Implicit range lower bound.
        low: f64,
        /// Implicit range upper bound.
        high: f64,
        /// System, if given.
        system: Option<String>,
        /// Code/unit, if given.
        code: Option<String>,
        /// Canonical (UCUM base) value, when the unit is convertible.
        canonical_value: Option<f64>,
        /// Canonical unit.
        canonical_code: Option<String>,
    },
    /// uri
    Uri(String),
    /// composite: one value per component (`code$value` split on `$`).
    Composite(Vec<SearchValue>),
    /// `:missing=true|false`
    Missing(bool),
}

/// A condition on one resource type.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `param[:modifier]=v1,v2,...`: true if ANY value matches (comma = OR).
    Param {
        /// Parameter code.
        param: String,
        /// Parameter type.
        ptype: ParamType,
        /// Modifier.
        modifier: Modifier,
        /// Alternatives (OR).
        values: Vec<SearchValue>,
    },
    /// `_id=a,b`
    Id(Vec<String>),
    /// `_lastUpdated=[prefix]date` (checked against the resource's lastUpdated instant).
    LastUpdated(Vec<SearchValue>),
    /// `ref-param[:Type].chained-param...=value`: the resource's reference parameter `param`
    /// points at a resource (of `target_type`, or any type allowed) that satisfies `condition`.
    Chain {
        /// The reference parameter on this resource type.
        param: String,
        /// The target type, if restricted.
        target_type: Option<String>,
        /// The condition on the target resource (may itself be a chain).
        condition: Box<Condition>,
    },
    /// `_has:Type:ref-param:condition`: some resource of `rtype` whose reference parameter
    /// `param` points at this resource satisfies `condition`.
    Has {
        /// The referring resource type.
        rtype: String,
        /// Its reference parameter pointing back here.
        param: String,
        /// The condition on the referring resource.
        condition: Box<Condition>,
    },
    /// Resource is in a patient compartment: one of the compartment's reference parameters
    /// (from compartmentdefinition-patient) points at `Patient/id` (or, for Patient itself,
    /// the id is `id`).
    Compartment {
        /// The compartment type (`Patient`).
        compartment: String,
        /// The compartment owner's id.
        id: String,
        /// The reference parameters of this type that link it to the compartment.
        params: Vec<String>,
    },
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending (`-param`).
    Desc,
}

/// A `_sort` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// Parameter code (`_id`, `_lastUpdated` or an indexed parameter).
    pub param: String,
    /// Its type.
    pub ptype: ParamType,
    /// Direction.
    pub direction: Direction,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotalMode {
    /// Don't count.
    None,
    /// A cheap estimate is fine.
    Estimate,
    /// Count exactly (the default here).
    #[default]
    Accurate,
}

/// An `_include` or `_revinclude`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    /// Source type (`Observation` in `Observation:subject`), or `*`.
    pub source_type: String,
    /// The reference parameter, or `*` for all reference parameters.
    pub param: String,
    /// Target type restriction (`Observation:subject:Patient`).
    pub target_type: Option<String>,
    /// `:iterate` (or the R3 `:recurse`).
    pub iterate: bool,
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Resource types searched (one for a type search; several for `_type` on a system search;
    /// empty = all types).
    pub types: Vec<String>,
    /// Conditions, all of which must hold (repeated parameters = AND).
    pub conditions: Vec<Condition>,
    /// Sort keys. Empty means creation order (the sequence number of each resource's first
    /// version), which updates do not change, so pages stay put while others write. Ties in
    /// explicit sorts are broken by creation order too.
    pub sort: Vec<SortKey>,
    /// Page size.
    pub count: usize,
    /// Entries to skip.
    pub offset: usize,
    /// Total mode.
    pub total: TotalMode,
    /// `_include`s.
    pub include: Vec<Include>,
    /// `_revinclude`s.
    pub revinclude: Vec<Include>,
    /// Only resources created (first version committed) at or before this store sequence
    /// number, so resources created while a client pages do not shift its pages; `None` on the
    /// first page (the store answers with the sequence number to use).
    pub snapshot: Option<i64>,
    /// Access control: only resources whose patient-compartment owner is one of these patients
    /// (ids), or that belong to no patient, are matched or included. `None`: no restriction.
    pub patients: Option<Vec<String>>,
}
