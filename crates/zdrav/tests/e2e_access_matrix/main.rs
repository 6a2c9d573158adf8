//! The authorisation matrix of issue 6, end to end against the real binary: roles ×
//! interactions × resource types × relationships. A practitioner of organisation `org1` reaches
//! the patients in its care (attached, general practitioner, active episode, encounter in
//! progress) or who consented to them, through every interaction (read, vread, history,
//! search, compartment search, chains, `_has`, `_include`, `_revinclude`, `$everything`,
//! writes, bundles), and nobody else; other roles keep to theirs. Every case is listed with
//! what it must answer; the test prints how many passed and fails unless all did.

mod cases;
#[path = "../common/mod.rs"]
mod common;

use cases::{case, consent, other_role_cases, practitioner_cases, related, seed, Case, Want};
use cases::{IN_CARE, NOT_IN_CARE};
use common::{expect, Server};
use serde_json::{json, Value};

fn entries(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let r = &e["resource"];
            let t = r["resourceType"].as_str()?;
            (t != "OperationOutcome").then(|| format!("{t}/{}", r["id"].as_str().unwrap_or("")))
        })
        .collect();
    v.sort();
    v
}

/// Runs a case; `None` if it answered as it must, else what went wrong.
fn run(s: &Server, tokens: &[(&str, String)], c: &Case) -> Option<String> {
    let token = tokens
        .iter()
        .find(|(w, _)| *w == c.who)
        .map(|(_, t)| t.as_str());
    let mut r = s.client.request(c.method.parse().unwrap(), s.url(&c.path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(reason) = c.break_glass {
        r = r.header("x-break-glass", reason);
    }
    if let Some(b) = &c.body {
        r = r
            .header("content-type", "application/fhir+json")
            .body(b.to_string());
    }
    let resp = r.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let want_status = match &c.want {
        Want::Status(s) => *s,
        _ => 200,
    };
    if status != want_status {
        return Some(format!(
            "status {status}, wanted {want_status}: {text:.300}"
        ));
    }
    if status >= 400 && body["resourceType"] != "OperationOutcome" {
        return Some(format!("{status} without an OperationOutcome: {text:.300}"));
    }
    match &c.want {
        Want::Ids(want) if &entries(&body) != want => {
            Some(format!("entries {:?}, wanted {want:?}", entries(&body)))
        }
        Want::Total(n) if body["total"].as_u64() != Some(*n) => {
            Some(format!("total {}, wanted {n}", body["total"]))
        }
        _ => None,
    }
}

fn run_all(s: &Server, tokens: &[(&str, String)], cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| {
            run(s, tokens, c).map(|e| format!("{} {} {}: {e}", c.who, c.method, c.path))
        })
        .collect()
}

#[test]
fn the_authorisation_matrix() {
    let s = Server::start_with(&["--with-auth", "--rate-limit", "0"]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    seed(&s, &system);
    let t = |args: &[&str]| s.token(args);
    let tokens: Vec<(&str, String)> = vec![
        ("system", system.clone()),
        (
            "d1",
            t(&[
                "--sub",
                "dr-1",
                "--role",
                "practitioner",
                "--practitioner",
                "Practitioner/d1",
                "--org",
                "Organization/org1",
            ]),
        ),
        (
            "d2",
            t(&[
                "--sub",
                "dr-2",
                "--role",
                "practitioner",
                "--practitioner",
                "Practitioner/d2",
                "--org",
                "Organization/org2",
            ]),
        ),
        (
            "cit-a",
            t(&[
                "--sub",
                "cit-a",
                "--role",
                "citizen",
                "--patient",
                "Patient/pa",
            ]),
        ),
        (
            "cit-e",
            t(&[
                "--sub",
                "cit-e",
                "--role",
                "citizen",
                "--patient",
                "Patient/pe",
            ]),
        ),
        (
            "cit-g",
            t(&[
                "--sub",
                "cit-g",
                "--role",
                "citizen",
                "--patient",
                "Patient/pg",
            ]),
        ),
        (
            "regional",
            t(&["--sub", "minzdrav-77", "--role", "regional"]),
        ),
        (
            "regulator",
            t(&["--sub", "roszdravnadzor", "--role", "regulator"]),
        ),
        (
            "registrar",
            t(&[
                "--sub",
                "reg-1",
                "--role",
                "registrar",
                "--org",
                "Organization/org1",
            ]),
        ),
        (
            "org-admin",
            t(&[
                "--sub",
                "adm-1",
                "--role",
                "org-admin",
                "--org",
                "Organization/org1",
            ]),
        ),
        (
            "device",
            t(&[
                "--sub",
                "tonometer-7",
                "--role",
                "device",
                "--patient",
                "Patient/pa",
            ]),
        ),
    ];
    let mut tokens = tokens;
    for (who, patient, rp) in [
        ("mother-c", "Patient/pc", "RelatedPerson/rp-mother"),
        ("friend-c", "Patient/pc", "RelatedPerson/rp-friend"),
        ("guardian-h", "Patient/ph", "RelatedPerson/rp-guardian"),
    ] {
        let args = [
            "--sub",
            who,
            "--role",
            "citizen",
            "--patient",
            patient,
            "--user",
            rp,
        ];
        tokens.push((who, t(&args)));
    }

    // Reads and searches first (writes below add resources).
    let mut cases: Vec<Case> = Vec::new();
    for p in IN_CARE {
        cases.extend(practitioner_cases(p, true));
    }
    for p in NOT_IN_CARE {
        cases.extend(practitioner_cases(p, false));
    }
    let (reads, writes): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.method == "GET");
    let others = other_role_cases();
    let mut failures = run_all(&s, &tokens, &reads);
    let (other_reads, other_writes): (Vec<Case>, Vec<Case>) =
        others.into_iter().partition(|c| c.method == "GET");
    failures.extend(run_all(&s, &tokens, &other_reads));
    failures.extend(run_all(&s, &tokens, &writes));
    failures.extend(run_all(&s, &tokens, &other_writes));

    // Consent takes effect at once: the citizen of pe revokes theirs, the citizen of pg grants
    // one; d1 loses pe and gains pg on the next request.
    let consent_cases = vec![
        case("mother-c", "GET", "Patient/pc", Want::Status(403)),
        case("d1", "GET", "Patient/pe", Want::Status(404)),
        case("d1", "GET", "Observation/oe", Want::Status(404)),
        case("d1", "GET", "Patient/pg", Want::Status(200)),
        case("d1", "GET", "Patient?_summary=count", Want::Total(5)),
    ];
    let mut revoke = case("cit-e", "PUT", "Consent/cs-e", Want::Status(200));
    revoke.body = Some(consent(
        "cs-e",
        "pe",
        "Practitioner/d1",
        "inactive",
        json!({"start": "2020-01-01"}),
    ));
    let mut grant = case("cit-g", "POST", "Consent", Want::Status(201));
    grant.body = Some(consent(
        "x",
        "pg",
        "Practitioner/d1",
        "active",
        json!({"start": "2020-01-01"}),
    ));
    let mut foreign = case("cit-g", "POST", "Consent", Want::Status(403));
    foreign.body = Some(consent(
        "x",
        "ph",
        "Practitioner/d1",
        "active",
        json!({"start": "2020-01-01"}),
    ));
    let mut end_mother = case(
        "system",
        "PUT",
        "RelatedPerson/rp-mother",
        Want::Status(200),
    );
    end_mother.body = Some(related(
        "rp-mother",
        "pc",
        "MTH",
        json!({"start": "2015-01-01"}),
        false,
    ));
    let changes = [
        case("d1", "GET", "Patient/pe", Want::Status(200)),
        end_mother,
        revoke,
        grant,
        foreign,
    ];
    failures.extend(run_all(&s, &tokens, &changes));
    failures.extend(run_all(&s, &tokens, &consent_cases));
    let n = reads.len()
        + writes.len()
        + other_reads.len()
        + other_writes.len()
        + changes.len()
        + consent_cases.len();

    // The emergency access is in the audit trail with its reason, tagged for review.
    let mut tagged = 0;
    for _ in 0..50 {
        let found = expect(
            s.call(
                "GET",
                "AuditEvent?_tag=http://terminology.hl7.org/CodeSystem/v3-ActReason|BTG",
                Some(&system),
                None,
            ),
            200,
        );
        tagged = found["total"].as_u64().unwrap_or(0);
        if tagged > 0 {
            let ev = &found["entry"][0]["resource"];
            assert_eq!(ev["purposeOfEvent"][0]["coding"][0]["code"], "ETREAT");
            assert_eq!(ev["purposeOfEvent"][0]["text"], "кома, без сознания");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(tagged, 1, "exactly the one emergency access is flagged");

    // The regulator exports the audit trail, and nothing else; only the one who started an
    // export can poll it.
    let regulator = &tokens.iter().find(|(w, _)| *w == "regulator").unwrap().1;
    let kick = |token: &str, query: &str| {
        s.client
            .get(s.url(&format!("$export{query}")))
            .bearer_auth(token)
            .header("prefer", "respond-async")
            .send()
            .unwrap()
    };
    let started = kick(regulator, "?_type=AuditEvent");
    let location = started
        .headers()
        .get("content-location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(
        started.status().as_u16(),
        202,
        "{}",
        started.text().unwrap()
    );
    let location = location.unwrap();
    let poll = |token: &str| {
        let r = s.client.get(&location).bearer_auth(token).send().unwrap();
        r.status().as_u16()
    };
    assert!(matches!(poll(regulator), 200 | 202));
    assert_eq!(poll(&system), 404, "another caller cannot see the job");
    assert_eq!(kick(regulator, "").status().as_u16(), 403);
    assert_eq!(kick(regulator, "?_type=Observation").status().as_u16(), 403);
    let regional = &tokens.iter().find(|(w, _)| *w == "regional").unwrap().1;
    assert_eq!(kick(regional, "?_type=AuditEvent").status().as_u16(), 403);

    println!(
        "authorisation matrix: {} of {n} cases passed",
        n - failures.len()
    );
    assert!(n >= 100, "the matrix has {n} cases");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
