//! Malformed JSON, JSON of the wrong shape, and numbers.

use super::*;

/// Malformed JSON and bodies that are JSON but not a resource.
pub(super) fn broken_json() -> Vec<Case> {
    let c = |what: &str, body: &[u8]| Case::raw(what, "POST", "Patient", body.to_vec());
    vec![
        c("truncated", br#"{"resourceType":"Patient","active":tr"#).diag("line 1, column 37"),
        c("truncated after a comma", br#"{"resourceType":"Patient","#).diag("line 1, column 26"),
        c(
            "trailing comma in an object",
            b"{\n  \"resourceType\": \"Patient\",\n  \"active\": true,\n}",
        )
        .diag("line 4, column 1"),
        c(
            "trailing comma in an array",
            br#"{"resourceType":"Patient","name":[{"family":"x"},]}"#,
        )
        .diag("line 1, column 50"),
        c("single quotes", b"{'resourceType':'Patient'}").diag("line 1, column 2"),
        c(
            "NaN",
            br#"{"resourceType":"Patient","multipleBirthInteger":NaN}"#,
        )
        .diag("line 1, column 50"),
        c(
            "Infinity",
            br#"{"resourceType":"Observation","valueQuantity":{"value":Infinity}}"#,
        )
        .diag("malformed JSON at line 1"),
        c("bare word as a value", br#"{"resourceType":Patient}"#).diag("line 1, column 17"),
        c("bare word as the body", b"Patient").diag("line 1, column 1"),
        c("unquoted key", br#"{resourceType:"Patient"}"#).diag("line 1, column 2"),
        c("missing colon", br#"{"resourceType" "Patient"}"#).diag("line 1, column 17"),
        c("comment", b"{\"resourceType\":\"Patient\" // who\n}").diag("line 1, column 27"),
        c(
            "leading zeros",
            br#"{"resourceType":"Patient","multipleBirthInteger":007}"#,
        )
        .diag("malformed JSON at line 1"),
        c(
            "hex number",
            br#"{"resourceType":"Patient","multipleBirthInteger":0x1F}"#,
        )
        .diag("malformed JSON at line 1"),
        c("unterminated string", br#"{"resourceType":"Patient"#).diag("malformed JSON at line 1"),
        c(
            "two documents",
            br#"{"resourceType":"Patient"}{"resourceType":"Patient"}"#,
        )
        .diag("line 1, column 27"),
        c("BOM only", b"\xEF\xBB\xBF").diag("line 1, column 1"),
        c(
            "binary garbage",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        )
        .diag("line 1, column 1"),
        c("NUL bytes", b"\x00\x00\x00\x00").diag("line 1, column 1"),
        c(
            "invalid UTF-8 in a string",
            b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\xfe\"}]}",
        )
        .diag("line 1"),
        c(
            "lone continuation byte in a string",
            b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\x80b\"}]}",
        )
        .diag("line 1"),
        c(
            "raw control character in a string",
            b"{\"resourceType\":\"Patient\",\n\"name\":[{\"family\":\"a\nb\"}]}",
        )
        .diag("line 3"),
        c(
            "lone surrogate escape",
            br#"{"resourceType":"Patient","name":[{"family":"\ud800"}]}"#,
        )
        .diag("line 1"),
        c(
            "invalid escape",
            br#"{"resourceType":"Patient","name":[{"family":"\q"}]}"#,
        )
        .diag("line 1, column 47"),
        c(
            "duplicate member",
            br#"{"resourceType":"Patient","active":true,"active":false}"#,
        )
        .diag("line 1, column 41"),
        c("empty body", b"").diag("empty"),
        c("whitespace only", b" \r\n\t ").diag("empty"),
        c("JSON array", b"[]").diag("JSON object"),
        c("array of resources", br#"[{"resourceType":"Patient"}]"#).diag("JSON object"),
        c("JSON string", br#""Patient""#).diag("JSON object"),
        c("JSON number", b"42").diag("JSON object"),
        c("JSON null", b"null").diag("JSON object"),
        c("JSON boolean", b"true").diag("JSON object"),
        Case::raw(
            "broken JSON on update",
            "PUT",
            "Patient/p1",
            b"{\"id\":".to_vec(),
        )
        .diag("line 1, column 6"),
        Case::raw(
            "broken JSON in a transaction",
            "POST",
            "",
            b"{\"resourceType\":\"Bundle\",}".to_vec(),
        )
        .diag("line 1, column 26"),
        Case::raw("empty transaction body", "POST", "", Vec::new()).diag("empty"),
        Case::raw("array posted to the base", "POST", "", b"[1,2]".to_vec()).diag("JSON object"),
    ]
}

/// JSON values of the wrong kind for the element's type.
pub(super) fn wrong_types() -> Vec<Case> {
    let p = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Patient", with(&patient(), extra)).at(at)
    };
    let o = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Observation", with(&observation(), extra)).at(at)
    };
    vec![
        p(
            "string for boolean",
            json!({"active": "true"}),
            "Patient.active",
        )
        .diag("boolean"),
        p(
            "number for boolean",
            json!({"deceasedBoolean": 1}),
            "Patient.deceasedBoolean",
        ),
        p(
            "number for string",
            json!({"name": [{"family": 5}]}),
            "Patient.name[0].family",
        ),
        p(
            "boolean for string",
            json!({"name": [{"given": ["a", true]}]}),
            "Patient.name[0].given[1]",
        ),
        o(
            "string for decimal",
            json!({"valueQuantity": {"value": "5.5"}}),
            "Observation.valueQuantity.value",
        ),
        o(
            "object for decimal",
            json!({"valueQuantity": {"value": {"v": 1}}}),
            "Observation.valueQuantity.value",
        ),
        p(
            "object for code",
            json!({"gender": {"code": "male"}}),
            "Patient.gender",
        )
        .diag("string for code"),
        p(
            "number for date",
            json!({"birthDate": 19800101}),
            "Patient.birthDate",
        ),
        p(
            "string for integer",
            json!({"multipleBirthInteger": "2"}),
            "Patient.multipleBirthInteger",
        ),
        p(
            "array for a single code",
            json!({"gender": ["male"]}),
            "Patient.gender",
        )
        .diag("single value"),
        p(
            "array for a single datatype",
            json!({"maritalStatus": [{"text": "x"}]}),
            "Patient.maritalStatus",
        ),
        p(
            "single datatype for an array",
            json!({"name": {"family": "x"}}),
            "Patient.name",
        )
        .diag("JSON array"),
        p(
            "single string for an array",
            json!({"name": [{"given": "Иван"}]}),
            "Patient.name[0].given",
        ),
        p(
            "single object for coding array",
            json!({"maritalStatus": {"coding": {"code": "M"}}}),
            "Patient.maritalStatus.coding",
        ),
        p(
            "single extension for an array",
            json!({"extension": {"url": "http://x", "valueString": "y"}}),
            "Patient.extension",
        ),
        p(
            "string for a datatype",
            json!({"maritalStatus": "married"}),
            "Patient.maritalStatus",
        )
        .diag("JSON object"),
        o(
            "string for a Reference",
            json!({"subject": "Patient/p1"}),
            "Observation.subject",
        ),
        p("null value", json!({"active": null}), "Patient.active").diag("null"),
        p(
            "null in an array",
            json!({"name": [{"given": [null]}]}),
            "Patient.name[0].given[0]",
        ),
        p(
            "null inside a datatype",
            json!({"telecom": [{"system": "phone", "value": null}]}),
            "Patient.telecom[0].value",
        ),
        p(
            "null for a datatype",
            json!({"maritalStatus": null}),
            "Patient.maritalStatus",
        ),
        p(
            "empty string",
            json!({"name": [{"family": ""}]}),
            "Patient.name[0].family",
        )
        .diag("empty"),
        p("empty code", json!({"gender": ""}), "Patient.gender"),
        p(
            "empty object",
            json!({"maritalStatus": {}}),
            "Patient.maritalStatus",
        )
        .diag("empty"),
        p(
            "empty object in an array",
            json!({"name": [{}]}),
            "Patient.name[0]",
        ),
        p("empty array", json!({"name": []}), "Patient.name").diag("empty array"),
        p(
            "empty array inside a datatype",
            json!({"name": [{"given": []}]}),
            "Patient.name[0].given",
        ),
        p(
            "_companion count mismatch",
            json!({"name": [{"given": ["a"], "_given": [null, {"id": "x"}]}]}),
            "Patient.name[0].given",
        ),
    ]
}

/// Integer ranges and number forms.
pub(super) fn numbers() -> Vec<Case> {
    let a = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Appointment", with(&appointment(), extra)).at(at)
    };
    let p = |what: &str, extra: Value, at: &str| {
        Case::json(what, "POST", "Patient", with(&patient(), extra)).at(at)
    };
    vec![
        a("positiveInt 0", json!({"minutesDuration": 0}), "Appointment.minutesDuration").diag("out of range"),
        a("positiveInt negative", json!({"minutesDuration": -5}), "Appointment.minutesDuration"),
        a("unsignedInt -1", json!({"priority": -1}), "Appointment.priority"),
        a("positiveInt beyond 64 bits", json!({"minutesDuration": 99999999999999999999u128}), "Appointment.minutesDuration"),
        p("integer 2^31", json!({"multipleBirthInteger": 2147483648i64}), "Patient.multipleBirthInteger").diag("out of range"),
        p("integer -2^31-1", json!({"multipleBirthInteger": -2147483649i64}), "Patient.multipleBirthInteger"),
        p("integer with a fraction", json!({"multipleBirthInteger": 1.5}), "Patient.multipleBirthInteger").diag("whole number"),
        Case::raw(
            "integer in exponent form",
            "POST",
            "Patient",
            br#"{"resourceType":"Patient","multipleBirthInteger":1e3}"#.to_vec(),
        )
        .at("Patient.multipleBirthInteger"),
        Case::raw(
            "decimal beyond f64",
            "POST",
            "Observation",
            br#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e400}}"#.to_vec(),
        )
        .at("Observation.valueQuantity.value"),
    ]
}
