//! A corpus of bad input sent to the real binary over HTTP. Every case must be answered with the
//! specific 4xx the R4 http page implies and a JSON OperationOutcome that says what is wrong and,
//! where there is a place to point at, where (`issue[0].expression[0]`). Never a 5xx, never a
//! panic, never a body that is not an OperationOutcome.

mod common;

use common::{expect, Server};
use serde_json::{json, Value};

/// One request and the answer it must get.
struct Case {
    what: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    expression: Option<String>,
    diagnostics: Option<String>,
}

impl Case {
    /// A request with a raw body sent as `application/fhir+json`; 400 unless told otherwise.
    fn raw(what: &str, method: &'static str, path: &str, body: impl Into<Vec<u8>>) -> Case {
        Case {
            what: what.to_string(),
            method,
            path: path.to_string(),
            headers: vec![("content-type", "application/fhir+json".to_string())],
            body: body.into(),
            status: 400,
            expression: None,
            diagnostics: None,
        }
    }

    /// A request with a JSON body.
    fn json(what: &str, method: &'static str, path: &str, body: Value) -> Case {
        Case::raw(what, method, path, body.to_string())
    }

    /// A request without a body.
    fn bare(what: &str, method: &'static str, path: &str) -> Case {
        let mut c = Case::raw(what, method, path, Vec::new());
        c.headers.clear();
        c
    }

    fn status(mut self, status: u16) -> Case {
        self.status = status;
        self
    }

    /// The expected `issue[0].expression[0]`.
    fn at(mut self, expression: &str) -> Case {
        self.expression = Some(expression.to_string());
        self
    }

    /// A substring of `issue[0].diagnostics`.
    fn diag(mut self, text: &str) -> Case {
        self.diagnostics = Some(text.to_string());
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    /// Sends the case and returns what is wrong with the answer, if anything.
    fn check(&self, s: &Server) -> Option<String> {
        let url = if self.path.starts_with('/') {
            format!("{}{}", s.root, self.path)
        } else {
            s.url(&self.path)
        };
        let mut req = s.client.request(self.method.parse().unwrap(), url);
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        if !self.body.is_empty() {
            req = req.body(self.body.clone());
        }
        let r = match req.send() {
            Ok(r) => r,
            Err(e) => return Some(format!("request failed: {e}")),
        };
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().unwrap_or_default();
        let short: String = text.chars().take(400).collect();
        let mut problems = Vec::new();
        if !(400..500).contains(&status) {
            problems.push(format!("status {status} is not a 4xx"));
        } else if status != self.status {
            problems.push(format!("status {status}, expected {}", self.status));
        }
        if !(ct.starts_with("application/fhir+json") || ct.starts_with("application/json")) {
            problems.push(format!("content-type '{ct}' is not JSON"));
        }
        match serde_json::from_str::<Value>(&text) {
            Err(e) => problems.push(format!("body is not JSON ({e})")),
            Ok(oo) => {
                if oo["resourceType"] != "OperationOutcome" {
                    problems.push("body is not an OperationOutcome".into());
                }
                let issues = oo["issue"].as_array().map_or(0, Vec::len);
                if issues == 0 {
                    problems.push("OperationOutcome.issue is empty".into());
                } else if !matches!(oo["issue"][0]["severity"].as_str(), Some("error" | "fatal")) {
                    problems.push("issue[0].severity is not error or fatal".into());
                }
                if let Some(want) = &self.expression {
                    let got = &oo["issue"][0]["expression"][0];
                    if got.as_str() != Some(want.as_str()) {
                        problems.push(format!("expression {got}, expected \"{want}\""));
                    }
                }
                if let Some(want) = &self.diagnostics {
                    let got = oo["issue"][0]["diagnostics"].as_str().unwrap_or("");
                    if !got.contains(want.as_str()) {
                        problems.push(format!("diagnostics do not mention '{want}'"));
                    }
                }
            }
        }
        (!problems.is_empty()).then(|| {
            format!(
                "{} {} [{}]: {}\n    body: {short}",
                self.method,
                self.path,
                self.what,
                problems.join("; ")
            )
        })
    }
}

/// Runs every case against a server; returns the failures.
fn run(s: &Server, cases: &[Case]) -> Vec<String> {
    cases.iter().filter_map(|c| c.check(s)).collect()
}

/// `base` with the members of `extra` added (or replaced).
fn with(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        out[k] = v.clone();
    }
    out
}

fn patient() -> Value {
    json!({"resourceType": "Patient", "name": [{"family": "Иванов", "given": ["Иван"]}]})
}

