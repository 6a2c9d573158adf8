//! The terminology service end to end (issue 7): МКБ-10 and МКБ-О built in, `$lookup`,
//! `$validate-code`, `$expand` with a text filter and paging, `$subsumes`, `$translate`, value
//! sets with hierarchy filters, `zdrav nsi import` of a new version beside the old one, and a
//! required binding (`--require-binding Condition.code=МКБ-10`) refusing unknown codes.

mod common;

use common::{expect, shared, Server};
use serde_json::{json, Value};

const ICD10: &str = "urn:oid:1.2.643.5.1.13.13.11.1005";

fn param<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["parameter"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .unwrap_or(&Value::Null)
}

fn codes(vs: &Value) -> Vec<String> {
    vs["expansion"]["contains"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20")
}

/// The МКБ-10 codes whose name has, for every word of `filter`, a word starting with it:
/// read straight from the НСИ export, independently of the server.
fn expected_from_csv(filter: &str) -> Option<Vec<String>> {
    let path = shared()?.join("data/nsi/1.2.643.5.1.13.13.11.1005_2.27.csv");
    let text = std::fs::read_to_string(path).ok()?;
    let fold = |s: &str| s.to_lowercase().replace('ё', "е");
    let want: Vec<String> = fold(filter)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(';').collect();
        let (code, name) = (cols[2].trim_matches('"'), fold(cols[3].trim_matches('"')));
        let words: Vec<&str> = name.split(|c: char| !c.is_alphanumeric()).collect();
        if want
            .iter()
            .all(|w| words.iter().any(|x| x.starts_with(w.as_str())))
        {
            out.push(code.to_string());
        }
    }
    Some(out)
}

