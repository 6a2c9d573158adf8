//! `zdrav-bench remd`: registration throughput of signed documents. Each registration is one
//! transaction with the body (Binary), the DocumentReference (kind НСИ 1522) and the doctor's
//! and the organisation's Provenances with detached CMS signatures, which the server verifies
//! before it commits. The signed material comes from `bench/remd_fixture.sh`; every
//! registration carries the same body and signatures under new ids, so each costs the server
//! the same verification work as a fresh document.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

fn registration(n: usize, body: &str, size: usize, hash: &str, sigs: &[(&str, &str)]) -> Value {
    let id = format!("bench-doc-{n}");
    let mut entries = vec![
        json!({"resource": {"resourceType": "Binary", "id": format!("{id}-body"), "contentType": "text/plain", "data": body},
               "request": {"method": "PUT", "url": format!("Binary/{id}-body")}}),
        json!({"resource": {"resourceType": "DocumentReference", "id": id, "status": "current",
            "type": {"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1522", "code": "7"}]},
            "subject": {"reference": format!("Patient/bench-remd-p{}", n % 100)},
            "date": format!("2026-{:02}-{:02}T10:00:00+03:00", 1 + n % 12, 1 + n % 28),
            "author": [{"reference": "Practitioner/bench-doctor"}], "custodian": {"reference": "Organization/bench-clinic"},
            "content": [{"attachment": {"contentType": "text/plain", "url": format!("Binary/{id}-body"), "size": size, "hash": hash}}]},
            "request": {"method": "PUT", "url": format!("DocumentReference/{id}")}}),
    ];
    for (k, (agent, data)) in sigs.iter().enumerate() {
        entries.push(json!({"resource": {"resourceType": "Provenance", "id": format!("{id}-s{k}"),
            "target": [{"reference": format!("DocumentReference/{id}")}], "recorded": "2026-11-23T10:00:00+03:00",
            "agent": [{"who": {"reference": agent}}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": "2026-11-23T10:00:00+03:00", "who": {"reference": agent},
                "sigFormat": "application/pkcs7-signature", "data": data}]},
            "request": {"method": "PUT", "url": format!("Provenance/{id}-s{k}")}}));
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// Registers `n` documents from `concurrency` clients; prints documents/s and latency.
pub async fn run(
    base: String,
    dir: std::path::PathBuf,
    n: usize,
    concurrency: usize,
) -> Result<(), String> {
    use sha1::Digest;
    let body = read(&dir, "body.txt")?;
    let (doctor, clinic) = (
        b64(&read(&dir, "doctor.p7s")?),
        b64(&read(&dir, "clinic.p7s")?),
    );
    let client = reqwest::Client::new();
    let mut setup = vec![
        json!({"resource": {"resourceType": "Practitioner", "id": "bench-doctor",
            "identifier": [{"system": "urn:identity:snils:Practitioner", "value": "11223344595"}]},
            "request": {"method": "PUT", "url": "Practitioner/bench-doctor"}}),
        json!({"resource": {"resourceType": "Organization", "id": "bench-clinic", "name": "ГП1",
            "identifier": [{"system": "urn:identity:ogrn", "value": "1027700132195"}]},
            "request": {"method": "PUT", "url": "Organization/bench-clinic"}}),
    ];
    for p in 0..100 {
        setup.push(
            json!({"resource": {"resourceType": "Patient", "id": format!("bench-remd-p{p}")},
            "request": {"method": "PUT", "url": format!("Patient/bench-remd-p{p}")}}),
        );
    }
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": setup});
    let r = client
        .post(&base)
        .header("content-type", "application/fhir+json")
        .body(tx.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("setup: {}", r.text().await.unwrap_or_default()));
    }
    let hash = b64(&sha1::Sha1::digest(&body));
    let body64 = Arc::new(b64(&body));
    let size = body.len();
    let sigs = Arc::new((doctor, clinic));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, body64, sigs, next, hash) = (
            client.clone(),
            base.clone(),
            body64.clone(),
            sigs.clone(),
            next.clone(),
            hash.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<Duration> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(lat);
                }
                let tx = registration(
                    i,
                    &body64,
                    size,
                    &hash,
                    &[
                        ("Practitioner/bench-doctor", &sigs.0),
                        ("Organization/bench-clinic", &sigs.1),
                    ],
                );
                let t = Instant::now();
                let r = client
                    .post(&base)
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(tx.to_string())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if !status.is_success() {
                    return Err(format!(
                        "registration {i}: {status}: {}",
                        &text[..text.len().min(400)]
                    ));
                }
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| crate::percentile(&lat, p);
    println!(
        "remd: {} documents (2 signatures each) in {secs:.2} s, {:.0} documents/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
    println!("RESULT remd_rate {:.0}", lat.len() as f64 / secs);
    Ok(())
}
