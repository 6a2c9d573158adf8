//! The query plans SQLite picks for typical searches: every index table is probed through an
//! index, never scanned whole.

use rusqlite::{params_from_iter, Connection};
use zdrav_search::{
    Condition, Direction, Include, Modifier, ParamType, Prefix, SearchQuery, SearchValue, SortKey,
    TotalMode,
};

use crate::sql::search::{filter, page};
use crate::sql::Dialect;

fn schema() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(crate::sqlite::schema::V1).unwrap();
    conn.execute_batch(crate::sqlite::schema::V2).unwrap();
    conn.execute_batch(crate::sqlite::schema::V3).unwrap();
    conn.execute_batch(crate::sqlite::schema::V4).unwrap();
    conn
}

fn plan(conn: &Connection, q: &SearchQuery) -> String {
    let Ok(f) = filter(Dialect::Sqlite, q, 1_000, 0, None) else {
        panic!("filter")
    };
    let Ok(p) = page(&f, q) else { panic!("page") };
    let sql = format!("EXPLAIN QUERY PLAN {}", p.text);
    let mut stmt = conn.prepare(&sql).unwrap();
    let args = p.args.iter();
    let rows = stmt
        .query_map(params_from_iter(args), |row| row.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
}

fn q(types: &[&str], conditions: Vec<Condition>) -> SearchQuery {
    SearchQuery {
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        conditions,
        sort: Vec::new(),
        count: 10,
        offset: 0,
        total: TotalMode::Accurate,
        include: Vec::<Include>::new(),
        revinclude: Vec::new(),
        snapshot: None,
        patients: None,
    }
}

fn token(param: &str, code: &str) -> Condition {
    Condition::Param {
        param: param.into(),
        ptype: ParamType::Token,
        modifier: Modifier::None,
        values: vec![SearchValue::Token {
            system: Some(Some("http://loinc.org".into())),
            code: Some(code.into()),
            type_system: None,
            type_code: None,
        }],
    }
}

fn reference(param: &str, tt: &str, id: &str) -> Condition {
    Condition::Param {
        param: param.into(),
        ptype: ParamType::Reference,
        modifier: Modifier::None,
        values: vec![SearchValue::Reference {
            target_type: Some(tt.into()),
            target_id: Some(id.into()),
            version: None,
            url: None,
            identifier: None,
        }],
    }
}

fn cases() -> Vec<(&'static str, SearchQuery)> {
    let date = Condition::Param {
        param: "date".into(),
        ptype: ParamType::Date,
        modifier: Modifier::None,
        values: vec![SearchValue::Date {
            prefix: Prefix::Ge,
            low: 5,
            high: 6,
        }],
    };
    let name = Condition::Param {
        param: "name".into(),
        ptype: ParamType::String,
        modifier: Modifier::None,
        values: vec![SearchValue::String("eve".into())],
    };
    let mut sorted = q(&["Observation"], vec![token("code", "1")]);
    sorted.sort = vec![SortKey {
        param: "date".into(),
        ptype: ParamType::Date,
        direction: Direction::Desc,
    }];
    vec![
        ("type only", q(&["Observation"], vec![])),
        ("token", q(&["Observation"], vec![token("code", "1")])),
        (
            "token and reference",
            q(
                &["Observation"],
                vec![token("code", "1"), reference("subject", "Patient", "p")],
            ),
        ),
        ("date", q(&["Observation"], vec![date])),
        ("string", q(&["Patient"], vec![name.clone()])),
        (
            "chain",
            q(
                &["Observation"],
                vec![Condition::Chain {
                    param: "subject".into(),
                    target_type: Some("Patient".into()),
                    condition: Box::new(name),
                }],
            ),
        ),
        (
            "has",
            q(
                &["Patient"],
                vec![Condition::Has {
                    rtype: "Observation".into(),
                    param: "subject".into(),
                    condition: Box::new(token("code", "1")),
                }],
            ),
        ),
        (
            "compartment",
            q(
                &["Observation"],
                vec![Condition::Compartment {
                    compartment: "Patient".into(),
                    id: "p".into(),
                    params: vec!["subject".into(), "performer".into()],
                }],
            ),
        ),
        ("sorted", sorted),
    ]
}

#[test]
fn searches_use_indexes() {
    let conn = schema();
    for (what, query) in cases() {
        let p = plan(&conn, &query);
        eprintln!("{what}: {p}");
        for table in ["idx_", "current"] {
            assert!(!p.contains(&format!("SCAN {table}")), "{what}: {p}");
        }
        // With a condition, its matches drive the lookup of `current` by key.
        let outer = p.split("; ").next().unwrap_or_default();
        if !query.conditions.is_empty() && what != "date" {
            assert!(outer.contains("rk=?"), "{what}: {p}");
        }
    }
}

/// The condition with the fewest index rows drives, whatever the order the query gives them
/// in; among conditions the first estimate cannot tell apart, the second one decides.
#[test]
fn the_smallest_condition_drives() {
    let conn = schema();
    conn.execute_batch(
        "INSERT INTO search_param (pid, param, rtype) VALUES
           (1, 'status', 'Observation'), (2, 'code', 'Observation'), (3, 'category', 'Observation');",
    )
    .unwrap();
    let mut insert = conn
        .prepare("INSERT INTO idx_token (rk, pid, ord, system, code) VALUES (?1, ?2, 0, 'http://loinc.org', ?3)")
        .unwrap();
    for rk in 1..=6_000i64 {
        insert.execute(rusqlite::params![rk, 1, "final"]).unwrap();
        if rk <= 3_000 {
            insert.execute(rusqlite::params![rk, 3, "lab"]).unwrap();
        }
        if rk <= 3 {
            insert.execute(rusqlite::params![rk, 2, "8867-4"]).unwrap();
        }
    }
    let driver = |conditions: Vec<Condition>| {
        super::driver(&conn, &q(&["Observation"], conditions), 0)
            .unwrap_or_else(|_| panic!("driver"))
    };
    let (status, code, category) = (
        || token("status", "final"),
        || token("code", "8867-4"),
        || token("category", "lab"),
    );
    assert_eq!(driver(vec![status(), code()]), Some(1));
    assert_eq!(driver(vec![code(), status()]), Some(0));
    // Both past the first cap (1,000): the second estimate (up to 5,000) finds category smaller.
    assert_eq!(driver(vec![status(), category()]), Some(1));
    assert_eq!(driver(vec![category(), status()]), Some(0));
    // One condition: nothing to choose.
    assert_eq!(driver(vec![status()]), None);
}
