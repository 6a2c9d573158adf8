//! A corpus of bad input sent to the real binary over HTTP. Every case must be answered with the
//! specific 4xx the R4 http page implies and a JSON OperationOutcome that says what is wrong and,
//! where there is a place to point at, where (`issue[0].expression[0]`). Never a 5xx, never a
//! panic, never a body that is not an OperationOutcome.

mod common;

use common::{expect, Server};
use serde_json::{json, Value};

#[path = "bad_input/elements.rs"]
mod elements;
#[path = "bad_input/interactions.rs"]
mod interactions;
#[path = "bad_input/json.rs"]
mod json_shapes;

use elements::*;
use interactions::*;
use json_shapes::*;

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
