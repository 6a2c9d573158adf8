//! What the SQL backends share: the column layout of the index tables, the search SQL builder,
//! the planning of a commit (reshaping, stamping, preconditions) and the include walk. Each
//! backend runs the SQL on its own driver; the few places where SQLite and PostgreSQL spell
//! things differently go through [`Dialect`].

pub(crate) mod commit;
pub(crate) mod include;
pub(crate) mod layout;
pub(crate) mod search;

use crate::StoreError;

/// A statement argument, independent of the driver that binds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// A 64-bit integer (keys, versions, microseconds).
    Int(i64),
    /// A double (numbers and quantities).
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Real(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

/// The SQL spelling a backend needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?` placeholders, `instr`, positional composite columns.
    Sqlite,
    /// `$n` placeholders, `strpos`, typed composite columns named by field.
    Postgres,
}

/// SQL text with its positional arguments, built side by side so that they stay in step.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) dialect: Dialect,
    aliases: usize,
    /// The current instant, for `ap` on dates.
    pub(crate) now: i64,
    /// The patients a search is limited to (`SearchQuery::patients`), for every resource a
    /// condition looks at, not only the matches.
    pub(crate) patients: Option<Vec<String>>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect, now: i64) -> Sql {
        Sql {
            text: String::with_capacity(256),
            args: Vec::new(),
            dialect,
            aliases: 0,
            now,
            patients: None,
        }
    }

    /// Appends "the resource aliased `a` is of no patient or of an allowed one" (nothing
    /// when the search is not limited to patients).
    pub(crate) fn patient_limit(&mut self, a: &str) {
        let Some(patients) = self.patients.clone() else {
            return;
        };
        self.push(&format!(" AND ({a}.pat IS NULL"));
        if !patients.is_empty() {
            self.push(&format!(" OR {a}.pat IN ("));
            self.list(&patients);
            self.push(")");
        }
        self.push(")");
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a placeholder bound to `v`.
    pub(crate) fn arg(&mut self, v: impl Into<Arg>) {
        self.args.push(v.into());
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.args.len().to_string());
            }
        }
    }

    /// Appends `?, ?, …` bound to `values`.
    pub(crate) fn list(&mut self, values: &[String]) {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(v.clone());
        }
    }

    /// A table alias not used elsewhere in the statement.
    pub(crate) fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// Appends "`column` contains `needle`", compared literally (no LIKE, so `%` and `_` in the
    /// needle are plain characters).
    pub(crate) fn contains(&mut self, column: &str, needle: &str) {
        match self.dialect {
            Dialect::Sqlite => self.push(&format!("instr({column}, ")),
            Dialect::Postgres => self.push(&format!("strpos({column}, ")),
        }
        self.arg(needle.to_owned());
        self.push(") > 0");
    }
}

/// A query the store cannot run; the caller should have rejected it as a bad request.
pub(crate) fn unsupported(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("search: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        for (dialect, want) in [
            (Dialect::Sqlite, "a = ? AND instr(b, ?) > 0"),
            (Dialect::Postgres, "a = $1 AND strpos(b, $2) > 0"),
        ] {
            let mut sql = Sql::new(dialect, 0);
            sql.push("a = ");
            sql.arg(1i64);
            sql.push(" AND ");
            sql.contains("b", "x");
            assert_eq!(sql.text, want);
            assert_eq!(sql.args, [Arg::Int(1), Arg::Text("x".into())]);
        }
    }
}
