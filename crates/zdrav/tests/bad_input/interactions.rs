//! Interactions: bundles, media types, conditional headers, history, patch, paths and methods,
//! and the configured limits.

use super::*;

/// Batches and transactions posted to the base.
pub(super) fn bundles() -> Vec<Case> {
    let b = |what: &str, bundle: Value| Case::json(what, "POST", "", bundle);
    let uuid = "urn:uuid:a3fb8482-4839-4699-8034-cee2c7ee2b84";
    vec![
        b("entry not an array", json!({"resourceType": "Bundle", "type": "transaction", "entry": {}})).at("Bundle.entry"),
        b("entry item not an object", tx(vec![json!(5)])).at("Bundle.entry[0]"),
        b("entry item null", tx(vec![json!(null)])).at("Bundle.entry[0]"),
        b("entry without request", tx(vec![json!({"resource": patient()})])).at("Bundle.entry[0].request"),
        b("request without method", tx(vec![json!({"resource": patient(), "request": {"url": "Patient"}})]))
            .at("Bundle.entry[0].request.method"),
        b("request without url", tx(vec![json!({"resource": patient(), "request": {"method": "POST"}})]))
            .at("Bundle.entry[0].request.url"),
        b("unknown method", tx(vec![json!({"resource": patient(), "request": {"method": "FETCH", "url": "Patient"}})]))
            .at("Bundle.entry[0].request.method"),
        b("method that is not a string", tx(vec![json!({"request": {"method": 5, "url": "Patient"}})]))
            .at("Bundle.entry[0].request.method"),
        b("POST url with an id", tx(vec![json!({"resource": patient(), "request": {"method": "POST", "url": "Patient/p9"}})]))
            .at("Bundle.entry[0].request.url"),
        b("PUT without an id", tx(vec![json!({"resource": patient(), "request": {"method": "PUT", "url": "Patient"}})]))
            .at("Bundle.entry[0].request.url"),
        b(
            "PUT with an illegal id",
            tx(vec![json!({"resource": with(&patient(), json!({"id": "x_1"})), "request": {"method": "PUT", "url": "Patient/x_1"}})]),
        )
        .at("Bundle.entry[0].request.url"),
        b(
            "PUT id differs from the resource id",
            tx(vec![json!({"resource": with(&patient(), json!({"id": "x2"})), "request": {"method": "PUT", "url": "Patient/x1"}})]),
        )
        .at("Bundle.entry[0].resource.id"),
        b(
            "duplicate fullUrl",
            tx(vec![
                json!({"fullUrl": uuid, "resource": patient(), "request": {"method": "POST", "url": "Patient"}}),
                json!({"fullUrl": uuid, "resource": patient(), "request": {"method": "POST", "url": "Patient"}}),
            ]),
        )
        .at("Bundle.entry[1].fullUrl"),
        b(
            "unresolved urn:uuid reference",
            tx(vec![post_entry(with(&observation(), json!({"subject": {"reference": uuid}})))]),
        )
        .at("Bundle.entry[0].resource.subject.reference")
        .diag(uuid),
        b("searchset posted to the base", json!({"resourceType": "Bundle", "type": "searchset"})).at("Bundle.type"),
        b("document posted to the base", json!({"resourceType": "Bundle", "type": "document"})).at("Bundle.type"),
        b("collection posted to the base", json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient()}]}))
            .at("Bundle.type"),
        b("Bundle.type missing", json!({"resourceType": "Bundle", "entry": [post_entry(patient())]})).at("Bundle.type"),
        b("Bundle.type not a code", json!({"resourceType": "Bundle", "type": "transactions"})).at("Bundle.type"),
        b("not a Bundle", patient()).diag("Bundle"),
        b("unknown element in the Bundle", with(&tx(vec![post_entry(patient())]), json!({"foo": 1}))).at("Bundle.foo"),
        b("misspelled request", tx(vec![json!({"resource": patient(), "requets": {"method": "POST", "url": "Patient"}})]))
            .at("Bundle.entry[0].requets"),
        b(
            "invalid resource in the second entry",
            tx(vec![post_entry(patient()), post_entry(with(&patient(), json!({"birthDate": "1980-02-30"})))]),
        )
        .at("Bundle.entry[1].resource.birthDate"),
        b(
            "invalid nested element in an entry",
            tx(vec![post_entry(with(&patient(), json!({"name": [{"given": ["a", 5]}]})))]),
        )
        .at("Bundle.entry[0].resource.name[0].given[1]"),
        b(
            "entry resource type differs from request.url",
            tx(vec![json!({"resource": observation(), "request": {"method": "POST", "url": "Patient"}})]),
        )
        .at("Bundle.entry[0].resource"),
        b("entry resource without resourceType", tx(vec![json!({"resource": {"active": true}, "request": {"method": "POST", "url": "Patient"}})]))
            .at("Bundle.entry[0].resource"),
        b("unknown type in request.url", tx(vec![json!({"resource": {"resourceType": "Dragon"}, "request": {"method": "POST", "url": "Dragon"}})]))
            .status(404)
            .at("Bundle.entry[0].request.url"),
        b("POST entry without a resource", tx(vec![json!({"request": {"method": "POST", "url": "Patient"}})]))
            .at("Bundle.entry[0].resource"),
        b(
            "dangling reference in an entry",
            tx(vec![post_entry(with(&patient(), json!({"managingOrganization": {"reference": "Organization/none"}})))]),
        )
        .at("Bundle.entry[0].resource.managingOrganization.reference"),
        b(
            "two entries write the same resource",
            tx(vec![
                json!({"resource": with(&patient(), json!({"id": "twice"})), "request": {"method": "PUT", "url": "Patient/twice"}}),
                json!({"resource": with(&patient(), json!({"id": "twice"})), "request": {"method": "PUT", "url": "Patient/twice"}}),
            ]),
        ),
        b(
            "reference to a resource the transaction deletes",
            tx(vec![
                json!({"request": {"method": "DELETE", "url": "Patient/p1"}}),
                post_entry(with(&observation(), json!({"subject": {"reference": "Patient/p1"}}))),
            ]),
        )
        .at("Bundle.entry[1].resource.subject.reference"),
        b(
            "stale ifMatch",
            tx(vec![json!({"resource": with(&patient(), json!({"id": "p1"})), "request": {"method": "PUT", "url": "Patient/p1", "ifMatch": "W/\"7\""}})]),
        )
        .status(412)
        .at("Bundle.entry[0]"),
        b(
            "malformed ifMatch",
            tx(vec![json!({"resource": with(&patient(), json!({"id": "p1"})), "request": {"method": "PUT", "url": "Patient/p1", "ifMatch": "W/\"abc\""}})]),
        )
        .at("Bundle.entry[0].request.ifMatch"),
        b(
            "PATCH entry with a Patient resource",
            tx(vec![json!({"resource": patient(), "request": {"method": "PATCH", "url": "Patient/p1"}})]),
        )
        .diag("Parameters or Binary"),
        b("entry resource that is an array", tx(vec![json!({"resource": [patient()], "request": {"method": "POST", "url": "Patient"}})]))
            .at("Bundle.entry[0].resource"),
        b("empty request.url", tx(vec![json!({"resource": patient(), "request": {"method": "POST", "url": ""}})]))
            .at("Bundle.entry[0].request.url"),
        b(
            "batch with an unknown element in an entry",
            json!({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": patient(), "request": {"method": "POST", "url": "Patient", "verb": "x"}}]}),
        )
        .at("Bundle.entry[0].request.verb"),
    ]
}

