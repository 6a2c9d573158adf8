//! One search value against one index row: the per-type matches and the prefix table.

use zdrav_search::{Modifier, ParamType, Prefix, SearchValue};

use crate::sql::layout::{canonical_range, Cols, Kind, MAX_COMPONENTS};
use crate::sql::{unsupported, Arg, Sql};
use crate::StoreError as Error;

/// Appends `(m1 OR m2 …)`: the row aliased `x` matches one of `values`.
pub(crate) fn alternatives(
    sql: &mut Sql,
    x: &str,
    ptype: ParamType,
    modifier: &Modifier,
    values: &[SearchValue],
) -> Result<(), Error> {
    sql.push("(");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        if ptype == ParamType::Composite {
            composite(sql, x, v)?;
        } else {
            let kind = Kind::of_param(ptype)
                .ok_or_else(|| unsupported(format!("parameters of type {ptype:?}")))?;
            let cols = Cols {
                alias: x,
                kind,
                component: None,
                dialect: sql.dialect,
            };
            simple(sql, cols, modifier, v)?;
        }
        sql.push(")");
    }
    sql.push(")");
    Ok(())
}

/// Every component matches in the same composite row.
fn composite(sql: &mut Sql, x: &str, v: &SearchValue) -> Result<(), Error> {
    let SearchValue::Composite(parts) = v else {
        return Err(unsupported(format!("composite parameter with {v:?}")));
    };
    if parts.is_empty() || parts.len() > MAX_COMPONENTS {
        return Err(unsupported(format!("{} composite components", parts.len())));
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            sql.push(" AND ");
        }
        let kind = match part {
            SearchValue::String(_) => Kind::String,
            SearchValue::Token { .. } => Kind::Token,
            SearchValue::Date { .. } => Kind::Date,
            SearchValue::Number { .. } => Kind::Number,
            SearchValue::Quantity { .. } => Kind::Quantity,
            SearchValue::Reference { .. } => Kind::Reference,
            SearchValue::Uri(_) => Kind::Uri,
            SearchValue::Composite(_) | SearchValue::Missing(_) => {
                return Err(unsupported(format!("composite component {part:?}")))
            }
        };
        let cols = Cols {
            alias: x,
            kind,
            component: Some(i),
            dialect: sql.dialect,
        };
        sql.push("(");
        simple(sql, cols, &Modifier::None, part)?;
        sql.push(")");
    }
    Ok(())
}

/// A non-composite value against the columns `cols`.
fn simple(
    sql: &mut Sql,
    cols: Cols<'_>,
    modifier: &Modifier,
    v: &SearchValue,
) -> Result<(), Error> {
    let c = |f: &str| cols.col(f);
    match (cols.kind, v) {
        (Kind::String, SearchValue::String(s)) => match modifier {
            Modifier::None | Modifier::Text => starts_with(sql, &c("norm"), s),
            Modifier::Contains => sql.contains(&c("norm"), s),
            Modifier::Exact => {
                sql.push(&format!("{} = ", c("exact")));
                sql.arg(s.clone());
            }
            m => return Err(unsupported(format!("string modifier {m:?}"))),
        },
        (Kind::Token, SearchValue::Token { .. }) => token(sql, cols, modifier, v)?,
        (Kind::Date, SearchValue::Date { prefix, low, high }) => {
            none_only(modifier)?;
            let p = Point::date(*low, *high, sql.now);
            range(sql, &c("low"), &c("high"), *prefix, p)?;
        }
        (
            Kind::Number | Kind::Quantity,
            SearchValue::Number {
                prefix,
                value,
                low,
                high,
            },
        ) => {
            none_only(modifier)?;
            let p = Point::number(*value, *low, *high);
            range(sql, &c("low"), &c("high"), *prefix, p)?;
        }
        (Kind::Quantity, SearchValue::Quantity { .. }) => {
            none_only(modifier)?;
            quantity(sql, cols, v)?;
        }
        (Kind::Reference, SearchValue::Reference { .. }) => reference(sql, cols, modifier, v)?,
        (Kind::Uri, SearchValue::Uri(u)) => match modifier {
            Modifier::None => {
                sql.push(&format!("{} = ", c("uri")));
                sql.arg(u.clone());
            }
            Modifier::Below => starts_with(sql, &c("uri"), u),
            Modifier::Contains => sql.contains(&c("uri"), u),
            // The stored URI is a prefix of the value (a non-empty one: "" is nobody's parent).
            Modifier::Above => {
                let uri = c("uri");
                sql.push(&format!("{uri} <> '' AND substr("));
                sql.arg(u.clone());
                sql.push(&format!(", 1, length({uri})) = {uri}"));
            }
            m => return Err(unsupported(format!("uri modifier {m:?}"))),
        },
        (kind, v) => return Err(unsupported(format!("{v:?} against a {kind:?} parameter"))),
    }
    Ok(())
}

fn none_only(modifier: &Modifier) -> Result<(), Error> {
    match modifier {
        Modifier::None => Ok(()),
        m => Err(unsupported(format!("modifier {m:?} here"))),
    }
}

