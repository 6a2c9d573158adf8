//! A small PKI made by the system `openssl` (with the GOST engine for GOST keys): root and
//! intermediate CAs issuing with `openssl ca`, revocation and CRLs with `-revoke`/`-gencrl`,
//! detached CMS signatures carrying the intermediates. Shared by the chain tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `openssl ca` configuration of one CA; `@DIR@` is its folder.
const CA_CONFIG: &str = "oid_section = new_oids
[new_oids]
INNLE = 1.2.643.100.4
[ca]
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
[not_ca_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[signer_ext]
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[crl_ext]
authorityKeyIdentifier = keyid:always
";

/// A key algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// GOST R 34.10-2012 256-bit, paramset A.
    Gost256,
    /// GOST R 34.10-2012 512-bit, paramset A.
    Gost512,
    /// ECDSA P-256.
    P256,
}

impl Kind {
    fn md(self) -> &'static str {
        match self {
            Kind::Gost256 => "md_gost12_256",
            Kind::Gost512 => "md_gost12_512",
            Kind::P256 => "sha256",
        }
    }
}

/// A key and its certificate; for a CA, its `openssl ca` folder.
pub struct Id {
    pub kind: Kind,
    pub key: PathBuf,
    pub cert: PathBuf,
    pub der: Vec<u8>,
    /// The CA folder (config, index, serial), for identities made as CAs.
    pub dir: PathBuf,
}

/// Validity of the tests' certificates that covers now.
pub const VALID: (&str, &str) = ("20240101000000Z", "20440101000000Z");

/// The scratch folder and a file counter.
pub struct Pki {
    dir: tempfile::TempDir,
    n: std::cell::Cell<u32>,
}

