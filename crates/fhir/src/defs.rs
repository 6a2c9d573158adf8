//! The official R4 definitions, vendored in `defs/` (see `tools/vendor_fhir.py`), loaded once and
//! compiled into a lookup structure: for every element node, the JSON property names it allows.

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, OnceLock};

/// One type reference of an element (`ElementDefinition.type`).
#[derive(Debug, Clone, Deserialize)]
pub struct TypeRef {
    /// The type code: a primitive (`string`), a complex type (`HumanName`), `BackboneElement`,
    /// `Resource`, ...
    pub code: String,
    /// For `Reference`/`canonical`: the allowed target resource types (last segment of
    /// `targetProfile`); empty means any.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// A value-set binding.
#[derive(Debug, Clone, Deserialize)]
pub struct Binding {
    /// `required`, `extensible`, `preferred` or `example`.
    pub strength: String,
    /// Canonical URL of the value set (without version).
    #[serde(rename = "valueSet")]
    pub value_set: String,
}

/// A FHIRPath invariant of an element.
#[derive(Debug, Clone, Deserialize)]
pub struct Constraint {
    /// Key such as `ele-1` or `pat-1`.
    pub key: String,
    /// `error` or `warning`.
    pub severity: String,
    /// Human description.
    pub human: String,
    /// The FHIRPath expression.
    pub expression: String,
}

/// One element of a StructureDefinition snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct ElementDef {
    /// Full path, e.g. `Patient.contact.name` or `Observation.value[x]`.
    pub path: String,
    /// Minimum cardinality.
    pub min: u32,
    /// Maximum cardinality as in the definition (`1`, `*`, `0`).
    pub max: String,
    /// Allowed types.
    #[serde(default)]
    pub types: Vec<TypeRef>,
    /// For recursive structures: the path whose definition this element reuses.
    #[serde(rename = "contentReference")]
    pub content_reference: Option<String>,
    /// Value-set binding.
    pub binding: Option<Binding>,
    /// Invariants.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Part of the `_summary` view.
    #[serde(default)]
    pub summary: bool,
    /// A modifier element.
    #[serde(default)]
    pub modifier: bool,
}

impl ElementDef {
    /// True when more than one value is allowed (the JSON form is an array).
    pub fn is_array(&self) -> bool {
        self.max != "1" && self.max != "0"
    }

    /// The maximum count, `None` for unbounded.
    pub fn max_count(&self) -> Option<u32> {
        self.max.parse().ok()
    }

    /// True for a choice element (`value[x]`).
    pub fn is_choice(&self) -> bool {
        self.path.ends_with("[x]")
    }

    /// The element's own name: the last path segment without `[x]`.
    pub fn name(&self) -> &str {
        let last = self.path.rsplit('.').next().unwrap_or(&self.path);
        last.strip_suffix("[x]").unwrap_or(last)
    }
}

/// Kind of a StructureDefinition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A primitive datatype such as `string` or `date`.
    PrimitiveType,
    /// A complex datatype such as `HumanName`.
    ComplexType,
    /// A resource.
    Resource,
}

/// One StructureDefinition (base type or resource).
#[derive(Debug, Clone, Deserialize)]
pub struct StructureDef {
    /// Type name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Abstract types (Resource, DomainResource, Element, ...) cannot be instantiated.
    #[serde(rename = "abstract")]
    pub is_abstract: bool,
    /// The base type name.
    pub base: Option<String>,
    /// Snapshot elements, in order.
    pub elements: Vec<ElementDef>,
}

/// A JSON property allowed at a node: the element it belongs to and, for a choice element, the
/// type chosen by the property name (`valueQuantity` -> `Quantity`).
#[derive(Debug, Clone)]
pub struct Child {
    /// The element definition.
    pub element: Arc<ElementDef>,
    /// The concrete type: the chosen type for choice elements, the only type otherwise (`None`
    /// for elements defined inline or by content reference).
    pub type_code: Option<String>,
}

/// An object node of the model: a resource, a complex datatype or a backbone element.
#[derive(Debug, Default)]
pub struct Node {
    /// Allowed JSON property names.
    pub children: HashMap<String, Child>,
    /// Elements that must be present (`min >= 1`).
    pub required: Vec<Arc<ElementDef>>,
}

