//! Resource content: primitive formats, unknown and missing elements, bindings, types, ids,
//! contained resources and references.

use super::*;

/// Lexical forms of the string primitives.
pub(super) fn formats() -> Vec<Case> {
    let p = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Patient", with(&patient(), extra)).at(at)
    };
    let o = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Observation", with(&observation(), extra)).at(at)
    };
    let ext = |what: &str, value: Value| {
        Case::json(
            what,
            "POST",
            "Patient",
            with(
                &patient(),
                json!({"extension": [with(&json!({"url": "http://example.org/x"}), value)]}),
            ),
        )
    };
    vec![
        p(
            "date 2023-02-29",
            json!({"birthDate": "2023-02-29"}),
            "Patient.birthDate",
        )
        .diag("invalid date"),
        p(
            "date month 13",
            json!({"birthDate": "2023-13-01"}),
            "Patient.birthDate",
        ),
        p(
            "date with a time",
            json!({"birthDate": "2020-01-01T10:00:00Z"}),
            "Patient.birthDate",
        ),
        p(
            "date without padding",
            json!({"birthDate": "2020-1-1"}),
            "Patient.birthDate",
        ),
        o(
            "dateTime without a zone",
            json!({"effectiveDateTime": "2020-01-01T10:00:00"}),
            "Observation.effectiveDateTime",
        )
        .diag("dateTime"),
        o(
            "dateTime hour 25",
            json!({"effectiveDateTime": "2020-01-01T25:00:00Z"}),
            "Observation.effectiveDateTime",
        ),
        o(
            "dateTime zone +25:00",
            json!({"effectiveDateTime": "2020-01-01T10:00:00+25:00"}),
            "Observation.effectiveDateTime",
        ),
        o(
            "instant without a time",
            json!({"issued": "2020-01-01"}),
            "Observation.issued",
        )
        .diag("instant"),
        o(
            "instant without a zone",
            json!({"issued": "2020-01-01T10:00:00.000"}),
            "Observation.issued",
        ),
        o(
            "time 24:00",
            json!({"valueTime": "24:00:00"}),
            "Observation.valueTime",
        )
        .diag("time"),
        o(
            "time without seconds",
            json!({"valueTime": "10:00"}),
            "Observation.valueTime",
        ),
        p(
            "bad contained id",
            json!({"contained": [{"resourceType": "Organization", "id": "o_1!", "name": "x"}],
                   "managingOrganization": {"reference": "#o_1!"}}),
            "Patient.contained[0].id",
        ),
        p(
            "uri with spaces",
            json!({"identifier": [{"system": "http://example.org/a b", "value": "1"}]}),
            "Patient.identifier[0].system",
        ),
        p(
            "canonical with spaces",
            json!({"meta": {"profile": ["http://example.org/my profile"]}}),
            "Patient.meta.profile[0]",
        ),
        p(
            "url with spaces",
            json!({"photo": [{"url": "http://example.org/a photo.png"}]}),
            "Patient.photo[0].url",
        ),
        ext("oid without urn:oid:", json!({"valueOid": "1.2.643.5.1"}))
            .at("Patient.extension[0].valueOid"),
        ext(
            "oid with a leading zero",
            json!({"valueOid": "urn:oid:1.02.3"}),
        )
        .at("Patient.extension[0].valueOid"),
        ext("uuid too short", json!({"valueUuid": "urn:uuid:1234-5678"}))
            .at("Patient.extension[0].valueUuid"),
        ext(
            "uuid without urn:uuid:",
            json!({"valueUuid": "a3fb8482-4839-4699-8034-cee2c7ee2b84"}),
        )
        .at("Patient.extension[0].valueUuid"),
        ext(
            "base64 with bad characters",
            json!({"valueBase64Binary": "not base64!"}),
        )
        .at("Patient.extension[0].valueBase64Binary"),
        Case::json(
            "base64 with a bad length",
            "POST",
            "Binary",
            json!({"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8"}),
        )
        .at("Binary.data"),
        p(
            "code with a leading space",
            json!({"gender": " male"}),
            "Patient.gender",
        )
        .diag("invalid code"),
        o(
            "code with a double space",
            json!({"code": {"coding": [{"system": "http://loinc.org", "code": "29463  7"}]}}),
            "Observation.code.coding[0].code",
        ),
        p(
            "xhtml that is not a div",
            json!({"text": {"status": "generated", "div": "plain text"}}),
            "Patient.text.div",
        ),
        ext(
            "dateTime in an extension",
            json!({"valueDateTime": "2020-02-30"}),
        )
        .at("Patient.extension[0].valueDateTime"),
    ]
}

