//! The built-in SMART on FHIR authorization server, end to end: a standalone launch with PKCE,
//! its refusals, and `client_credentials` for a confidential system client.

mod common;

use common::{expect, refused, Server};
use serde_json::{json, Value};

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
    s.put_patients(&system, &["p1", "p2"]);
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
    expect(s.call("GET", "Patient/p1", Some(access), None), 200);
    refused(s.call("GET", "Patient/p2", Some(access), None), 404);
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
    expect(s.call("GET", "Observation", Some(sys_token), None), 200);
    refused(s.call("GET", "Patient/p1", Some(sys_token), None), 403);
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