/// Media types: JSON is all zdrav speaks.
pub(super) fn media_types() -> Vec<Case> {
    let xml = b"<Patient xmlns=\"http://hl7.org/fhir\"/>".to_vec();
    vec![
        Case::raw("XML body", "POST", "Patient", xml.clone())
            .header("content-type", "application/fhir+xml")
            .status(415)
            .diag("application/fhir+xml"),
        Case::raw("plain XML body", "PUT", "Patient/p1", xml.clone())
            .header("content-type", "application/xml")
            .status(415),
        Case::json("text/plain body", "POST", "Patient", patient())
            .header("content-type", "text/plain")
            .status(415),
        Case::json("form body", "POST", "Patient", patient())
            .header("content-type", "application/x-www-form-urlencoded")
            .status(415),
        Case::json(
            "JSON Patch media type on create",
            "POST",
            "Patient",
            patient(),
        )
        .header("content-type", "application/json-patch+json")
        .status(415),
        Case::json(
            "JSON Patch media type on update",
            "PUT",
            "Patient/p1",
            with(&patient(), json!({"id": "p1"})),
        )
        .header("content-type", "application/json-patch+json")
        .status(415),
        Case::raw(
            "XML transaction",
            "POST",
            "",
            b"<Bundle xmlns=\"http://hl7.org/fhir\"/>".to_vec(),
        )
        .header("content-type", "application/fhir+xml")
        .status(415),
        Case::raw("XML patch", "PATCH", "Patient/p1", xml)
            .header("content-type", "application/xml-patch+xml")
            .status(415),
        Case::bare("Accept XML", "GET", "Patient/p1")
            .header("accept", "application/fhir+xml")
            .status(406),
        Case::bare("Accept HTML", "GET", "metadata")
            .header("accept", "text/html")
            .status(406),
        Case::bare("_format=xml", "GET", "Patient/p1?_format=xml")
            .status(406)
            .diag("xml"),
        Case::bare(
            "_format=application/fhir+xml",
            "GET",
            "metadata?_format=application/fhir%2Bxml",
        )
        .status(406),
        Case::json("Accept XML on create", "POST", "Patient", patient())
            .header("accept", "application/fhir+xml")
            .status(406),
    ]
}

