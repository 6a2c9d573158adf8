//! Conditions as predicates on a `current` alias.

use zdrav_search::{Condition, Modifier, ParamType, SearchValue};

use super::value::{alternatives, range, Point};
use crate::sql::layout::{Kind, COMPOSITE};
use crate::sql::{unsupported, Sql};
use crate::StoreError as Error;

/// Appends a predicate that holds for the resources (rows of `current` aliased `a`) meeting `c`.
/// `types` narrows index probes to those resource types (empty: any type).
pub(crate) fn condition(
    sql: &mut Sql,
    c: &Condition,
    a: &str,
    types: &[String],
) -> Result<(), Error> {
    match c {
        Condition::Param {
            param,
            ptype,
            modifier,
            values,
        } => param_condition(sql, a, types, param, *ptype, modifier, values),
        Condition::Id(ids) => {
            if ids.is_empty() {
                sql.push("FALSE");
            } else {
                sql.push(&format!("{a}.id IN ("));
                sql.list(ids);
                sql.push(")");
            }
            Ok(())
        }
        Condition::LastUpdated(values) => last_updated(sql, a, values),
        Condition::Chain { .. } => {
            sql.push(&format!("{a}.rk IN ("));
            matching_keys(sql, c, types)?;
            sql.push(")");
            Ok(())
        }
        Condition::Has {
            rtype,
            param,
            condition: inner,
        } => {
            // Index rows exist only for live resources, so the referrer needs no deleted check;
            // resolving the referenced keys to `rk` lets the result drive the outer query.
            let x = sql.alias("x");
            let h = sql.alias("h");
            let t = sql.alias("t");
            sql.push(&format!(
                "{a}.rk IN (SELECT {t}.rk FROM idx_reference {x} \
                 JOIN current {h} ON {h}.rk = {x}.rk \
                 JOIN current {t} ON {t}.rtype = {x}.target_type AND {t}.id = {x}.target_id \
                 WHERE "
            ));
            pid_filter(
                sql,
                &x,
                std::slice::from_ref(param),
                std::slice::from_ref(rtype),
            );
            sql.patient_limit(&h);
            sql.push(" AND ");
            condition(sql, inner, &h, std::slice::from_ref(rtype))?;
            sql.push(")");
            Ok(())
        }
        Condition::Compartment {
            compartment,
            id,
            params,
        } => {
            // One IN list (the owner itself, then what points at it) rather than an OR, which
            // would make SQLite walk every resource of the type.
            let o = sql.alias("o");
            sql.push(&format!(
                "{a}.rk IN (SELECT {o}.rk FROM current {o} WHERE {o}.rtype = "
            ));
            sql.arg(compartment.clone());
            sql.push(&format!(" AND {o}.id = "));
            sql.arg(id.clone());
            if !params.is_empty() {
                let x = sql.alias("x");
                sql.push(&format!(
                    " UNION ALL SELECT {x}.rk FROM idx_reference {x} WHERE {x}.target_id = "
                ));
                sql.arg(id.clone());
                sql.push(&format!(" AND {x}.target_type = "));
                sql.arg(compartment.clone());
                sql.push(" AND ");
                pid_filter(sql, &x, params, types);
            }
            sql.push(")");
            Ok(())
        }
    }
}

/// Restricts the index rows aliased `x` to the parameters `params` of `types` (of any type when
/// `types` is empty).
pub(crate) fn pid_filter(sql: &mut Sql, x: &str, params: &[String], types: &[String]) {
    sql.push(&format!(
        "{x}.pid IN (SELECT pid FROM search_param WHERE param IN ("
    ));
    sql.list(params);
    sql.push(")");
    if !types.is_empty() {
        sql.push(" AND rtype IN (");
        sql.list(types);
        sql.push(")");
    }
    sql.push(")");
}

fn param_condition(
    sql: &mut Sql,
    a: &str,
    types: &[String],
    param: &str,
    ptype: ParamType,
    modifier: &Modifier,
    values: &[SearchValue],
) -> Result<(), Error> {
    let table = match ptype {
        ParamType::Composite => COMPOSITE,
        other => Kind::of_param(other)
            .ok_or_else(|| unsupported(format!("parameter {param} of type {other:?}")))?
            .table(),
    };
    if values.is_empty() {
        sql.push("FALSE");
        return Ok(());
    }
    let x = sql.alias("x");
    let params = [param.to_owned()];
    match modifier {
        Modifier::Missing => {
            sql.push("(");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                match v {
                    SearchValue::Missing(true) => {
                        sql.push(&format!(
                            "NOT EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.rk = {a}.rk AND "
                        ));
                        pid_filter(sql, &x, &params, types);
                        sql.push(")");
                    }
                    SearchValue::Missing(false) => {
                        sql.push(&format!("{a}.rk IN (SELECT {x}.rk FROM {table} {x} WHERE "));
                        pid_filter(sql, &x, &params, types);
                        sql.push(")");
                    }
                    other => return Err(unsupported(format!(":missing with {other:?}"))),
                }
            }
            sql.push(")");
        }
        // `:not` is "no value of the resource matches any of these", which also holds for a
        // resource without any value.
        Modifier::Not if ptype == ParamType::Token => {
            sql.push(&format!(
                "NOT EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.rk = {a}.rk AND "
            ));
            pid_filter(sql, &x, &params, types);
            sql.push(" AND ");
            alternatives(sql, &x, ptype, &Modifier::None, values)?;
            sql.push(")");
        }
        _ => {
            sql.push(&format!("{a}.rk IN ("));
            positive_keys(sql, &x, table, &params, types, ptype, modifier, values)?;
            sql.push(")");
        }
    }
    Ok(())
}

