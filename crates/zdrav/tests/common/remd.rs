//! РЭМД test support: OpenSSL as an independent signer (ECDSA P-256, and GOST R 34.10-2012
//! with the GOST engine), self-signed or under a CA chain made with `openssl ca` (with
//! revocation and CRLs), and registration transactions of signed documents.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};

/// The НСИ dictionary of document kinds.
pub const KINDS: &str = "urn:oid:1.2.643.5.1.13.13.11.1522";

/// `openssl ca` configuration: self-signed certificates with chosen dates and Russian subject
/// attributes (a policy without the fields would drop them).
const CA_CONFIG: &str = "[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = default
policy = policy_any
x509_extensions = v3
unique_subject = no
[policy_any]
SNILS = optional
OGRN = optional
commonName = optional
[v3]
keyUsage = critical, digitalSignature, nonRepudiation
[req]
distinguished_name = dn
[dn]
";

/// The signature algorithm of a signer.
#[derive(Clone, Copy)]
pub enum Kind {
    /// ECDSA P-256 with SHA-256.
    P256,
    /// GOST R 34.10-2012, 256-bit key, Streebog-256.
    Gost256,
    /// GOST R 34.10-2012, 512-bit key, Streebog-512.
    Gost512,
}

/// `openssl ca` configuration of one CA of a chain; `@DIR@` is its own folder, so that each CA
/// keeps its own database (what it issued and revoked) and CRL numbers.
const CHAIN_CONFIG: &str = "[ca]
default_ca = ca_default
[ca_default]
dir = @DIR@
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = default
default_crl_days = 30
policy = policy_any
unique_subject = no
[policy_any]
SNILS = optional
OGRN = optional
commonName = optional
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[signer_ext]
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[crl_ext]
authorityKeyIdentifier = keyid:always
";

/// A key and its certificate (self-signed, or issued by a [`Ca`]).
pub struct Signer {
    key: PathBuf,
    /// The certificate, PEM.
    pub cert: PathBuf,
    kind: Kind,
    /// Certificates the signature carries besides the signer's (the intermediates), PEM.
    chain: Vec<PathBuf>,
}

/// A certification centre made with `openssl ca`, with its own folder.
pub struct Ca {
    key: PathBuf,
    /// Its certificate, PEM: what `--trusted-ca` takes for a root.
    pub cert: PathBuf,
    kind: Kind,
    dir: PathBuf,
    /// Its certificate and those above it up to the root excluded, for signatures to carry.
    chain: Vec<PathBuf>,
}

fn md(kind: Kind) -> &'static str {
    match kind {
        Kind::P256 => "sha256",
        Kind::Gost256 => "md_gost12_256",
        Kind::Gost512 => "md_gost12_512",
    }
}

fn engine(kinds: &[Kind]) -> &'static [&'static str] {
    if kinds.iter().all(|k| matches!(k, Kind::P256)) {
        &[]
    } else {
        &["-engine", "gost"]
    }
}

/// OpenSSL as an independent signer, working in a scratch folder.
pub struct Openssl {
    dir: tempfile::TempDir,
    n: std::cell::Cell<u32>,
}