/// Elements the definitions do not know.
pub(super) fn unknown_elements() -> Vec<Case> {
    let p = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Patient", with(&patient(), extra)).at(at)
    };
    let o = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Observation", with(&observation(), extra)).at(at)
    };
    vec![
        p("top level", json!({"foo": 1}), "Patient.foo").diag("unknown element 'foo'"),
        p(
            "element of another resource",
            json!({"status": "active"}),
            "Patient.status",
        ),
        p(
            "nested in a backbone element",
            json!({"contact": [{"name": {"text": "x"}, "foo": 1}]}),
            "Patient.contact[0].foo",
        ),
        p(
            "inside a datatype",
            json!({"name": [{"family": "x", "surname": "y"}]}),
            "Patient.name[0].surname",
        ),
        p(
            "inside an extension",
            json!({"extension": [{"url": "http://x", "valueString": "y", "foo": 1}]}),
            "Patient.extension[0].foo",
        ),
        p(
            "resourceType inside a datatype",
            json!({"name": [{"family": "x", "resourceType": "HumanName"}]}),
            "Patient.name[0].resourceType",
        ),
        p(
            "_ companion of a datatype",
            json!({"_name": {"id": "x"}}),
            "Patient.name",
        )
        .diag("primitive"),
        p(
            "_ companion of an unknown element",
            json!({"_foo": {"id": "x"}}),
            "Patient.foo",
        ),
        p(
            "_ companion that is not an object",
            json!({"birthDate": "1980-01-01", "_birthDate": "x"}),
            "Patient.birthDate",
        ),
        o(
            "misspelled choice valueQuantityy",
            json!({"valueQuantityy": {"value": 1}}),
            "Observation.valueQuantityy",
        ),
        o(
            "unknown choice type valueFoo",
            json!({"valueFoo": "x"}),
            "Observation.valueFoo",
        ),
        o(
            "choice without a type",
            json!({"value": 1}),
            "Observation.value",
        ),
        o(
            "choice type in lower case",
            json!({"valuequantity": {"value": 1}}),
            "Observation.valuequantity",
        ),
        o(
            "two choices at once",
            json!({"valueQuantity": {"value": 1}, "valueString": "x"}),
            "Observation.valueString",
        )
        .diag("only one of"),
        p(
            "choice type not allowed here",
            json!({"deceasedString": "yes"}),
            "Patient.deceasedString",
        ),
    ]
}

/// Elements with a minimum cardinality of one.
pub(super) fn missing_required() -> Vec<Case> {
    vec![
        Case::json("Observation.status", "POST", "Observation", json!({"resourceType": "Observation", "code": {"text": "x"}}))
            .at("Observation.status")
            .diag("missing required element 'status'"),
        Case::json("Observation.code", "POST", "Observation", json!({"resourceType": "Observation", "status": "final"}))
            .at("Observation.code"),
        Case::json("Bundle.type", "POST", "Bundle", json!({"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:a3fb8482-4839-4699-8034-cee2c7ee2b84"}]}))
            .at("Bundle.type"),
        Case::json("Extension.url", "POST", "Patient", with(&patient(), json!({"extension": [{"valueString": "x"}]})))
            .at("Patient.extension[0].url"),
        Case::json("Patient.link.other", "POST", "Patient", with(&patient(), json!({"link": [{"type": "seealso"}]})))
            .at("Patient.link[0].other"),
        Case::json("Patient.communication.language", "POST", "Patient", with(&patient(), json!({"communication": [{"preferred": true}]})))
            .at("Patient.communication[0].language"),
        Case::json("Observation.component.code", "POST", "Observation", with(&observation(), json!({"component": [{"valueString": "x"}]})))
            .at("Observation.component[0].code"),
        Case::json("Appointment.participant.status", "POST", "Appointment", with(&appointment(), json!({"participant": [{"actor": {"display": "x"}}]})))
            .at("Appointment.participant[0].status"),
        Case::json(
            "required choice MedicationRequest.medication[x]",
            "POST",
            "MedicationRequest",
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"display": "x"}}),
        )
        .at("MedicationRequest.medication"),
    ]
}

