//! Planner statistics that keep up with bulk loads.
//!
//! PostgreSQL's autovacuum analyses a table only after its naptime and once a tenth of it has
//! changed, so straight after a bulk load the planner knows nothing of the new index rows: the
//! exact count of `Observation?code=…` took more than 9 s instead of 40–70 ms. The store counts the
//! resources it writes and, once they reach a fifth of what the last analysis saw (at least
//! [`MIN_WRITES`]), analyses its own tables in the background, one run at a time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use deadpool_postgres::Pool;

use crate::sql::layout::TABLES;

/// Writes below which a new analysis is never worth it.
const MIN_WRITES: u64 = 20_000;

/// The write counter and the single background run.
#[derive(Default)]
pub(super) struct Analyzer {
    /// Resources written since the last analysis began.
    since: AtomicU64,
    /// Resources the last analysis covered (a running total of writes).
    covered: AtomicU64,
    running: AtomicBool,
    /// Analyses finished, for tests.
    runs: AtomicU64,
}

impl Analyzer {
    /// Counts `n` written resources and starts an analysis when enough have accumulated.
    pub(super) fn wrote(self: &Arc<Self>, pool: &Pool, n: u64) {
        let since = self.since.fetch_add(n, Ordering::Relaxed) + n;
        let covered = self.covered.load(Ordering::Relaxed);
        if since < MIN_WRITES.max(covered / 5) {
            return;
        }
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let taken = self.since.swap(0, Ordering::Relaxed);
        self.covered.fetch_add(taken, Ordering::Relaxed);
        let me = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(e) = analyze(&pool).await {
                tracing::warn!(error = %e, "ANALYZE after a bulk write failed");
            }
            me.runs.fetch_add(1, Ordering::Relaxed);
            me.running.store(false, Ordering::Release);
        });
    }

    /// Analyses finished so far.
    pub(super) fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

async fn analyze(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let tables: Vec<&str> = ["current", "history"].into_iter().chain(TABLES).collect();
    client
        .batch_execute(&format!("ANALYZE {}", tables.join(", ")))
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!("analysed after bulk writes");
    Ok(())
}
