//! Index extraction at write time: every search parameter of the resource's type is evaluated
//! and each selected element converted to index values.

use crate::convert::to_index_values;
use crate::model::{IndexRow, IndexValue, ParamType};
use crate::plan::PNode;
use crate::registry::{registry, Component, ParamDef};
use serde_json::Value;
use zdrav_fhir::Definitions;
use zdrav_fhirpath::Output;

/// Above this many values of one parameter, duplicates are found by hashing.
const LINEAR_DEDUP: usize = 32;

/// Extracts the index rows of `resource` for every search parameter of its type, except `_id`
/// and `_lastUpdated` (the store keeps those itself). Identical rows of a parameter appear once.
/// A resource without a known `resourceType` has no rows.
pub fn extract(defs: &Definitions, resource: &Value) -> Vec<IndexRow> {
    extract_with(defs, resource, true)
}

/// [`extract`], optionally without the static plans (every non-composite parameter through the
/// FHIRPath engine), so tests can check that both agree.
pub(crate) fn extract_with(defs: &Definitions, resource: &Value, plans: bool) -> Vec<IndexRow> {
    let Some(rtype) = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| defs.is_resource_type(t))
    else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    let mut values = Vec::new();
    let mut nodes = Vec::new();
    for p in registry().params(rtype) {
        if p.code == "_id" || p.code == "_lastUpdated" || p.unsupported.is_some() {
            continue;
        }
        values.clear();
        param_values(defs, p, resource, plans, &mut nodes, &mut values);
        let start = rows.len();
        if values.len() <= LINEAR_DEDUP {
            for v in values.drain(..) {
                // Few values per parameter: a linear scan beats hashing (and f64s don't hash).
                if !rows[start..].iter().any(|r: &IndexRow| r.value == v) {
                    rows.push(IndexRow {
                        param: p.code.clone(),
                        value: v,
                    });
                }
            }
        } else {
            // Many values (a Provenance.target over a whole bundle has thousands): the linear
            // scan would be quadratic, so key each value by its Debug form, which is equal
            // exactly when the values are (floats print round-trip exact).
            let mut seen = std::collections::HashSet::with_capacity(values.len());
            for v in values.drain(..) {
                if seen.insert(format!("{v:?}")) {
                    rows.push(IndexRow {
                        param: p.code.clone(),
                        value: v,
                    });
                }
            }
        }
    }
    rows
}

/// The values of one parameter (before de-duplication).
fn param_values<'a>(
    defs: &Definitions,
    p: &'static ParamDef,
    resource: &'a Value,
    plans: bool,
    nodes: &mut Vec<PNode<'a, 'static>>,
    out: &mut Vec<IndexValue>,
) {
    if p.ptype == ParamType::Composite {
        composite_values(defs, p, resource, out);
        return;
    }
    if let Some(plan) = p.plan.as_ref().filter(|_| plans) {
        nodes.clear();
        plan.eval(resource, None, nodes);
        for n in nodes.iter() {
            to_index_values(p.ptype, n.value, &n.state.fhir_type, out);
        }
        return;
    }
    let Some(expr) = &p.expression else { return };
    // `evaluate` rather than `eval_nodes`: a few expressions compute their value
    // (`Patient.deceased.exists() and Patient.deceased != false` is a boolean).
    let Ok(found) = expr.evaluate(defs, resource) else {
        return;
    };
    for o in &found {
        match o {
            Output::Node(n) => to_index_values(p.ptype, n.value, &n.fhir_type, out),
            Output::Boolean(b) => {
                to_index_values(p.ptype, &Value::Bool(*b), "boolean", out);
            }
            Output::String(s) => {
                to_index_values(p.ptype, &Value::String(s.clone()), "string", out);
            }
            _ => {}
        }
    }
}

/// A composite's values: for each node its expression selects, the cartesian product of the
/// component values found relative to that node.
fn composite_values(
    defs: &Definitions,
    p: &'static ParamDef,
    resource: &Value,
    out: &mut Vec<IndexValue>,
) {
    let mut contexts = Vec::new();
    if let Some(plan) = &p.plan {
        plan.eval(resource, None, &mut contexts);
    }
    let mut per_component: Vec<Vec<IndexValue>> = vec![Vec::new(); p.components.len()];
    for ctx in &contexts {
        for (c, vals) in p.components.iter().zip(per_component.iter_mut()) {
            vals.clear();
            component_values(defs, c, resource, ctx, vals);
        }
        if per_component.iter().any(Vec::is_empty) {
            continue;
        }
        let mut combos: Vec<Vec<IndexValue>> = vec![Vec::new()];
        for vals in &per_component {
            combos = combos
                .iter()
                .flat_map(|prefix| {
                    vals.iter().map(move |v| {
                        let mut c = prefix.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .collect();
        }
        out.extend(combos.into_iter().map(IndexValue::Composite));
    }
}

fn component_values(
    defs: &Definitions,
    c: &'static Component,
    resource: &Value,
    ctx: &PNode<'_, 'static>,
    out: &mut Vec<IndexValue>,
) {
    component_nodes(defs, c, resource, ctx, out);
    // A CodeableConcept.text token has no code to pair in a composite (`code$value` searches
    // name codes), so it would only multiply rows.
    out.retain(|v| !matches!(v, IndexValue::Token { code: None, .. }));
}

fn component_nodes(
    defs: &Definitions,
    c: &'static Component,
    resource: &Value,
    ctx: &PNode<'_, 'static>,
    out: &mut Vec<IndexValue>,
) {
    if let Some((_, plan)) = c.plans.iter().find(|(s, _)| s == ctx.state) {
        let mut nodes = Vec::new();
        plan.eval(resource, Some(ctx.value), &mut nodes);
        for n in &nodes {
            to_index_values(c.ptype, n.value, &n.state.fhir_type, out);
        }
    } else if let Some(expr) = &c.expression {
        if let Ok(found) = zdrav_fhirpath::eval_nodes(expr, defs, ctx.value) {
            for n in &found {
                to_index_values(c.ptype, n.value, &n.fhir_type, out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
