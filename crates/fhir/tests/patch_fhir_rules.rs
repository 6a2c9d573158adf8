//! FHIR Patch behaviour beyond the official cases: choice types, type checks, empty lists,
//! primitive extensions, contained resources and error reporting.

use serde_json::{json, Value};
use zdrav_fhir::patch::{fhir_patch, PatchError};

fn op(kind: &str, path: &str, extra: Vec<Value>) -> Value {
    let mut parts = vec![
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "path", "valueString": path}),
    ];
    parts.extend(extra);
    json!({"name": "operation", "part": parts})
}

fn name(n: &str) -> Value {
    json!({"name": "name", "valueString": n})
}

fn int(part: &str, i: u32) -> Value {
    json!({"name": part, "valueInteger": i})
}

fn patch(resource: &Value, ops: Vec<Value>) -> Result<Value, PatchError> {
    let params = json!({"resourceType": "Parameters", "parameter": ops});
    fhir_patch(zdrav_fhir::r4(), resource, &params)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn observation() -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": {"text": "hr"},
        "subject": {"reference": "Patient/p"}, "interpretation": [{"text": "low"}]})
}

#[test]
fn adds_and_replaces_choice_elements_by_base_name() {
    let value = json!({"name": "value", "valueQuantity": {"value": 44, "unit": "/min"}});
    let added = patch(
        &observation(),
        vec![op("add", "Observation", vec![name("value"), value])],
    )
    .unwrap();
    assert_eq!(added["valueQuantity"], json!({"value": 44, "unit": "/min"}));
    // Placed in definition order, before interpretation.
    assert_eq!(
        keys(&added),
        [
            "resourceType",
            "status",
            "code",
            "subject",
            "valueQuantity",
            "interpretation"
        ]
    );

    let s = json!({"name": "value", "valueString": "n/a"});
    let replaced = patch(&added, vec![op("replace", "Observation.value", vec![s])]).unwrap();
    assert_eq!(
        keys(&replaced),
        [
            "resourceType",
            "status",
            "code",
            "subject",
            "valueString",
            "interpretation"
        ]
    );
    assert_eq!(replaced["valueString"], "n/a");

    let wrong = json!({"name": "value", "valueHumanName": {"text": "x"}});
    let e = patch(
        &added,
        vec![op("replace", "Observation.value", vec![wrong])],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("HumanName is not allowed for 'value[x]'"),
        "{e}"
    );
}

