//! The search parameters of every resource type, compiled once from the R4 SearchParameter
//! definitions: type, FHIRPath expression restricted to the type's own branches, targets and
//! composite components.

use crate::model::ParamType;
use crate::plan::{self, Plan, State};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;
use zdrav_fhir::defs::SearchParamDef;
use zdrav_fhir::Definitions;
use zdrav_fhirpath::Expression;

// `SearchParamDef` does not carry the composite components, so they are read from the same
// vendored file the definitions come from.
static SEARCH_PARAMS_GZ: &[u8] = include_bytes!("../../fhir/defs/search-parameters.json.gz");

/// A component of a composite parameter, resolved to the component parameter.
pub struct Component {
    /// Code of the component parameter (e.g. `code`, `value-quantity`).
    pub code: String,
    /// Id of the component's SearchParameter (`Observation-code`).
    pub definition: String,
    /// Type of the component parameter, which decides how its values are extracted and parsed.
    pub ptype: ParamType,
    /// The expression, relative to the node selected by the composite's expression.
    pub source: String,
    /// The compiled expression (`None` when the FHIRPath engine rejected it).
    pub expression: Option<Expression>,
    /// Static plans per state of the composite's node.
    pub(crate) plans: Vec<(State, Plan)>,
}

/// A search parameter as it applies to one resource type.
pub struct ParamDef {
    /// The code used in queries (`name`, `_tag`, `code-value-quantity`).
    pub code: String,
    /// Id of the SearchParameter resource.
    pub id: String,
    /// Canonical URL of the SearchParameter.
    pub url: String,
    /// Parameter type.
    pub ptype: ParamType,
    /// The FHIRPath expression restricted to this type's branches.
    pub source: Option<String>,
    /// The compiled expression (`None` when there is none or the engine rejected it).
    pub expression: Option<Expression>,
    /// Allowed target types of a reference parameter (empty: any).
    pub targets: Vec<String>,
    /// Components of a composite parameter, in order.
    pub components: Vec<Component>,
    /// Why the parameter cannot be searched here (`None` when it can).
    pub unsupported: Option<String>,
    /// The static plan for the expression, when it is a simple path.
    pub(crate) plan: Option<Plan>,
}

impl std::fmt::Debug for ParamDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamDef")
            .field("code", &self.code)
            .field("ptype", &self.ptype)
            .field("source", &self.source)
            .field("targets", &self.targets)
            .field(
                "components",
                &self
                    .components
                    .iter()
                    .map(|c| (&c.code, c.ptype, &c.source))
                    .collect::<Vec<_>>(),
            )
            .field("unsupported", &self.unsupported)
            .finish()
    }
}

/// All search parameters by resource type (plus the `Resource` and `DomainResource` pseudo
/// types, holding only the parameters common to all resources).
pub struct Registry {
    by_type: HashMap<String, Vec<ParamDef>>,
    patient_compartment: HashMap<String, Vec<String>>,
}

/// The registry of the R4 definitions, built on first use.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry::build(zdrav_fhir::r4()))
}

/// Parses a parameter type name of the definitions.
pub fn param_type(kind: &str) -> Option<ParamType> {
    Some(match kind {
        "number" => ParamType::Number,
        "date" => ParamType::Date,
        "string" => ParamType::String,
        "token" => ParamType::Token,
        "reference" => ParamType::Reference,
        "quantity" => ParamType::Quantity,
        "uri" => ParamType::Uri,
        "composite" => ParamType::Composite,
        "special" => ParamType::Special,
        _ => return None,
    })
}

#[derive(Deserialize)]
struct RawComponent {
    definition: String,
    expression: String,
}

#[derive(Deserialize)]
struct RawParam {
    id: String,
    #[serde(default)]
    component: Vec<RawComponent>,
}

fn raw_components() -> HashMap<String, Vec<RawComponent>> {
    let mut text = Vec::new();
    // The vendored file is part of the build (and already loaded once by zdrav-fhir).
    flate2::read::GzDecoder::new(SEARCH_PARAMS_GZ)
        .read_to_end(&mut text)
        .unwrap_or_else(|e| panic!("vendored search-parameters.json.gz is not valid gzip: {e}"));
    let raw: Vec<RawParam> = serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("vendored search-parameters.json is not valid: {e}"));
    raw.into_iter()
        .filter(|p| !p.component.is_empty())
        .map(|p| (p.id, p.component))
        .collect()
}

