//! Registered bodies: native downloads, the size limit, and the integrity check against a
//! body damaged in the database itself.

use base64::Engine;
use reqwest::blocking::Response;
use serde_json::{json, Value};

use super::common::remd::{b64, registration_for, DEFAULT_PARTIES};
use super::common::{expect, Server};
use super::{put, register, setup, signers};

/// Changes one byte of the current body of `Binary/id` in the database itself (still valid
/// base64, same size), as damage or tampering below the API would.
fn damage(s: &Server, id: &str) {
    let tamper = |stored: Vec<u8>| -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(&stored).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = engine.decode(v["data"].as_str().unwrap()).unwrap();
        bytes[100] ^= 0x01;
        v["data"] = json!(engine.encode(&bytes));
        serde_json::to_vec(&v).unwrap()
    };
    const FIND: &str = "SELECT j.seq, j.json FROM current c JOIN history_json j ON j.seq = c.seq \
                        WHERE c.rtype = 'Binary' AND c.id = ";
    if s.database.starts_with("postgres") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&s.database, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let row = client
                .query_one(&format!("{FIND}$1"), &[&id])
                .await
                .unwrap();
            let (seq, stored): (i64, Vec<u8>) = (row.get(0), row.get(1));
            client
                .execute(
                    "UPDATE history_json SET json = $1 WHERE seq = $2",
                    &[&tamper(stored), &seq],
                )
                .await
                .unwrap();
            drop(client);
            let _ = task.await;
        });
    } else {
        let db = rusqlite::Connection::open(&s.db).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let (seq, stored): (i64, Vec<u8>) = db
            .query_row(&format!("{FIND}?1"), [id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        db.execute(
            "UPDATE history_json SET json = ?1 WHERE seq = ?2",
            rusqlite::params![tamper(stored), seq],
        )
        .unwrap();
    }
}

fn accept(s: &Server, method: &str, path: &str, accept: &str) -> Response {
    s.client
        .request(method.parse().unwrap(), s.url(path))
        .header("accept", accept)
        .send()
        .unwrap()
}

#[test]
fn registered_bodies_download_only_as_registered() {
    let s = Server::start_with(&["--max-document-bytes", "300000"]);
    setup(&s, None);
    let sg = signers();
    // A PDF's header, and large enough to be served from the store a piece at a time (doc-p
    // below is read whole): every check here runs on both paths.
    let mut body = b"%PDF-1.7\n".to_vec();
    body.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    assert!(b64(&body).len() as u64 > zdrav_server::stored_body::INLINE);
    let at = "2023-01-10T10:00:00+03:00";
    expect(register(&s, None, &sg, "doc-a", "org1", at, &body), 200);

    let r = accept(&s, "GET", "Binary/doc-a-body", "application/pdf");
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["etag"], "W/\"1\"");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("doc-a-body.pdf"), "{disposition}");
    assert!(
        r.bytes().unwrap().as_ref() == body.as_slice(),
        "the registered bytes"
    );
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = accept(&s, "GET", "Binary/doc-a-body/_history/1", browser);
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().unwrap().as_ref() == body.as_slice());
    let r = accept(&s, "HEAD", "Binary/doc-a-body", "application/pdf");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-length"],
        body.len().to_string().as_str()
    );
    let r = s
        .client
        .get(s.url("Binary/doc-a-body"))
        .header("accept", "application/pdf")
        .header("if-none-match", "W/\"1\"")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    // FHIR JSON as before for `*/*` and FHIR types.
    let v = expect(accept(&s, "GET", "Binary/doc-a-body", "*/*"), 200);
    assert_eq!(v["data"], b64(&body));
    let v = expect(
        accept(
            &s,
            "GET",
            "Binary/doc-a-body?_format=json",
            "application/pdf",
        ),
        200,
    );
    assert_eq!(v["resourceType"], "Binary");
    // Any Binary downloads the same way.
    put(
        &s,
        None,
        "Binary/note",
        json!({"resourceType": "Binary", "id": "note", "contentType": "text/plain; charset=utf-8",
            "data": b64("Справка выдана".as_bytes())}),
    );
    let r = accept(&s, "GET", "Binary/note", "text/plain");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().unwrap(), "Справка выдана");

    // The size limit: the body itself, named where it is.
    let mut big = body.clone();
    big.resize(300_001, b'x');
    let v = expect(register(&s, None, &sg, "big", "org1", at, &big), 413);
    assert_eq!(v["issue"][0]["code"], "too-costly", "{v}");
    assert_eq!(
        v["issue"][0]["expression"][0], "Bundle.entry[0].resource.data",
        "{v}"
    );
    expect(s.get("DocumentReference/big"), 404);
    big.truncate(300_000);
    expect(register(&s, None, &sg, "edge", "org1", at, &big), 200);

    // A superseded document's body is still the registered one.
    let fixed = b"%PDF-1.7\n corrected".to_vec();
    let signed = vec![
        ("Practitioner/doc1", sg.o.sign(&sg.doctor, &fixed)),
        ("Organization/org1", sg.o.sign(&sg.clinic1, &fixed)),
    ];
    let tx = registration_for("doc-c", &fixed, &signed, Some("doc-a"), &DEFAULT_PARTIES);
    expect(s.post("", &tx), 200);
    assert_eq!(
        expect(s.get("DocumentReference/doc-a"), 200)["status"],
        "superseded"
    );
    let r = accept(&s, "GET", "Binary/doc-a-body", "application/pdf");
    assert!(r.bytes().unwrap().as_ref() == body.as_slice());

    // A body whose securityContext names its patient, not its document, is still checked
    // against the document whose attachment names it.
    let own = body[..5_000].to_vec();
    let signed = vec![
        ("Practitioner/doc1", sg.o.sign(&sg.doctor, &own)),
        ("Organization/org1", sg.o.sign(&sg.clinic1, &own)),
    ];
    let mut tx = registration_for("doc-p", &own, &signed, None, &DEFAULT_PARTIES);
    tx["entry"][0]["resource"]["securityContext"] = json!({"reference": "Patient/p1"});
    expect(s.post("", &tx), 200);
    let r = accept(&s, "GET", "Binary/doc-p-body", "application/pdf");
    assert!(r.bytes().unwrap().as_ref() == own.as_slice());

    // Damaged in the database: never served, in any form.
    damage(&s, "doc-a-body");
    for (method, path, kind) in [
        ("GET", "Binary/doc-a-body", "application/fhir+json"),
        ("GET", "Binary/doc-a-body", "application/pdf"),
        ("GET", "Binary/doc-a-body/_history/1", "application/pdf"),
        (
            "GET",
            "Binary/doc-a-body/_history/1",
            "application/fhir+json",
        ),
        // Nor inside a search or a history page.
        ("GET", "Binary?_id=doc-a-body", "application/fhir+json"),
        ("GET", "Binary/doc-a-body/_history", "application/fhir+json"),
        ("GET", "Binary/_history", "application/fhir+json"),
    ] {
        let r = accept(&s, method, path, kind);
        assert_eq!(r.status().as_u16(), 500, "{method} {path} as {kind}");
        let bytes = r.bytes().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["resourceType"], "OperationOutcome");
        let text = v["issue"][0]["diagnostics"].as_str().unwrap_or("");
        assert!(
            text.contains(
                "the stored body of Binary/doc-a-body does not match its registered hash"
            ),
            "{v}"
        );
        assert!(!String::from_utf8_lossy(&bytes).contains(&b64(&body[..48])));
    }
    assert_eq!(
        accept(&s, "HEAD", "Binary/doc-a-body", "application/pdf")
            .status()
            .as_u16(),
        500
    );
    // Nor into a bulk export: the job fails and says why.
    let r = s
        .client
        .get(s.url("$export?_type=Binary"))
        .header("prefer", "respond-async")
        .header("accept", "application/fhir+json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let status = r.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_string();
    let v = expect(super::common::export_ended(&s, &status), 500);
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or("")
            .contains("does not match its registered hash"),
        "{v}"
    );
    damage(&s, "doc-p-body");
    let v = expect(s.get("Binary/doc-p-body"), 500);
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or("")
            .contains("does not match its registered hash (DocumentReference/doc-p"),
        "{v}"
    );
    // The document and the other bodies are untouched.
    expect(s.get("DocumentReference/doc-a"), 200);
    let found = expect(s.get("Binary?_id=doc-c-body"), 200);
    assert_eq!(found["entry"][0]["resource"]["data"], b64(&fixed));
    let r = accept(&s, "GET", "Binary/doc-c-body", "application/pdf");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().unwrap().as_ref() == fixed.as_slice());
}

