//! Search on SQLite at a realistic size: write throughput with index rows, and query latency.
//! Timings are printed, not asserted (debug builds on shared cores vary too much).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tempfile::TempDir;
use zdrav_search::{
    Condition, IndexRow, IndexValue, Modifier, ParamType, Prefix, SearchQuery, SearchValue,
    TotalMode,
};
use zdrav_store::{DynStore, Precondition, SqliteStore, WriteOp};

fn fresh() -> (TempDir, DynStore) {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&dir.path().join("zdrav.db")).unwrap();
    (dir, Arc::new(store))
}

fn row(param: &str, value: IndexValue) -> IndexRow {
    IndexRow {
        param: param.to_owned(),
        value,
    }
}

fn token(param: &str, system: &str, code: String) -> IndexRow {
    row(
        param,
        IndexValue::Token {
            system: Some(system.to_owned()),
            code: Some(code),
            text: Some("some coded display text".to_owned()),
            type_system: None,
            type_code: None,
        },
    )
}

fn reference(param: &str, rtype: &str, id: String) -> IndexRow {
    row(
        param,
        IndexValue::Reference {
            target_type: Some(rtype.to_owned()),
            target_id: Some(id),
            version: None,
            url: None,
            identifier_system: None,
            identifier_value: None,
        },
    )
}

const T0: i64 = 1_780_000_000_000_000;
const LOINC: &str = "http://loinc.org";

/// The ~16 rows an extracted vital-signs Observation has.
fn obs_rows(i: usize) -> Vec<IndexRow> {
    let at = T0 + i as i64 * 60_000_000;
    let kg = IndexValue::Quantity {
        value: 72.5,
        low: 72.45,
        high: 72.55,
        system: Some("http://unitsofmeasure.org".to_owned()),
        code: Some("kg".to_owned()),
        canonical_value: Some(72_500.0),
        canonical_code: Some("g".to_owned()),
    };
    let code = |k: usize| format!("{}-{}", k, i % 50);
    vec![
        token("code", LOINC, code(1)),
        token("code", LOINC, code(2)),
        token("code", LOINC, code(3)),
        token("combo-code", LOINC, code(1)),
        token(
            "category",
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs".to_owned(),
        ),
        token(
            "status",
            "http://hl7.org/fhir/observation-status",
            "final".to_owned(),
        ),
        token("identifier", "urn:ids", format!("id-{i}")),
        reference("subject", "Patient", format!("p{}", i % 1000)),
        reference("patient", "Patient", format!("p{}", i % 1000)),
        reference("encounter", "Encounter", format!("e{}", i % 5000)),
        reference("performer", "Practitioner", format!("pr{}", i % 20)),
        row(
            "date",
            IndexValue::Date {
                low: at,
                high: at + 1_000_000,
            },
        ),
        row(
            "_lastUpdated",
            IndexValue::Date {
                low: at,
                high: at + 1,
            },
        ),
        row("value-quantity", kg.clone()),
        row(
            "code-value-quantity",
            IndexValue::Composite(vec![
                IndexValue::Token {
                    system: Some(LOINC.to_owned()),
                    code: Some(code(1)),
                    text: None,
                    type_system: None,
                    type_code: None,
                },
                kg,
            ]),
        ),
        row(
            "_profile",
            IndexValue::Uri {
                uri: "http://hl7.org/fhir/StructureDefinition/vitalsigns".to_owned(),
            },
        ),
    ]
}

fn resource(i: usize) -> serde_json::Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": format!("1-{}", i % 50)}]},
        "subject": {"reference": format!("Patient/p{}", i % 1000)},
        "effectiveDateTime": "2026-05-28T10:00:00Z",
        "valueQuantity": {"value": 72.5, "unit": "kg", "code": "kg"},
    })
}

