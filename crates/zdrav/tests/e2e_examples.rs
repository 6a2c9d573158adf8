//! Every official R4 example in ../shared/fhir-tests/r4/examples goes through the real server: it
//! is stored with PUT and read back unchanged (apart from the server's `meta.versionId` and
//! `meta.lastUpdated`), or, for the few examples the base specification itself makes invalid,
//! rejected with 400 at the listed element.
//!
//! zdrav enforces referential integrity, and many examples reference resources that are not in the
//! example set (`Practitioner/f201`, ...). Those targets get minimal valid stubs, generated from the
//! definitions (every required element filled with the smallest valid value) and checked with
//! `zdrav_fhir::validate` before they are stored.

mod common;

use common::{expect, json, shared, Server};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use zdrav_fhir::defs::{is_primitive, Child, Definitions, ElementDef};

/// Examples that are genuinely invalid against the base R4 definitions, with the issue expected.
/// The structural ones are copied from `crates/fhir/tests/official_examples.rs` (`KNOWN_INVALID`);
/// keep the two in step.
const KNOWN_INVALID: &[(&str, &str)] = &[
    // Questionnaire.item.linkId is 1..1; the nested display items have none.
    (
        "bundle-questionnaire.json",
        "Questionnaire.item[0].item[0].linkId",
    ),
    // Not structural: the invariant csd-1 (codes unique) fails because the shared copy lists
    // `chol-mass` twice (see `KNOWN` in crates/fhirpath/tests/invariants.rs).
    ("codesystem-example.json", "CodeSystem"),
];

/// Copied from `crates/fhir/tests/official_examples.rs` (`WRONG_TARGET_TYPES`); keep the two in
/// step. References to a type outside the element's targetProfile list: accepted with a warning
/// by default, rejected by a server started with `--strict-reference-targets`.
const WRONG_TARGET_TYPES: &[(&str, &str)] = &[
    ("devicemetric-example.json", "DeviceMetric.parent.reference"),
    (
        "deviceusestatement-example.json",
        "DeviceUseStatement.reasonReference[0].reference",
    ),
    (
        "medicationrequest0301.json",
        "MedicationRequest.dispenseRequest.performer.reference",
    ),
];

struct Example {
    name: String,
    resource: Value,
    rtype: String,
    id: Option<String>,
}

fn load_examples() -> Option<Vec<Example>> {
    let dir = shared()?.join("fhir-tests/r4/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Some(
        files
            .iter()
            .map(|f| {
                let resource: Value = serde_json::from_slice(&std::fs::read(f).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                Example {
                    name: f.file_name().unwrap().to_string_lossy().into_owned(),
                    rtype: resource["resourceType"].as_str().unwrap().to_string(),
                    id: resource["id"].as_str().map(String::from),
                    resource,
                }
            })
            .collect(),
    )
}

/// Removes what the server owns (`meta.versionId`, `meta.lastUpdated`), and `meta` if that leaves
/// it empty.
fn without_server_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        if let Some(Value::Object(meta)) = obj.get_mut("meta") {
            // shift_remove keeps the order of the other members (remove would swap the last
            // member into the gap).
            meta.shift_remove("versionId");
            meta.shift_remove("lastUpdated");
            if meta.is_empty() {
                obj.shift_remove("meta");
            }
        }
    }
    v
}

/// The JSON text, members in their order: `Value`'s `==` ignores the order of object members.
fn in_order(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

/// The first place where two JSON values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{at}.{k}")) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{at}.{k}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}

// ---- stubs generated from the definitions ----

/// Choice types tried first when a required choice element needs a value.
const CHOICE_PREFERENCE: &[&str] = &[
    "CodeableConcept",
    "string",
    "Reference",
    "dateTime",
    "boolean",
];

/// Primitive members tried first when a datatype with no required element needs some content.
const MEMBER_PREFERENCE: &[&str] = &["text", "display", "value", "name", "start", "title", "code"];

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The codes of the element's required value set, sorted (None without a required binding or
/// when the value set cannot be expanded from the base definitions).
fn required_codes(defs: &Definitions, el: &ElementDef) -> Option<Vec<(String, String)>> {
    let b = el.binding.as_ref().filter(|b| b.strength == "required")?;
    let vs = defs.value_set(&b.value_set)?;
    let mut pairs: Vec<(String, String)> = vs.pairs.iter().cloned().collect();
    pairs.sort();
    (!pairs.is_empty()).then_some(pairs)
}

fn minimal_primitive(defs: &Definitions, child: &Child, code: &str) -> Value {
    match code {
        "boolean" => json!(true),
        "integer" | "positiveInt" | "decimal" => json!(1),
        "unsignedInt" => json!(0),
        "code" => match required_codes(defs, &child.element) {
            Some(pairs) => json!(pairs[0].1),
            None => json!("stub"),
        },
        "id" => json!("stub"),
        "uri" | "url" | "canonical" => json!("http://example.org/stub"),
        "oid" => json!("urn:oid:1.2.3.4"),
        "uuid" => json!("urn:uuid:a3fb8482-4839-4699-8034-cee2c7ee2b84"),
        "base64Binary" => json!("c3R1Yg=="),
        "date" | "dateTime" => json!("2020-01-01"),
        "instant" => json!("2020-01-01T00:00:00Z"),
        "time" => json!("00:00:00"),
        "xhtml" => json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">stub</div>"),
        _ => json!("stub"),
    }
}