/// Whether the OpenSSL GOST engine is installed (mandatory with `ZDRAV_REQUIRE_GOST=1`).
pub fn gost_engine() -> bool {
    let ok = Command::new("openssl")
        .args(["engine", "gost"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("ZDRAV_REQUIRE_GOST").as_deref() == Ok("1") {
        panic!("ZDRAV_REQUIRE_GOST=1 but the openssl gost engine is not installed");
    }
    ok
}

impl Openssl {
    pub fn new() -> Openssl {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.cnf"), CA_CONFIG).unwrap();
        std::fs::write(dir.path().join("index.txt"), "").unwrap();
        std::fs::write(dir.path().join("serial"), "01\n").unwrap();
        Openssl {
            dir,
            n: std::cell::Cell::new(0),
        }
    }

    /// A new file name in the scratch folder.
    pub fn path(&self, stem: &str) -> PathBuf {
        self.n.set(self.n.get() + 1);
        self.dir.path().join(format!("{}-{stem}", self.n.get()))
    }

    /// Runs `openssl ARGS` in the scratch folder; it must succeed.
    pub fn run(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A key and a self-signed certificate for `subject`, valid from `start` to `end`
    /// (YYYYMMDDHHMMSSZ).
    pub fn signer(&self, kind: Kind, subject: &str, start: &str, end: &str) -> Signer {
        let (key, csr, cert) = (self.path("key.pem"), self.path("r.csr"), self.path("c.pem"));
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let (alg, opt, md): (&str, &str, &str) = match kind {
            Kind::P256 => ("EC", "ec_paramgen_curve:P-256", "-sha256"),
            Kind::Gost256 => ("gost2012_256", "paramset:A", "-md_gost12_256"),
            Kind::Gost512 => ("gost2012_512", "paramset:A", "-md_gost12_512"),
        };
        let engine: &[&str] = match kind {
            Kind::P256 => &[],
            _ => &["-engine", "gost"],
        };
        let (k, c, r) = (s(&key), s(&cert), s(&csr));
        let mut a = vec!["genpkey"];
        a.extend(engine);
        a.extend(["-algorithm", alg, "-pkeyopt", opt, "-out", &k]);
        self.run(&a);
        let mut a = vec![
            "req", "-config", "ca.cnf", "-new", "-key", &k, "-utf8", "-subj", subject, md, "-out",
            &r,
        ];
        a.extend(engine);
        self.run(&a);
        let mut a = vec![
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            &k,
            "-in",
            &r,
            "-startdate",
            start,
            "-enddate",
            end,
            "-utf8",
            "-md",
            &md[1..],
            "-out",
            &c,
        ];
        a.extend(engine);
        self.run(&a);
        Signer {
            key,
            cert,
            kind,
            chain: Vec::new(),
        }
    }

    /// A key and a certificate request for `subject`, made with `cnf`.
    fn key_and_request(&self, kind: Kind, subject: &str, cnf: &str) -> (PathBuf, PathBuf) {
        let (key, csr) = (self.path("key.pem"), self.path("r.csr"));
        let (alg, opt) = match kind {
            Kind::P256 => ("EC", "ec_paramgen_curve:P-256"),
            Kind::Gost256 => ("gost2012_256", "paramset:A"),
            Kind::Gost512 => ("gost2012_512", "paramset:A"),
        };
        let (k, r) = (
            key.to_str().unwrap().to_string(),
            csr.to_str().unwrap().to_string(),
        );
        let mut a = vec!["genpkey", "-algorithm", alg, "-pkeyopt", opt, "-out", &k];
        a.extend(engine(&[kind]));
        self.run(&a);
        let md = format!("-{}", md(kind));
        let mut a = vec![
            "req", "-config", cnf, "-new", "-key", &k, "-utf8", "-subj", subject, &md, "-out", &r,
        ];
        a.extend(engine(&[kind]));
        self.run(&a);
        (key, csr)
    }

    /// A new CA folder with its configuration, empty database and serial.
    fn ca_folder(&self) -> (PathBuf, String) {
        let dir = self.path("ca");
        std::fs::create_dir(&dir).unwrap();
        let cnf = dir.join("ca.cnf");
        let d = dir.to_str().unwrap();
        std::fs::write(&cnf, CHAIN_CONFIG.replace("@DIR@", d)).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        // Distinct serials across CAs, so a CRL never names another CA's certificate by chance.
        std::fs::write(dir.join("serial"), format!("{:04X}\n", self.n.get() * 16)).unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        (dir, cnf.to_str().unwrap().to_string())
    }

    /// A self-signed root CA, valid [`VALID`].
    pub fn root(&self, kind: Kind, subject: &str) -> Ca {
        let (dir, cnf) = self.ca_folder();
        let (key, csr) = self.key_and_request(kind, subject, &cnf);
        let cert = dir.join("ca.pem");
        let (k, r, c) = (
            key.to_str().unwrap(),
            csr.to_str().unwrap(),
            cert.to_str().unwrap(),
        );
        let mut a = vec![
            "ca",
            "-batch",
            "-config",
            &cnf,
            "-selfsign",
            "-keyfile",
            k,
            "-in",
            r,
            "-extensions",
            "ca_ext",
            "-startdate",
            VALID.0,
            "-enddate",
            VALID.1,
            "-utf8",
            "-md",
            md(kind),
            "-out",
            c,
        ];
        a.extend(engine(&[kind]));
        self.run(&a);
        Ca {
            key,
            cert,
            kind,
            dir,
            chain: Vec::new(),
        }
    }

    /// Issues a certificate for a new `kind` key of `subject` with `ca`, valid [`VALID`]; `ext`
    /// is `ca_ext` (an intermediate CA) or `signer_ext`. Returns the key, certificate and folder.
    fn issue(&self, ca: &Ca, kind: Kind, subject: &str, ext: &str) -> (PathBuf, PathBuf, PathBuf) {
        let (dir, cnf) = self.ca_folder();
        let (key, csr) = self.key_and_request(kind, subject, &cnf);
        let cert = dir.join("ca.pem");
        let ca_cnf = ca.dir.join("ca.cnf");
        let (r, c) = (csr.to_str().unwrap(), cert.to_str().unwrap());
        let mut a = vec![
            "ca",
            "-batch",
            "-config",
            ca_cnf.to_str().unwrap(),
            "-cert",
            ca.cert.to_str().unwrap(),
            "-keyfile",
            ca.key.to_str().unwrap(),
            "-in",
            r,
            "-extensions",
            ext,
            "-startdate",
            VALID.0,
            "-enddate",
            VALID.1,
            "-utf8",
            "-md",
            md(ca.kind),
            "-out",
            c,
        ];
        a.extend(engine(&[ca.kind, kind]));
        self.run(&a);
        (key, cert, dir)
    }

    /// An intermediate CA issued by `ca`.
    pub fn intermediate(&self, ca: &Ca, kind: Kind, subject: &str) -> Ca {
        let (key, cert, dir) = self.issue(ca, kind, subject, "ca_ext");
        let mut chain = vec![cert.clone()];
        chain.extend(ca.chain.iter().cloned());
        Ca {
            key,
            cert,
            kind,
            dir,
            chain,
        }
    }

    /// A signer whose certificate `ca` issues; its signatures carry `ca`'s chain.
    pub fn signer_of(&self, ca: &Ca, kind: Kind, subject: &str) -> Signer {
        let (key, cert, _) = self.issue(ca, kind, subject, "signer_ext");
        Signer {
            key,
            cert,
            kind,
            chain: ca.chain.clone(),
        }
    }

    /// The author's (СНИЛС) and the clinic's (ОГРН) identities issued by `ca`.
    pub fn author_and_clinic_of(&self, ca: &Ca, doctor: Kind, clinic: Kind) -> (Signer, Signer) {
        (
            self.signer_of(ca, doctor, "/SNILS=11223344595/CN=Иванов Иван"),
            self.signer_of(ca, clinic, "/OGRN=1027700132195/CN=ГБУЗ ГП 1"),
        )
    }

    /// Revokes `who` in `ca`'s database and returns `ca`'s new CRL (PEM, 30 days).
    pub fn revoke(&self, ca: &Ca, who: &Signer) -> PathBuf {
        let cnf = ca.dir.join("ca.cnf");
        let (cnf, cert, key) = (
            cnf.to_str().unwrap(),
            ca.cert.to_str().unwrap(),
            ca.key.to_str().unwrap(),
        );
        let mut a = vec![
            "ca",
            "-config",
            cnf,
            "-cert",
            cert,
            "-keyfile",
            key,
            "-revoke",
            who.cert.to_str().unwrap(),
            "-md",
            md(ca.kind),
        ];
        a.extend(engine(&[ca.kind]));
        self.run(&a);
        self.crl(ca)
    }

    /// `ca`'s current CRL (PEM, 30 days, with its authorityKeyIdentifier).
    pub fn crl(&self, ca: &Ca) -> PathBuf {
        let out = self.path("crl.pem");
        let cnf = ca.dir.join("ca.cnf");
        let mut a = vec![
            "ca",
            "-config",
            cnf.to_str().unwrap(),
            "-gencrl",
            "-cert",
            ca.cert.to_str().unwrap(),
            "-keyfile",
            ca.key.to_str().unwrap(),
            "-crlexts",
            "crl_ext",
            "-md",
            md(ca.kind),
            "-out",
            out.to_str().unwrap(),
        ];
        a.extend(engine(&[ca.kind]));
        self.run(&a);
        out
    }

    /// The author's (СНИЛС 112-233-445 95) and the clinic's (ОГРН 1027700132195) identities,
    /// valid now.
    pub fn author_and_clinic(&self, doctor: Kind, clinic: Kind) -> (Signer, Signer) {
        (
            self.signer(
                doctor,
                "/SNILS=11223344595/CN=Иванов Иван",
                VALID.0,
                VALID.1,
            ),
            self.signer(clinic, "/OGRN=1027700132195/CN=ГБУЗ ГП 1", VALID.0, VALID.1),
        )
    }

    /// The author's and the clinic's signatures of `body`, with their Provenance agents.
    pub fn both(
        &self,
        doctor: &Signer,
        clinic: &Signer,
        body: &[u8],
    ) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("Practitioner/doc1", self.sign(doctor, body)),
            ("Organization/org1", self.sign(clinic, body)),
        ]
    }

    /// A detached CMS signature (DER) of `body`.
    pub fn sign(&self, who: &Signer, body: &[u8]) -> Vec<u8> {
        let (input, out) = (self.path("body.bin"), self.path("sig.der"));
        std::fs::write(&input, body).unwrap();
        let md = md(who.kind);
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let (i, o, c, k) = (s(&input), s(&out), s(&who.cert), s(&who.key));
        let mut a = vec![
            "cms", "-sign", "-binary", "-md", md, "-in", &i, "-signer", &c, "-inkey", &k,
            "-outform", "DER", "-out", &o,
        ];
        // The intermediates travel in the signature, as CryptoPro and OpenSSL send them.
        let extra = self.path("chain.pem");
        let e = s(&extra);
        if !who.chain.is_empty() {
            let mut pem = String::new();
            for c in &who.chain {
                pem.push_str(&std::fs::read_to_string(c).unwrap());
            }
            std::fs::write(&extra, pem).unwrap();
            a.extend(["-certfile", &e]);
        }
        if !matches!(who.kind, Kind::P256) {
            a.extend(["-engine", "gost"]);
        }
        self.run(&a);
        std::fs::read(&out).unwrap()
    }
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// SHA-1, base64: `Attachment.hash`.
pub fn sha1_b64(bytes: &[u8]) -> String {
    use sha1::Digest;
    b64(&sha1::Sha1::digest(bytes))
}

/// Who a registered document is about and by, and its date.
pub struct Parties<'a> {
    /// `Patient/<id>`.
    pub patient: &'a str,
    /// The author, `Practitioner/<id>`.
    pub author: &'a str,
    /// The custodian, `Organization/<id>`.
    pub custodian: &'a str,
    /// `DocumentReference.date`.
    pub date: &'a str,
}

/// Patient/p1's document by Practitioner/doc1 of Organization/org1.
pub const DEFAULT_PARTIES: Parties<'static> = Parties {
    patient: "Patient/p1",
    author: "Practitioner/doc1",
    custodian: "Organization/org1",
    date: "2026-11-23T10:00:00+03:00",
};

