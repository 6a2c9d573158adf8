//! End-to-end test support: starts the real `zdrav` binary on a free loopback port with a fresh
//! SQLite database and talks to it over HTTP.
#![allow(dead_code)]

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub root: String,
    pub db: PathBuf,
    pub port: u16,
    pub client: Client,
    _dir: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_zdrav")
}

impl Server {
    /// Starts a server on a new temporary database.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra `serve` arguments.
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("zdrav.db");
        let mut s = Server::start_on(&db, free_port(), extra);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing database path and port.
    pub fn start_on(db: &Path, port: u16, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--database".into(),
            format!("sqlite://{}", db.display()),
            "--no-auth".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(bin())
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start zdrav");
        let root = format!("http://127.0.0.1:{port}");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let s = Server {
            child,
            base: format!("{root}/fhir"),
            root,
            db: db.to_path_buf(),
            port,
            client,
            _dir: None,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = self.client.get(format!("{}/health", self.root)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("zdrav did not become ready on port {}", self.port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().unwrap()
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    pub fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().unwrap()
    }

    /// Sends raw bytes with a method and content type.
    pub fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Response {
        self.client
            .request(method.parse().unwrap(), self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap()
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The response body as JSON.
pub fn json(r: Response) -> Value {
    let text = r.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts a status and returns the body.
pub fn expect(r: Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// Path of the shared folder (../shared beside the repository), if present.
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.is_dir() {
        Some(p)
    } else {
        assert!(
            std::env::var("ZDRAV_REQUIRE_SHARED").is_err(),
            "ZDRAV_REQUIRE_SHARED is set but ../shared is missing"
        );
        eprintln!("SKIPPED: ../shared is not beside the repository");
        None
    }
}

/// Reads a possibly gzipped file.
pub fn read_gz(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}