/// Conditional headers.
pub(super) fn conditional() -> Vec<Case> {
    let p1 = with(&patient(), json!({"id": "p1"}));
    vec![
        Case::json("If-Match not a version", "PUT", "Patient/p1", p1.clone())
            .header("if-match", "W/\"abc\"")
            .diag("ETag"),
        Case::bare("If-Match not a version on delete", "DELETE", "Patient/p1")
            .header("if-match", "\"one\""),
        Case::bare("If-None-Match not a version", "GET", "Patient/p1")
            .header("if-none-match", "W/\"x\""),
        Case::bare("If-Modified-Since not a date", "GET", "Patient/p1")
            .header("if-modified-since", "yesterday"),
        Case::json("stale If-Match on update", "PUT", "Patient/p1", p1)
            .header("if-match", "W/\"7\"")
            .status(412),
        Case::bare("stale If-Match on delete", "DELETE", "Patient/p1")
            .header("if-match", "W/\"7\"")
            .status(412),
        Case::raw(
            "stale If-Match on patch",
            "PATCH",
            "Patient/p1",
            br#"[{"op":"replace","path":"/active","value":false}]"#.to_vec(),
        )
        .header("content-type", "application/json-patch+json")
        .header("if-match", "W/\"7\"")
        .status(412),
        Case::json(
            "If-Match on a resource that does not exist",
            "PUT",
            "Patient/nobody",
            with(&patient(), json!({"id": "nobody"})),
        )
        .header("if-match", "W/\"1\"")
        .status(412),
    ]
}

/// History parameters.
pub(super) fn history() -> Vec<Case> {
    let h = |what: &str, path: &str| Case::bare(what, "GET", path);
    vec![
        h("_count=-1", "Patient/_history?_count=-1").diag("_count"),
        h("_count not a number", "_history?_count=ten"),
        h("_since=yesterday", "Patient/p1/_history?_since=yesterday").diag("_since"),
        h("_since impossible date", "_history?_since=2020-13-01"),
        h("_since empty", "_history?_since="),
        h("_at=x", "Patient/_history?_at=x").diag("_at"),
        h("_offset negative", "_history?_offset=-5"),
        h("_snapshot not a number", "_history?_snapshot=abc"),
        h("unknown parameter", "Patient/_history?_sort=x").diag("_sort"),
    ]
}