/// A compiled value set: the codes it contains.
#[derive(Debug, Default)]
pub struct ValueSetCodes {
    /// `(system, code)` pairs.
    pub pairs: HashSet<(String, String)>,
    /// Codes regardless of system (for `code` elements, which carry no system).
    pub codes: HashSet<String>,
    /// The systems it draws from.
    pub systems: HashSet<String>,
}

/// A search parameter definition as vendored.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchParamDef {
    /// Id of the SearchParameter resource.
    pub id: String,
    /// Canonical URL.
    pub url: String,
    /// The name used in queries.
    pub code: String,
    /// Resource types it applies to.
    pub base: Vec<String>,
    /// number, date, string, token, reference, quantity, uri, composite, special.
    #[serde(rename = "type")]
    pub kind: String,
    /// FHIRPath expression (absent for a few special parameters).
    pub expression: Option<String>,
    /// Target resource types of reference parameters.
    #[serde(default)]
    pub target: Vec<String>,
}

/// All loaded definitions.
#[derive(Debug)]
pub struct Definitions {
    structures: HashMap<String, StructureDef>,
    nodes: HashMap<String, Node>,
    valuesets: HashMap<String, ValueSetCodes>,
    resource_types: Vec<String>,
    /// Every search parameter of the base specification.
    pub search_params: Vec<SearchParamDef>,
    /// Patient compartment: resource type -> parameters linking it to the patient.
    pub patient_compartment: HashMap<String, Vec<String>>,
}

static STRUCTURES_GZ: &[u8] = include_bytes!("../defs/structures.json.gz");
static VALUESETS_GZ: &[u8] = include_bytes!("../defs/valuesets.json.gz");
static SEARCH_PARAMS_GZ: &[u8] = include_bytes!("../defs/search-parameters.json.gz");
static COMPARTMENT_GZ: &[u8] = include_bytes!("../defs/compartment-patient.json.gz");

fn gunzip_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> T {
    let mut text = Vec::new();
    // The vendored files are part of the build; failing to read them is a broken build, not input.
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .unwrap_or_else(|e| panic!("vendored {what} is not valid gzip: {e}"));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("vendored {what} is not valid: {e}"))
}

/// The R4 definitions, loaded on first use.
pub fn r4() -> &'static Definitions {
    static DEFS: OnceLock<Definitions> = OnceLock::new();
    DEFS.get_or_init(Definitions::load)
}

/// The primitive type names of R4.
pub const PRIMITIVES: &[&str] = &[
    "base64Binary",
    "boolean",
    "canonical",
    "code",
    "date",
    "dateTime",
    "decimal",
    "id",
    "instant",
    "integer",
    "markdown",
    "oid",
    "positiveInt",
    "string",
    "time",
    "unsignedInt",
    "uri",
    "url",
    "uuid",
    "xhtml",
];

