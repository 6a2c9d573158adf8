//! The system `openssl` with the GOST engine as an independent oracle: it makes keys,
//! self-signed certificates and detached CMS signatures, and `verify_detached` must agree with it.
//!
//! Needs `openssl` (3.x) and, for GOST, the Debian package `libengine-gost-openssl`. Without the
//! engine every test prints "SKIPPED: openssl gost engine not installed" and passes, unless
//! `ZDRAV_REQUIRE_GOST=1` is set (CI), in which case it fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use zdrav_gost::{verify_detached, Algorithm, Error};

/// The document body: non-ASCII text, CRLF and bytes that are not UTF-8, signed with `-binary`.
const BODY: &[u8] = b"\xd0\x9f\xd1\x80\xd0\xbe\xd1\x82\xd0\xbe\xd0\xba\xd0\xbe\xd0\xbb \xe2\x84\x96 9\r\nline\n\x00\xff\xfe end";

/// `req` configuration: the short name INNLE (unknown to OpenSSL 3.0) and a signing certificate's
/// extensions, so the tests do not depend on the system openssl.cnf.
const REQ_CONFIG: &str = "oid_section = new_oids
[new_oids]
INNLE = 1.2.643.100.4
[req]
distinguished_name = dn
x509_extensions = v3
[dn]
[v3]
subjectKeyIdentifier = hash
keyUsage = critical, digitalSignature, nonRepudiation
";

const GOST_SUBJECT: &str = "/SNILS=11223344595/OGRN=1027700132195/INN=007707083893\
    /INNLE=7707083893/CN=Иванов Иван Иванович/SN=Иванов/GN=Иван Иванович";
/// Subject given by OIDs (no GOST engine involved).
const OID_SUBJECT: &str = "/1.2.643.100.3=11223344595/1.2.643.100.1=1027700132195\
    /CN=Петров Пётр/SN=Петров";

/// A kind of key openssl generates.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// gost2012_256 with this engine paramset (A, B, C, XA, XB, TCA, TCB, TCC, TCD).
    Gost256(&'static str),
    /// gost2012_512 with this engine paramset (A, B, C).
    Gost512(&'static str),
    /// EC P-256, no engine.
    P256,
}

impl Kind {
    fn algorithm(self) -> Algorithm {
        match self {
            Kind::Gost256(_) => Algorithm::Gost256,
            Kind::Gost512(_) => Algorithm::Gost512,
            Kind::P256 => Algorithm::EcdsaP256,
        }
    }
    /// The `-md` for `openssl cms` (`req` takes it with a leading dash).
    fn md(self) -> &'static str {
        match self {
            Kind::Gost256(_) => "md_gost12_256",
            Kind::Gost512(_) => "md_gost12_512",
            Kind::P256 => "sha256",
        }
    }
    fn engine(self) -> &'static [&'static str] {
        match self {
            Kind::P256 => &[],
            _ => &["-engine", "gost"],
        }
    }
}

/// A generated key and its self-signed certificate.
struct Identity {
    kind: Kind,
    key: PathBuf,
    cert: PathBuf,
    cert_der: Vec<u8>,
}

struct Oracle {
    dir: tempfile::TempDir,
    files: std::cell::Cell<u32>,
}

