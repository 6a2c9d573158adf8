//! Search index rows gathered into one array per column, so that a commit writes each index
//! table with one statement however many resources it holds (a bulk load writes ~25 rows per
//! resource and thousands of resources per commit): a few rows go in one
//! `INSERT … SELECT FROM unnest(…)` pipelined with the commit's other statements, many rows by
//! binary COPY, which costs two more round trips but saves PostgreSQL from materialising one
//! array per column (the composite table has 73 columns).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use deadpool_postgres::Transaction;
use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use zdrav_search::{IndexRow, IndexValue};

use super::pg_text;
use super::schema::sql_type;
use crate::sql::layout::{
    columns, composite_column, pg_composite_columns, Cell, FieldType, Kind, MAX_COMPONENTS, TABLES,
};
use crate::sql::Dialect;

/// The value columns of each table in [`TABLES`] order, with their types.
fn table_columns() -> &'static [Vec<(String, FieldType)>; 8] {
    static COLUMNS: OnceLock<[Vec<(String, FieldType)>; 8]> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut all: [Vec<(String, FieldType)>; 8] = Default::default();
        for (slot, kind) in all.iter_mut().zip(Kind::ALL) {
            *slot = kind
                .fields()
                .iter()
                .map(|f| ((*f).to_owned(), kind.field_type(f)))
                .collect();
        }
        all[7] = pg_composite_columns();
        all
    })
}

/// The position of each composite column, by name.
fn composite_positions() -> &'static HashMap<String, usize> {
    static POSITIONS: OnceLock<HashMap<String, usize>> = OnceLock::new();
    POSITIONS.get_or_init(|| {
        pg_composite_columns()
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| (name, i))
            .collect()
    })
}

/// Rows from which a table is written by COPY rather than INSERT.
pub(super) const COPY_ROWS: usize = 256;

/// The COPY of each table, naming the columns in the order of [`insert_sql`].
fn copy_sql() -> &'static [String; 8] {
    static SQL: OnceLock<[String; 8]> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut all: [String; 8] = Default::default();
        for ((slot, table), cols) in all.iter_mut().zip(TABLES).zip(table_columns()) {
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            *slot = format!(
                "COPY {table} (rk, pid, ord, pat, {}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            );
        }
        all
    })
}

/// The INSERT of each table, taking one array per column.
pub(super) fn insert_sql() -> &'static [String; 8] {
    static SQL: OnceLock<[String; 8]> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut all: [String; 8] = Default::default();
        for ((slot, table), cols) in all.iter_mut().zip(TABLES).zip(table_columns()) {
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            let mut arrays = vec![
                "$1::bigint[]".to_owned(),
                "$2::integer[]".to_owned(),
                "$3::integer[]".to_owned(),
                "$4::text[]".to_owned(),
            ];
            for (i, (_, ty)) in cols.iter().enumerate() {
                let base = sql_type(*ty).trim_end_matches(" COLLATE \"C\"");
                arrays.push(format!("${}::{base}[]", i + 5));
            }
            *slot = format!(
                "INSERT INTO {table} (rk, pid, ord, pat, {}) SELECT * FROM unnest({})",
                names.join(", "),
                arrays.join(", ")
            );
        }
        all
    })
}

/// The values of one column of a batch.
#[derive(Debug)]
enum Column<'a> {
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<Cow<'a, str>>>),
}

impl<'a> Column<'a> {
    fn new(ty: FieldType) -> Column<'a> {
        match ty {
            FieldType::Int => Column::Int(Vec::new()),
            FieldType::Real => Column::Real(Vec::new()),
            FieldType::Text => Column::Text(Vec::new()),
        }
    }

    /// Appends `cell`; a cell of another type (which the layout never produces) becomes NULL.
    fn push(&mut self, cell: Cell<'a>) {
        match (self, cell) {
            (Column::Int(v), Cell::Int(i)) => v.push(Some(i)),
            (Column::Real(v), Cell::Real(r)) => v.push(Some(r)),
            (Column::Text(v), Cell::Text(t)) => v.push(Some(pg_text(t))),
            (Column::Int(v), _) => v.push(None),
            (Column::Real(v), _) => v.push(None),
            (Column::Text(v), _) => v.push(None),
        }
    }

    /// Value `i`, for a COPY row.
    fn cell(&self, i: usize) -> &(dyn ToSql + Sync) {
        match self {
            Column::Int(v) => &v[i],
            Column::Real(v) => &v[i],
            Column::Text(v) => &v[i],
        }
    }

    fn pg_type(&self) -> Type {
        match self {
            Column::Int(_) => Type::INT8,
            Column::Real(_) => Type::FLOAT8,
            Column::Text(_) => Type::TEXT,
        }
    }

    /// Replaces the last value with `cell`.
    fn set_last(&mut self, cell: Cell<'a>) {
        match self {
            Column::Int(v) => v.pop().map(|_| ()),
            Column::Real(v) => v.pop().map(|_| ()),
            Column::Text(v) => v.pop().map(|_| ()),
        };
        self.push(cell);
    }
}

