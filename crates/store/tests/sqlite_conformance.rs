//! The conformance suite on `SqliteStore`, plus what only a file-backed store can show.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tempfile::TempDir;
use zdrav_store::{
    conformance, DynStore, HistoryQuery, HistoryScope, Precondition, SqliteStore, Store, WriteOp,
    WriteOutcome,
};

fn fresh() -> (TempDir, DynStore) {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&dir.path().join("zdrav.db")).unwrap();
    (dir, Arc::new(store))
}

macro_rules! case {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_dir, store) = fresh();
            conformance::$name(&store).await;
        }
    )*};
}

zdrav_store::conformance_cases!(case);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let (_dir, store) = fresh();
    conformance::run_all(store).await;
}

fn put(rtype: &str, id: &str, family: &str) -> WriteOp {
    WriteOp::Put {
        rtype: rtype.to_owned(),
        id: id.to_owned(),
        resource: json!({"resourceType": rtype, "name": [{"family": family}]}),
        precondition: Precondition::None,
        index: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reopening() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let written = {
        let store = SqliteStore::open(&path).unwrap();
        store
            .commit(vec![put("Patient", "p", "one")])
            .await
            .unwrap();
        let r = store
            .commit(vec![put("Patient", "p", "two")])
            .await
            .unwrap();
        store
            .commit(vec![WriteOp::Delete {
                rtype: "Patient".into(),
                id: "gone".into(),
                precondition: Precondition::None,
            }])
            .await
            .unwrap();
        r.into_iter().next().unwrap()
    };
    let store = SqliteStore::open(&path).unwrap();
    let cur = store.read("Patient", "p").await.unwrap().unwrap();
    assert_eq!((cur.version, cur.json.clone()), (2, written.json.clone()));
    assert_eq!(cur.last_updated, written.last_updated);
    assert_eq!(
        store
            .vread("Patient", "p", 1)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        store.counts().await.unwrap(),
        vec![("Patient".to_owned(), 1)]
    );
    // The reopened store keeps numbering and time moving forward.
    let r = store
        .commit(vec![put("Patient", "p", "three")])
        .await
        .unwrap();
    assert_eq!((r[0].version, r[0].outcome), (3, WriteOutcome::Updated));
    assert!(r[0].last_updated > written.last_updated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_store_on_same_file_sees_writes() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    a.commit(vec![put("Patient", "x", "from-a")]).await.unwrap();
    let seen = b.read("Patient", "x").await.unwrap().unwrap();
    assert_eq!(seen.version, 1);
    // Writes from both sides interleave on one version sequence and one clock.
    let rb = b.commit(vec![put("Patient", "x", "from-b")]).await.unwrap();
    assert_eq!(rb[0].version, 2);
    let ra = a
        .commit(vec![WriteOp::Put {
            rtype: "Patient".into(),
            id: "x".into(),
            resource: json!({"resourceType": "Patient"}),
            precondition: Precondition::VersionIs(1),
            index: Vec::new(),
        }])
        .await
        .unwrap_err();
    assert!(matches!(
        ra,
        zdrav_store::StoreError::VersionConflict { current: 2, .. }
    ));
    let ra = a
        .commit(vec![put("Patient", "x", "a-again")])
        .await
        .unwrap();
    assert_eq!(ra[0].version, 3);
    assert!(ra[0].last_updated > rb[0].last_updated);
    let hist = b
        .history(HistoryQuery {
            scope: HistoryScope::System,
            since_micros: None,
            at_micros: None,
            snapshot: None,
            offset: 0,
            count: 10,
        })
        .await
        .unwrap();
    assert_eq!(hist.total, 3);
    assert_eq!(b.counts().await.unwrap(), vec![("Patient".to_owned(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_concurrently_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let stores = [
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(n, store)| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                for i in 0..50 {
                    let ops = vec![
                        put("Obs", &format!("s{n}-{i}"), "x"),
                        put("Obs", "shared", "x"),
                    ];
                    store.commit(ops).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let cur = stores[0].read("Obs", "shared").await.unwrap().unwrap();
    assert_eq!(cur.version, 100);
    assert_eq!(
        stores[1].counts().await.unwrap(),
        vec![("Obs".to_owned(), 101)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_non_object_resources() {
    let (_dir, store) = fresh();
    let err = store
        .commit(vec![WriteOp::Put {
            rtype: "Patient".into(),
            id: "a".into(),
            resource: json!("not an object"),
            precondition: Precondition::None,
            index: Vec::new(),
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, zdrav_store::StoreError::Backend(_)));
    assert!(store.read("Patient", "a").await.unwrap().is_none());
}

/// A ~2 KB resource, like a typical Observation or Patient.
fn typical(i: usize) -> serde_json::Value {
    let coding: Vec<_> = (0..20)
        .map(|k| json!({"system": "http://loinc.org", "code": format!("{k}-{i}"), "display": "Some coded display text"}))
        .collect();
    json!({
        "resourceType": "Observation",
        "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
        "status": "final",
        "code": {"coding": coding, "text": "Body weight"},
        "subject": {"reference": format!("Patient/p{}", i % 100)},
        "effectiveDateTime": "2026-11-23T09:10:00Z",
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_rate() {
    let (_dir, store) = fresh();
    let batches = 10;
    let per_batch = 1000;
    let mut total = 0usize;
    let mut bytes = 0usize;
    let mut secs = 0.0;
    for b in 0..batches {
        let ops = (0..per_batch)
            .map(|k| {
                let i = b * per_batch + k;
                WriteOp::Put {
                    rtype: "Observation".into(),
                    id: format!("o{i}"),
                    resource: typical(i),
                    precondition: Precondition::None,
                    index: Vec::new(),
                }
            })
            .collect();
        let started = Instant::now();
        let results = store.commit(ops).await.unwrap();
        secs += started.elapsed().as_secs_f64();
        total += results.len();
        bytes += results.iter().map(|r| r.json.len()).sum::<usize>();
    }
    let rate = total as f64 / secs;
    eprintln!(
        "bulk load: {total} resources ({} B avg) in {secs:.2}s = {rate:.0}/s",
        bytes / total
    );
    assert_eq!(
        store.counts().await.unwrap(),
        vec![("Observation".to_owned(), 10_000)]
    );
    // Loose bound: this runs unoptimised; release builds are several times faster.
    assert!(rate > 2_000.0, "{rate:.0} resources/s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instants_never_go_back_when_the_clock_does() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let store = SqliteStore::open(&path).unwrap();
    store.commit(vec![put("Patient", "a", "1")]).await.unwrap();
    // As if the last commit had happened an hour from now and the clock then stepped back.
    let future = chrono::Utc::now().timestamp_micros() + 3_600_000_000;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE history SET last_updated = ?1", [future])
        .unwrap();
    drop(raw);
    let r = store.commit(vec![put("Patient", "b", "1")]).await.unwrap();
    assert_eq!(r[0].last_updated, zdrav_store::format_instant(future + 1));
    let r = store.commit(vec![put("Patient", "c", "1")]).await.unwrap();
    assert_eq!(r[0].last_updated, zdrav_store::format_instant(future + 2));
}

/// Set in the child process of `acknowledged_writes_survive_sigkill`: the store file it writes to.
const KILL_DB_ENV: &str = "ZDRAV_STORE_KILL_DB";

/// The child half of `acknowledged_writes_survive_sigkill`; does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_writer() {
    let Ok(path) = std::env::var(KILL_DB_ENV) else {
        return;
    };
    let store = SqliteStore::open(std::path::Path::new(&path)).unwrap();
    for i in 0.. {
        let ops = (0..20)
            .map(|k| put("Obs", &format!("o{i}-{k}"), "x"))
            .collect();
        store.commit(ops).await.unwrap();
        println!("ACK {i}");
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_DB_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("ACK ") {
            let n: usize = n.parse().unwrap();
            acked = Some(n);
            if n >= 200 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, possibly mid-commit
    child.wait().unwrap();
    let acked = acked.expect("the child acknowledged writes");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let keys = (0..=acked)
            .flat_map(|i| (0..20).map(move |k| ("Obs".to_owned(), format!("o{i}-{k}"))))
            .collect::<Vec<_>>();
        let exists = store.exists_many(keys).await.unwrap();
        assert!(exists.iter().all(|&e| e), "an acknowledged write was lost");
        // A commit is all or nothing even when killed halfway.
        let live = store.counts().await.unwrap()[0].1;
        assert_eq!(live % 20, 0, "{live} live resources");
        assert!(live >= (acked as u64 + 1) * 20);
    });
}

/// Every patient-owned row carries its patient-compartment id (the distribution key), and a
/// tombstone keeps the owner of the version it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_carry_the_patient_compartment_owner() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("zdrav.db");
    let store = SqliteStore::open(&path).unwrap();
    let defs = zdrav_fhir::r4();
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
    let org = json!({"resourceType": "Organization", "id": "g1", "name": "x"});
    let ops = [
        (
            "Patient",
            "p1",
            json!({"resourceType": "Patient", "id": "p1"}),
        ),
        ("Observation", "o1", obs),
        ("Organization", "g1", org),
    ]
    .into_iter()
    .map(|(t, id, r)| WriteOp::Put {
        rtype: t.into(),
        id: id.into(),
        index: zdrav_search::extract(defs, &r),
        resource: r,
        precondition: Precondition::None,
    })
    .collect();
    store.commit(ops).await.unwrap();
    store
        .commit(vec![WriteOp::Delete {
            rtype: "Observation".into(),
            id: "o1".into(),
            precondition: Precondition::None,
        }])
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let owners = |sql: &str| -> Vec<(String, Option<String>)> {
        raw.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        owners("SELECT id, pat FROM current ORDER BY id"),
        [
            ("g1".into(), None),
            ("o1".into(), Some("p1".into())),
            ("p1".into(), Some("p1".into()))
        ]
    );
    assert_eq!(
        owners("SELECT id || '/' || version, pat FROM history WHERE rtype = 'Observation' ORDER BY version"),
        [
            ("o1/1".into(), Some("p1".into())),
            ("o1/2".into(), Some("p1".into()))
        ]
    );
    let idx: i64 = raw
        .query_row("SELECT count(*) FROM idx_token WHERE pat = 'p1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let orphan: i64 = raw
        .query_row(
            "SELECT count(*) FROM idx_string WHERE pat IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(idx > 0 && orphan > 0, "{idx} {orphan}");
}