/// Appends a correlated probe for a positive parameter condition (see [`index_only`]): whether
/// the resource `a` itself has a matching index row, found through the `(rk, pid)` key.
pub(crate) fn probe(sql: &mut Sql, c: &Condition, a: &str, types: &[String]) -> Result<(), Error> {
    let Condition::Param {
        param,
        ptype,
        modifier,
        values,
    } = c
    else {
        return condition(sql, c, a, types);
    };
    let table = match ptype {
        ParamType::Composite => COMPOSITE,
        other => Kind::of_param(*other)
            .ok_or_else(|| unsupported(format!("parameter {param} of type {other:?}")))?
            .table(),
    };
    let x = sql.alias("x");
    sql.push(&format!(
        "EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.rk = {a}.rk AND "
    ));
    pid_filter(sql, &x, std::slice::from_ref(param), types);
    sql.push(" AND ");
    alternatives(sql, &x, *ptype, modifier, values)?;
    sql.push(")");
    Ok(())
}

/// Whether the resources meeting `c` can be read from the index tables alone: a positive
/// probe of one parameter, or a chain. Index rows exist only for live resources, so such a
/// condition needs no look at `current`.
pub(crate) fn index_only(c: &Condition) -> bool {
    match c {
        Condition::Param {
            ptype,
            modifier,
            values,
            ..
        } => {
            let negative = match modifier {
                Modifier::Missing => true,
                Modifier::Not => *ptype == ParamType::Token,
                _ => false,
            };
            !values.is_empty()
                && !negative
                && (*ptype == ParamType::Composite || Kind::of_param(*ptype).is_some())
        }
        Condition::Chain { .. } => true,
        _ => false,
    }
}

/// Appends `SELECT x.rk FROM … WHERE …`, the keys of the resources meeting `c` (possibly
/// repeated), for a condition that is [`index_only`]; returns the alias of the index rows.
pub(crate) fn matching_keys(
    sql: &mut Sql,
    c: &Condition,
    types: &[String],
) -> Result<String, Error> {
    let x = sql.alias("x");
    match c {
        Condition::Param {
            param,
            ptype,
            modifier,
            values,
        } if index_only(c) => {
            let table = match ptype {
                ParamType::Composite => COMPOSITE,
                other => Kind::of_param(*other)
                    .ok_or_else(|| unsupported(format!("parameter {param} of type {other:?}")))?
                    .table(),
            };
            let params = [param.clone()];
            positive_keys(sql, &x, table, &params, types, *ptype, modifier, values)?;
        }
        Condition::Chain {
            param,
            target_type,
            condition: inner,
        } => {
            // The targets are joined through `current_key`, so only live, existing targets count.
            let t = sql.alias("t");
            sql.push(&format!(
                "SELECT {x}.rk FROM idx_reference {x} JOIN current {t} \
                 ON {t}.rtype = {x}.target_type AND {t}.id = {x}.target_id WHERE "
            ));
            pid_filter(sql, &x, std::slice::from_ref(param), types);
            if let Some(tt) = target_type {
                sql.push(&format!(" AND {x}.target_type = "));
                sql.arg(tt.clone());
            }
            sql.push(&format!(" AND {t}.deleted = 0"));
            sql.patient_limit(&t);
            sql.push(" AND ");
            let inner_types: Vec<String> = target_type.iter().cloned().collect();
            condition(sql, inner, &t, &inner_types)?;
        }
        other => {
            return Err(unsupported(format!(
                "{other:?} read from the indexes alone"
            )))
        }
    }
    Ok(x)
}

#[allow(clippy::too_many_arguments)]
fn positive_keys(
    sql: &mut Sql,
    x: &str,
    table: &str,
    params: &[String],
    types: &[String],
    ptype: ParamType,
    modifier: &Modifier,
    values: &[SearchValue],
) -> Result<(), Error> {
    sql.push(&format!("SELECT {x}.rk FROM {table} {x} WHERE "));
    pid_filter(sql, x, params, types);
    sql.push(" AND ");
    alternatives(sql, x, ptype, modifier, values)
}

/// `_lastUpdated`: the instant is a range of one microsecond.
fn last_updated(sql: &mut Sql, a: &str, values: &[SearchValue]) -> Result<(), Error> {
    if values.is_empty() {
        sql.push("FALSE");
        return Ok(());
    }
    let low = format!("{a}.last_updated");
    let high = format!("({a}.last_updated + 1)");
    sql.push("(");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        let SearchValue::Date {
            prefix,
            low: ql,
            high: qh,
        } = v
        else {
            return Err(unsupported(format!("_lastUpdated with {v:?}")));
        };
        let now = sql.now;
        range(sql, &low, &high, *prefix, Point::date(*ql, *qh, now))?;
    }
    sql.push(")");
    Ok(())
}
