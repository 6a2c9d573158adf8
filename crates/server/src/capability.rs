//! The CapabilityStatement: it lists only what this build really does.

use serde_json::{json, Value};
use zdrav_fhir::Definitions;

/// The CapabilityStatement served at `/metadata`, built once per base URL (it lists ~150 types
/// with their search parameters; rebuilding it per request would be wasted work).
pub fn statement(defs: &Definitions, base: &str) -> Value {
    static CACHE: std::sync::Mutex<Option<(String, Value)>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((b, v)) = cache.as_ref() {
        if b == base {
            return v.clone();
        }
    }
    let v = build(defs, base);
    *cache = Some((base.to_string(), v.clone()));
    v
}

/// The Bulk Data Access IG's server CapabilityStatement, which `$export` implements.
const BULK_DATA: &str = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data";
const BULK_EXPORT: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export";
const BULK_PATIENT_EXPORT: &str =
    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export";
const BULK_GROUP_EXPORT: &str = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export";

fn build(defs: &Definitions, base: &str) -> Value {
    let interactions: Vec<Value> = [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    .iter()
    .map(|c| json!({"code": c}))
    .collect();
    let resources: Vec<Value> = defs
        .resource_types()
        .iter()
        .map(|t| {
            let params: Vec<Value> = zdrav_search::registry()
                .params(t)
                .filter(|p| p.unsupported.is_none())
                .map(|p| json!({"name": p.code, "definition": p.url, "type": type_code(p.ptype)}))
                .collect();
            let mut operations = vec![json!({"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"})];
            if t == "Patient" {
                operations.push(json!({"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}));
                operations.push(json!({"name": "export", "definition": BULK_PATIENT_EXPORT}));
                // The integrated record's timeline (zdrav-defined).
                operations.push(json!({"name": "timeline", "definition": "urn:zdrav:OperationDefinition:Patient-timeline"}));
            }
            if t == "Group" {
                operations.push(json!({"name": "export", "definition": BULK_GROUP_EXPORT}));
            }
            // The booking operations (Argonaut Scheduling in spirit; zdrav-defined).
            let zdrav_ops: &[&str] = match t.as_str() {
                "Appointment" => &["find", "book", "cancel", "reschedule", "kpi"],
                "Schedule" => &["generate"],
                _ => &[],
            };
            for op in zdrav_ops {
                operations.push(json!({"name": op, "definition": format!("urn:zdrav:OperationDefinition:{t}-{op}")}));
            }
            json!({
                "type": t,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "conditionalRead": "modified-since",
                "referencePolicy": ["literal", "local", "enforced"],
                "searchInclude": ["*"],
                "searchRevInclude": ["*"],
                "searchParam": params,
                "operation": operations
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "zdrav",
        "kind": "instance",
        "instantiates": [BULK_DATA],
        "software": {"name": "zdrav", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "zdrav FHIR R4 server", "url": base},
        "fhirVersion": zdrav_fhir::FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [
                {"code": "transaction"},
                {"code": "batch"},
                {"code": "history-system"},
                {"code": "search-system"}
            ],
            "operation": [{"name": "export", "definition": BULK_EXPORT}]
        }]
    })
}

fn type_code(t: zdrav_search::ParamType) -> &'static str {
    use zdrav_search::ParamType::*;
    match t {
        Number => "number",
        Date => "date",
        String => "string",
        Token => "token",
        Reference => "reference",
        Quantity => "quantity",
        Uri => "uri",
        Composite => "composite",
        Special => "special",
    }
}