/// The smallest valid value of one element (not wrapped in an array).
fn minimal_value(defs: &Definitions, child: &Child, depth: usize) -> Value {
    assert!(
        depth < 12,
        "required elements nest too deep at {}",
        child.element.path
    );
    match child.type_code.as_deref() {
        Some(code) if is_primitive(code) => minimal_primitive(defs, child, code),
        Some("CodeableConcept") => json!({"text": "stub"}),
        Some("Reference") => json!({"display": "stub"}),
        Some("Coding") => match required_codes(defs, &child.element) {
            Some(pairs) => json!({"system": pairs[0].0, "code": pairs[0].1}),
            None => json!({"display": "stub"}),
        },
        Some("Resource") => panic!("{} needs a resource", child.element.path),
        _ => {
            let path = defs
                .child_node_path(child)
                .unwrap_or_else(|| panic!("no node for {}", child.element.path));
            Value::Object(minimal_object(defs, &path, depth + 1))
        }
    }
}

/// An object of the node at `path` with every required element filled; a datatype that requires
/// nothing gets one primitive member so that it is not empty.
fn minimal_object(defs: &Definitions, path: &str, depth: usize) -> Map<String, Value> {
    let node = defs.node(path).unwrap_or_else(|| panic!("no node {path}"));
    let mut out = Map::new();
    for el in &node.required {
        let name = el.name();
        let (key, child) = if el.is_choice() {
            let mut codes: Vec<&str> = el.types.iter().map(|t| t.code.as_str()).collect();
            codes.sort_by_key(|c| CHOICE_PREFERENCE.iter().position(|p| p == c).unwrap_or(99));
            let key = format!("{name}{}", capitalized(codes[0]));
            let child = &node.children[&key];
            (key, child)
        } else {
            (name.to_string(), &node.children[name])
        };
        let v = minimal_value(defs, child, depth);
        out.insert(key, if el.is_array() { json!([v]) } else { v });
    }
    // A resource may be empty; a datatype or backbone element may not (ele-1).
    if out.is_empty() && depth > 0 {
        let primitive = |k: &&String| {
            node.children[k.as_str()]
                .type_code
                .as_deref()
                .is_some_and(is_primitive)
                && k.as_str() != "id"
                && node.children[k.as_str()].element.max != "0"
        };
        let mut keys: Vec<&String> = node.children.keys().filter(primitive).collect();
        keys.sort_by_key(|k| {
            (
                MEMBER_PREFERENCE.iter().position(|p| p == k).unwrap_or(99),
                k.to_string(),
            )
        });
        let key = keys
            .first()
            .unwrap_or_else(|| panic!("{path} has no primitive member"));
        let child = &node.children[key.as_str()];
        let v = minimal_value(defs, child, depth);
        out.insert(
            key.to_string(),
            if child.element.is_array() {
                json!([v])
            } else {
                v
            },
        );
    }
    out
}

/// A minimal valid resource of type `rtype` with logical id `id`.
fn stub(defs: &Definitions, rtype: &str, id: &str) -> Value {
    let mut obj = Map::new();
    obj.insert("resourceType".into(), json!(rtype));
    obj.insert("id".into(), json!(id));
    obj.extend(minimal_object(defs, rtype, 0));
    // Invariants such as org-1 ("a name or an identifier") ask for more than cardinality does; a
    // name satisfies every such rule among the referenced types.
    if rtype == "Organization" {
        obj.insert("name".into(), json!("stub"));
    }
    let v = Value::Object(obj);
    let check = zdrav_fhir::validate(defs, &v);
    assert!(
        check.is_valid(),
        "stub {rtype}/{id} is invalid: {:?}\n{v}",
        check.issues
    );

    assert!(
        check.local_refs.is_empty(),
        "stub {rtype}/{id} references something"
    );
    v
}

