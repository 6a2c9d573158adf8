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