async fn load(
    store: &DynStore,
    batches: usize,
    per_batch: usize,
    rows: bool,
) -> (usize, usize, f64) {
    let (mut total, mut total_rows, mut secs) = (0, 0, 0.0);
    for b in 0..batches {
        let ops: Vec<WriteOp> = (0..per_batch)
            .map(|k| {
                let i = b * per_batch + k;
                let index = if rows { obs_rows(i) } else { Vec::new() };
                total_rows += index.len();
                WriteOp::Put {
                    rtype: "Observation".into(),
                    id: format!("o{i}"),
                    resource: resource(i),
                    precondition: Precondition::None,
                    index,
                }
            })
            .collect();
        let started = Instant::now();
        total += store.commit(ops).await.unwrap().len();
        secs += started.elapsed().as_secs_f64();
    }
    (total, total_rows, secs)
}

fn token_q(code: &str) -> Condition {
    Condition::Param {
        param: "code".into(),
        ptype: ParamType::Token,
        modifier: Modifier::None,
        values: vec![SearchValue::Token {
            system: Some(Some(LOINC.into())),
            code: Some(code.into()),
            type_system: None,
            type_code: None,
        }],
    }
}

fn subject_q(id: &str) -> Condition {
    Condition::Param {
        param: "subject".into(),
        ptype: ParamType::Reference,
        modifier: Modifier::None,
        values: vec![SearchValue::Reference {
            target_type: Some("Patient".into()),
            target_id: Some(id.into()),
            version: None,
            url: None,
            identifier: None,
        }],
    }
}

fn query(conditions: Vec<Condition>) -> SearchQuery {
    SearchQuery {
        types: vec!["Observation".into()],
        conditions,
        sort: Vec::new(),
        count: 20,
        offset: 0,
        total: TotalMode::Accurate,
        include: Vec::new(),
        revinclude: Vec::new(),
        snapshot: None,
        patients: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_with_index_rows() {
    let (_d1, plain) = fresh();
    let (n, _, secs) = load(&plain, 10, 1000, false).await;
    eprintln!(
        "bulk load without index rows: {n} resources in {secs:.2}s = {:.0}/s",
        n as f64 / secs
    );
    let (_d2, store) = fresh();
    let (n, rows, secs) = load(&store, 10, 1000, true).await;
    eprintln!(
        "bulk load with index rows: {n} resources, {rows} rows in {secs:.2}s \
         = {:.0} resources/s, {:.0} rows/s",
        n as f64 / secs,
        rows as f64 / secs
    );
    // Updating every resource replaces its rows.
    let (n, rows, secs) = load(&store, 2, 1000, true).await;
    eprintln!(
        "update with index rows: {n} resources, {rows} rows in {secs:.2}s = {:.0} resources/s",
        n as f64 / secs
    );

    let timed = |what: &'static str, q: SearchQuery| {
        let store = Arc::clone(&store);
        async move {
            let started = Instant::now();
            let page = store.search(&q).await.unwrap();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            eprintln!(
                "search {what}: {} of {:?} in {ms:.1} ms",
                page.matches.len(),
                page.total
            );
            page
        }
    };
    let page = timed("code", query(vec![token_q("1-7")])).await;
    assert_eq!(page.total, Some(200));
    let page = timed("subject", query(vec![subject_q("p7")])).await;
    assert_eq!(page.total, Some(10));
    let page = timed("code&subject", query(vec![token_q("1-7"), subject_q("p7")])).await;
    assert_eq!(page.total, Some(10));
    let date = Condition::Param {
        param: "date".into(),
        ptype: ParamType::Date,
        modifier: Modifier::None,
        values: vec![SearchValue::Date {
            prefix: Prefix::Ge,
            low: T0 + 9_000 * 60_000_000,
            high: T0 + 9_000 * 60_000_000 + 1,
        }],
    };
    let page = timed("date=ge", query(vec![date])).await;
    assert_eq!(page.total, Some(1000));
    let mut all = query(vec![]);
    all.offset = 5000;
    let page = timed("no condition, offset 5000", all).await;
    assert_eq!(page.total, Some(10_000));
    let mut sorted = query(vec![token_q("1-7")]);
    sorted.sort = vec![zdrav_search::SortKey {
        param: "date".into(),
        ptype: ParamType::Date,
        direction: zdrav_search::Direction::Desc,
    }];
    let page = timed("code, _sort=-date", sorted).await;
    assert_eq!(page.matches[0].id, "o9957");
}
