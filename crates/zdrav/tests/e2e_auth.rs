//! Authentication and the first access rules, end to end: a server started without `--no-auth`
//! refuses requests without a valid bearer token, accepts tokens from `zdrav token` on the same
//! database, enforces SMART scopes, and confines a citizen to their own compartment.

mod common;

use common::{expect, Server};
use reqwest::blocking::Response;
use serde_json::{json, Value};

fn send(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    s.call(method, path, token, body)
}

/// Asserts an OperationOutcome with `status`; returns its first issue's code.
fn refused(r: Response, status: u16) -> String {
    let body = expect(r, status);
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

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
    let r = send(&s, "GET", "Patient", None, None);
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
        refused(send(&s, "GET", "Patient", Some("a.b.c"), None), 401),
        "security"
    );
    // The CapabilityStatement stays public.
    expect(send(&s, "GET", "metadata", None, None), 200);

    // A system token from `zdrav token` on the same database writes the test data.
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    for p in ["p1", "p2"] {
        expect(
            send(
                &s,
                "PUT",
                &format!("Patient/{p}"),
                Some(&system),
                Some(&json!({"resourceType": "Patient", "id": p, "name": [{"family": p}]})),
            ),
            201,
        );
    }
    for (id, p) in [("o1", "p1"), ("o2", "p1"), ("o3", "p2")] {
        expect(
            send(
                &s,
                "PUT",
                &format!("Observation/{id}"),
                Some(&system),
                Some(&obs(id, p)),
            ),
            201,
        );
    }
    expect(
        send(
            &s,
            "PUT",
            "Organization/org1",
            Some(&system),
            Some(&json!({"resourceType": "Organization", "id": "org1", "name": "ГКБ 1"})),
        ),
        201,
    );

    // Scopes: a read-only system token cannot write.
    let reader = s.token(&["--sub", "r", "--role", "system", "--scope", "system/*.rs"]);
    expect(send(&s, "GET", "Observation/o3", Some(&reader), None), 200);
    assert_eq!(
        refused(
            send(
                &s,
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
    refused(send(&s, "GET", "Patient/p1", Some(&obs_only), None), 403);
    refused(send(&s, "GET", "_history", Some(&obs_only), None), 403);
    // Bundle entries are checked one by one.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient"},
         "request": {"method": "POST", "url": "Patient"}}]});
    refused(send(&s, "POST", "", Some(&obs_only), Some(&tx)), 403);

    // A citizen sees their own record and nobody else's.
    let citizen = s.token(&[
        "--sub",
        "ivanov",
        "--role",
        "citizen",
        "--patient",
        "Patient/p1",
    ]);
    expect(send(&s, "GET", "Patient/p1", Some(&citizen), None), 200);
    assert_eq!(
        refused(send(&s, "GET", "Patient/p2", Some(&citizen), None), 404),
        "not-found"
    );
    expect(send(&s, "GET", "Observation/o1", Some(&citizen), None), 200);
    refused(send(&s, "GET", "Observation/o3", Some(&citizen), None), 404);
    refused(
        send(&s, "GET", "Observation/o3/_history/1", Some(&citizen), None),
        404,
    );
    let mine = expect(send(&s, "GET", "Observation", Some(&citizen), None), 200);
    assert_eq!(ids(&mine), ["Observation/o1", "Observation/o2"]);
    assert_eq!(mine["total"], 2);
    // Even asking for another patient's data by parameter finds nothing.
    let theirs = expect(
        send(
            &s,
            "GET",
            "Observation?subject=Patient/p2",
            Some(&citizen),
            None,
        ),
        200,
    );
    assert_eq!(theirs["total"], 0);
    let patients = expect(send(&s, "GET", "Patient", Some(&citizen), None), 200);
    assert_eq!(ids(&patients), ["Patient/p1"]);
    // `_include` of the subject of one's own Observations brings only oneself.
    let inc = expect(
        send(
            &s,
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
        send(&s, "GET", "Patient/p2/Observation", Some(&citizen), None),
        404,
    );
    let everything = expect(
        send(&s, "GET", "Patient/p1/$everything", Some(&citizen), None),
        200,
    );
    assert!(ids(&everything)
        .iter()
        .all(|i| i != "Patient/p2" && i != "Observation/o3"));
    refused(
        send(&s, "GET", "Patient/p2/$everything", Some(&citizen), None),
        404,
    );
    // Reference data outside any compartment is readable.
    expect(
        send(&s, "GET", "Organization/org1", Some(&citizen), None),
        200,
    );
    // Interactions that cannot be confined to one compartment are refused.
    refused(send(&s, "GET", "_history", Some(&citizen), None), 403);
    refused(
        send(&s, "GET", "Observation/_history", Some(&citizen), None),
        403,
    );
    refused(send(&s, "POST", "", Some(&citizen), Some(&tx)), 403);
    // The citizen's default scopes are read-only for clinical data.
    refused(
        send(
            &s,
            "POST",
            "Observation",
            Some(&citizen),
            Some(&obs("x", "p1")),
        ),
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
        send(&s, "POST", "Observation", Some(&device), Some(&new_obs)),
        201,
    );
    refused(
        send(
            &s,
            "POST",
            "Observation",
            Some(&device),
            Some(&obs("y", "p1")),
        ),
        403,
    );
    refused(send(&s, "GET", "Observation/o3", Some(&device), None), 403);
    let mut other = new_obs.clone();
    other["resourceType"] = json!("Condition");
    refused(
        send(&s, "POST", "Condition", Some(&device), Some(&other)),
        403,
    );

    // A token of another database's issuer is not accepted.
    let elsewhere = Server::start();
    let foreign = elsewhere.token(&["--sub", "x", "--role", "system"]);
    assert_eq!(
        refused(send(&s, "GET", "Patient", Some(&foreign), None), 401),
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

/// A SMART standalone launch with the built-in authorization server: discovery, the sign-in
/// page, the authorization code with PKCE, the token, and an API call confined to the patient.
#[test]
fn smart_standalone_launch_with_pkce() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.json");
    let redirect = "http://127.0.0.1:9/callback";
    std::fs::write(
        &config,
        json!({
            "clients": [
                {"client_id": "mobile-app", "redirect_uris": [redirect]},
                {"client_id": "lab-system", "client_secret": "s3cret", "system_scope": "system/Observation.cruds"}
            ],
            "users": [
                {"username": "ivanov", "password": "пароль-1", "role": "citizen", "patient": "p1", "name": "Иван Иванов"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let cfg = config.display().to_string();
    let s = Server::start_with(&["--with-auth", "--auth-config", &cfg]);
    let system = s.token(&["--sub", "loader", "--role", "system"]);
    for p in ["p1", "p2"] {
        expect(
            send(
                &s,
                "PUT",
                &format!("Patient/{p}"),
                Some(&system),
                Some(&json!({"resourceType": "Patient", "id": p})),
            ),
            201,
        );
    }
    let web = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let conf: Value = web
        .get(s.url(".well-known/smart-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let authorize = conf["authorization_endpoint"].as_str().unwrap().to_string();
    let token_url = conf["token_endpoint"].as_str().unwrap().to_string();
    assert_eq!(conf["code_challenge_methods_supported"], json!(["S256"]));
    let jwks: Value = web
        .get(conf["jwks_uri"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");

    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let params = [
        ("response_type", "code"),
        ("client_id", "mobile-app"),
        ("redirect_uri", redirect),
        ("scope", "openid launch/patient patient/*.rs"),
        ("state", "st-42"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    // The sign-in page, in Russian, with the request carried along.
    let page = web.get(&authorize).query(&params).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("Войти") && html.contains(r#"name="code_challenge""#),
        "{html}"
    );
    // An unregistered redirect is shown, not followed.
    let mut bad = params.to_vec();
    bad[2] = ("redirect_uri", "http://evil.example/cb");
    let r = web.get(&authorize).query(&bad).send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Without PKCE the client gets an error at its redirect.
    let no_pkce: Vec<_> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("code_"))
        .copied()
        .collect();
    let r = web.get(&authorize).query(&no_pkce).send().unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=invalid_request"));

    // A wrong password: the form again, with a message.
    let mut form = params.to_vec();
    form.push(("username", "ivanov"));
    form.push(("password", "wrong"));
    let r = web.post(&authorize).form(&form).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .unwrap()
        .contains("Неверное имя пользователя или пароль"));
    form.pop();
    form.push(("password", "пароль-1"));
    let r = web.post(&authorize).form(&form).send().unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(redirect), "{location}");
    let back: std::collections::HashMap<String, String> =
        url_params(location.split_once('?').unwrap().1);
    assert_eq!(back["state"], "st-42");
    let code = back["code"].clone();

    let exchange = |code: &str, verifier: &str| {
        web.post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
                ("client_id", "mobile-app"),
                ("code_verifier", verifier),
            ])
            .send()
            .unwrap()
    };
    // A wrong verifier fails, and burns the code.
    let r = exchange(&code, "x".repeat(43).as_str());
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_grant");
    let r = exchange(&code, verifier);
    assert_eq!(r.status(), 400, "a code is good for one exchange only");

    // Again, properly.
    let r = web.post(&authorize).form(&form).send().unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let code = url_params(location.split_once('?').unwrap().1)["code"].clone();
    let r = exchange(&code, verifier);
    assert_eq!(r.status(), 200);
    let t: Value = r.json().unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["patient"], "p1");
    assert_eq!(t["scope"], "openid launch/patient patient/*.rs");
    let access = t["access_token"].as_str().unwrap();
    expect(send(&s, "GET", "Patient/p1", Some(access), None), 200);
    refused(send(&s, "GET", "Patient/p2", Some(access), None), 404);
    assert_eq!(exchange(&code, verifier).status(), 400);

    // A confidential system client: client_credentials with its secret only.
    let r = web
        .post(&token_url)
        .basic_auth("lab-system", Some("s3cret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let sys: Value = r.json().unwrap();
    let sys_token = sys["access_token"].as_str().unwrap();
    expect(send(&s, "GET", "Observation", Some(sys_token), None), 200);
    refused(send(&s, "GET", "Patient/p1", Some(sys_token), None), 403);
    let r = web
        .post(&token_url)
        .basic_auth("lab-system", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

fn url_params(q: &str) -> std::collections::HashMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://x/?{q}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Security headers on every response, per-client rate limits with 429, and tokens of an
/// external issuer trusted through its JWKS.
#[test]
fn headers_rate_limits_and_external_issuers() {
    // The "external identity provider" is another database's built-in issuer: its JWKS is
    // served at /auth/jwks and its tokens are signed with a key this server does not hold.
    let idp = Server::start_with(&["--with-auth"]);
    let jwks = idp
        .client
        .get(format!("{}/auth/jwks", idp.root))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let jf = jwks_file.display().to_string();
    let s = Server::start_with(&[
        "--with-auth",
        "--rate-limit",
        "5",
        "--issuer",
        "urn:zdrav:issuer",
        "--jwks-file",
        &jf,
    ]);
    let external = idp.token(&[
        "--sub",
        "kc-user",
        "--role",
        "system",
        "--scope",
        "system/*.rs",
    ]);
    let r = send(&s, "GET", "Patient", Some(&external), None);
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(r.headers()[h].to_str().unwrap(), v, "{h}");
    }
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    expect(r, 200);

    // 5 per second, bursts of 10: a quick run of 20 is cut off with 429 and Retry-After.
    let local = s.token(&["--sub", "busy", "--role", "system"]);
    let statuses: Vec<u16> = (0..20)
        .map(|_| {
            send(&s, "GET", "Patient", Some(&local), None)
                .status()
                .as_u16()
        })
        .collect();
    assert!(
        statuses.iter().filter(|c| **c == 200).count() >= 9,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = send(&s, "GET", "Patient", Some(&local), None);
    assert_eq!(r.headers()["retry-after"].to_str().unwrap(), "1");
    assert_eq!(refused(r, 429), "throttled");
    // Another client has its own budget.
    let other = s.token(&["--sub", "calm", "--role", "system"]);
    expect(send(&s, "GET", "Patient", Some(&other), None), 200);
    // Guessing tokens from one address is throttled too.
    let guesses: Vec<u16> = (0..20)
        .map(|_| {
            send(&s, "GET", "Patient", Some("x.y.z"), None)
                .status()
                .as_u16()
        })
        .collect();
    assert!(
        guesses.contains(&401) && guesses.contains(&429),
        "{guesses:?}"
    );
}

/// HTTPS with a certificate and key: the API answers over TLS (with HSTS), plain HTTP on the
/// same port does not. The certificate comes from `openssl`, the client is `curl`.
#[test]
fn serves_https_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .output();
    let has_curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok();
    let (Ok(made), true) = (made, has_curl) else {
        eprintln!("SKIPPED: the HTTPS test needs openssl and curl");
        return;
    };
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = common::free_port();
    let db = dir.path().join("tls.db");
    let mut child = std::process::Command::new(common::bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
        ])
        .arg(format!("sqlite://{}", db.display()))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-sk", "--max-time", "5"])
            .args(args)
            .output()
            .unwrap()
    };
    let base = format!("https://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if curl(&[&format!("{base}/health")]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let token = std::process::Command::new(common::bin())
        .args(["token", "--sub", "t", "--role", "system", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let headers = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{base}/fhir/Patient"),
    ]);
    let authed = curl(&[
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("{base}/fhir/Patient"),
    ]);
    let plain = curl(&[&format!("http://127.0.0.1:{port}/health")]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the HTTPS server did not come up");
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(headers.starts_with("http/1.1 401"), "{headers}");
    assert!(
        headers.contains("strict-transport-security: max-age=31536000"),
        "{headers}"
    );
    assert_eq!(String::from_utf8_lossy(&authed.stdout), "200");
    assert!(
        !plain.status.success() || plain.stdout.is_empty(),
        "plain HTTP was answered"
    );
}
