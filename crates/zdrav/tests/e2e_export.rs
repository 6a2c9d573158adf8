//! Bulk Data export end to end against the real binary: `$export` at system, Patient and Group
//! level with `_type` and `_since`, polling, downloads, cancellation, refused kick-offs, and the
//! round trip `zdrav export` → `zdrav load` into a fresh database.

mod common;

use common::{expect, shared, Server};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first `n` synthetic bundles, sorted by name.
fn synthetic(shared: &Path, n: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("data/synthetic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    files.sort();
    files.truncate(n);
    files
}

/// POSTs a transaction bundle; returns the resources it created per type.
fn post_bundle(s: &Server, path: &Path) -> BTreeMap<String, u64> {
    let body: Value = serde_json::from_slice(&common::read_gz(path)).unwrap();
    let r = s
        .client
        .post(s.url(""))
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(body.to_string())
        .send()
        .unwrap();
    expect(r, 200);
    let mut counts = BTreeMap::new();
    for e in body["entry"].as_array().unwrap() {
        let t = e["resource"]["resourceType"].as_str().unwrap().to_string();
        *counts.entry(t).or_insert(0) += 1;
    }
    counts
}

fn add(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
    for (t, n) in b {
        *a.entry(t.clone()).or_insert(0) += n;
    }
}

/// Sends a kick-off and returns the response.
fn kickoff_raw(s: &Server, path: &str, prefer: Option<&str>) -> Response {
    let mut req = s
        .client
        .get(s.url(path))
        .header("accept", "application/fhir+json");
    if let Some(p) = prefer {
        req = req.header("prefer", p);
    }
    req.send().unwrap()
}

/// Kicks off an export and returns the status URL.
fn kickoff(s: &Server, path: &str) -> String {
    let r = kickoff_raw(s, path, Some("respond-async"));
    assert_eq!(r.status().as_u16(), 202, "{path}: {}", r.text().unwrap());
    let loc = r.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(loc.starts_with(&s.url("$export-status/")), "{loc}");
    loc
}

/// Polls a status URL until the export is done; returns the manifest.
fn wait(s: &Server, status: &str) -> Value {
    let r = common::export_ended(s, status);
    match r.status().as_u16() {
        200 => {
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("application/json"), "{ct}");
            common::json(r)
        }
        other => panic!("status {other}: {}", r.text().unwrap()),
    }
}

/// Downloads every output file; checks each line is a resource of the file's type and the
/// manifest's counts; returns the resources per type.
fn download(s: &Server, manifest: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for o in manifest["output"].as_array().unwrap() {
        let t = o["type"].as_str().unwrap();
        let r = s.client.get(o["url"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/fhir+ndjson"
        );
        let text = r.text().unwrap();
        let mut n = 0;
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["resourceType"], t, "{line}");
            assert!(v["id"].is_string(), "{line}");
            out.entry(t.to_string()).or_default().push(v);
            n += 1;
        }
        assert_eq!(o["count"], n, "{t}");
    }
    out
}

fn counts(files: &BTreeMap<String, Vec<Value>>) -> BTreeMap<String, u64> {
    files
        .iter()
        .map(|(t, v)| (t.clone(), v.len() as u64))
        .collect()
}

fn summary_count(s: &Server, path: &str) -> u64 {
    expect(s.get(&format!("{path}?_summary=count")), 200)["total"]
        .as_u64()
        .unwrap()
}

fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn encode(v: &str) -> String {
    v.replace(':', "%3A").replace('+', "%2B")
}

