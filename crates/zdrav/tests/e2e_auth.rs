//! Authentication and the first access rules, end to end: a server started without `--no-auth`
//! refuses requests without a valid bearer token, accepts tokens from `zdrav token` on the same
//! database, enforces SMART scopes, and confines a citizen to their own compartment.

mod common;

use common::{expect, refused, Server};
use serde_json::{json, Value};

fn ids(bundle: &Value) -> Vec<String> {
    let mut v: Vec<String> = bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    let r = &e["resource"];
                    Some(format!(
                        "{}/{}",
                        r["resourceType"].as_str()?,
                        r["id"].as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn obs(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": format!("Patient/{patient}")},
           "valueQuantity": {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}})
}

#[test]
fn tokens_scopes_and_the_citizen_compartment() {
    let s = Server::start_with(&["--with-auth"]);

    // No token, a malformed header, a forged token: 401 with a challenge.
    let r = s.call("GET", "Patient", None, None);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"zdrav\""
    );
    assert_eq!(refused(r, 401), "login");
    let r = s
        .client
        .get(s.url("Patient"))
        .header("authorization", "Basic abc")
        .send()
        .unwrap();
    assert_eq!(refused(r, 401), "security");
    assert_eq!(
        refused(s.call("GET", "Patient", Some("a.b.c"), None), 401),
        "security"
    );
    // The CapabilityStatement stays public.
    expect(s.call("GET", "metadata", None, None), 200);

    // A system token from `zdrav token` on the same database writes the test data.
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    s.put_patients(&system, &["p1", "p2"]);
    for (id, p) in [("o1", "p1"), ("o2", "p1"), ("o3", "p2")] {
        expect(
            s.call(
                "PUT",
                &format!("Observation/{id}"),
                Some(&system),
                Some(&obs(id, p)),
            ),
            201,
        );
    }
    expect(
        s.call(
            "PUT",
            "Organization/org1",
            Some(&system),
            Some(&json!({"resourceType": "Organization", "id": "org1", "name": "ГКБ 1"})),
        ),
        201,
    );

    // Scopes: a read-only system token cannot write.
    let reader = s.token(&["--sub", "r", "--role", "system", "--scope", "system/*.rs"]);
    expect(s.call("GET", "Observation/o3", Some(&reader), None), 200);
    assert_eq!(
        refused(
            s.call(
                "PUT",
                "Observation/o3",
                Some(&reader),
                Some(&obs("o3", "p2"))
            ),
            403
        ),
        "forbidden"
    );
    let obs_only = s.token(&[
        "--sub",
        "r",
        "--role",
        "system",
        "--scope",
        "system/Observation.rs",
    ]);
    refused(s.call("GET", "Patient/p1", Some(&obs_only), None), 403);
    refused(s.call("GET", "_history", Some(&obs_only), None), 403);
    // Bundle entries are checked one by one.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"},
         "request": {"method": "POST", "url": "Patient"}}]});
    refused(s.call("POST", "", Some(&obs_only), Some(&tx)), 403);

    // A citizen sees their own record and nobody else's.
    let citizen = s.token(&[
        "--sub",
        "ivanov",
        "--role",
        "citizen",
        "--patient",
        "Patient/p1",
    ]);
    expect(s.call("GET", "Patient/p1", Some(&citizen), None), 200);
    assert_eq!(
        refused(s.call("GET", "Patient/p2", Some(&citizen), None), 404),
        "not-found"
    );
    expect(s.call("GET", "Observation/o1", Some(&citizen), None), 200);
    refused(s.call("GET", "Observation/o3", Some(&citizen), None), 404);
    // A guessed version in a condition does not reveal another patient's record either (it
    // would be 304 for one of their own).
    for (header, value) in [
        ("if-none-match", "W/\"1\""),
        ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
    ] {
        let r = s
            .client
            .get(s.url("Observation/o3"))
            .bearer_auth(&citizen)
            .header(header, value)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{header}");
        let r = s
            .client
            .get(s.url("Observation/o1"))
            .bearer_auth(&citizen)
            .header(header, value)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 304, "{header}");
    }
    refused(
        s.call("GET", "Observation/o3/_history/1", Some(&citizen), None),
        404,
    );
    let mine = expect(s.call("GET", "Observation", Some(&citizen), None), 200);
    assert_eq!(ids(&mine), ["Observation/o1", "Observation/o2"]);
    assert_eq!(mine["total"], 2);
    // Even asking for another patient's data by parameter finds nothing.
    let theirs = expect(
        s.call(
            "GET",
            "Observation?subject=Patient/p2",
            Some(&citizen),
            None,
        ),
        200,
    );
    assert_eq!(theirs["total"], 0);
    let patients = expect(s.call("GET", "Patient", Some(&citizen), None), 200);
    assert_eq!(ids(&patients), ["Patient/p1"]);
    // `_include` of the subject of one's own Observations brings only oneself.
    let inc = expect(
        s.call(
            "GET",
            "Observation?_include=Observation:subject",
            Some(&citizen),
            None,
        ),
        200,
    );
    assert_eq!(
        ids(&inc),
        ["Observation/o1", "Observation/o2", "Patient/p1"]
    );
    refused(
        s.call("GET", "Patient/p2/Observation", Some(&citizen), None),
        404,
    );
    let everything = expect(
        s.call("GET", "Patient/p1/$everything", Some(&citizen), None),
        200,
    );
    assert!(ids(&everything)
        .iter()
        .all(|i| i != "Patient/p2" && i != "Observation/o3"));
    refused(
        s.call("GET", "Patient/p2/$everything", Some(&citizen), None),
        404,
    );
    // Reference data outside any compartment is readable.
    expect(
        s.call("GET", "Organization/org1", Some(&citizen), None),
        200,
    );
    // Interactions that cannot be confined to one compartment are refused.
    refused(s.call("GET", "_history", Some(&citizen), None), 403);
    refused(
        s.call("GET", "Observation/_history", Some(&citizen), None),
        403,
    );
    refused(s.call("POST", "", Some(&citizen), Some(&tx)), 403);
    // The citizen's default scopes are read-only for clinical data.
    refused(
        s.call("POST", "Observation", Some(&citizen), Some(&obs("x", "p1"))),
        403,
    );

    // A device writes Observations for its bound patient only.
    let device = s.token(&[
        "--sub",
        "glucometer-7",
        "--role",
        "device",
        "--patient",
        "Patient/p2",
    ]);
    let mut new_obs = obs("ignored", "p2");
    new_obs.as_object_mut().unwrap().remove("id");
    expect(
        s.call("POST", "Observation", Some(&device), Some(&new_obs)),
        201,
    );
    refused(
        s.call("POST", "Observation", Some(&device), Some(&obs("y", "p1"))),
        403,
    );
    refused(s.call("GET", "Observation/o3", Some(&device), None), 403);
    let mut other = new_obs.clone();
    other["resourceType"] = json!("Condition");
    refused(
        s.call("POST", "Condition", Some(&device), Some(&other)),
        403,
    );

    // A token of another database's issuer is not accepted.
    let elsewhere = Server::start();
    let foreign = elsewhere.token(&["--sub", "x", "--role", "system"]);
    assert_eq!(
        refused(s.call("GET", "Patient", Some(&foreign), None), 401),
        "security"
    );
}

#[test]
fn token_command_refuses_incoherent_requests() {
    let s = Server::start_with(&["--with-auth"]);
    for args in [
        &["--sub", "x", "--role", "doctor"][..],
        &["--sub", "x", "--role", "citizen"],
        &["--sub", "x", "--role", "practitioner"],
        &[
            "--sub",
            "x",
            "--role",
            "citizen",
            "--patient",
            "Practitioner/1",
        ],
        &["--sub", "x", "--role", "system", "--scope", "system/*.rsx"],
        &["--sub", "x", "--role", "system", "--ttl", "2w"],
    ] {
        let out = std::process::Command::new(common::bin())
            .args(["token", "--database", &s.database])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn no_auth_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--no-auth", "--database"])
        .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-auth"));
}