/// PATCH: malformed patch documents are 400, patches that cannot apply or give an invalid
/// resource are 422.
pub(super) fn patches() -> Vec<Case> {
    let jp = |what: &str, body: Value| {
        Case::json(what, "PATCH", "Patient/p1", body)
            .header("content-type", "application/json-patch+json")
    };
    let fp = |what: &str, body: Value| Case::json(what, "PATCH", "Patient/p1", body);
    vec![
        jp("JSON Patch that is not an array", json!({"op": "add", "path": "/active", "value": false})).diag("array"),
        jp("unknown op", json!([{"op": "frob", "path": "/active"}])).status(422).diag("frob"),
        jp("op without path", json!([{"op": "add", "value": false}])).status(422).diag("path"),
        jp("path without a leading slash", json!([{"op": "add", "path": "active", "value": false}])).status(422),
        jp("test op failure", json!([{"op": "test", "path": "/active", "value": false}, {"op": "remove", "path": "/name"}]))
            .status(422)
            .diag("test"),
        jp("remove something absent", json!([{"op": "remove", "path": "/birthDate"}])).status(422),
        jp("patch gives an invalid date", json!([{"op": "add", "path": "/birthDate", "value": "1980-02-30"}]))
            .status(422)
            .at("Patient.birthDate"),
        jp("patch adds an unknown element", json!([{"op": "add", "path": "/foo", "value": 1}]))
            .status(422)
            .at("Patient.foo"),
        jp("patch empties a required element", json!([{"op": "add", "path": "/link", "value": [{"type": "seealso"}]}]))
            .status(422)
            .at("Patient.link[0].other"),
        jp("patch adds a dangling reference", json!([{"op": "add", "path": "/managingOrganization", "value": {"reference": "Organization/none"}}]))
            .status(422)
            .at("Patient.managingOrganization.reference"),
        jp("patch changes the id", json!([{"op": "replace", "path": "/id", "value": "other"}])).status(422),
        jp("patch removes resourceType", json!([{"op": "remove", "path": "/resourceType"}])).status(422),
        fp(
            "FHIR Patch with a bad path",
            params(vec![json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.(("}])]),
        )
        .diag("Patient.(("),
        fp(
            "FHIR Patch replacing nothing",
            params(vec![json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.birthDate"},
                               {"name": "value", "valueDate": "1980-01-01"}])]),
        )
        .status(422),
        fp(
            "FHIR Patch with an unknown operation type",
            params(vec![json!([{"name": "type", "valueCode": "explode"}, {"name": "path", "valueString": "Patient.active"}])]),
        )
        .status(422)
        .diag("explode"),
        fp(
            "FHIR Patch giving an invalid resource",
            params(vec![json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
                               {"name": "name", "valueString": "birthDate"}, {"name": "value", "valueString": "bad"}])]),
        )
        .status(422)
        .at("Patient.birthDate"),
        fp("FHIR Patch whose parameter is not an array", json!({"resourceType": "Parameters", "parameter": {"name": "operation"}})),
        fp("PATCH with a non-Parameters FHIR body", with(&patient(), json!({"active": false}))).diag("Parameters"),
        Case::raw("PATCH with broken JSON", "PATCH", "Patient/p1", b"[{".to_vec())
            .header("content-type", "application/json-patch+json")
            .diag("line 1, column 2"),
        Case::raw("PATCH with an empty body", "PATCH", "Patient/p1", Vec::new())
            .header("content-type", "application/json-patch+json")
            .diag("empty"),
        Case::json("PATCH of a resource that does not exist", "PATCH", "Patient/nobody", json!([]))
            .header("content-type", "application/json-patch+json")
            .status(404),
        Case::json("PATCH of an unknown type", "PATCH", "Dragon/1", json!([]))
            .header("content-type", "application/json-patch+json")
            .status(404),
        Case::json("PATCH with an illegal id", "PATCH", "Patient/bad_id", json!([]))
            .header("content-type", "application/json-patch+json"),
    ]
}