#[test]
fn export_levels_filters_and_cancel() {
    let Some(shared) = shared() else { return };
    let s = Server::start();
    let files = synthetic(&shared, 3);
    let mut expected = BTreeMap::new();
    add(&mut expected, &post_bundle(&s, &files[0]));
    add(&mut expected, &post_bundle(&s, &files[1]));
    // A marker whose lastUpdated splits the data for `_since`.
    let marker = expect(
        s.post(
            "Patient",
            &json!({"resourceType": "Patient", "name": [{"family": "Маркеров"}]}),
        ),
        201,
    );
    let since = marker["meta"]["lastUpdated"].as_str().unwrap().to_string();
    let third = post_bundle(&s, &files[2]);
    add(&mut expected, &third);
    *expected.entry("Patient".into()).or_insert(0) += 1;

    // System level: every resource, counts equal to the server's.
    let status = kickoff(&s, "$export");
    let manifest = wait(&s, &status);
    assert_eq!(manifest["request"], s.url("$export"));
    assert_eq!(manifest["requiresAccessToken"], false);
    assert_eq!(manifest["error"], json!([]));
    let tt = manifest["transactionTime"].as_str().unwrap();
    assert!(tt.ends_with('Z') && tt > since.as_str(), "{tt}");
    let system = download(&s, &manifest);
    assert_eq!(counts(&system), expected);
    for (t, n) in &expected {
        assert_eq!(summary_count(&s, t), *n, "{t}");
    }
    let ids: BTreeSet<(String, String)> = system
        .values()
        .flatten()
        .map(|v| (v["resourceType"].to_string(), v["id"].to_string()))
        .collect();
    assert_eq!(ids.len() as u64, expected.values().sum::<u64>());
    // The status stays answerable after completion.
    assert_eq!(wait(&s, &status), manifest);

    // `_type`.
    let m = wait(&s, &kickoff(&s, "$export?_type=Patient,Organization"));
    let got = counts(&download(&s, &m));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["Organization", "Patient"]);
    assert_eq!(got["Patient"], expected["Patient"]);

    // `_since`: the marker and the third bundle only (and `_outputFormat` in its short form).
    let m = wait(
        &s,
        &kickoff(
            &s,
            &format!("$export?_since={}&_outputFormat=ndjson", encode(&since)),
        ),
    );
    let mut want = third.clone();
    *want.entry("Patient".into()).or_insert(0) += 1;
    assert_eq!(counts(&download(&s, &m)), want);
    let m = wait(
        &s,
        &kickoff(
            &s,
            &format!("$export?_since={}&_type=Patient", encode(&since)),
        ),
    );
    assert_eq!(m["output"][0]["count"], want["Patient"]);
    assert_eq!(m["output"].as_array().unwrap().len(), 1);

    // Patient level: patients and their compartments; no Organization or Practitioner.
    let m = wait(&s, &kickoff(&s, "Patient/$export"));
    assert_eq!(m["request"], s.url("Patient/$export"));
    let patient_level = download(&s, &m);
    for t in [
        "Organization",
        "Practitioner",
        "Location",
        "PractitionerRole",
    ] {
        assert!(
            !patient_level.contains_key(t),
            "{t} in a patient-level export"
        );
    }
    assert_eq!(patient_level["Patient"].len() as u64, expected["Patient"]);
    for (t, list) in &patient_level {
        if t == "Patient" {
            continue;
        }
        assert!(list.len() as u64 <= expected[t]);
        for v in list {
            let mut refs = Vec::new();
            references(v, &mut refs);
            assert!(refs.iter().any(|r| r.starts_with("Patient/")), "{v}");
        }
    }

    // Group level: one member's compartment, equal to the compartment searches.
    let member = system["Patient"]
        .iter()
        .find(|p| p["name"][0]["family"] != "Маркеров")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = expect(
        s.post(
            "Group",
            &json!({"resourceType": "Group", "type": "person", "actual": true,
                    "member": [{"entity": {"reference": format!("Patient/{member}")}}]}),
        ),
        201,
    );
    let gid = group["id"].as_str().unwrap();
    let m = wait(&s, &kickoff(&s, &format!("Group/{gid}/$export")));
    let group_level = download(&s, &m);
    assert_eq!(group_level["Patient"].len(), 1);
    assert_eq!(group_level["Patient"][0]["id"], member.as_str());
    assert!(!group_level.contains_key("Organization"));
    assert!(!group_level.contains_key("Practitioner"));
    for t in patient_level.keys().filter(|t| *t != "Patient") {
        let n = group_level.get(t).map_or(0, Vec::len) as u64;
        assert_eq!(
            summary_count(&s, &format!("Patient/{member}/{t}")),
            n,
            "{t}"
        );
    }
    let total: usize = group_level.values().map(Vec::len).sum();
    assert!(total > 100, "{total}");

    // DELETE: a running or finished job goes with its files.
    // Cancelled at once, while its first file operations are in flight, several times over:
    // nothing may reappear in the directory after the DELETE answered.
    let export_dir = s.db.parent().unwrap().join("zdrav-export");
    let mut cancelled = Vec::new();
    for _ in 0..5 {
        let status = kickoff(&s, "$export");
        let id = status.rsplit('/').next().unwrap().to_string();
        expect(s.client.delete(&status).send().unwrap(), 202);
        expect(s.client.get(&status).send().unwrap(), 404);
        expect(s.client.delete(&status).send().unwrap(), 404);
        cancelled.push(id);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    for id in &cancelled {
        assert!(!export_dir.join(id).exists(), "{id} left files behind");
    }
    let status = kickoff(&s, "$export?_type=Patient");
    let m = wait(&s, &status);
    let file = m["output"][0]["url"].as_str().unwrap().to_string();
    expect(s.client.delete(&status).send().unwrap(), 202);
    expect(s.client.get(&file).send().unwrap(), 404);
}