/// True for a primitive type name.
pub fn is_primitive(code: &str) -> bool {
    PRIMITIVES.contains(&code)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Definitions {
    fn load() -> Definitions {
        let structures: HashMap<String, StructureDef> =
            gunzip_json(STRUCTURES_GZ, "structures.json.gz");
        let raw_vs: HashMap<String, Vec<(String, String)>> =
            gunzip_json(VALUESETS_GZ, "valuesets.json.gz");
        let search_params: Vec<SearchParamDef> =
            gunzip_json(SEARCH_PARAMS_GZ, "search-parameters.json.gz");
        let compartment_raw: HashMap<String, Vec<String>> =
            gunzip_json(COMPARTMENT_GZ, "compartment-patient.json.gz");

        let mut nodes: HashMap<String, Node> = HashMap::new();
        for sd in structures.values() {
            if sd.kind == Kind::PrimitiveType {
                // Primitive values are validated by format, not by their `.value` element.
                continue;
            }
            for el in &sd.elements {
                let el = Arc::new(el.clone());
                let Some((parent, _)) = el.path.rsplit_once('.') else {
                    nodes.entry(el.path.clone()).or_default();
                    continue;
                };
                let node = nodes.entry(parent.to_string()).or_default();
                if el.min >= 1 {
                    node.required.push(el.clone());
                }
                let name = el.name().to_string();
                if el.is_choice() {
                    for t in &el.types {
                        node.children.insert(
                            format!("{name}{}", capitalize(&t.code)),
                            Child {
                                element: el.clone(),
                                type_code: Some(t.code.clone()),
                            },
                        );
                    }
                } else {
                    let type_code = if el.content_reference.is_some() {
                        None
                    } else {
                        el.types.first().map(|t| t.code.clone())
                    };
                    node.children.insert(
                        name,
                        Child {
                            element: el.clone(),
                            type_code,
                        },
                    );
                }
            }
        }
        let valuesets = raw_vs
            .into_iter()
            .map(|(url, pairs)| {
                let mut vs = ValueSetCodes::default();
                for (system, code) in pairs {
                    vs.codes.insert(code.clone());
                    vs.systems.insert(system.clone());
                    vs.pairs.insert((system, code));
                }
                (url, vs)
            })
            .collect();
        let mut resource_types: Vec<String> = structures
            .values()
            .filter(|s| s.kind == Kind::Resource && !s.is_abstract)
            .map(|s| s.name.clone())
            .collect();
        resource_types.sort();
        Definitions {
            structures,
            nodes,
            valuesets,
            resource_types,
            search_params,
            patient_compartment: compartment_raw,
        }
    }

    /// The StructureDefinition of a type or resource.
    pub fn structure(&self, name: &str) -> Option<&StructureDef> {
        self.structures.get(name)
    }

    /// The node at a path (`Patient`, `Patient.contact`, `HumanName`).
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// True when `name` is a concrete (instantiable) resource type.
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.resource_types
            .binary_search_by(|t| t.as_str().cmp(name))
            .is_ok()
    }

    /// All concrete resource types, sorted.
    pub fn resource_types(&self) -> &[String] {
        &self.resource_types
    }

    /// The expanded codes of a value set, if it could be expanded from the base definitions.
    pub fn value_set(&self, url: &str) -> Option<&ValueSetCodes> {
        self.valuesets.get(url)
    }

    /// Resolves the object node that describes the value of `child`: an inline backbone element,
    /// a content reference, or a complex datatype. `None` for primitives and contained resources.
    pub fn child_node_path(&self, child: &Child) -> Option<String> {
        if let Some(target) = &child.element.content_reference {
            return Some(target.clone());
        }
        let code = child.type_code.as_deref()?;
        if is_primitive(code) || code == "Resource" {
            return None;
        }
        if !child.element.is_choice() && self.nodes.contains_key(&child.element.path) {
            return Some(child.element.path.clone());
        }
        Some(code.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_all_resource_types() {
        let d = r4();
        // The vendored 4.0.1 package declares 147 concrete resource types: the published R4 list
        // and SubscriptionStatus, which this package carries as well.
        assert_eq!(d.resource_types().len(), 147, "{:?}", d.resource_types());
        assert!(d.is_resource_type("Patient"));
        assert!(!d.is_resource_type("DomainResource"));
        assert!(!d.is_resource_type("HumanName"));
        assert_eq!(d.search_params.len(), 1378);
    }

    #[test]
    fn compiles_choice_and_backbone_children() {
        let d = r4();
        let obs = d.node("Observation").expect("Observation node");
        let vq = obs.children.get("valueQuantity").expect("valueQuantity");
        assert_eq!(vq.type_code.as_deref(), Some("Quantity"));
        let contact = d
            .node("Patient")
            .and_then(|n| n.children.get("contact"))
            .unwrap();
        assert_eq!(
            d.child_node_path(contact).as_deref(),
            Some("Patient.contact")
        );
        let link = d
            .node("Bundle.entry")
            .and_then(|n| n.children.get("link"))
            .unwrap();
        assert_eq!(d.child_node_path(link).as_deref(), Some("Bundle.link"));
        let status = d.node("Observation").unwrap();
        assert!(status
            .required
            .iter()
            .any(|e| e.path == "Observation.status"));
    }
}
