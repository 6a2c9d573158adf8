//! Durability and concurrency over HTTP: SIGKILL during a load loses no acknowledged write, and
//! concurrent If-Match updates of one version end with exactly one winner.

mod common;

use common::{expect, Server};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn concurrent_if_match_updates_have_one_winner() {
    let s = Arc::new(Server::start());
    for round in 0..20 {
        let id = format!("race-{round}");
        let p = json!({"resourceType": "Patient", "id": id, "active": true});
        expect(s.put(&format!("Patient/{id}"), &p), 201);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|k| {
                let (s, barrier, id) = (s.clone(), barrier.clone(), id.clone());
                std::thread::spawn(move || {
                    let body = json!({"resourceType": "Patient", "id": id, "active": k == 0});
                    barrier.wait();
                    s.client
                        .put(s.url(&format!("Patient/{id}")))
                        .header("content-type", "application/fhir+json")
                        .header("if-match", "W/\"1\"")
                        .body(body.to_string())
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}");
        let cur = expect(s.get(&format!("Patient/{id}")), 200);
        assert_eq!(cur["meta"]["versionId"], "2");
    }
}

#[test]
fn sigkill_during_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = common::free_port();
    let mut server = Server::start_on(&db, port, &[]);
    let base = server.base.clone();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    const TOTAL: usize = 10_000;
    let mut workers = Vec::new();
    // Two writers: single PUTs, and transactions of 100 PUTs.
    {
        let (acked, sent, stop, base) = (acked.clone(), sent.clone(), stop.clone(), base.clone());
        workers.push(std::thread::spawn(move || {
            let c = reqwest::blocking::Client::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) || sent.fetch_add(1, Ordering::Relaxed) >= TOTAL {
                    break;
                }
                let id = format!("single-{i}");
                let body = json!({"resourceType": "Patient", "id": id, "name": [{"family": format!("Ф{i}")}]});
                let r = c
                    .put(format!("{base}/Patient/{id}"))
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string())
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(("Patient".into(), id)),
                    _ => break,
                }
            }
        }));
    }
    {
        let (acked, sent, stop, base) = (acked.clone(), sent.clone(), stop.clone(), base.clone());
        workers.push(std::thread::spawn(move || {
            let c = reqwest::blocking::Client::new();
            for b in 0.. {
                if stop.load(Ordering::Relaxed) || sent.fetch_add(100, Ordering::Relaxed) >= TOTAL {
                    break;
                }
                let ids: Vec<String> = (0..100).map(|j| format!("tx-{b}-{j}")).collect();
                let entries: Vec<_> = ids
                    .iter()
                    .map(|id| json!({"resource": {"resourceType": "Observation", "id": id, "status": "final",
                        "code": {"text": "давление"}, "valueQuantity": {"value": 120, "unit": "mmHg"}},
                        "request": {"method": "PUT", "url": format!("Observation/{id}")}}))
                    .collect();
                let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
                let r = c
                    .post(format!("{base}/"))
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(bundle.to_string())
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => {
                        let mut a = acked.lock().unwrap();
                        a.extend(ids.into_iter().map(|id| ("Observation".to_string(), id)));
                    }
                    _ => break,
                }
            }
        }));
    }
    // Kill once a good part of the load is acknowledged, while writes are in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 3000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 3000,
        "only {} writes acknowledged",
        acked.len()
    );
    assert!(
        acked.len() < TOTAL,
        "the load finished before the kill; nothing was tested"
    );
    let server = Server::start_on(&db, port, &[]);
    let mut missing = Vec::new();
    for (t, id) in &acked {
        let r = server.get(&format!("{t}/{id}"));
        if r.status() != 200 {
            missing.push(format!("{t}/{id}"));
        }
    }
    println!(
        "acknowledged before SIGKILL: {}, missing after restart: {}",
        acked.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "lost acknowledged writes: {:?}",
        &missing[..missing.len().min(10)]
    );
}