impl ToSql for Column<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Column::Int(v) => v.to_sql_checked(ty, out),
            Column::Real(v) => v.to_sql_checked(ty, out),
            Column::Text(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <Vec<Option<i64>> as ToSql>::accepts(ty)
            || <Vec<Option<f64>> as ToSql>::accepts(ty)
            || <Vec<Option<String>> as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// The rows of one table.
#[derive(Debug)]
struct Table<'a> {
    rk: Vec<i64>,
    pid: Vec<i32>,
    ord: Vec<i32>,
    pat: Vec<Option<&'a str>>,
    values: Vec<Column<'a>>,
}

impl<'a> Table<'a> {
    fn key(&mut self, rk: i64, pid: i32, ord: i32, pat: Option<&'a str>) {
        self.rk.push(rk);
        self.pid.push(pid);
        self.ord.push(ord);
        self.pat.push(pat);
    }
}

/// The index rows of one commit, per table.
#[derive(Debug)]
pub(super) struct IndexBatch<'a> {
    tables: Vec<Table<'a>>,
}

impl<'a> IndexBatch<'a> {
    pub(super) fn new() -> IndexBatch<'a> {
        let tables = table_columns()
            .iter()
            .map(|cols| Table {
                rk: Vec::new(),
                pid: Vec::new(),
                ord: Vec::new(),
                pat: Vec::new(),
                values: cols.iter().map(|(_, ty)| Column::new(*ty)).collect(),
            })
            .collect();
        IndexBatch { tables }
    }

    /// Adds `rows` of resource `rk`, each carrying the owner `pat`; `pid` gives each row's
    /// parameter id. Components of a composite that are themselves composite, and components
    /// past the third, have no columns and are left out (as on SQLite).
    pub(super) fn add(
        &mut self,
        rk: i64,
        pat: Option<&'a str>,
        rows: &'a [IndexRow],
        pid: impl Fn(&str) -> Option<i32>,
    ) {
        for (ord, row) in rows.iter().enumerate() {
            let Some(pid) = pid(&row.param) else {
                continue;
            };
            let ord = i32::try_from(ord).unwrap_or(i32::MAX);
            match &row.value {
                IndexValue::Composite(parts) => {
                    let table = &mut self.tables[7];
                    table.key(rk, pid, ord, pat);
                    for column in &mut table.values {
                        column.push(Cell::Null);
                    }
                    for (c, part) in parts.iter().take(MAX_COMPONENTS).enumerate() {
                        let Some((kind, cells)) = columns(part) else {
                            continue;
                        };
                        for (field, cell) in kind.fields().iter().zip(cells) {
                            let name = composite_column(Dialect::Postgres, c, kind, field);
                            if let Some(&i) = composite_positions().get(&name) {
                                table.values[i].set_last(cell);
                            }
                        }
                    }
                }
                value => {
                    let Some((kind, cells)) = columns(value) else {
                        continue;
                    };
                    let table = &mut self.tables[kind as usize];
                    table.key(rk, pid, ord, pat);
                    for (column, cell) in table.values.iter_mut().zip(cells) {
                        column.push(cell);
                    }
                }
            }
        }
    }

    /// The tables with rows but fewer than [`COPY_ROWS`]: their index in [`TABLES`] and the
    /// statement parameters, one array per column in the order of [`insert_sql`].
    pub(super) fn params(&self) -> Vec<(usize, Vec<&(dyn ToSql + Sync)>)> {
        let mut out = Vec::new();
        for (i, t) in self.tables.iter().enumerate() {
            if t.rk.is_empty() || t.rk.len() >= COPY_ROWS {
                continue;
            }
            let mut p: Vec<&(dyn ToSql + Sync)> = vec![&t.rk, &t.pid, &t.ord, &t.pat];
            p.extend(t.values.iter().map(|c| c as &(dyn ToSql + Sync)));
            out.push((i, p));
        }
        out
    }
}

impl IndexBatch<'_> {
    /// Writes the tables with at least [`COPY_ROWS`] rows by binary COPY.
    pub(super) async fn copy(&self, tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
        for (t, sql) in self.tables.iter().zip(copy_sql()) {
            if t.rk.len() < COPY_ROWS {
                continue;
            }
            let mut types = vec![Type::INT8, Type::INT4, Type::INT4, Type::TEXT];
            types.extend(t.values.iter().map(Column::pg_type));
            let sink = tx.copy_in(sql.as_str()).await?;
            let writer = BinaryCopyInWriter::new(sink, &types);
            pin_mut!(writer);
            let mut row: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
            for i in 0..t.rk.len() {
                row.clear();
                row.extend([
                    &t.rk[i] as &(dyn ToSql + Sync),
                    &t.pid[i],
                    &t.ord[i],
                    &t.pat[i],
                ]);
                row.extend(t.values.iter().map(|c| c.cell(i)));
                writer.as_mut().write(&row).await?;
            }
            writer.finish().await?;
        }
        Ok(())
    }
}
