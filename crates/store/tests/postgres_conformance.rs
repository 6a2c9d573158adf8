//! The conformance suite on `PgStore`, each case on a database of its own, plus what only
//! PostgreSQL can show. The server is `ZDRAV_TEST_POSTGRES` (a URL of an existing database,
//! default `postgres://postgres@127.0.0.1:5432/postgres`); when it is unreachable the tests
//! skip loudly, or fail when `ZDRAV_REQUIRE_POSTGRES=1`.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use zdrav_store::{
    conformance, DynStore, HistoryQuery, HistoryScope, PgStore, PgTestDatabase, Precondition,
    Store, StoreError, WriteOp, WriteOutcome,
};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("ZDRAV_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A fresh database, or `None` (after saying so) when the server is unreachable and not
/// required.
fn database() -> Option<PgTestDatabase> {
    let url = admin_url();
    match PgTestDatabase::create(&url) {
        Ok(db) => Some(db),
        Err(e) => {
            let required = std::env::var("ZDRAV_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
            assert!(!required, "ZDRAV_REQUIRE_POSTGRES=1 but {url}: {e}");
            eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {e}");
            None
        }
    }
}

async fn connect(db: &PgTestDatabase) -> PgStore {
    PgStore::connect(db.url())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", db.name()))
}

/// A store on a fresh database; the guard drops the database.
async fn fresh() -> Option<(PgTestDatabase, DynStore)> {
    let db = database()?;
    let store = connect(&db).await;
    Some((db, Arc::new(store)))
}

macro_rules! case {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some((_db, store)) = fresh().await else { return };
            conformance::$name(&store).await;
        }
    )*};
}

zdrav_store::conformance_cases!(case);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let Some((_db, store)) = fresh().await else {
        return;
    };
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

/// A raw connection to the test database, for looking at rows directly.
async fn raw(db: &PgTestDatabase) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_reconnecting() {
    let Some(db) = database() else { return };
    let written = {
        let store = connect(&db).await;
        store
            .commit(vec![put("Patient", "p", "one")])
            .await
            .unwrap();
        let r = store
            .commit(vec![put("Patient", "p", "two")])
            .await
            .unwrap();
        r.into_iter().next().unwrap()
    };
    let store = connect(&db).await;
    let cur = store.read("Patient", "p").await.unwrap().unwrap();
    assert_eq!((cur.version, cur.json.clone()), (2, written.json.clone()));
    assert_eq!(cur.last_updated, written.last_updated);
    assert_eq!(
        store.counts().await.unwrap(),
        vec![("Patient".to_owned(), 1)]
    );
    let r = store
        .commit(vec![put("Patient", "p", "three")])
        .await
        .unwrap();
    assert_eq!((r[0].version, r[0].outcome), (3, WriteOutcome::Updated));
    assert!(r[0].last_updated > written.last_updated);
}

/// Two processes starting on a new database at once: the migration runs once, both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connects_migrate_once() {
    let Some(db) = database() else { return };
    let (a, b) = tokio::join!(PgStore::connect(db.url()), PgStore::connect(db.url()));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.commit(vec![put("Patient", "x", "from-a")]).await.unwrap();
    let rb = b.commit(vec![put("Patient", "x", "from-b")]).await.unwrap();
    assert_eq!(rb[0].version, 2);
    let client = raw(&db).await;
    let row = client
        .query_one("SELECT count(*), max(version) FROM zdrav_schema", &[])
        .await
        .unwrap();
    // One row, at the current schema version (4: stored JSON kept uncompressed).
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (1, 4));
    let storage: i8 = client
        .query_one(
            "SELECT attstorage FROM pg_attribute \
             WHERE attrelid = 'history_json'::regclass AND attname = 'json'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(storage as u8, b'e', "history_json.json is stored EXTERNAL");
    let hist = a
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
    assert_eq!(hist.total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_concurrently_lose_nothing() {
    let Some(db) = database() else { return };
    let stores = [Arc::new(connect(&db).await), Arc::new(connect(&db).await)];
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
    let Some((_db, store)) = fresh().await else {
        return;
    };
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
    assert!(matches!(err, StoreError::Backend(_)));
    assert!(store.read("Patient", "a").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instants_never_go_back_when_the_clock_does() {
    let Some(db) = database() else { return };
    let store = connect(&db).await;
    store.commit(vec![put("Patient", "a", "1")]).await.unwrap();
    // As if the last commit had happened an hour from now and the clock then stepped back.
    let future = chrono::Utc::now().timestamp_micros() + 3_600_000_000;
    raw(&db)
        .await
        .execute("UPDATE zdrav_clock SET last = $1", &[&future])
        .await
        .unwrap();
    let r = store.commit(vec![put("Patient", "b", "1")]).await.unwrap();
    assert_eq!(r[0].last_updated, zdrav_store::format_instant(future + 1));
    let r = store.commit(vec![put("Patient", "c", "1")]).await.unwrap();
    assert_eq!(r[0].last_updated, zdrav_store::format_instant(future + 2));
}

/// A string with NUL (which PostgreSQL text cannot hold) is indexed and found like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_index_values_and_queries() {
    let Some((_db, store)) = fresh().await else {
        return;
    };
    let row = zdrav_search::IndexRow {
        param: "name".into(),
        value: zdrav_search::IndexValue::String {
            norm: "a\0b".into(),
            exact: "A\0b".into(),
        },
    };
    store
        .commit(vec![WriteOp::Put {
            rtype: "Patient".into(),
            id: "n".into(),
            resource: json!({"resourceType": "Patient", "name": [{"family": "A\u{0}b"}]}),
            precondition: Precondition::None,
            index: vec![row],
        }])
        .await
        .unwrap();
    let stored = store.read("Patient", "n").await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&stored.json).contains("A\\u0000b"));
    for (modifier, value, hits) in [
        (zdrav_search::Modifier::None, "a\0", 1),
        (zdrav_search::Modifier::Exact, "A\0b", 1),
        (zdrav_search::Modifier::Contains, "\0", 1),
        (zdrav_search::Modifier::None, "b", 0),
    ] {
        let q = zdrav_search::SearchQuery {
            types: vec!["Patient".into()],
            conditions: vec![zdrav_search::Condition::Param {
                param: "name".into(),
                ptype: zdrav_search::ParamType::String,
                modifier: modifier.clone(),
                values: vec![zdrav_search::SearchValue::String(value.into())],
            }],
            sort: Vec::new(),
            count: 10,
            offset: 0,
            total: zdrav_search::TotalMode::Accurate,
            include: Vec::new(),
            revinclude: Vec::new(),
            snapshot: None,
            patients: None,
        };
        let page = store.search(&q).await.unwrap();
        assert_eq!(page.matches.len(), hits, "{modifier:?} {value:?}");
    }
}

/// Every patient-owned row carries its patient-compartment id (the distribution key), and a
/// tombstone keeps the owner of the version it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_carry_the_patient_compartment_owner() {
    let Some(db) = database() else { return };
    let store = connect(&db).await;
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
    let client = raw(&db).await;
    let owners = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1)))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        owners("SELECT id, pat FROM current ORDER BY id").await,
        [
            ("g1".into(), None),
            ("o1".into(), Some("p1".into())),
            ("p1".into(), Some("p1".into()))
        ]
    );
    assert_eq!(
        owners(
            "SELECT id || '/' || version, pat FROM history WHERE rtype = 'Observation' \
             ORDER BY version"
        )
        .await,
        [
            ("o1/1".into(), Some("p1".into())),
            ("o1/2".into(), Some("p1".into()))
        ]
    );
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let idx = count("SELECT count(*) FROM idx_token WHERE pat = 'p1'").await;
    let orphan = count("SELECT count(*) FROM idx_string WHERE pat IS NULL").await;
    assert!(idx > 0 && orphan > 0, "{idx} {orphan}");
    // Every index row of a patient-owned resource carries the owner, in every table.
    for table in [
        "idx_string",
        "idx_token",
        "idx_date",
        "idx_number",
        "idx_quantity",
        "idx_reference",
        "idx_uri",
        "idx_composite",
    ] {
        let sql = format!(
            "SELECT count(*) FROM {table} x JOIN current c ON c.rk = x.rk \
             WHERE c.pat IS DISTINCT FROM x.pat"
        );
        let n: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!(
            n, 0,
            "{table}: rows whose pat differs from their resource's"
        );
    }
}