/// `column` starts with `prefix`, as an index range: under binary collation the strings that
/// start with `prefix` are those from `prefix` up to `prefix` followed by the greatest code
/// point (U+10FFFF, a noncharacter that never follows in practice). No LIKE, so `%` and `_` in
/// values are plain characters.
fn starts_with(sql: &mut Sql, column: &str, prefix: &str) {
    sql.push(&format!("{column} >= "));
    sql.arg(prefix.to_owned());
    sql.push(&format!(" AND {column} < "));
    sql.arg(format!("{prefix}\u{10FFFF}"));
}

/// Pushes ` AND ` between the parts of a conjunction, or `TRUE` when it has none.
struct And {
    empty: bool,
}

impl And {
    fn new() -> And {
        And { empty: true }
    }

    fn next(&mut self, sql: &mut Sql) {
        if !self.empty {
            sql.push(" AND ");
        }
        self.empty = false;
    }

    fn eq(&mut self, sql: &mut Sql, column: String, value: &str) {
        self.next(sql);
        sql.push(&format!("{column} = "));
        sql.arg(value.to_owned());
    }

    fn raw(&mut self, sql: &mut Sql, text: &str) {
        self.next(sql);
        sql.push(text);
    }

    fn finish(self, sql: &mut Sql) {
        if self.empty {
            sql.push("TRUE");
        }
    }
}

fn token(sql: &mut Sql, cols: Cols<'_>, modifier: &Modifier, v: &SearchValue) -> Result<(), Error> {
    let SearchValue::Token {
        system,
        code,
        type_system,
        type_code,
    } = v
    else {
        return Err(unsupported(format!("token with {v:?}")));
    };
    let c = |f: &str| cols.col(f);
    let mut and = And::new();
    match modifier {
        // Without a terminology server a code subsumes only itself, so above/below are
        // the plain match: never a wrong hit, possibly missing descendants.
        Modifier::None | Modifier::Not | Modifier::Above | Modifier::Below => {
            match system {
                None => {}
                Some(None) => and.raw(sql, &format!("{} IS NULL", c("system"))),
                Some(Some(s)) => and.eq(sql, c("system"), s),
            }
            if let Some(code) = code {
                and.eq(sql, c("code"), code);
            }
        }
        Modifier::Text => {
            and.next(sql);
            starts_with(sql, &c("text"), code.as_deref().unwrap_or_default());
        }
        Modifier::OfType => {
            if let Some(ts) = type_system {
                and.eq(sql, c("type_system"), ts);
            }
            if let Some(tc) = type_code {
                and.eq(sql, c("type_code"), tc);
            }
            if let Some(code) = code {
                and.eq(sql, c("code"), code);
            }
        }
        m => return Err(unsupported(format!("token modifier {m:?}"))),
    }
    and.finish(sql);
    Ok(())
}

/// With a canonical form, canonical values and units are compared (a row without one still
/// matches on its own unit); otherwise the unit (code, or unit text, as the extractor stored it)
/// and system when given; otherwise the value alone.
fn quantity(sql: &mut Sql, cols: Cols<'_>, v: &SearchValue) -> Result<(), Error> {
    let SearchValue::Quantity {
        prefix,
        value,
        low,
        high,
        system,
        code,
        canonical_value,
        canonical_code,
    } = v
    else {
        return Err(unsupported(format!("quantity with {v:?}")));
    };
    let c = |f: &str| cols.col(f);
    let as_written = |sql: &mut Sql| -> Result<(), Error> {
        let mut and = And::new();
        if let Some(s) = system {
            and.eq(sql, c("system"), s);
        }
        if let Some(code) = code {
            and.eq(sql, c("code"), code);
        }
        and.next(sql);
        range(
            sql,
            &c("low"),
            &c("high"),
            *prefix,
            Point::number(*value, *low, *high),
        )
    };
    match (canonical_value, canonical_code) {
        (Some(cv), Some(cc)) => {
            let (cl, ch) = canonical_range(*value, *low, *high, *cv);
            sql.push(&format!("({} = ", c("canon_code")));
            sql.arg(cc.clone());
            sql.push(" AND ");
            range(
                sql,
                &c("canon_low"),
                &c("canon_high"),
                *prefix,
                Point::number(*cv, cl, ch),
            )?;
            sql.push(&format!(") OR ({} IS NULL AND ", c("canon_code")));
            as_written(sql)?;
            sql.push(")");
            Ok(())
        }
        _ => as_written(sql),
    }
}