fn observation() -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": {"text": "вес"}})
}

fn appointment() -> Value {
    json!({"resourceType": "Appointment", "status": "proposed",
           "participant": [{"actor": {"display": "д-р Петров"}, "status": "needs-action"}]})
}

fn tx(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn post_entry(resource: Value) -> Value {
    let t = resource["resourceType"]
        .as_str()
        .unwrap_or("Patient")
        .to_string();
    json!({"resource": resource, "request": {"method": "POST", "url": t}})
}

fn params(ops: Vec<Value>) -> Value {
    let parameter: Vec<Value> = ops
        .into_iter()
        .map(|parts| json!({"name": "operation", "part": parts}))
        .collect();
    json!({"resourceType": "Parameters", "parameter": parameter})
}

/// Malformed JSON and bodies that are JSON but not a resource.
fn broken_json() -> Vec<Case> {
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
fn wrong_types() -> Vec<Case> {
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
fn numbers() -> Vec<Case> {
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

/// Lexical forms of the string primitives.
fn formats() -> Vec<Case> {
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
fn unknown_elements() -> Vec<Case> {
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
fn missing_required() -> Vec<Case> {
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
fn bindings() -> Vec<Case> {
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
fn resource_types() -> Vec<Case> {
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
fn ids() -> Vec<Case> {
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
fn contained() -> Vec<Case> {
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
fn references() -> Vec<Case> {
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

/// Batches and transactions posted to the base.
fn bundles() -> Vec<Case> {
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
fn media_types() -> Vec<Case> {
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
fn conditional() -> Vec<Case> {
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
fn history() -> Vec<Case> {
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
fn patches() -> Vec<Case> {
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
fn paths_and_methods() -> Vec<Case> {
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
fn limits() -> Vec<Case> {
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

fn default_depth() -> Vec<Case> {
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

fn seed(s: &Server) {
    let p1 = with(&patient(), json!({"id": "p1", "active": true}));
    let r = expect(s.put("Patient/p1", &p1), 201);
    assert_eq!(r["meta"]["versionId"], "1");
}

#[test]
fn bad_input_corpus() {
    let main = Server::start();
    let limited = Server::start_with(&[
        "--max-body-mib",
        "1",
        "--max-json-depth",
        "16",
        "--max-bundle-entries",
        "5",
        "--strict-reference-targets",
    ]);
    seed(&main);
    seed(&limited);
    let groups: Vec<(&str, Vec<Case>)> = vec![
        ("broken JSON", broken_json()),
        ("wrong JSON types", wrong_types()),
        ("numbers", numbers()),
        ("primitive formats", formats()),
        ("unknown elements", unknown_elements()),
        ("missing required elements", missing_required()),
        ("required bindings", bindings()),
        ("resource types", resource_types()),
        ("ids", ids()),
        ("contained resources", contained()),
        ("references", references()),
        ("bundles", bundles()),
        ("media types", media_types()),
        ("conditional headers", conditional()),
        ("history parameters", history()),
        ("patch", patches()),
        ("paths and methods", paths_and_methods()),
        ("default depth limit", default_depth()),
    ];
    let limit_cases = limits();
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, cases) in &groups {
        total += cases.len();
        for f in run(&main, cases) {
            failures.push(format!("[{name}] {f}"));
        }
    }
    total += limit_cases.len();
    for f in run(&limited, &limit_cases) {
        failures.push(format!("[limits] {f}"));
    }
    // A 405 names the methods the path does support.
    let r = main.post("Patient/p1", &patient());
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD, PUT, DELETE, PATCH");
    let r = main.delete("metadata");
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    // Nothing of the corpus may have changed the stored data, and both servers are still up.
    let p1 = expect(main.get("Patient/p1"), 200);
    if p1["meta"]["versionId"] != "1" {
        failures.push(format!("a bad request changed Patient/p1: {p1}"));
    }
    for s in [&main, &limited] {
        let total = expect(s.get("_history"), 200)["total"].clone();
        if total != 1 {
            failures.push(format!(
                "bad requests were stored: {total} versions, expected 1"
            ));
        }
        let h = s.client.get(format!("{}/health", s.root)).send().unwrap();
        assert_eq!(h.status(), 200);
    }
    assert!(
        failures.is_empty(),
        "{} of {total} bad-input cases were answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("bad-input corpus: {total} cases, all 4xx OperationOutcomes");
    assert!(total >= 100, "the corpus has only {total} cases");
}