/// Asserts a 4xx OperationOutcome.
fn refused(r: Response, status: u16) {
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let body = expect(r, status);
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(ct, "application/fhir+json");
}

#[test]
fn bad_kickoffs_are_refused_and_lenient_handling_reports() {
    let s = Server::start();
    expect(
        s.post("Patient", &json!({"resourceType": "Patient", "id": "x"})),
        201,
    );
    let async_ = Some("respond-async");
    refused(kickoff_raw(&s, "$export", None), 400);
    refused(kickoff_raw(&s, "$export", Some("return=minimal")), 400);
    for bad in [
        "$export?_outputFormat=text/csv",
        "$export?_type=Patient,Nope",
        "$export?_type=",
        "$export?_since=yesterday",
        "$export?_since=2024-01-01",
        "Patient/$export?_since=2024-13-01T00:00:00Z",
    ] {
        refused(kickoff_raw(&s, bad, async_), 400);
    }
    for unsupported in [
        "_elements=id",
        "patient=Patient/x",
        "_typeFilter=Patient%3Fname%3Dx",
        "includeAssociatedData=LatestProvenanceResources",
    ] {
        let path = format!("$export?{unsupported}");
        refused(
            kickoff_raw(&s, &path, Some("respond-async, handling=strict")),
            400,
        );
    }
    refused(kickoff_raw(&s, "Group/nope/$export", async_), 404);
    refused(kickoff_raw(&s, "Observation/$export", async_), 404);
    refused(kickoff_raw(&s, "Nope/$export", async_), 404);
    let r = s
        .client
        .get(s.url("$export"))
        .header("prefer", "respond-async")
        .header("accept", "application/fhir+xml")
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    refused(s.put("$export", &json!({})), 405);
    refused(s.get("$export-status/not-a-job"), 404);
    refused(
        s.get("$export-status/0b6c9a4e-3f0e-4e8e-9a53-6d1b2f0f7a11"),
        404,
    );
    refused(
        s.get("$export-file/0b6c9a4e-3f0e-4e8e-9a53-6d1b2f0f7a11/x"),
        404,
    );
    refused(s.get("$export-file/..%2F..%2Fetc/passwd"), 404);
    let post = |body: &Value| {
        s.client
            .post(s.url("$export"))
            .header("prefer", "respond-async")
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    refused(post(&json!({"resourceType": "Patient"})), 400);
    refused(
        post(
            &json!({"resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Nope"}]}),
        ),
        400,
    );

    // Lenient (the default): ignored, and said so in the manifest's error file.
    let r = post(&json!({"resourceType": "Parameters", "parameter": [
        {"name": "_type", "valueString": "Patient"},
        {"name": "_elements", "valueString": "id"}]}));
    assert_eq!(r.status().as_u16(), 202);
    let status = r.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    let m = wait(&s, &status);
    assert_eq!(m["output"].as_array().unwrap().len(), 1);
    assert_eq!(m["output"][0]["type"], "Patient");
    let err = &m["error"][0];
    assert_eq!(err["type"], "OperationOutcome");
    let text = s
        .client
        .get(err["url"].as_str().unwrap())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let oo: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert!(oo.to_string().contains("_elements"), "{oo}");
    let cs = expect(s.get("metadata"), 200);
    assert_eq!(cs["rest"][0]["operation"][0]["name"], "export");
}