/// Whether the GOST engine is there; panics without it under `ZDRAV_REQUIRE_GOST=1`, and says
/// so loudly otherwise.
pub fn engine_or_skip() -> bool {
    let ok = Command::new("openssl")
        .args(["engine", "gost"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("ZDRAV_REQUIRE_GOST").as_deref() == Ok("1") {
            panic!("ZDRAV_REQUIRE_GOST=1 but the openssl gost engine is not installed (apt-get install libengine-gost-openssl)");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: openssl gost engine not installed ***\n"
        );
    }
    ok
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

impl Pki {
    /// A new scratch folder.
    pub fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("temp dir"),
            n: std::cell::Cell::new(0),
        }
    }

    /// A fresh path in the scratch folder.
    pub fn path(&self, stem: &str) -> PathBuf {
        self.n.set(self.n.get() + 1);
        self.dir.path().join(format!("{}-{stem}", self.n.get()))
    }

    /// Runs openssl (with the GOST engine loaded when `gost`); panics with its stderr on failure.
    pub fn run(&self, gost: bool, args: &[&str]) {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(self.dir.path());
        if gost {
            cmd.args(["-engine", "gost"]);
        }
        let out = cmd.output().expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether `openssl verify` accepts `leaf` under `root` with `untrusted` and `crls`.
    pub fn openssl_verifies(
        &self,
        root: &Id,
        untrusted: &[&Id],
        crls: &[&Path],
        leaf: &Id,
    ) -> bool {
        let bundle = self.path("untrusted.pem");
        let mut text = String::new();
        for u in untrusted {
            text.push_str(&std::fs::read_to_string(&u.cert).expect("read cert"));
        }
        std::fs::write(&bundle, text).expect("write bundle");
        let mut cmd = Command::new("openssl");
        cmd.args(["verify", "-engine", "gost", "-CAfile"])
            .arg(&root.cert);
        if !untrusted.is_empty() {
            cmd.arg("-untrusted").arg(&bundle);
        }
        if !crls.is_empty() {
            cmd.arg("-crl_check");
            for c in crls {
                cmd.arg("-CRLfile").arg(c);
            }
        }
        cmd.arg(&leaf.cert)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn key_and_request(&self, kind: Kind, subject: &str, cnf: &Path) -> (PathBuf, PathBuf) {
        let (key, csr) = (self.path("key.pem"), self.path("req.csr"));
        let (alg, opt) = match kind {
            Kind::P256 => ("EC", "ec_paramgen_curve:P-256"),
            Kind::Gost256 => ("gost2012_256", "paramset:A"),
            Kind::Gost512 => ("gost2012_512", "paramset:A"),
        };
        let gost = kind != Kind::P256;
        self.run(
            gost,
            &[
                "genpkey",
                "-algorithm",
                alg,
                "-pkeyopt",
                opt,
                "-out",
                &s(&key),
            ],
        );
        let md = format!("-{}", kind.md());
        self.run(
            gost,
            &[
                "req",
                "-config",
                &s(cnf),
                "-new",
                "-key",
                &s(&key),
                "-utf8",
                "-subj",
                subject,
                &md,
                "-out",
                &s(&csr),
            ],
        );
        (key, csr)
    }

    fn ca_folder(&self) -> (PathBuf, PathBuf) {
        let dir = self.path("ca");
        std::fs::create_dir(&dir).expect("ca folder");
        let cnf = dir.join("ca.cnf");
        std::fs::write(&cnf, CA_CONFIG.replace("@DIR@", &s(&dir))).expect("write ca.cnf");
        std::fs::write(dir.join("index.txt"), "").expect("index");
        std::fs::write(dir.join("serial"), format!("{:02X}\n", self.n.get() + 0x10))
            .expect("serial");
        std::fs::write(dir.join("crlnumber"), "01\n").expect("crlnumber");
        (dir, cnf)
    }

    fn finish(&self, kind: Kind, key: PathBuf, cert: PathBuf, dir: PathBuf) -> Id {
        let der_path = self.path("cert.der");
        self.run(
            false,
            &[
                "x509",
                "-in",
                &s(&cert),
                "-outform",
                "DER",
                "-out",
                &s(&der_path),
            ],
        );
        Id {
            kind,
            key,
            cert,
            der: std::fs::read(&der_path).expect("read DER"),
            dir,
        }
    }

    /// A self-signed root CA valid `dates`.
    pub fn root(&self, kind: Kind, subject: &str, dates: (&str, &str)) -> Id {
        let (dir, cnf) = self.ca_folder();
        let (key, csr) = self.key_and_request(kind, subject, &cnf);
        let cert = dir.join("ca.pem");
        self.run(
            kind != Kind::P256,
            &[
                "ca",
                "-batch",
                "-config",
                &s(&cnf),
                "-selfsign",
                "-keyfile",
                &s(&key),
                "-in",
                &s(&csr),
                "-extensions",
                "ca_ext",
                "-startdate",
                dates.0,
                "-enddate",
                dates.1,
                "-utf8",
                "-md",
                kind.md(),
                "-out",
                &s(&cert),
            ],
        );
        self.finish(kind, key, cert, dir)
    }

    /// A certificate issued by `ca` with extension section `ext` (`ca_ext`, `not_ca_ext`,
    /// `signer_ext`), valid `dates`; a CA folder is made for it too.
    pub fn issue(&self, ca: &Id, kind: Kind, subject: &str, ext: &str, dates: (&str, &str)) -> Id {
        let (dir, cnf) = self.ca_folder();
        let (key, csr) = self.key_and_request(kind, subject, &cnf);
        let cert = dir.join("ca.pem");
        self.run(
            ca.kind != Kind::P256 || kind != Kind::P256,
            &[
                "ca",
                "-batch",
                "-config",
                &s(&ca.dir.join("ca.cnf")),
                "-cert",
                &s(&ca.cert),
                "-keyfile",
                &s(&ca.key),
                "-in",
                &s(&csr),
                "-extensions",
                ext,
                "-startdate",
                dates.0,
                "-enddate",
                dates.1,
                "-utf8",
                "-md",
                ca.kind.md(),
                "-out",
                &s(&cert),
            ],
        );
        self.finish(kind, key, cert, dir)
    }

    /// Revokes `who` in `ca`'s database.
    pub fn revoke(&self, ca: &Id, who: &Id) {
        self.run(
            ca.kind != Kind::P256,
            &[
                "ca",
                "-config",
                &s(&ca.dir.join("ca.cnf")),
                "-cert",
                &s(&ca.cert),
                "-keyfile",
                &s(&ca.key),
                "-revoke",
                &s(&who.cert),
                "-md",
                ca.kind.md(),
            ],
        );
    }

    /// A PEM CRL of `ca`, valid `hours` from now; with the authorityKeyIdentifier if `aki`.
    pub fn crl(&self, ca: &Id, hours: u32, aki: bool) -> PathBuf {
        let out = self.path("crl.pem");
        let hours = hours.to_string();
        let mut args = vec!["ca", "-config"];
        let cnf = s(&ca.dir.join("ca.cnf"));
        let (cert, key, o) = (s(&ca.cert), s(&ca.key), s(&out));
        args.extend([
            cnf.as_str(),
            "-gencrl",
            "-cert",
            &cert,
            "-keyfile",
            &key,
            "-crlhours",
            &hours,
            "-md",
            ca.kind.md(),
            "-out",
            &o,
        ]);
        if aki {
            args.extend(["-crlexts", "crl_ext"]);
        }
        self.run(ca.kind != Kind::P256, &args);
        out
    }

    /// A detached DER CMS signature of `body` by `who`, carrying `chain` as extra certificates.
    pub fn sign(&self, who: &Id, chain: &[&Id], body: &[u8]) -> Vec<u8> {
        let (input, output, extra) = (
            self.path("body.bin"),
            self.path("sig.der"),
            self.path("chain.pem"),
        );
        std::fs::write(&input, body).expect("write body");
        let mut text = String::new();
        for c in chain {
            text.push_str(&std::fs::read_to_string(&c.cert).expect("read cert"));
        }
        std::fs::write(&extra, text).expect("write chain");
        let (i, o, c, k, e) = (s(&input), s(&output), s(&who.cert), s(&who.key), s(&extra));
        let mut args = vec![
            "cms",
            "-sign",
            "-binary",
            "-md",
            who.kind.md(),
            "-in",
            &i,
            "-signer",
            &c,
            "-inkey",
            &k,
            "-outform",
            "DER",
            "-out",
            &o,
        ];
        if !chain.is_empty() {
            args.extend(["-certfile", &e]);
        }
        self.run(who.kind != Kind::P256, &args);
        std::fs::read(&output).expect("read signature")
    }
}
