//! `zdrav export`: writes a database's resources as `<Type>.ndjson` files straight from the store
//! (no server) through the same engine as `$export`; and the export directory of `zdrav serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use zdrav_server::export::{self, Exports, Level, Options, Plan, Progress};
use zdrav_server::{ApiError, Ctx};
use zdrav_store::DynStore;

fn message(e: ApiError) -> String {
    e.issues
        .iter()
        .map(|i| i.diagnostics.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The default export directory of `serve`: `zdrav-export` beside a SQLite database file, else
/// in the system temp directory.
pub fn default_dir(database: &str) -> PathBuf {
    match database.strip_prefix("sqlite://") {
        Some(path) if !path.is_empty() => Path::new(path)
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            .join("zdrav-export"),
        _ => std::env::temp_dir().join("zdrav-export"),
    }
}

/// Points the server's `$export` jobs at `dir` (or the default for `database`) and removes what
/// expired or was left unfinished there by an earlier run.
pub fn serve_jobs(ctx: &mut Ctx, database: &str, dir: Option<PathBuf>) {
    let dir = dir.unwrap_or_else(|| default_dir(database));
    let exports = Exports::new(dir);
    let removed = exports.sweep();
    if removed > 0 {
        tracing::info!(removed, dir = %exports.dir().display(), "removed expired export jobs");
    }
    ctx.exports = Arc::new(exports);
}

/// Runs `zdrav export`.
pub async fn run(
    store: DynStore,
    out: &Path,
    types: Option<&str>,
    since: Option<&str>,
    patient_level: bool,
) -> Result<(), String> {
    let defs = zdrav_fhir::r4();
    let types = types
        .map(|t| export::params::parse_types(defs, t))
        .transpose()
        .map_err(message)?;
    let since_micros = since
        .map(export::params::parse_since)
        .transpose()
        .map_err(message)?;
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        if entries.next().is_some() {
            return Err(format!(
                "{} is not empty: export into a new or empty directory",
                out.display()
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let until_micros = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let plan = Arc::new(Plan {
        level: if patient_level {
            Level::Patient
        } else {
            Level::System
        },
        types,
        since_micros,
        until_micros,
    });
    let options = Options {
        // One file per type, as the command promises.
        max_per_file: u64::MAX,
        ..Options::default()
    };
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                eprintln!("zdrav export: {}", progress.describe());
            }
        })
    };
    let result = export::run(&store, defs, plan, out, &options, &progress).await;
    reporter.abort();
    let files = result.map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let total: u64 = files.iter().map(|f| f.count).sum();
    for f in &files {
        println!("{:<32} {:>10}  {}", f.rtype, f.count, f.name);
    }
    println!(
        "exported {total} resources of {} types to {} in {seconds:.2} s: {:.0} resources/s",
        files.len(),
        out.display(),
        total as f64 / seconds.max(1e-9)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_export_dir() {
        assert_eq!(
            default_dir("sqlite:///var/lib/zdrav/z.db"),
            PathBuf::from("/var/lib/zdrav/zdrav-export")
        );
        assert_eq!(default_dir("sqlite://z.db"), PathBuf::from("zdrav-export"));
        assert_eq!(
            default_dir("postgres://x/y"),
            std::env::temp_dir().join("zdrav-export")
        );
    }
}