fn zdrav(args: &[&str]) -> String {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "zdrav {args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every resource of a `zdrav export` directory by (type, id), without the server's meta.
fn read_dir(dir: &Path) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let t = path.file_stem().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["resourceType"], t.as_str());
            if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
                meta.remove("versionId");
                meta.remove("lastUpdated");
                if meta.is_empty() {
                    v.as_object_mut().unwrap().remove("meta");
                }
            }
            let id = v["id"].as_str().unwrap().to_string();
            assert!(out.insert((t.clone(), id), v).is_none());
        }
    }
    out
}

#[test]
fn cli_export_round_trips_through_load() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let (a, b) = (db("a.db"), db("b.db"));
    let files = synthetic(&shared, 3);
    let mut args = vec!["load".to_string(), "--database".into(), a.clone()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    zdrav(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    let printed = zdrav(&["export", "--database", &a, "--out", &out_s]);
    assert!(printed.contains("exported"), "{printed}");
    let exported = read_dir(&out);
    assert!(exported.len() > 1000, "{}", exported.len());

    // Into a fresh database, and out again: the same resources.
    zdrav(&["load", "--database", &b, &out_s]);
    let again = dir.path().join("again");
    zdrav(&[
        "export",
        "--database",
        &b,
        "--out",
        &again.display().to_string(),
    ]);
    let reloaded = read_dir(&again);
    assert_eq!(reloaded.len(), exported.len());
    assert!(
        reloaded == exported,
        "resources differ after the round trip"
    );
    let mut per_type: BTreeMap<String, u64> = BTreeMap::new();
    for (t, _) in exported.keys() {
        *per_type.entry(t.clone()).or_insert(0) += 1;
    }
    let s = Server::start_on(&dir.path().join("b.db"), common::free_port(), &[]);
    for (t, n) in &per_type {
        assert_eq!(summary_count(&s, t), *n, "{t}");
        assert!(printed.contains(&format!("{t} ")), "{printed}");
    }
    drop(s);

    // Filters, and refusals.
    let only = dir.path().join("only");
    zdrav(&[
        "export",
        "--database",
        &a,
        "--out",
        &only.display().to_string(),
        "--type",
        "Patient,Encounter",
        "--since",
        "2000-01-01T00:00:00Z",
    ]);
    let names: BTreeSet<String> = std::fs::read_dir(&only)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["Encounter.ndjson".into(), "Patient.ndjson".into()])
    );
    let pl = dir.path().join("patient-level");
    zdrav(&[
        "export",
        "--database",
        &a,
        "--out",
        &pl.display().to_string(),
        "--patient-level",
    ]);
    assert!(!pl.join("Organization.ndjson").exists());
    assert!(pl.join("Patient.ndjson").exists());
    for bad in [
        vec!["--type", "Nope"],
        vec!["--since", "yesterday"],
        vec!["--out", out_s.as_str()],
    ] {
        let mut args = vec!["export", "--database", &a];
        let fresh = dir.path().join("never").display().to_string();
        if !bad.contains(&"--out") {
            args.extend(["--out", fresh.as_str()]);
        }
        args.extend(bad.iter().copied());
        let o = Command::new(common::bin()).args(&args).output().unwrap();
        assert!(!o.status.success(), "{args:?}");
    }
}
