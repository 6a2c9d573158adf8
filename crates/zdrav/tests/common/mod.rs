//! End-to-end test support: starts the real `zdrav` binary on a free loopback port with a fresh
//! SQLite database and talks to it over HTTP. With `ZDRAV_TEST_BACKEND=postgres`, servers made by
//! [`Server::start_with`] get a fresh PostgreSQL database each instead (on the server of
//! `ZDRAV_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`), dropped with
//! the server; [`Server::start_on`] always takes a SQLite file.
#![allow(dead_code)]

pub mod remd;

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
    /// The `--database` URL the server runs on.
    pub database: String,
    pub port: u16,
    pub client: Client,
    _dir: Option<tempfile::TempDir>,
    /// Dropped after `Drop::drop` has killed the process, so the database is no longer in use.
    _pg: Option<zdrav_store::PgTestDatabase>,
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
        // On PostgreSQL `db` names no file, but its folder is still a scratch folder of the test.
        let db = dir.path().join("zdrav.db");
        let mut s = match postgres_database() {
            Some(pg) => {
                let mut s = Server::launch(pg.url(), &db, free_port(), extra);
                s._pg = Some(pg);
                s
            }
            None => Server::start_on(&db, free_port(), extra),
        };
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing database path and port.
    pub fn start_on(db: &Path, port: u16, extra: &[&str]) -> Server {
        Server::launch(&format!("sqlite://{}", db.display()), db, port, extra)
    }

    /// Starts a server on the `--database` URL `database`; `db` is its file, if any.
    fn launch(database: &str, db: &Path, port: u16, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--database".into(),
            database.to_owned(),
        ];
        // `--with-auth` (a test-only marker) starts the server with authentication on.
        if !extra.contains(&"--with-auth") {
            args.push("--no-auth".into());
        }
        args.extend(
            extra
                .iter()
                .filter(|s| **s != "--with-auth")
                .map(|s| s.to_string()),
        );
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
            database: database.to_owned(),
            port,
            client,
            _dir: None,
            _pg: None,
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token from `zdrav token --database <this server's> ARGS...`.
    pub fn token(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .args(["token", "--database", &self.database])
            .args(args)
            .output()
            .expect("run zdrav token");
        assert!(
            out.status.success(),
            "zdrav token {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `method path` with an optional bearer token and FHIR JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut r = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/fhir+json")
                .body(b.to_string());
        }
        r.send().unwrap()
    }

    /// Creates `Patient/{id}` for each id with `token` (test patients on an authenticated server).
    pub fn put_patients(&self, token: &str, ids: &[&str]) {
        for p in ids {
            let body = serde_json::json!({"resourceType": "Patient", "id": p});
            expect(
                self.call("PUT", &format!("Patient/{p}"), Some(token), Some(&body)),
                201,
            );
        }
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

    /// Kills the process with SIGKILL (no chance to flush anything). A PostgreSQL test database
    /// goes with it: nothing restarts on it, and a leaked `Server` is never dropped.
    /// Stops the server process and starts it again, with `extra` arguments, on the same
    /// database and port (the database, also a PostgreSQL one, is kept).
    pub fn restart(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut next = Server::launch(&self.database.clone(), &self.db.clone(), self.port, extra);
        next._dir = self._dir.take();
        next._pg = self._pg.take();
        *self = next;
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._pg = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database when `ZDRAV_TEST_BACKEND=postgres`, else `None`. Asked for
/// PostgreSQL, an unreachable server is a failure, not a skip.
fn postgres_database() -> Option<zdrav_store::PgTestDatabase> {
    if std::env::var("ZDRAV_TEST_BACKEND").ok().as_deref() != Some("postgres") {
        return None;
    }
    let admin = std::env::var("ZDRAV_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    match zdrav_store::PgTestDatabase::create(&admin) {
        Ok(db) => Some(db),
        Err(e) => {
            panic!("ZDRAV_TEST_BACKEND=postgres but PostgreSQL is not usable at {admin}: {e}")
        }
    }
}

/// The response body as JSON.
/// Polls a bulk export's status URL until the job has ended; returns that last answer (200
/// with the manifest, or the job's failure). Every answer while it runs is a 202 with progress.
pub fn export_ended(s: &Server, status: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = s.client.get(status).send().unwrap();
        if r.status().as_u16() != 202 {
            return r;
        }
        assert!(r.headers().contains_key("x-progress"));
        assert!(r.headers().contains_key("retry-after"));
        assert!(Instant::now() < deadline, "export did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
}

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

/// Asserts an OperationOutcome with `status`; returns its first issue's code.
pub fn refused(r: Response, status: u16) -> String {
    let body = expect(r, status);
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
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