fn engine_available() -> bool {
    Command::new("openssl")
        .args(["engine", "gost"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Oracle {
    /// `None` (after a loud notice) when the GOST engine is missing and not required.
    fn new() -> Option<Oracle> {
        if !engine_available() {
            if std::env::var("ZDRAV_REQUIRE_GOST").as_deref() == Ok("1") {
                panic!("ZDRAV_REQUIRE_GOST=1 but the openssl gost engine is not installed (apt-get install libengine-gost-openssl)");
            }
            // Straight to stderr, past the test harness's output capture.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: openssl gost engine not installed ***\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("req.cnf"), REQ_CONFIG).expect("write req.cnf");
        Some(Oracle {
            dir,
            files: std::cell::Cell::new(0),
        })
    }

    fn path(&self, stem: &str) -> PathBuf {
        let n = self.files.get() + 1;
        self.files.set(n);
        self.dir.path().join(format!("{n}-{stem}"))
    }

    /// Runs openssl; panics with its stderr on failure.
    fn run(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn identity(&self, kind: Kind, subject: &str, serial: u32) -> Identity {
        let key = self.path("key.pem");
        let cert = self.path("cert.pem");
        let der = self.path("cert.der");
        let key_s = key.to_str().expect("utf-8 path");
        let mut gen: Vec<&str> = vec!["genpkey"];
        gen.extend(kind.engine());
        let paramset;
        match kind {
            Kind::Gost256(ps) | Kind::Gost512(ps) => {
                let alg = if matches!(kind, Kind::Gost256(_)) {
                    "gost2012_256"
                } else {
                    "gost2012_512"
                };
                paramset = format!("paramset:{ps}");
                gen.extend(["-algorithm", alg, "-pkeyopt", &paramset]);
            }
            Kind::P256 => gen.extend(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        }
        gen.extend(["-out", key_s]);
        self.run(&gen);
        let md = format!("-{}", kind.md());
        let serial = serial.to_string();
        let mut req: Vec<&str> = vec!["req", "-config", "req.cnf", "-new", "-x509"];
        req.extend(kind.engine());
        req.extend(["-key", key_s, "-days", "365", "-utf8", "-subj", subject]);
        req.extend([
            "-set_serial",
            &serial,
            &md,
            "-out",
            cert.to_str().expect("utf-8 path"),
        ]);
        self.run(&req);
        let mut x509: Vec<&str> = vec!["x509"];
        x509.extend(kind.engine());
        x509.extend(["-in", cert.to_str().expect("path"), "-outform", "DER"]);
        x509.extend(["-out", der.to_str().expect("path")]);
        self.run(&x509);
        let cert_der = std::fs::read(&der).expect("read cert DER");
        Identity {
            kind,
            key,
            cert,
            cert_der,
        }
    }

    /// A detached DER CMS signature of `body` by every identity (same digest for all).
    fn sign(&self, ids: &[&Identity], body: &[u8], extra: &[&str]) -> Vec<u8> {
        let input = self.path("body.bin");
        let output = self.path("sig.der");
        std::fs::write(&input, body).expect("write body");
        let mut args: Vec<&str> = vec!["cms", "-sign", "-binary"];
        args.extend(ids[0].kind.engine());
        args.extend([
            "-md",
            ids[0].kind.md(),
            "-in",
            input.to_str().expect("path"),
        ]);
        for id in ids {
            args.extend(["-signer", id.cert.to_str().expect("path")]);
            args.extend(["-inkey", id.key.to_str().expect("path")]);
        }
        args.extend(extra);
        args.extend(["-outform", "DER", "-out", output.to_str().expect("path")]);
        self.run(&args);
        std::fs::read(&output).expect("read signature")
    }

    /// Whether `openssl cms -verify` accepts the signature (certificates trusted as given).
    fn openssl_accepts(&self, sig: &[u8], body: &[u8]) -> bool {
        let sig_path = self.path("check.der");
        let body_path = self.path("check.bin");
        std::fs::write(&sig_path, sig).expect("write");
        std::fs::write(&body_path, body).expect("write");
        Command::new("openssl")
            .args([
                "cms",
                "-verify",
                "-binary",
                "-engine",
                "gost",
                "-noverify",
                "-inform",
                "DER",
            ])
            .arg("-in")
            .arg(&sig_path)
            .arg("-content")
            .arg(&body_path)
            .args(["-out", "/dev/null"])
            .current_dir(self.dir.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

fn tampered() -> Vec<u8> {
    let mut body = BODY.to_vec();
    body[3] ^= 0x01;
    body
}

/// Signs with `kind`, checks acceptance, the reported subject, and refusal of a changed body.
fn round_trip(oracle: &Oracle, kind: Kind, extra: &[&str]) {
    let subject = if matches!(kind, Kind::P256) {
        OID_SUBJECT
    } else {
        GOST_SUBJECT
    };
    let id = oracle.identity(kind, subject, 1001);
    let sig = oracle.sign(&[&id], BODY, extra);
    assert!(
        oracle.openssl_accepts(&sig, BODY),
        "{kind:?}: openssl accepts its own signature"
    );
    let signers =
        verify_detached(&sig, BODY).unwrap_or_else(|e| panic!("{kind:?} {extra:?}: rejected: {e}"));
    assert_eq!(signers.len(), 1);
    let s = &signers[0];
    assert_eq!(s.algorithm, kind.algorithm(), "{kind:?}");
    assert_eq!(s.subject_snils.as_deref(), Some("11223344595"));
    assert_eq!(s.subject_ogrn.as_deref(), Some("1027700132195"));
    assert_eq!(
        s.certificate_der, id.cert_der,
        "reported certificate is the signer's"
    );
    assert_eq!(s.not_after - s.not_before, 365 * 86_400);
    let with_attrs = !extra.contains(&"-noattr");
    assert_eq!(s.signing_time.is_some(), with_attrs);

    // A key that verifies again and again gets a comb (`comb.rs`); the same answers must come
    // through it, for the valid signature and, below, for the changed body.
    for _ in 0..40 {
        assert_eq!(
            verify_detached(&sig, BODY).map(|s| s.len()),
            Ok(1),
            "{kind:?} {extra:?}: a busy key"
        );
    }

    let bad = tampered();
    assert!(
        !oracle.openssl_accepts(&sig, &bad),
        "{kind:?}: openssl refuses a changed body"
    );
    let expected = if with_attrs {
        Error::DigestMismatch
    } else {
        Error::BadSignature
    };
    assert_eq!(
        verify_detached(&sig, &bad),
        Err(expected),
        "{kind:?} {extra:?}"
    );
}

#[test]
fn gost_256_every_paramset() {
    let Some(oracle) = Oracle::new() else { return };
    for ps in ["A", "B", "C", "XA", "XB", "TCA", "TCB", "TCC", "TCD"] {
        round_trip(&oracle, Kind::Gost256(ps), &[]);
    }
}

#[test]
fn gost_512_every_paramset() {
    let Some(oracle) = Oracle::new() else { return };
    for ps in ["A", "B", "C"] {
        round_trip(&oracle, Kind::Gost512(ps), &[]);
    }
}

#[test]
fn ecdsa_p256() {
    let Some(oracle) = Oracle::new() else { return };
    round_trip(&oracle, Kind::P256, &[]);
}

#[test]
fn without_signed_attributes() {
    let Some(oracle) = Oracle::new() else { return };
    for kind in [Kind::Gost256("A"), Kind::Gost512("A"), Kind::P256] {
        round_trip(&oracle, kind, &["-noattr"]);
    }
}

#[test]
fn signer_named_by_subject_key_identifier() {
    let Some(oracle) = Oracle::new() else { return };
    for kind in [Kind::Gost256("TCA"), Kind::Gost512("C"), Kind::P256] {
        round_trip(&oracle, kind, &["-keyid"]);
    }
}

#[test]
fn reports_every_subject_field() {
    let Some(oracle) = Oracle::new() else { return };
    let id = oracle.identity(Kind::Gost256("A"), GOST_SUBJECT, 5);
    let sig = oracle.sign(&[&id], BODY, &[]);
    let s = verify_detached(&sig, BODY).expect("verifies").remove(0);
    assert_eq!(s.subject_snils.as_deref(), Some("11223344595"));
    assert_eq!(s.subject_ogrn.as_deref(), Some("1027700132195"));
    assert_eq!(s.subject_inn.as_deref(), Some("007707083893"));
    assert_eq!(s.subject_inn_le.as_deref(), Some("7707083893"));
    assert_eq!(s.common_name.as_deref(), Some("Иванов Иван Иванович"));
    assert_eq!(s.surname.as_deref(), Some("Иванов"));
    assert_eq!(s.given_name.as_deref(), Some("Иван Иванович"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let signed_at = s.signing_time.expect("openssl writes signingTime");
    assert!((signed_at - now).abs() < 3600, "signingTime is now");
    assert!(s.not_before <= signed_at && signed_at <= s.not_after);
}

#[test]
fn two_signers_both_reported() {
    let Some(oracle) = Oracle::new() else { return };
    let a = oracle.identity(Kind::Gost256("A"), GOST_SUBJECT, 1);
    let b = oracle.identity(Kind::Gost256("TCA"), "/SNILS=08765430300/CN=Сидорова", 2);
    let sig = oracle.sign(&[&a, &b], BODY, &[]);
    let signers = verify_detached(&sig, BODY).expect("both verify");
    let mut snils: Vec<_> = signers
        .iter()
        .filter_map(|s| s.subject_snils.clone())
        .collect();
    snils.sort();
    assert_eq!(snils, ["08765430300", "11223344595"]);
    assert_eq!(
        verify_detached(&sig, &tampered()),
        Err(Error::DigestMismatch)
    );
}

/// Replaces the signer's certificate inside the CMS by another one with the same issuer,
/// serial and length but a different key: the signature must then fail.
#[test]
fn certificate_of_another_key_is_refused() {
    let Some(oracle) = Oracle::new() else { return };
    for kind in [Kind::Gost256("A"), Kind::Gost512("A"), Kind::P256] {
        let subject = if matches!(kind, Kind::P256) {
            OID_SUBJECT
        } else {
            GOST_SUBJECT
        };
        let real = oracle.identity(kind, subject, 77);
        let sig = oracle.sign(&[&real], BODY, &[]);
        // ECDSA certificate signatures vary in DER length: try until one matches.
        let other = (0..40)
            .map(|_| oracle.identity(kind, subject, 77))
            .find(|o| o.cert_der.len() == real.cert_der.len())
            .expect("a same-length certificate");
        let at = sig
            .windows(real.cert_der.len())
            .position(|w| w == real.cert_der.as_slice())
            .expect("certificate embedded in the CMS");
        let mut swapped = sig.clone();
        swapped[at..at + other.cert_der.len()].copy_from_slice(&other.cert_der);
        assert!(
            !oracle.openssl_accepts(&swapped, BODY),
            "{kind:?}: openssl refuses too"
        );
        assert_eq!(
            verify_detached(&swapped, BODY),
            Err(Error::BadSignature),
            "{kind:?}"
        );
    }
}

#[test]
fn embedded_content_must_be_the_document() {
    let Some(oracle) = Oracle::new() else { return };
    let id = oracle.identity(Kind::Gost256("A"), GOST_SUBJECT, 3);
    let sig = oracle.sign(&[&id], BODY, &["-nodetach"]);
    assert_eq!(verify_detached(&sig, BODY).expect("same content").len(), 1);
    assert!(matches!(
        verify_detached(&sig, &tampered()),
        Err(Error::Malformed(_))
    ));
}