/// True when `rtype` derives from `DomainResource`.
fn is_domain_resource(defs: &Definitions, rtype: &str) -> bool {
    let mut cur = defs.structure(rtype).and_then(|s| s.base.clone());
    for _ in 0..8 {
        match cur.as_deref() {
            Some("DomainResource") => return true,
            Some(b) => cur = defs.structure(b).and_then(|s| s.base.clone()),
            None => return false,
        }
    }
    false
}

/// Keeps the branches of `expr` that apply to `rtype`: rooted at it, at `Resource` /
/// `DomainResource`, or relative (rooted at an element name, as in `InsurancePlan-name`).
fn restrict(defs: &Definitions, expr: &str, rtype: &str) -> Option<String> {
    let kept: Vec<&str> = plan::split_union(expr)
        .into_iter()
        .filter(|b| {
            let root = plan::branch_root(b);
            root == rtype
                || root == "Resource"
                || root == "DomainResource"
                || !(defs.is_resource_type(root) || root.starts_with(|c: char| c.is_uppercase()))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(" | "))
}

impl Registry {
    fn build(defs: &Definitions) -> Registry {
        let components = raw_components();
        let by_id: HashMap<&str, &SearchParamDef> = defs
            .search_params
            .iter()
            .map(|p| (p.id.as_str(), p))
            .collect();
        let mut types: Vec<String> = defs.resource_types().to_vec();
        types.push("Resource".into());
        types.push("DomainResource".into());
        let mut by_type = HashMap::new();
        for rtype in types {
            let domain = rtype == "DomainResource" || is_domain_resource(defs, &rtype);
            let mut params: Vec<ParamDef> = defs
                .search_params
                .iter()
                .filter(|p| {
                    p.base.iter().any(|b| {
                        *b == rtype || b == "Resource" || (b == "DomainResource" && domain)
                    })
                })
                .map(|p| compile_param(defs, p, &rtype, &components, &by_id))
                .collect();
            params.sort_by(|a, b| a.code.cmp(&b.code));
            params.dedup_by(|a, b| a.code == b.code);
            by_type.insert(rtype, params);
        }
        Registry {
            by_type,
            patient_compartment: defs.patient_compartment.clone(),
        }
    }

    /// The parameter `code` of `rtype`.
    pub fn param(&self, rtype: &str, code: &str) -> Option<&ParamDef> {
        let params = self.by_type.get(rtype)?;
        let i = params
            .binary_search_by(|p| p.code.as_str().cmp(code))
            .ok()?;
        params.get(i)
    }

    /// All parameters of `rtype`, sorted by code (none for an unknown type).
    pub fn params(&self, rtype: &str) -> impl Iterator<Item = &ParamDef> {
        self.by_type.get(rtype).into_iter().flatten()
    }

    /// True for a type the registry knows (a resource type, `Resource` or `DomainResource`).
    pub fn has_type(&self, rtype: &str) -> bool {
        self.by_type.contains_key(rtype)
    }

    /// The reference parameters of `rtype` that place it in `compartment` (only `Patient` is
    /// defined); for `Patient` itself these are the links to other patients, the resource also
    /// being in its own compartment by id.
    pub fn compartment_params(&self, compartment: &str, rtype: &str) -> &[String] {
        if compartment != "Patient" {
            return &[];
        }
        self.patient_compartment
            .get(rtype)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

fn compile_param(
    defs: &Definitions,
    p: &SearchParamDef,
    rtype: &str,
    components: &HashMap<String, Vec<RawComponent>>,
    by_id: &HashMap<&str, &SearchParamDef>,
) -> ParamDef {
    let ptype = param_type(&p.kind).unwrap_or(ParamType::Special);
    let source = p
        .expression
        .as_deref()
        .and_then(|e| restrict(defs, e, rtype));
    let mut unsupported = None;
    let (expression, plan) = match &source {
        Some(src) => {
            let expression = Expression::parse(src).ok();
            let plan = plan::compile(defs, src, rtype, None);
            if expression.is_none() && plan.is_none() {
                unsupported = Some(format!("its expression '{src}' cannot be evaluated"));
            }
            (expression, plan)
        }
        None => {
            unsupported = Some("it has no expression for this resource type".to_string());
            (None, None)
        }
    };
    if ptype == ParamType::Special {
        unsupported = Some("special parameters are not supported".to_string());
    }
    let mut comps = Vec::new();
    if ptype == ParamType::Composite {
        let states = plan.as_ref().map(Plan::result_states).unwrap_or_default();
        for raw in components.get(&p.id).into_iter().flatten() {
            let Some(def) = by_id.get(raw.definition.as_str()) else {
                unsupported = Some(format!("component {} is not defined", raw.definition));
                continue;
            };
            let plans = states
                .iter()
                .filter_map(|s| {
                    Some((
                        s.clone(),
                        plan::compile(defs, &raw.expression, rtype, Some(s))?,
                    ))
                })
                .collect();
            comps.push(Component {
                code: def.code.clone(),
                definition: raw.definition.clone(),
                ptype: param_type(&def.kind).unwrap_or(ParamType::Special),
                source: raw.expression.clone(),
                expression: Expression::parse(&raw.expression).ok(),
                plans,
            });
        }
        if comps.is_empty() {
            unsupported = Some("composite without components".to_string());
        }
    }
    ParamDef {
        code: p.code.clone(),
        id: p.id.clone(),
        url: p.url.clone(),
        ptype,
        source,
        expression,
        targets: p.target.clone(),
        components: comps,
        unsupported,
        plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_parameters() {
        let r = registry();
        let name = r.param("Patient", "name").expect("Patient.name");
        assert_eq!(name.ptype, ParamType::String);
        assert_eq!(name.source.as_deref(), Some("Patient.name"));
        assert!(name.plan.is_some());
        let gp = r.param("Patient", "general-practitioner").unwrap();
        assert_eq!(gp.ptype, ParamType::Reference);
        assert_eq!(
            gp.targets,
            ["Practitioner", "Organization", "PractitionerRole"]
        );
        // Shared definitions keep only this type's branch.
        let phone = r.param("Patient", "phone").unwrap();
        assert_eq!(
            phone.source.as_deref(),
            Some("Patient.telecom.where(system='phone')")
        );
        for code in [
            "_id",
            "_lastUpdated",
            "_tag",
            "_profile",
            "_security",
            "_source",
            "_text",
        ] {
            assert!(r.param("Patient", code).is_some(), "{code}");
        }
        assert!(r.param("Patient", "_text").unwrap().unsupported.is_some());
        assert!(r.param("Bundle", "_text").is_none());
        assert!(r.param("Patient", "nosuch").is_none());
        assert!(r.param("Resource", "_tag").is_some());
        assert!(r.params("Nosuch").next().is_none());
    }

    #[test]
    fn composite_components() {
        let r = registry();
        let cvq = r.param("Observation", "code-value-quantity").unwrap();
        assert_eq!(cvq.ptype, ParamType::Composite);
        let comps: Vec<_> = cvq
            .components
            .iter()
            .map(|c| (c.code.as_str(), c.ptype))
            .collect();
        assert_eq!(
            comps,
            vec![
                ("code", ParamType::Token),
                ("value-quantity", ParamType::Quantity)
            ]
        );
        let combo = r.param("Observation", "combo-code-value-quantity").unwrap();
        // `Observation | Observation.component`: a plan per context node.
        assert_eq!(combo.components[0].plans.len(), 2);
        for p in r
            .params("Observation")
            .filter(|p| p.ptype == ParamType::Composite)
        {
            assert!(p.unsupported.is_none(), "{p:?}");
        }
    }

    #[test]
    fn every_expression_but_one_is_planned() {
        let r = registry();
        let mut unplanned = Vec::new();
        for t in zdrav_fhir::r4().resource_types() {
            for p in r.params(t) {
                if p.unsupported.is_none() {
                    assert!(p.plan.is_some() || p.expression.is_some(), "{t} {p:?}");
                }
                if p.source.is_some() && p.plan.is_none() {
                    unplanned.push(format!("{t}.{}", p.code));
                }
            }
        }
        // `Patient.deceased.exists() and Patient.deceased != false` computes a boolean.
        assert_eq!(unplanned, ["Patient.deceased"]);
    }

    #[test]
    fn build_time() {
        let t = std::time::Instant::now();
        let r = Registry::build(zdrav_fhir::r4());
        eprintln!("registry built in {:?}", t.elapsed());
        assert!(r.has_type("Patient"));
    }

    #[test]
    fn compartments() {
        let r = registry();
        assert_eq!(
            r.compartment_params("Patient", "Observation"),
            ["subject", "performer"]
        );
        assert!(r.compartment_params("Patient", "Organization").is_empty());
        assert!(r.compartment_params("Encounter", "Observation").is_empty());
    }
}