/// A line of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A large body is served from the store a piece at a time: downloading 24 MiB in either form
/// raises the server's peak resident size far less than the 32 MiB of its stored JSON (reading
/// that whole raised it by more than twice as much).
#[cfg(target_os = "linux")]
#[test]
fn a_large_body_is_never_held_whole() {
    use sha1::Digest;
    let mut s = Server::start();
    let body: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let want: [u8; 20] = sha1::Sha1::digest(&body).into();
    put(
        &s,
        None,
        "Binary/scan",
        json!({"resourceType": "Binary", "id": "scan", "contentType": "application/pdf",
            "data": b64(&body)}),
    );
    drop(body);
    let small = vec![7u8; 1 << 20];
    put(
        &s,
        None,
        "Binary/warm",
        json!({"resourceType": "Binary", "id": "warm", "contentType": "text/plain",
            "data": b64(&small)}),
    );
    // A fresh process: what the writes left allocated is not counted. A first large read
    // (the 1 MiB body, over `INLINE` too) sets up what any such read needs once: the allocator's
    // per-thread memory, the database connections (about 25 MiB on PostgreSQL, whatever the
    // body's size).
    s.restart(&[]);
    for kind in ["application/pdf", "application/fhir+json"] {
        let r = accept(&s, "GET", "Binary/warm", kind);
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.bytes().unwrap().len() >= small.len());
    }
    let pid = s.pid();
    let idle = status_kib(pid, "VmRSS");
    // Where the kernel lets it, the peak starts from now.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    for kind in ["application/pdf", "application/fhir+json"] {
        let mut r = accept(&s, "GET", "Binary/scan", kind);
        assert_eq!(r.status().as_u16(), 200, "{kind}");
        let mut sha = sha1::Sha1::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = std::io::Read::read(&mut r, &mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k as u64;
            if kind == "application/pdf" {
                sha.update(&buf[..k]);
            }
        }
        if kind == "application/pdf" {
            assert_eq!(n, 24 << 20);
            assert_eq!(<[u8; 20]>::from(sha.finalize()), want, "the bytes stored");
        } else {
            assert!(n > 32 << 20, "the JSON carries the base64 data ({n} bytes)");
        }
    }
    let grown = status_kib(pid, "VmHWM").saturating_sub(idle);
    assert!(
        grown < 16 << 10,
        "downloads raised the server's peak resident size by {grown} KiB"
    );
}
