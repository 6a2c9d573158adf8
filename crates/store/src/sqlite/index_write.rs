//! Writing a resource's search index rows inside the commit transaction.

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, OptionalExtension};
use zdrav_search::{IndexRow, IndexValue};

use super::Error;
use crate::sql::layout::{columns, Cell, Kind, COMPOSITE, MAX_COMPONENTS, MAX_FIELDS, TABLES};

/// Columns every index row starts with, before its value columns.
const KEY_COLUMNS: usize = 4;

/// The INSERT of each table in [`TABLES`] order.
fn insert_sql() -> &'static [String; 8] {
    static SQL: OnceLock<[String; 8]> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut all: [String; 8] = Default::default();
        for (slot, kind) in all.iter_mut().zip(Kind::ALL) {
            *slot = insert(kind.table(), kind.fields().iter().map(|f| (*f).to_owned()));
        }
        let composite =
            (0..MAX_COMPONENTS).flat_map(|c| (0..MAX_FIELDS).map(move |f| format!("c{c}_{f}")));
        all[7] = insert(COMPOSITE, composite);
        all
    })
}

fn insert(table: &str, fields: impl Iterator<Item = String>) -> String {
    let fields: Vec<String> = fields.collect();
    let marks = vec!["?"; KEY_COLUMNS + fields.len()].join(", ");
    format!(
        "INSERT INTO {table} (rk, pid, ord, pat, {}) VALUES ({marks})",
        fields.join(", ")
    )
}

/// Search parameter ids, type → param → pid. Ids never change once assigned, so the writer keeps
/// them for the life of the store; a commit otherwise looked up each of its ~20 ids again.
pub(super) type Pids = HashMap<String, HashMap<String, i64>>;

/// The parameter ids a group transaction knows: those committed before it (`known`), and those
/// it looked up or assigned itself (`fresh`), which join `known` only once the group commits,
/// since an id assigned by a transaction that rolls back does not exist.
pub(super) struct PidScope<'a> {
    /// Ids of committed transactions.
    pub(super) known: &'a Pids,
    /// Ids found or assigned by this transaction.
    pub(super) fresh: Pids,
}

impl PidScope<'_> {
    fn get(&self, rtype: &str, param: &str) -> Option<i64> {
        [self.known, &self.fresh]
            .iter()
            .find_map(|m| m.get(rtype).and_then(|m| m.get(param)).copied())
    }
}

/// The prepared statements of one commit.
pub(super) struct IndexWriter<'tx> {
    delete: Vec<CachedStatement<'tx>>,
    insert: Vec<CachedStatement<'tx>>,
    find_pid: CachedStatement<'tx>,
    add_pid: CachedStatement<'tx>,
}

impl<'tx> IndexWriter<'tx> {
    pub(super) fn new(tx: &'tx Connection) -> Result<IndexWriter<'tx>, Error> {
        let mut delete = Vec::with_capacity(TABLES.len());
        let mut insert = Vec::with_capacity(TABLES.len());
        for (table, sql) in TABLES.iter().zip(insert_sql()) {
            delete.push(tx.prepare_cached(&format!("DELETE FROM {table} WHERE rk = ?1"))?);
            insert.push(tx.prepare_cached(sql)?);
        }
        Ok(IndexWriter {
            delete,
            insert,
            find_pid: tx
                .prepare_cached("SELECT pid FROM search_param WHERE param = ?1 AND rtype = ?2")?,
            add_pid: tx
                .prepare_cached("INSERT INTO search_param (param, rtype) VALUES (?1, ?2)")?,
        })
    }

    /// The id of parameter `param` on type `rtype`, assigned on first use.
    fn pid(
        &mut self,
        tx: &Connection,
        pids: &mut PidScope<'_>,
        rtype: &str,
        param: &str,
    ) -> Result<i64, Error> {
        if let Some(pid) = pids.get(rtype, param) {
            return Ok(pid);
        }
        let found = self
            .find_pid
            .query_row([param, rtype], |row| row.get(0))
            .optional()?;
        let pid = match found {
            Some(pid) => pid,
            None => {
                self.add_pid.execute([param, rtype])?;
                tx.last_insert_rowid()
            }
        };
        pids.fresh
            .entry(rtype.to_owned())
            .or_default()
            .insert(param.to_owned(), pid);
        Ok(pid)
    }

    /// Removes every index row of resource `rk`.
    pub(super) fn clear(&mut self, rk: i64) -> Result<(), Error> {
        for stmt in &mut self.delete {
            stmt.execute([rk])?;
        }
        Ok(())
    }

    /// Inserts `rows` for resource `rk` of type `rtype`, each carrying the resource's
    /// patient-compartment owner `pat`. Components of a composite that are themselves
    /// composite, and components past the third, have no columns and are left out.
    pub(super) fn insert(
        &mut self,
        tx: &Connection,
        pids: &mut PidScope<'_>,
        rk: i64,
        rtype: &str,
        pat: Option<&str>,
        rows: &[IndexRow],
    ) -> Result<(), Error> {
        for (ord, row) in rows.iter().enumerate() {
            let ord = i64::try_from(ord).unwrap_or(i64::MAX);
            let key = (rk, self.pid(tx, pids, rtype, &row.param)?, ord, pat);
            match &row.value {
                IndexValue::Composite(parts) => {
                    let mut values = [Cell::Null; MAX_COMPONENTS * MAX_FIELDS];
                    for (c, part) in parts.iter().take(MAX_COMPONENTS).enumerate() {
                        if let Some((_, cols)) = columns(part) {
                            values[c * MAX_FIELDS..(c + 1) * MAX_FIELDS].copy_from_slice(&cols);
                        }
                    }
                    execute(&mut self.insert[7], key, &values)?;
                }
                value => {
                    if let Some((kind, cols)) = columns(value) {
                        let n = kind.fields().len();
                        execute(&mut self.insert[kind as usize], key, &cols[..n])?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn execute(
    stmt: &mut CachedStatement<'_>,
    (rk, pid, ord, pat): (i64, i64, i64, Option<&str>),
    values: &[Cell<'_>],
) -> Result<(), Error> {
    stmt.raw_bind_parameter(1, rk)?;
    stmt.raw_bind_parameter(2, pid)?;
    stmt.raw_bind_parameter(3, ord)?;
    stmt.raw_bind_parameter(4, pat)?;
    for (i, v) in values.iter().enumerate() {
        let v = match *v {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(i),
            Cell::Real(r) => ValueRef::Real(r),
            Cell::Text(t) => ValueRef::Text(t.as_bytes()),
        };
        stmt.raw_bind_parameter(KEY_COLUMNS + 1 + i, ToSqlOutput::Borrowed(v))?;
    }
    stmt.raw_execute()?;
    Ok(())
}