/// Paths and methods that match no interaction.
pub(super) fn paths_and_methods() -> Vec<Case> {
    vec![
        Case::bare("unknown sub-path", "GET", "Patient/p1/foo").status(404),
        Case::bare(
            "too deep a history path",
            "GET",
            "Patient/p1/_history/1/extra",
        )
        .status(404),
        Case::json("POST on an instance", "POST", "Patient/p1", patient()).status(405),
        Case::json(
            "POST on a version",
            "POST",
            "Patient/p1/_history/1",
            patient(),
        )
        .status(405),
        Case::json(
            "PUT on a version",
            "PUT",
            "Patient/p1/_history/1",
            patient(),
        )
        .status(405),
        Case::bare("DELETE on type history", "DELETE", "Patient/_history").status(405),
        Case::json("POST on system history", "POST", "_history", patient()).status(405),
        Case::bare("DELETE on metadata", "DELETE", "metadata").status(405),
        Case::json("POST on metadata", "POST", "metadata", patient()).status(405),
        Case::bare("DELETE on the base", "DELETE", "").status(405),
        Case::bare("OPTIONS on a type", "OPTIONS", "Patient").status(405),
        Case::json(
            "POST of an unknown operation",
            "POST",
            "Patient/$frobnicate",
            json!({"resourceType": "Parameters"}),
        )
        .status(404),
        Case::bare("outside the FHIR base", "GET", "/nothing/here").status(404),
        Case::bare("unknown type with a sub-path", "GET", "Dragon/1/_history/1").status(404),
    ]
}

/// Cases for a server started with small limits and strict reference targets.
pub(super) fn limits() -> Vec<Case> {
    let big = format!(
        "{{\"resourceType\":\"Patient\",\"name\":[{{\"text\":\"{}\"}}]}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let nested = |levels: usize| {
        format!(
            "{{\"resourceType\":\"Patient\",\"extension\":{}{}}}",
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let six: Vec<Value> = (0..6).map(|_| post_entry(patient())).collect();
    vec![
        Case::raw("2 MiB create", "POST", "Patient", big.clone())
            .status(413)
            .diag("limit"),
        Case::raw("2 MiB update", "PUT", "Patient/p1", big.clone()).status(413),
        Case::raw("2 MiB transaction", "POST", "", big).status(413),
        Case::raw(
            "nesting beyond --max-json-depth",
            "POST",
            "Patient",
            nested(20),
        )
        .diag("deeper than 16"),
        Case::json(
            "6 entries over --max-bundle-entries 5",
            "POST",
            "",
            tx(six.clone()),
        )
        .status(413)
        .diag("limit is 5"),
        Case::json(
            "wrong target type with --strict-reference-targets",
            "POST",
            "Observation",
            with(
                &observation(),
                json!({"subject": {"reference": "Medication/1"}}),
            ),
        )
        .at("Observation.subject.reference")
        .diag("not allowed"),
        Case::json(
            "6-entry batch",
            "POST",
            "",
            json!({"resourceType": "Bundle", "type": "batch", "entry": six}),
        )
        .status(413),
    ]
}

pub(super) fn default_depth() -> Vec<Case> {
    let body = format!(
        "{{\"resourceType\":\"Patient\",\"extension\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let objects = format!(
        "{{\"resourceType\":\"Patient\",\"a\":{}1{}}}",
        "{\"a\":".repeat(200),
        "}".repeat(200)
    );
    vec![
        Case::raw("200 levels of arrays", "POST", "Patient", body).diag("deeper than 64"),
        Case::raw("200 levels of objects", "POST", "", objects).diag("deeper than 64"),
    ]
}