/// Codes outside required value sets.
pub(super) fn bindings() -> Vec<Case> {
    vec![
        Case::json("Patient.gender", "POST", "Patient", with(&patient(), json!({"gender": "unknown-gender"})))
            .at("Patient.gender")
            .diag("administrative-gender"),
        Case::json("Patient.gender case", "POST", "Patient", with(&patient(), json!({"gender": "Male"}))).at("Patient.gender"),
        Case::json("Observation.status", "POST", "Observation", with(&observation(), json!({"status": "done"})))
            .at("Observation.status"),
        Case::json("Bundle.type", "POST", "Bundle", json!({"resourceType": "Bundle", "type": "collectionz"})).at("Bundle.type"),
        Case::json(
            "Coding with the wrong system",
            "POST",
            "Condition",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                   "clinicalStatus": {"coding": [{"system": "http://snomed.info/sct", "code": "active"}]}}),
        )
        .at("Condition.clinicalStatus")
        .diag("condition-clinical"),
        Case::json(
            "Coding with an unknown code",
            "POST",
            "Condition",
            json!({"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "cured"}]}}),
        )
        .at("Condition.clinicalStatus"),
        Case::json("nested code", "POST", "Patient", with(&patient(), json!({"telecom": [{"system": "pager2", "value": "1"}]})))
            .at("Patient.telecom[0].system"),
    ]
}

/// resourceType and the type in the URL.
pub(super) fn resource_types() -> Vec<Case> {
    vec![
        Case::json(
            "missing resourceType",
            "POST",
            "Patient",
            json!({"active": true}),
        )
        .diag("resourceType"),
        Case::json(
            "resourceType not a string",
            "POST",
            "Patient",
            json!({"resourceType": 5, "active": true}),
        )
        .diag("resourceType"),
        Case::json(
            "resourceType null",
            "POST",
            "Patient",
            json!({"resourceType": null, "active": true}),
        )
        .diag("resourceType"),
        Case::json(
            "resourceType mismatching the URL",
            "POST",
            "Patient",
            observation(),
        )
        .at("Patient")
        .diag("does not match"),
        Case::json(
            "unknown resourceType in the body",
            "POST",
            "Patient",
            json!({"resourceType": "Dragon", "active": true}),
        )
        .at("Patient"),
        Case::json(
            "resourceType mismatch on update",
            "PUT",
            "Patient/p1",
            json!({"resourceType": "Group", "id": "p1"}),
        )
        .at("Patient"),
        Case::json(
            "unknown type on create",
            "POST",
            "Dragon",
            json!({"resourceType": "Dragon"}),
        )
        .status(404)
        .diag("Dragon"),
        Case::json(
            "unknown type on update",
            "PUT",
            "Dragon/1",
            json!({"resourceType": "Dragon", "id": "1"}),
        )
        .status(404),
        Case::bare("unknown type on read", "GET", "Dragon/1").status(404),
        Case::bare("unknown type on delete", "DELETE", "Dragon/1").status(404),
        Case::bare("type in lower case", "GET", "patient/p1").status(404),
        Case::bare("abstract type", "GET", "DomainResource/p1").status(404),
        Case::bare("datatype as a type", "GET", "HumanName/p1").status(404),
        Case::bare("unknown type history", "GET", "Dragon/_history").status(404),
    ]
}

/// Logical ids in URLs and bodies.
pub(super) fn ids() -> Vec<Case> {
    let long = "a".repeat(65);
    let pid = |id: &str| with(&patient(), json!({"id": id}));
    vec![
        Case::bare("65-character id", "GET", &format!("Patient/{long}")).diag("invalid id"),
        Case::json(
            "65-character id on update",
            "PUT",
            &format!("Patient/{long}"),
            pid(&long),
        ),
        Case::bare("underscore and bang in id", "GET", "Patient/bad_id!"),
        Case::bare("space in id", "GET", "Patient/a%20b"),
        Case::bare("invalid UTF-8 in id", "GET", "Patient/%FF"),
        Case::bare("illegal id on delete", "DELETE", "Patient/bad_id"),
        Case::bare("illegal id in history", "GET", "Patient/bad_id/_history"),
        Case::bare(
            "version that is not a number",
            "GET",
            "Patient/p1/_history/abc",
        ),
        Case::bare(
            "version that does not exist",
            "GET",
            "Patient/p1/_history/0",
        )
        .status(404),
        Case::bare("id that does not exist", "GET", "Patient/does-not-exist").status(404),
        Case::json("URL id and body id differ", "PUT", "Patient/p1", pid("p2"))
            .at("Patient.id")
            .diag("differs"),
        Case::json("missing id on update", "PUT", "Patient/p1", patient()).at("Patient.id"),
        Case::json(
            "id that is a number",
            "PUT",
            "Patient/p1",
            with(&patient(), json!({"id": 1})),
        )
        .at("Patient.id"),
        Case::json(
            "illegal id in URL and body",
            "PUT",
            "Patient/a_b",
            pid("a_b"),
        ),
    ]
}

