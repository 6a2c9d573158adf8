//! The command line: `zdrav load` (bundles, NDJSON, gzip), `serve --demo`, and the refusal of
//! `--no-auth` off loopback.

mod common;

use common::{expect, shared, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

#[test]
fn no_auth_is_refused_off_loopback_and_bad_databases_fail() {
    let out = Command::new(common::bin())
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--database",
            "sqlite:///tmp/never.db",
            "--no-auth",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-auth is for local testing only"), "{err}");
    // Serving with authentication is covered by e2e_auth.
    let out = Command::new(common::bin())
        .args(["serve", "--database", "mysql://x", "--no-auth"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported --database"));
}

#[test]
fn load_ndjson_gzip_and_bundles_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");
    // NDJSON, gzipped, with references in any order (Observation before its Patient).
    let lines = [
        json!({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "рост"},
               "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 180.5, "unit": "cm"}}),
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Загрузкин"}]}),
        json!({"resourceType": "Patient", "id": "p2", "birthDate": "2001-02-03"}),
    ];
    let nd = dir.path().join("data.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&nd).unwrap(),
        flate2::Compression::fast(),
    );
    for l in &lines {
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
    let bundle = dir.path().join("tx.json");
    std::fs::write(
        &bundle,
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
             "resource": {"resourceType": "Patient", "name": [{"family": "Бандлов"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                          "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"}},
             "request": {"method": "POST", "url": "Encounter"}}]})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["load", "--database", &format!("sqlite://{}", db.display())])
        .arg(&nd)
        .arg(&bundle)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("loaded 5 resources from 2 files"),
        "{stdout}"
    );
    assert!(stdout.contains("resources/s"));

    let s = Server::start_on(&db, common::free_port(), &[]);
    let o = expect(s.get("Observation/o1"), 200);
    assert_eq!(o["valueQuantity"]["value"], json!(180.5));
    assert_eq!(expect(s.get("Patient/_history"), 200)["total"], 3);
    let enc = expect(s.get("Encounter/_history"), 200);
    let subject = enc["entry"][0]["resource"]["subject"]["reference"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(subject.starts_with("Patient/") && !subject.contains("urn:uuid"));
    assert_eq!(expect(s.get(&subject), 200)["name"][0]["family"], "Бандлов");

    // An invalid NDJSON line fails the load with the file, line and element named.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        "{\"resourceType\":\"Patient\",\"id\":\"b1\",\"gender\":\"x\"}\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["load", "--database", &format!("sqlite://{}", db.display())])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.ndjson") && err.contains("Patient.gender"),
        "{err}"
    );
}

#[test]
fn all_synthetic_bundles_load_with_references_resolved() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("synthetic.db");
    let out = Command::new(common::bin())
        .args(["load", "--database", &format!("sqlite://{}", db.display())])
        .arg(shared.join("data/synthetic"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    assert!(stdout.contains("from 60 files"), "{stdout}");
    let s = Server::start_on(&db, common::free_port(), &[]);
    assert_eq!(expect(s.get("Patient/_history?_count=1"), 200)["total"], 60);
    // Sample resources of every kind: no urn:uuid left, every literal reference resolves.
    let h = expect(s.get("_history?_count=400"), 200);
    let mut checked = 0;
    for e in h["entry"].as_array().unwrap() {
        let text = e["resource"].to_string();
        assert!(!text.contains("urn:uuid:"), "{text}");
        visit_refs(&e["resource"], &mut |r| {
            if !r.starts_with('#') && !r.starts_with("http") {
                checked += 1;
                assert_eq!(s.get(r).status(), 200, "dangling {r}");
            }
        });
    }
    assert!(checked > 100, "only {checked} references checked");
}

#[test]
fn serve_demo_loads_patients_once() {
    let mut s = Server::start_with(&["--demo"]);
    // Three synthetic patients and the three citizens of the Russian demo clinic (a mother
    // of a child among them).
    let h = expect(s.get("Patient/_history"), 200);
    assert_eq!(h["total"], 6);
    let total = expect(s.get("_history?_count=1"), 200)["total"]
        .as_u64()
        .unwrap();
    assert!(total > 2000, "{total}");
    // The clinic: registered documents and slots opened from today.
    let docs = expect(
        s.get("DocumentReference?_tag=urn:zdrav:CodeSystem:remd|registered&_summary=count"),
        200,
    );
    assert_eq!(docs["total"], 2);
    let slots = |s: &Server| {
        expect(
            s.get("Slot?schedule=Schedule/sched-ivanova&_summary=count"),
            200,
        )["total"]
            .as_u64()
            .unwrap()
    };
    let opened = slots(&s);
    assert!(
        opened >= 80,
        "three weeks of a therapist's mornings: {opened}"
    );
    // A restart loads nothing again and opens no slot twice.
    s.restart(&["--demo"]);
    assert_eq!(expect(s.get("Patient/_history"), 200)["total"], 6);
    assert!((opened..=opened + 16).contains(&slots(&s)));
    drop(s);
}

fn visit_refs(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => f(r),
                    _ => visit_refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| visit_refs(x, f)),
        _ => {}
    }
}