/// A ~2 KB resource with the ~16 index rows of an extracted vital-signs Observation.
fn typical(defs: &zdrav_fhir::Definitions, i: usize) -> WriteOp {
    let coding: Vec<_> = (0..3)
        .map(|k| json!({"system": "http://loinc.org", "code": format!("{k}-{i}"), "display": "Some coded display text"}))
        .collect();
    let r = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": coding, "text": "Body weight"},
        "subject": {"reference": format!("Patient/p{}", i % 100)},
        "effectiveDateTime": "2026-11-23T09:10:00Z",
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    });
    WriteOp::Put {
        rtype: "Observation".into(),
        id: format!("o{i}"),
        index: zdrav_search::extract(defs, &r),
        resource: r,
        precondition: Precondition::None,
    }
}

/// Bulk commits with index rows: the rate is printed, loosely bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_rate() {
    let Some((_db, store)) = fresh().await else {
        return;
    };
    let defs = zdrav_fhir::r4();
    let (batches, per_batch) = (10, 1000);
    let mut secs = 0.0;
    let mut rows = 0;
    for b in 0..batches {
        let ops: Vec<WriteOp> = (0..per_batch)
            .map(|k| typical(defs, b * per_batch + k))
            .collect();
        rows += ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { index, .. } => index.len(),
                WriteOp::Delete { .. } => 0,
            })
            .sum::<usize>();
        let started = Instant::now();
        store.commit(ops).await.unwrap();
        secs += started.elapsed().as_secs_f64();
    }
    let total = batches * per_batch;
    let rate = total as f64 / secs;
    eprintln!(
        "postgres bulk load: {total} resources ({} index rows each) in {secs:.2}s = {rate:.0}/s",
        rows / total
    );
    assert_eq!(
        store.counts().await.unwrap(),
        vec![("Observation".to_owned(), total as u64)]
    );
    assert!(rate > 500.0, "{rate:.0} resources/s");
}

/// A bulk load leaves the planner with statistics: the store analyses its own tables once
/// enough has been written, without waiting for autovacuum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_writes_are_analysed() {
    let Some(db) = database() else { return };
    let store = connect(&db).await;
    for chunk in 0..5 {
        let ops = (0..5_000)
            .map(|i| put("Patient", &format!("p{chunk}-{i}"), "bulk"))
            .collect();
        store.commit(ops).await.unwrap();
    }
    let start = Instant::now();
    while store.analyze_runs() == 0 {
        assert!(
            start.elapsed().as_secs() < 60,
            "no ANALYZE after 25,000 writes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let client = raw(&db).await;
    let row = client
        .query_one(
            "SELECT last_analyze IS NOT NULL, n_live_tup FROM pg_stat_user_tables \
             WHERE relname = 'current'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "current was never analysed");
    let tuples: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE relname = 'current'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tuples >= 20_000.0, "reltuples {tuples}");
}