#[test]
fn terminology_service_and_required_binding() {
    let s = Server::start_with(&["--require-binding", &format!("Condition.code={ICD10}")]);

    // $expand with a text filter returns exactly the matching codes, in the dictionary's order.
    let vs = expect(
        s.get(&format!(
            "ValueSet/$expand?url={ICD10}&filter=холер&count=100"
        )),
        200,
    );
    assert_eq!(
        codes(&vs),
        ["A00", "A00.0", "A00.1", "A00.9", "Y58.2", "Z23.0", "Z27.0"]
    );
    assert_eq!(vs["expansion"]["total"], 7);
    let filter = "туберкулез легких";
    let all = expect(
        s.get(&format!(
            "ValueSet/$expand?url={ICD10}&filter={}&count=1000",
            enc(filter)
        )),
        200,
    );
    if let Some(want) = expected_from_csv(filter) {
        assert_eq!(codes(&all), want, "as read from the НСИ export");
    }
    let n = all["expansion"]["total"].as_u64().unwrap() as usize;
    assert!(n >= 5, "{n}");
    // Paging: offset and count cut the same list.
    let page = expect(
        s.get(&format!(
            "ValueSet/$expand?url={ICD10}&filter={}&offset=3&count=4",
            enc(filter)
        )),
        200,
    );
    assert_eq!(codes(&page), codes(&all)[3..7]);
    assert_eq!(page["expansion"]["total"], n);

    // $lookup: display, parent and children; unknown codes are 404.
    let l = expect(
        s.get(&format!("CodeSystem/$lookup?system={ICD10}&code=A00")),
        200,
    );
    assert_eq!(param(&l, "display")["valueString"], "Холера");
    assert_eq!(param(&l, "version")["valueString"], "2.27");
    let props: Vec<(String, String)> = l["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "property")
        .map(|p| {
            (
                p["part"][0]["valueCode"].as_str().unwrap().into(),
                p["part"][1]["valueCode"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        props.contains(&("parent".into(), "A00-A09".into())),
        "{props:?}"
    );
    assert!(
        props.contains(&("child".into(), "A00.9".into())),
        "{props:?}"
    );
    expect(
        s.get(&format!("CodeSystem/$lookup?system={ICD10}&code=Z99.99")),
        404,
    );

    // $validate-code: known, unknown, wrong display; also POSTed as Parameters with a coding.
    let ok = expect(
        s.get(&format!("CodeSystem/$validate-code?url={ICD10}&code=I10")),
        200,
    );
    assert_eq!(param(&ok, "result")["valueBoolean"], true);
    let bad = expect(
        s.get(&format!(
            "ValueSet/$validate-code?url={ICD10}&system={ICD10}&code=I10.9"
        )),
        200,
    );
    assert_eq!(param(&bad, "result")["valueBoolean"], false);
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "coding", "valueCoding": {"system": ICD10, "code": "A00", "display": "Чума"}}]});
    let wrong = expect(s.post("CodeSystem/$validate-code", &body), 200);
    assert_eq!(param(&wrong, "result")["valueBoolean"], false);
    assert!(param(&wrong, "message")["valueString"]
        .as_str()
        .unwrap()
        .contains("Холера"));

    // $subsumes along the hierarchy.
    let sub = |a: &str, b: &str| {
        let r = expect(
            s.get(&format!(
                "CodeSystem/$subsumes?system={ICD10}&codeA={a}&codeB={b}"
            )),
            200,
        );
        param(&r, "outcome")["valueCode"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(sub("A15-A19", "A15.0"), "subsumes");
    assert_eq!(sub("A15.0", "A15"), "subsumed-by");
    assert_eq!(sub("A15.0", "A00"), "not-subsumed");
    assert_eq!(sub("I10", "I10"), "equivalent");

    // МКБ-О and an R4 value set are there too.
    let m = expect(
        s.get("CodeSystem/$lookup?system=urn:oid:1.2.643.5.1.13.13.11.1486&code=8010/3"),
        200,
    );
    assert_eq!(param(&m, "display")["valueString"], "Рак, БДУ");
    let g = expect(
        s.get("ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender"),
        200,
    );
    assert_eq!(codes(&g), ["male", "female", "other", "unknown"]);

    // A stored value set with a hierarchy filter, and a concept map.
    let tb = json!({"resourceType": "ValueSet", "id": "tb", "url": "urn:zdrav:vs:tb", "status": "active",
        "compose": {"include": [{"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "A15"}]}]}});
    expect(s.put("ValueSet/tb", &tb), 201);
    let e = expect(s.get("ValueSet/$expand?url=urn:zdrav:vs:tb&count=50"), 200);
    assert_eq!(codes(&e).len(), 11, "A15 and its ten subcodes");
    // The hierarchy, nested on request.
    let tree = expect(
        s.get("ValueSet/$expand?url=urn:zdrav:vs:tb&excludeNested=false"),
        200,
    );
    assert_eq!(codes(&tree), ["A15"]);
    let under = tree["expansion"]["contains"][0]["contains"]
        .as_array()
        .unwrap();
    assert_eq!(under.len(), 10);
    assert_eq!(under[0]["code"], "A15.0");
    assert_eq!(tree["expansion"]["total"], 11);
    let inst = expect(
        s.get("ValueSet/tb/$validate-code?system=urn:oid:1.2.643.5.1.13.13.11.1005&code=A15.3"),
        200,
    );
    assert_eq!(param(&inst, "result")["valueBoolean"], true);
    let map = json!({"resourceType": "ConceptMap", "id": "icd-local", "url": "urn:zdrav:cm:icd-local", "status": "active",
        "group": [{"source": ICD10, "target": "urn:zdrav:local", "element": [
            {"code": "I10", "target": [{"code": "HT", "display": "Гипертония", "equivalence": "equivalent"}]}]}]});
    expect(s.put("ConceptMap/icd-local", &map), 201);
    let t = expect(
        s.get(&format!(
            "ConceptMap/$translate?url=urn:zdrav:cm:icd-local&system={ICD10}&code=I10"
        )),
        200,
    );
    assert_eq!(param(&t, "result")["valueBoolean"], true);
    assert_eq!(param(&t, "match")["part"][1]["valueCoding"]["code"], "HT");

    // The required binding: an unknown МКБ-10 code, or none at all, is refused where it is.
    let condition = |system: &str, code: &str| {
        json!({"resourceType": "Condition",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]}})
    };
    expect(
        s.put(
            "Patient/p1",
            &json!({"resourceType": "Patient", "id": "p1"}),
        ),
        201,
    );
    expect(s.post("Condition", &condition(ICD10, "I10")), 201);
    for (system, code) in [(ICD10, "I10.9"), ("http://snomed.info/sct", "38341003")] {
        let r = expect(s.post("Condition", &condition(system, code)), 400);
        assert_eq!(r["issue"][0]["code"], "code-invalid", "{r}");
        assert_eq!(r["issue"][0]["expression"][0], "Condition.code");
    }
}

#[test]
fn nsi_import_adds_a_version_beside_the_built_in_one() {
    let s = Server::start();
    let Some(dir) = shared() else {
        eprintln!("SKIPPED: ../shared is not there");
        return;
    };
    let mut csv =
        std::fs::read_to_string(dir.join("data/nsi/1.2.643.5.1.13.13.11.1005_2.27.csv")).unwrap();
    if !csv.ends_with('\n') {
        csv.push('\n');
    }
    csv.push_str("99999;\"2200U999\";\"U99.9\";\"Тестовое состояние\";;;1;\n");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mkb10-2.28.csv");
    std::fs::write(&file, csv).unwrap();
    let out = std::process::Command::new(common::bin())
        .args([
            "nsi",
            "import",
            file.to_str().unwrap(),
            "--database",
            &s.database,
            "--oid",
            "1.2.643.5.1.13.13.11.1005",
            "--version",
            "2.28",
            "--title",
            "МКБ-10",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("15039 concepts"));
    // The newest version is the default; the old one is still there by version.
    let l = expect(
        s.get(&format!("CodeSystem/$lookup?system={ICD10}&code=U99.9")),
        200,
    );
    assert_eq!(param(&l, "version")["valueString"], "2.28");
    expect(
        s.get(&format!(
            "CodeSystem/$lookup?system={ICD10}&code=U99.9&version=2.27"
        )),
        404,
    );
    let found = expect(s.get(&format!("CodeSystem?url={ICD10}")), 200);
    assert_eq!(found["total"], 1, "the import is a stored CodeSystem");
    // A bad OID is refused before anything is written.
    let bad = std::process::Command::new(common::bin())
        .args([
            "nsi",
            "import",
            file.to_str().unwrap(),
            "--database",
            &s.database,
            "--oid",
            "1.2.x",
            "--version",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