/// A local `Type/id` (id alone: any type; `:Type` restricts), an absolute URL or canonical (with
/// its version when given), or `:identifier`. A value that is both a URL and a local reference
/// matches either way.
fn reference(
    sql: &mut Sql,
    cols: Cols<'_>,
    modifier: &Modifier,
    v: &SearchValue,
) -> Result<(), Error> {
    let SearchValue::Reference {
        target_type,
        target_id,
        version,
        url,
        identifier,
    } = v
    else {
        return Err(unsupported(format!("reference with {v:?}")));
    };
    let c = |f: &str| cols.col(f);
    let restrict = match modifier {
        Modifier::None => None,
        Modifier::Type(t) => Some(t),
        Modifier::Identifier => {
            let Some((system, value)) = identifier else {
                return Err(unsupported(":identifier without an identifier"));
            };
            let mut and = And::new();
            and.eq(sql, c("id_value"), value);
            if let Some(s) = system {
                and.eq(sql, c("id_system"), s);
            }
            and.finish(sql);
            return Ok(());
        }
        m => return Err(unsupported(format!("reference modifier {m:?}"))),
    };
    let mut forms = 0;
    if let Some(url) = url {
        sql.push("(");
        let mut and = And::new();
        and.eq(sql, c("url"), url);
        if let Some(ver) = version {
            and.eq(sql, c("version"), ver);
        }
        and.finish(sql);
        sql.push(")");
        forms += 1;
    }
    if let Some(id) = target_id {
        if forms > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        let mut and = And::new();
        and.eq(sql, c("target_id"), id);
        for t in target_type.iter().chain(restrict) {
            and.eq(sql, c("target_type"), t);
        }
        if let Some(ver) = version {
            and.eq(sql, c("version"), ver);
        }
        and.finish(sql);
        sql.push(")");
        forms += 1;
    }
    if forms == 0 {
        return Err(unsupported(format!("reference value {v:?}")));
    }
    Ok(())
}

/// A query value as a range `[low, high)` and its `ap` range.
pub(crate) struct Point {
    low: Arg,
    high: Arg,
    ap_low: Arg,
    ap_high: Arg,
}

impl Point {
    /// `ap` widens a date range by a tenth of its distance from now.
    pub(crate) fn date(low: i64, high: i64, now: i64) -> Point {
        let d = now.saturating_sub(low).saturating_abs() / 10;
        Point {
            low: Arg::Int(low),
            high: Arg::Int(high),
            ap_low: Arg::Int(low.saturating_sub(d)),
            ap_high: Arg::Int(high.saturating_add(d)),
        }
    }

    /// `ap` widens a number range by a tenth of the value.
    pub(crate) fn number(value: f64, low: f64, high: f64) -> Point {
        let d = value.abs() / 10.0;
        Point {
            low: Arg::Real(low),
            high: Arg::Real(high),
            ap_low: Arg::Real(low - d),
            ap_high: Arg::Real(high + d),
        }
    }
}

/// The R4 prefix table (search.html#prefix) on ranges; the resource value is `[lo, hi)`, the
/// query value `[ql, qh)`, both half-open:
///
/// - eq: the search range fully contains the target range: `lo >= ql AND hi <= qh`
/// - ne: it does not: `NOT eq`
/// - gt: the range above the search value intersects the target: `hi > qh`
/// - lt: the range below the search value intersects the target: `lo < ql`
/// - ge: gt, or eq: `hi > qh OR eq`
/// - le: lt, or eq: `lo < ql OR eq`
/// - sa: no overlap, and the range above contains the target: `lo >= qh`
/// - eb: no overlap, and the range below contains the target: `hi <= ql`
/// - ap: the target overlaps the search range widened as [`Point`] says
pub(crate) fn range(
    sql: &mut Sql,
    lo: &str,
    hi: &str,
    prefix: Prefix,
    p: Point,
) -> Result<(), Error> {
    // `lo <= high` follows from `lo <= hi <= high`; saying it bounds the index range on `lo`
    // from both sides, so an equality reads only its own rows instead of every later one.
    let eq = |sql: &mut Sql, p: &Point| {
        sql.push(&format!("({lo} >= "));
        sql.arg(p.low.clone());
        sql.push(&format!(" AND {lo} <= "));
        sql.arg(p.high.clone());
        sql.push(&format!(" AND {hi} <= "));
        sql.arg(p.high.clone());
        sql.push(")");
    };
    match prefix {
        Prefix::Eq => eq(sql, &p),
        Prefix::Ne => {
            sql.push("NOT ");
            eq(sql, &p);
        }
        Prefix::Gt => {
            sql.push(&format!("{hi} > "));
            sql.arg(p.high);
        }
        Prefix::Lt => {
            sql.push(&format!("{lo} < "));
            sql.arg(p.low);
        }
        Prefix::Ge => {
            sql.push(&format!("({hi} > "));
            sql.arg(p.high.clone());
            sql.push(" OR ");
            eq(sql, &p);
            sql.push(")");
        }
        Prefix::Le => {
            sql.push(&format!("({lo} < "));
            sql.arg(p.low.clone());
            sql.push(" OR ");
            eq(sql, &p);
            sql.push(")");
        }
        Prefix::Sa => {
            sql.push(&format!("{lo} >= "));
            sql.arg(p.high);
        }
        Prefix::Eb => {
            sql.push(&format!("{hi} <= "));
            sql.arg(p.low);
        }
        Prefix::Ap => {
            sql.push(&format!("({lo} < "));
            sql.arg(p.ap_high);
            sql.push(&format!(" AND {hi} > "));
            sql.arg(p.ap_low);
            sql.push(")");
        }
    }
    Ok(())
}
