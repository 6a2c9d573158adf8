//! What every request meets before any FHIR rule: security headers, per-client rate limits,
//! tokens of an external issuer, and HTTPS.

mod common;

use common::{expect, refused, Server};

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
    let r = s.call("GET", "Patient", Some(&external), None);
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
            s.call("GET", "Patient", Some(&local), None)
                .status()
                .as_u16()
        })
        .collect();
    assert!(
        statuses.iter().filter(|c| **c == 200).count() >= 9,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = s.call("GET", "Patient", Some(&local), None);
    assert_eq!(r.headers()["retry-after"].to_str().unwrap(), "1");
    assert_eq!(refused(r, 429), "throttled");
    // Another client has its own budget.
    let other = s.token(&["--sub", "calm", "--role", "system"]);
    expect(s.call("GET", "Patient", Some(&other), None), 200);
    // Guessing tokens from one address is throttled too.
    let guesses: Vec<u16> = (0..20)
        .map(|_| {
            s.call("GET", "Patient", Some("x.y.z"), None)
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
