//! The compiled form of an expression: literals are parsed, function names resolved and type
//! specifiers separated from expressions once, at parse time.

use crate::dates::Dt;
use crate::decimal::Dec;
use crate::quantity::Quantity;
use std::sync::Arc;

/// A literal value.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    /// `{}`.
    Empty,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal.
    Dec(Dec),
    /// A string.
    Str(Arc<str>),
    /// A date, date-time or time.
    Dt(Dt),
    /// A quantity.
    Quantity(Quantity),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A type specifier: `Patient`, `FHIR.Patient`, `System.Integer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSpec {
    /// `FHIR`, `System`, or `None` when unqualified.
    pub namespace: Option<String>,
    /// The type name.
    pub name: String,
}

/// The functions the engine knows; unknown names are rejected at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Empty,
    Exists,
    All,
    AllTrue,
    AnyTrue,
    AllFalse,
    AnyFalse,
    SubsetOf,
    SupersetOf,
    Count,
    Distinct,
    IsDistinct,
    Where,
    Select,
    Repeat,
    OfType,
    Single,
    First,
    Last,
    Tail,
    Skip,
    Take,
    Intersect,
    Exclude,
    Union,
    Combine,
    Iif,
    ToBoolean,
    ConvertsToBoolean,
    ToInteger,
    ConvertsToInteger,
    ToDecimal,
    ConvertsToDecimal,
    ToString,
    ConvertsToString,
    ToDate,
    ConvertsToDate,
    ToDateTime,
    ConvertsToDateTime,
    ToTime,
    ConvertsToTime,
    ToQuantity,
    ConvertsToQuantity,
    IndexOf,
    Substring,
    StartsWith,
    EndsWith,
    Contains,
    Upper,
    Lower,
    Replace,
    Matches,
    MatchesFull,
    ReplaceMatches,
    Length,
    ToChars,
    Trim,
    Split,
    Join,
    Encode,
    Decode,
    Escape,
    Unescape,
    Abs,
    Ceiling,
    Exp,
    Floor,
    Ln,
    Log,
    Power,
    Round,
    Sqrt,
    Truncate,
    Children,
    Descendants,
    Trace,
    Now,
    Today,
    TimeOfDay,
    Aggregate,
    Not,
    Is,
    As,
    Type,
    Extension,
    HasValue,
    GetValue,
    Resolve,
    MemberOf,
    HtmlChecks,
    ConformsTo,
    Sort,
    LowBoundary,
    HighBoundary,
    Precision,
    Comparable,
}

impl Func {
    /// Looks a function up by name, with its allowed argument counts.
    pub(crate) fn lookup(name: &str) -> Option<(Func, usize, usize)> {
        use Func::*;
        Some(match name {
            "empty" => (Empty, 0, 0),
            "exists" => (Exists, 0, 1),
            "all" => (All, 1, 1),
            "allTrue" => (AllTrue, 0, 0),
            "anyTrue" => (AnyTrue, 0, 0),
            "allFalse" => (AllFalse, 0, 0),
            "anyFalse" => (AnyFalse, 0, 0),
            "subsetOf" => (SubsetOf, 1, 1),
            "supersetOf" => (SupersetOf, 1, 1),
            "count" => (Count, 0, 0),
            "distinct" => (Distinct, 0, 0),
            "isDistinct" => (IsDistinct, 0, 0),
            "where" => (Where, 1, 1),
            "select" => (Select, 1, 1),
            "repeat" => (Repeat, 1, 1),
            "ofType" => (OfType, 1, 1),
            "single" => (Single, 0, 0),
            "first" => (First, 0, 0),
            "last" => (Last, 0, 0),
            "tail" => (Tail, 0, 0),
            "skip" => (Skip, 1, 1),
            "take" => (Take, 1, 1),
            "intersect" => (Intersect, 1, 1),
            "exclude" => (Exclude, 1, 1),
            "union" => (Union, 1, 1),
            "combine" => (Combine, 1, 1),
            "iif" => (Iif, 2, 3),
            "toBoolean" => (ToBoolean, 0, 0),
            "convertsToBoolean" => (ConvertsToBoolean, 0, 0),
            "toInteger" => (ToInteger, 0, 0),
            "convertsToInteger" => (ConvertsToInteger, 0, 0),
            "toDecimal" => (ToDecimal, 0, 0),
            "convertsToDecimal" => (ConvertsToDecimal, 0, 0),
            "toString" => (ToString, 0, 0),
            "convertsToString" => (ConvertsToString, 0, 0),
            "toDate" => (ToDate, 0, 0),
            "convertsToDate" => (ConvertsToDate, 0, 0),
            "toDateTime" => (ToDateTime, 0, 0),
            "convertsToDateTime" => (ConvertsToDateTime, 0, 0),
            "toTime" => (ToTime, 0, 0),
            "convertsToTime" => (ConvertsToTime, 0, 0),
            "toQuantity" => (ToQuantity, 0, 1),
            "convertsToQuantity" => (ConvertsToQuantity, 0, 1),
            "indexOf" => (IndexOf, 1, 1),
            "substring" => (Substring, 1, 2),
            "startsWith" => (StartsWith, 1, 1),
            "endsWith" => (EndsWith, 1, 1),
            "contains" => (Contains, 1, 1),
            "upper" => (Upper, 0, 0),
            "lower" => (Lower, 0, 0),
            "replace" => (Replace, 2, 2),
            "matches" => (Matches, 1, 1),
            "matchesFull" => (MatchesFull, 1, 1),
            "replaceMatches" => (ReplaceMatches, 2, 2),
            "length" => (Length, 0, 0),
            "toChars" => (ToChars, 0, 0),
            "trim" => (Trim, 0, 0),
            "split" => (Split, 1, 1),
            "join" => (Join, 0, 1),
            "encode" => (Encode, 1, 1),
            "decode" => (Decode, 1, 1),
            "escape" => (Escape, 1, 1),
            "unescape" => (Unescape, 1, 1),
            "abs" => (Abs, 0, 0),
            "ceiling" => (Ceiling, 0, 0),
            "exp" => (Exp, 0, 0),
            "floor" => (Floor, 0, 0),
            "ln" => (Ln, 0, 0),
            "log" => (Log, 1, 1),
            "power" => (Power, 1, 1),
            "round" => (Round, 0, 1),
            "sqrt" => (Sqrt, 0, 0),
            "truncate" => (Truncate, 0, 0),
            "children" => (Children, 0, 0),
            "descendants" => (Descendants, 0, 0),
            "trace" => (Trace, 1, 2),
            "now" => (Now, 0, 0),
            "today" => (Today, 0, 0),
            "timeOfDay" => (TimeOfDay, 0, 0),
            "aggregate" => (Aggregate, 1, 2),
            "not" => (Not, 0, 0),
            "is" => (Is, 1, 1),
            "as" => (As, 1, 1),
            "type" => (Type, 0, 0),
            "extension" => (Extension, 1, 1),
            "hasValue" => (HasValue, 0, 0),
            "getValue" => (GetValue, 0, 0),
            "resolve" => (Resolve, 0, 0),
            "memberOf" => (MemberOf, 1, 1),
            "htmlChecks" | "htmlchecks" => (HtmlChecks, 0, 0),
            "conformsTo" => (ConformsTo, 1, 1),
            "sort" => (Sort, 0, usize::MAX),
            "lowBoundary" => (LowBoundary, 0, 1),
            "highBoundary" => (HighBoundary, 0, 1),
            "precision" => (Precision, 0, 0),
            "comparable" => (Comparable, 1, 1),
            _ => return None,
        })
    }
}

/// An expression node.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A literal.
    Lit(Lit),
    /// `$this`.
    This,
    /// `$index`.
    Index,
    /// `$total`.
    Total,
    /// `%name`.
    Constant(String),
    /// An identifier: a member of the focus (`source` absent: of `$this`, or a type filter at
    /// the root).
    Member(Option<Box<Expr>>, String),
    /// A function call on `source` (absent: on `$this`).
    Call(Option<Box<Expr>>, Func, Vec<Expr>),
    /// A function taking a type: `is(T)`, `as(T)`, `ofType(T)`, and the `is`/`as` operators.
    TypeCall(Option<Box<Expr>>, Func, TypeSpec),
    /// `source[index]`.
    Indexer(Box<Expr>, Box<Expr>),
    /// Unary minus (`true`) or plus.
    Unary(bool, Box<Expr>),
    /// A binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}