#[test]
fn checks_types_names_and_existing_values() {
    let p = json!({"resourceType": "Patient", "birthDate": "1970"});
    let add = |n: &str, v: Value| op("add", "Patient", vec![name(n), v]);
    let e = patch(
        &p,
        vec![add(
            "birthDate",
            json!({"name": "value", "valueDate": "1980"}),
        )],
    )
    .unwrap_err();
    assert!(e.to_string().contains("already has a value"), "{e}");
    let e = patch(
        &p,
        vec![add(
            "active",
            json!({"name": "value", "valueString": "yes"}),
        )],
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot be used for 'active'"), "{e}");
    let e = patch(
        &p,
        vec![add(
            "nickname",
            json!({"name": "value", "valueString": "x"}),
        )],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("'nickname' is not an element of Patient"),
        "{e}"
    );
    let e = patch(
        &p,
        vec![add("contact", json!({"name": "value", "valueString": "x"}))],
    )
    .unwrap_err();
    assert!(e.to_string().contains("backbone element"), "{e}");
}

#[test]
fn inserts_into_an_empty_list_and_checks_the_index() {
    let p = json!({"resourceType": "Patient", "active": true});
    let id = json!({"name": "value", "valueIdentifier": {"value": "1"}});
    let out = patch(
        &p,
        vec![op(
            "insert",
            "Patient.identifier",
            vec![int("index", 0), id.clone()],
        )],
    )
    .unwrap();
    assert_eq!(out["identifier"], json!([{"value": "1"}]));
    assert_eq!(keys(&out), ["resourceType", "identifier", "active"]);
    let e = patch(
        &p,
        vec![op(
            "insert",
            "Patient.identifier",
            vec![int("index", 1), id],
        )],
    )
    .unwrap_err();
    assert!(e.to_string().contains("index 1 is out of range"), "{e}");
}

#[test]
fn keeps_primitive_extensions_aligned() {
    let ext = |v: &str| json!({"extension": [{"url": "http://example.org/x", "valueString": v}]});
    let p = json!({"resourceType": "Patient", "name": [{"given": ["a", "b", "c"], "_given": [null, ext("b"), null]}]});
    let moved = patch(
        &p,
        vec![op(
            "move",
            "Patient.name[0].given",
            vec![int("source", 1), int("destination", 0)],
        )],
    )
    .unwrap();
    assert_eq!(
        moved["name"][0],
        json!({"given": ["b", "a", "c"], "_given": [ext("b"), null, null]})
    );
    let deleted = patch(&p, vec![op("delete", "Patient.name[0].given[1]", vec![])]).unwrap();
    assert_eq!(deleted["name"][0], json!({"given": ["a", "c"]}));
    let value = json!({"name": "value", "valueDate": "1970", "_valueDate": ext("d")});
    let added = patch(
        &p,
        vec![op("add", "Patient", vec![name("birthDate"), value])],
    )
    .unwrap();
    assert_eq!(added["birthDate"], "1970");
    assert_eq!(added["_birthDate"], ext("d"));
    let gone = patch(&added, vec![op("delete", "Patient.birthDate", vec![])]).unwrap();
    assert_eq!(gone, p);
}

#[test]
fn where_selects_and_delete_needs_at_most_one_match() {
    let p = json!({"resourceType": "Patient", "identifier": [
        {"system": "urn:a", "value": "1"}, {"system": "urn:b", "value": "2"}]});
    let v = json!({"name": "value", "valueString": "3"});
    let out = patch(
        &p,
        vec![op(
            "replace",
            "Patient.identifier.where(system = 'urn:b').value",
            vec![v],
        )],
    )
    .unwrap();
    assert_eq!(out["identifier"][1]["value"], "3");
    let e = patch(&p, vec![op("delete", "Patient.identifier", vec![])]).unwrap_err();
    assert!(e.to_string().contains("matches 2 elements"), "{e}");
    assert_eq!(
        patch(&p, vec![op("delete", "Patient.gender", vec![])]).unwrap(),
        p
    );
    let last = patch(&p, vec![op("delete", "Patient.identifier.last()", vec![])]).unwrap();
    assert_eq!(
        last["identifier"],
        json!([{"system": "urn:a", "value": "1"}])
    );
}

#[test]
fn adds_contained_resources_and_anonymous_elements() {
    let p = json!({"resourceType": "Patient", "id": "p"});
    let org = json!({"resourceType": "Organization", "id": "o", "name": "Acme"});
    let contained = json!({"name": "value", "resource": org});
    let link = json!({"name": "value", "part": [
        {"name": "other", "valueReference": {"reference": "Patient/q"}},
        {"name": "type", "valueCode": "seealso"}]});
    let out = patch(
        &p,
        vec![
            op("add", "Patient", vec![name("contained"), contained]),
            op("add", "Patient", vec![name("link"), link]),
            op(
                "add",
                "Patient.contained[0]",
                vec![
                    name("active"),
                    json!({"name": "value", "valueBoolean": true}),
                ],
            ),
        ],
    )
    .unwrap();
    assert_eq!(
        out["contained"],
        json!([{"resourceType": "Organization", "id": "o", "active": true, "name": "Acme"}])
    );
    assert_eq!(
        out["link"],
        json!([{"other": {"reference": "Patient/q"}, "type": "seealso"}])
    );
}

#[test]
fn errors_name_the_operation_and_path() {
    let p = json!({"resourceType": "Patient", "gender": "male"});
    let ok = op("delete", "Patient.gender", vec![]);
    let e = patch(
        &p,
        vec![ok.clone(), op("delete", "Patient.name.exists()", vec![])],
    )
    .unwrap_err();
    assert!(matches!(&e, PatchError::Path { index: 1, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "patch operation 1 (delete): cannot evaluate the path 'Patient.name.exists()': \
         function 'exists()' is not supported (supported: where, first, last)"
    );
    let v = json!({"name": "value", "valueCode": "female"});
    let e = patch(&p, vec![ok, op("replace", "Patient.gender", vec![v])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "patch operation 1 (replace at 'Patient.gender') failed: no content found at the path when replacing"
    );
    let e = patch(&p, vec![op("add", "Patient", vec![])]).unwrap_err();
    assert!(e.to_string().contains("needs a 'name' part"), "{e}");
    let e = patch(&p, vec![op("upsert", "Patient", vec![])]).unwrap_err();
    assert!(
        e.to_string().contains("unknown operation type 'upsert'"),
        "{e}"
    );
    let not_params = json!({"resourceType": "Patient"});
    let e = fhir_patch(zdrav_fhir::r4(), &p, &not_params).unwrap_err();
    assert!(matches!(e, PatchError::Invalid(_)));
    let e = patch(&p, vec![op("delete", "Observation.status", vec![])]).unwrap_err();
    assert!(e.to_string().contains("the resource is a 'Patient'"), "{e}");
}