/// A registration transaction: body `Binary/<n>-body`, `DocumentReference/<n>`, one
/// Provenance per (agent, signature), for [`DEFAULT_PARTIES`].
pub fn registration(
    n: &str,
    body: &[u8],
    signed: &[(&str, Vec<u8>)],
    replaces: Option<&str>,
) -> Value {
    registration_for(n, body, signed, replaces, &DEFAULT_PARTIES)
}

/// [`registration`] of a document of `parties`.
pub fn registration_for(
    n: &str,
    body: &[u8],
    signed: &[(&str, Vec<u8>)],
    replaces: Option<&str>,
    parties: &Parties,
) -> Value {
    let mut doc = json!({"resourceType": "DocumentReference", "id": n, "status": "current",
        "type": {"coding": [{"system": KINDS, "code": "7", "display": "Протокол лабораторного исследования"}]},
        "subject": {"reference": parties.patient}, "date": parties.date,
        "author": [{"reference": parties.author}], "custodian": {"reference": parties.custodian},
        "content": [{"attachment": {"contentType": "application/pdf", "url": format!("Binary/{n}-body"),
            "size": body.len(), "hash": sha1_b64(body)}}]});
    if let Some(old) = replaces {
        doc["relatesTo"] = json!([{"code": "replaces", "target": {"reference": format!("DocumentReference/{old}")}}]);
    }
    let mut entries = vec![
        json!({"resource": {"resourceType": "Binary", "id": format!("{n}-body"), "contentType": "application/pdf", "data": b64(body)},
               "request": {"method": "PUT", "url": format!("Binary/{n}-body")}}),
        json!({"resource": doc, "request": {"method": "PUT", "url": format!("DocumentReference/{n}")}}),
    ];
    for (k, (agent, der)) in signed.iter().enumerate() {
        let id = format!("{n}-sig{k}");
        entries.push(json!({"resource": {"resourceType": "Provenance", "id": id,
            "target": [{"reference": format!("DocumentReference/{n}")}], "recorded": "2026-11-23T10:00:00+03:00",
            "agent": [{"who": {"reference": agent}}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": "2026-11-23T10:00:00+03:00", "who": {"reference": agent},
                "sigFormat": "application/pkcs7-signature", "data": b64(der)}]},
            "request": {"method": "PUT", "url": format!("Provenance/{id}")}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// A validity period of certificates that covers now.
pub const VALID: (&str, &str) = ("20250101000000Z", "20350101000000Z");

/// The clinic with its ОГРН (`Organization/org1`), the patient attached to it (`Patient/p1`)
/// and the author with their СНИЛС (`Practitioner/doc1`), as the default signers name them;
/// `token` for a server with authentication.
pub fn clinic(s: &super::Server, token: Option<&str>) {
    let put = |path: &str, body: Value| super::expect(s.call("PUT", path, token, Some(&body)), 201);
    put(
        "Organization/org1",
        json!({"resourceType": "Organization", "id": "org1", "name": "ГБУЗ ГП 1",
        "identifier": [{"system": "urn:identity:ogrn", "value": "1027700132195"}]}),
    );
    put(
        "Patient/p1",
        json!({"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/org1"}}),
    );
    put(
        "Practitioner/doc1",
        json!({"resourceType": "Practitioner", "id": "doc1",
        "identifier": [{"system": "urn:identity:snils:Practitioner", "value": "112-233-445 95"}]}),
    );
}

/// A practitioner's token on `s`: `Practitioner/<id>` of `Organization/<org>`.
pub fn practitioner_token(s: &super::Server, id: &str, org: &str) -> String {
    s.token(&[
        "--sub",
        id,
        "--role",
        "practitioner",
        "--practitioner",
        &format!("Practitioner/{id}"),
        "--org",
        &format!("Organization/{org}"),
    ])
}
