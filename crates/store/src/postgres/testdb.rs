//! Throwaway databases for tests: each test gets a database of its own, created through an
//! administrative connection and dropped when its guard goes away.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

use crate::StoreError;

/// A freshly created database, dropped (`WITH (FORCE)`, so open connections do not keep it)
/// when this guard is dropped. Creation and removal run on a thread of their own with its own
/// runtime, so the guard works from synchronous code and inside async tests alike.
#[derive(Debug)]
pub struct PgTestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// Creates `zdrav_t_<pid>_<counter>_<nanos>` on the server of `admin_url` (a URL of an
    /// existing database, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
    pub fn create(admin_url: &str) -> Result<PgTestDatabase, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "zdrav_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_database(admin_url, &name)?;
        admin(admin_url, format!("CREATE DATABASE {name}"))?;
        Ok(PgTestDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL of the database, for [`crate::PgStore::connect`] or `zdrav --database`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.admin_url, sql) {
            eprintln!("cannot drop test database {}: {e}", self.name);
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Backend(format!("not a postgres:// URL with a host: {url}"));
    let scheme_end = url.find("://").ok_or_else(bad)? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    Ok(format!("{}/{name}{query}", &base[..host_end]))
}

/// Runs one statement on the server of `url`, on a thread with its own runtime.
fn admin(url: &str, sql: String) -> Result<(), StoreError> {
    let shown = redact(url);
    let url = url.to_owned();
    let run = move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
            config.connect_timeout(Duration::from_secs(5));
            let (client, conn) = config.connect(NoTls).await.map_err(|e| format!("{e}"))?;
            let task = tokio::spawn(conn);
            let done = client
                .batch_execute(&sql)
                .await
                .map_err(|e| match e.as_db_error() {
                    Some(db) => db.message().to_owned(),
                    None => e.to_string(),
                });
            drop(client);
            let _ = task.await;
            done
        })
    };
    std::thread::spawn(run)
        .join()
        .map_err(|_| StoreError::Backend("test database thread panicked".into()))?
        .map_err(|e| StoreError::Backend(format!("postgres admin at {shown}: {e}")))
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
            ("postgres://u@h:5432", "postgres://u@h:5432/x"),
            (
                "postgresql://u:p@h/db?sslmode=disable",
                "postgresql://u:p@h/x?sslmode=disable",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "x").ok().as_deref(), Some(want));
        }
        assert!(with_database("nonsense", "x").is_err());
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
