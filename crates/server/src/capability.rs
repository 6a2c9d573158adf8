//! The CapabilityStatement: it lists only what this build really does.

use serde_json::{json, Value};
use zdrav_fhir::Definitions;

/// Builds the CapabilityStatement served at `/metadata`.
pub fn statement(defs: &Definitions, base: &str) -> Value {
    let interactions: Vec<Value> = [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
    ]
    .iter()
    .map(|c| json!({"code": c}))
    .collect();
    let resources: Vec<Value> = defs
        .resource_types()
        .iter()
        .map(|t| {
            json!({
                "type": t,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": false,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "conditionalRead": "modified-since",
                "referencePolicy": ["literal", "local", "enforced"],
                "operation": [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}]
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "zdrav",
        "kind": "instance",
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
                {"code": "history-system"}
            ]
        }]
    })
}