#[test]
fn stubs_are_minimal_and_valid() {
    let defs = zdrav_fhir::r4();
    let p = stub(defs, "Patient", "p");
    assert_eq!(p, json!({"resourceType": "Patient", "id": "p"}));
    let o = stub(defs, "Observation", "o");
    assert_eq!(o["status"], "amended");
    assert_eq!(o["code"], json!({"text": "stub"}));
    let m = stub(defs, "MedicationRequest", "m");
    assert_eq!(m["medicationCodeableConcept"], json!({"text": "stub"}));
    assert_eq!(m["subject"], json!({"display": "stub"}));
    // Every resource type can be stubbed.
    // Structurally; invariants (app-1, lnk-1, ...) may ask for more, so the stubs the round trip
    // writes are checked against them there.
    for t in defs.resource_types() {
        stub(defs, t, "stub");
    }
    let org = stub(defs, "Organization", "o");
    assert!(zdrav_fhirpath::check_invariant_errors(defs, &org).is_empty());
}

// ---- the round trip ----

fn put(s: &Server, rtype: &str, id: &str, body: &Value) -> reqwest::blocking::Response {
    s.put(&format!("{rtype}/{id}"), body)
}

#[test]
fn official_examples_round_trip() {
    let Some(examples) = load_examples() else {
        return;
    };
    assert!(examples.len() >= 70, "only {} examples", examples.len());
    let defs = zdrav_fhir::r4();
    let s = Server::start();
    let invalid = |name: &str| {
        KNOWN_INVALID
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, at)| *at)
    };

    // 1. References no example provides get stubs. The validator's local references are exactly
    // what the server checks for existence.
    let provided: HashSet<(String, String)> = examples
        .iter()
        .filter(|e| invalid(&e.name).is_none())
        .filter_map(|e| Some((e.rtype.clone(), e.id.clone()?)))
        .collect();
    let mut missing: BTreeSet<(String, String)> = BTreeSet::new();
    for e in &examples {
        for r in zdrav_fhir::validate(defs, &e.resource).local_refs {
            if !provided.contains(&(r.rtype.clone(), r.id.clone())) {
                missing.insert((r.rtype, r.id));
            }
        }
    }
    let mut stub_types: BTreeMap<&str, usize> = BTreeMap::new();
    for (rtype, id) in &missing {
        let body = stub(defs, rtype, id);
        expect(put(&s, rtype, id, &body), 201);
        *stub_types.entry(rtype).or_default() += 1;
    }
    let listing: Vec<String> = stub_types.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "stubs: {} for {} types ({})",
        missing.len(),
        stub_types.len(),
        listing.join(", ")
    );
    assert!(
        !missing.is_empty(),
        "the examples reference resources outside the set"
    );

    // 2. One transaction stores every valid example with an id (the first of two with the same
    // type and id), so references between examples resolve whatever the order.
    let mut seen = HashSet::new();
    let batch: Vec<&Example> = examples
        .iter()
        .filter(|e| invalid(&e.name).is_none())
        .filter(|e| {
            e.id.as_ref()
                .is_some_and(|id| seen.insert((e.rtype.clone(), id.clone())))
        })
        .collect();
    let entries: Vec<Value> = batch
        .iter()
        .map(|e| {
            let url = format!("{}/{}", e.rtype, e.id.as_deref().unwrap());
            json!({"fullUrl": s.url(&url), "resource": e.resource, "request": {"method": "PUT", "url": url}})
        })
        .collect();
    let out = expect(
        s.post(
            "",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        ),
        200,
    );
    let results = out["entry"].as_array().unwrap();
    assert_eq!(results.len(), batch.len());
    for (e, r) in batch.iter().zip(results) {
        assert_eq!(r["response"]["status"], "201 Created", "{}: {r}", e.name);
        if let Some(d) = first_difference(
            &without_server_meta(&e.resource),
            &without_server_meta(&r["resource"]),
            &e.rtype,
        ) {
            panic!("{}: the transaction changed the resource at {d}", e.name);
        }
    }

    // 3. Each example on its own: PUT (an update now), read back, compare.
    let (mut accepted, mut rejected, mut failures) = (0, 0, Vec::new());
    for e in &examples {
        let original = without_server_meta(&e.resource);
        let (r, location) = match &e.id {
            Some(id) => (
                put(&s, &e.rtype, id, &e.resource),
                format!("{}/{id}", e.rtype),
            ),
            None => {
                // parameters-example.json has no id: create it and compare all but the new id.
                let r = s.post(&e.rtype, &e.resource);
                let loc = r
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_string());
                let loc = loc.unwrap_or_default();
                let rel = loc.strip_prefix(&s.url("")).unwrap_or(&loc);
                let rel = rel.split("/_history").next().unwrap().to_string();
                (r, rel)
            }
        };
        let status = r.status().as_u16();
        if let Some(at) = invalid(&e.name) {
            let oo = json(r);
            let found = oo["issue"]
                .as_array()
                .is_some_and(|is| is.iter().any(|i| i["expression"][0] == at));
            if status == 400 && oo["resourceType"] == "OperationOutcome" && found {
                rejected += 1;
            } else {
                failures.push(format!(
                    "{}: expected 400 at {at}, got {status}: {oo}",
                    e.name
                ));
            }
            continue;
        }
        // The audit trail is append-only: the transaction above created the AuditEvent
        // examples, and a second PUT is refused; what was stored is still compared below.
        let append_only = e.rtype == "AuditEvent" && status == 409;
        if status != 200 && status != 201 && !append_only {
            failures.push(format!("{}: {status} {}", e.name, r.text().unwrap()));
            continue;
        }
        let read = expect(s.get(&location), 200);
        let mut read = without_server_meta(&read);
        if e.id.is_none() {
            assert!(read["id"].is_string(), "{}: no id assigned", e.name);
            read.as_object_mut().unwrap().shift_remove("id");
        }
        match first_difference(&original, &read, &e.rtype) {
            // Equal as JSON, and in the same element order.
            None if in_order(&original) == in_order(&read) => accepted += 1,
            None => failures.push(format!("{}: read back in another element order", e.name)),
            Some(d) => failures.push(format!("{}: read back differs at {d}", e.name)),
        }
    }
    // 4. A client's meta.versionId and meta.lastUpdated are dropped without disturbing the order
    // of the other elements.
    for e in examples
        .iter()
        .filter(|e| invalid(&e.name).is_none() && e.rtype != "AuditEvent")
    {
        let Some(id) = &e.id else { continue };
        let mut with_meta = Map::new();
        for (k, v) in e.resource.as_object().unwrap() {
            if k == "meta" {
                continue;
            }
            with_meta.insert(k.clone(), v.clone());
            if k == "id" {
                let mut meta = Map::new();
                meta.insert("versionId".into(), json!("999"));
                meta.insert("lastUpdated".into(), json!("2001-01-01T00:00:00Z"));
                if let Some(Value::Object(m)) = e.resource.get("meta") {
                    meta.extend(m.clone());
                }
                with_meta.insert("meta".into(), Value::Object(meta));
            }
        }
        let r = put(&s, &e.rtype, id, &Value::Object(with_meta));
        if r.status() != 200 {
            failures.push(format!("{} with client meta: {}", e.name, r.status()));
            continue;
        }
        let read = without_server_meta(&json(r));
        let original = without_server_meta(&e.resource);
        if in_order(&read) != in_order(&original) {
            failures.push(format!(
                "{} with client meta: stored differently: {:?}",
                e.name,
                first_difference(&original, &read, &e.rtype).unwrap_or("element order".into())
            ));
        }
    }
    println!(
        "official examples: accepted {accepted}, rejected as expected {rejected}, of {}",
        examples.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(accepted + rejected, examples.len());
    assert_eq!(rejected, KNOWN_INVALID.len());
}

#[test]
fn wrong_reference_targets_are_refused_by_a_strict_server() {
    let Some(examples) = load_examples() else {
        return;
    };
    let s = Server::start_with(&["--strict-reference-targets"]);
    for (name, at) in WRONG_TARGET_TYPES {
        let e = examples.iter().find(|e| e.name == *name).unwrap();
        let id = e.id.as_deref().unwrap();
        let oo = expect(put(&s, &e.rtype, id, &e.resource), 400);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        let issues = oo["issue"].as_array().unwrap();
        assert!(
            issues
                .iter()
                .any(|i| i["expression"][0] == *at && i["severity"] == "error"),
            "{name}: no error at {at}: {oo}"
        );
    }
}