/// Contained resources.
pub(super) fn contained() -> Vec<Case> {
    let p = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Patient", with(&patient(), extra)).at(at)
    };
    let org = |id: &str| json!({"resourceType": "Organization", "id": id, "name": "ООО Ромашка"});
    vec![
        p(
            "contained without an id",
            json!({"contained": [{"resourceType": "Organization", "name": "x"}], "managingOrganization": {"reference": "#o1"}}),
            "Patient.contained[0].id",
        ),
        p(
            "nested contained (dom-2)",
            json!({"contained": [with(&org("o1"), json!({"contained": [org("o2")]}))], "managingOrganization": {"reference": "#o1"}}),
            "Patient.contained[0].contained",
        ),
        p(
            "unreferenced contained (dom-3)",
            json!({"contained": [org("o1")]}),
            "Patient.contained[0]",
        )
        .diag("dom-3"),
        p(
            "contained with meta.versionId (dom-4)",
            json!({"contained": [with(&org("o1"), json!({"meta": {"versionId": "1"}}))], "managingOrganization": {"reference": "#o1"}}),
            "Patient.contained[0].meta",
        ),
        p(
            "#reference to a missing contained resource",
            json!({"contained": [org("o1")], "managingOrganization": {"reference": "#o2"}, "generalPractitioner": [{"reference": "#o1"}]}),
            "Patient.managingOrganization.reference",
        ),
        p(
            "duplicate contained ids",
            json!({"contained": [org("o1"), org("o1")], "managingOrganization": {"reference": "#o1"}}),
            "Patient.contained[1].id",
        ),
        p(
            "contained that is not an object",
            json!({"contained": ["Organization/o1"]}),
            "Patient.contained[0]",
        ),
        p(
            "contained of an unknown type",
            json!({"contained": [{"resourceType": "Dragon", "id": "d"}]}),
            "Patient.contained[0]",
        ),
        p(
            "invalid content inside contained",
            json!({"contained": [with(&org("o1"), json!({"name": 5}))], "managingOrganization": {"reference": "#o1"}}),
            "Patient.contained[0].name",
        ),
    ]
}

/// References: syntax, target types and existence.
pub(super) fn references() -> Vec<Case> {
    let o = |what: &str, reference: Value, at: &str| {
        Case::json(
            what,
            "POST",
            "Observation",
            with(&observation(), json!({"subject": reference})),
        )
        .at(at)
    };
    let r = |what: &str, reference: &str| {
        o(
            what,
            json!({"reference": reference}),
            "Observation.subject.reference",
        )
    };
    vec![
        r("type without id", "Patient/").diag("invalid reference"),
        r("leading slash", "/Patient/1"),
        r("too many segments", "Patient/1/2"),
        r("unknown type", "Dragon/1"),
        r("illegal id", "Patient/a b"),
        r("bad version", "Patient/p1/_history/x_y"),
        r("empty reference", ""),
        // A type outside targetProfile is only a warning by default (see --strict-reference-targets
        // in `limits`), but Medication/1 does not exist either.
        r("wrong target type", "Medication/1").diag("does not exist"),
        r("dangling", "Patient/does-not-exist").diag("does not exist"),
        r("dangling versioned", "Patient/nobody/_history/1").diag("does not exist"),
        o("reference that is a number", json!({"reference": 5}), "Observation.subject.reference"),
        o("type contradicts the reference", json!({"reference": "Patient/p1", "type": "Group"}), "Observation.subject.type"),
        o("unknown element in a Reference", json!({"ref": "Patient/p1"}), "Observation.subject.ref"),
        Case::json(
            "dangling in an array",
            "POST",
            "Patient",
            with(&patient(), json!({"generalPractitioner": [{"display": "x"}, {"reference": "Practitioner/none"}]})),
        )
        .at("Patient.generalPractitioner[1].reference"),
    ]
}
