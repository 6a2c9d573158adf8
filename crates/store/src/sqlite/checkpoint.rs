//! WAL checkpoints on their own thread and connection.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so the
//! writer (and every request queued behind it) waits while the WAL is copied into the database
//! and fsynced: about half of the writer's time in a bulk load. Here the writer only signals
//! after a commit, and this thread runs a PASSIVE checkpoint, which never blocks the writer or the
//! readers. When the WAL has grown past [`RESTART_FRAMES`] (checkpoints keep racing new commits,
//! so SQLite never gets the chance to start the log over) a RESTART checkpoint waits for a quiet
//! moment and makes the next commit rewind the log. The writer keeps a large automatic
//! checkpoint as a backstop, should this thread ever stop.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use super::schema::{self, Role};

/// WAL frames (pages) above which a checkpoint also makes the log start over: 256 MB of pages.
const RESTART_FRAMES: i64 = 65_536;
/// Checkpoints also run this often without a signal, so a WAL left by an idle writer is copied.
const IDLE: Duration = Duration::from_secs(2);
/// The least time between two checkpoints. A checkpoint copies every page the log holds, and
/// the pages small commits touch are mostly the same few (index and table interior pages), so
/// letting commits gather first copies each such page once instead of once per commit: run
/// after every commit, checkpoints took a seventh of the server's time in a registration load.
const GAP: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Signal {
    /// Commits since the last checkpoint began.
    pending: bool,
    stop: bool,
    /// The thread waits for a commit (not out its gap), so a commit must wake it.
    idle: bool,
}

/// The checkpoint thread of one store; stops (after its current checkpoint) when dropped.
pub(super) struct Checkpointer {
    shared: Arc<(Mutex<Signal>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to `path`.
    pub(super) fn start(path: &Path) -> Result<Checkpointer, super::Error> {
        let conn = schema::connect(path, Role::Checkpointer)?;
        let shared = Arc::new((Mutex::new(Signal::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("zdrav-checkpoint".into())
            .spawn(move || run(&conn, &theirs))
            .map_err(|e| crate::StoreError::Backend(format!("cannot start checkpointer: {e}")))?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// Tells the thread that a commit added to the WAL.
    pub(super) fn committed(&self) {
        let (lock, cv) = &*self.shared;
        let mut s = lock.lock();
        s.pending = true;
        // Waking the thread during its gap would only cost a thread switch per commit.
        if s.idle {
            cv.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().stop = true;
        cv.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, shared: &(Mutex<Signal>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        {
            let mut s = lock.lock();
            if !s.pending && !s.stop {
                s.idle = true;
                cv.wait_for(&mut s, IDLE);
                s.idle = false;
            }
            if s.stop {
                return;
            }
            s.pending = false;
        }
        let began = std::time::Instant::now();
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the writer's own checkpoint remains");
        }
        let mut s = lock.lock();
        while !s.stop {
            let Some(left) = GAP.checked_sub(began.elapsed()) else {
                break;
            };
            cv.wait_for(&mut s, left);
        }
    }
}

/// One PASSIVE checkpoint, then a RESTART one if the log has grown too long.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let log: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if log > RESTART_FRAMES {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_len(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(std::path::PathBuf::from(wal)).map_or(0, |m| m.len())
    }

    /// Commits by another connection are copied into the database file without that connection
    /// ever checkpointing, and the log starts over once it has all been copied.
    #[test]
    fn copies_the_wal_into_the_database() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.db");
        let mut writer = schema::connect(&path, Role::Writer).unwrap_or_else(|_| panic!("open"));
        if schema::migrate(&mut writer).is_err() {
            panic!("migrate");
        }
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let c = Checkpointer::start(&path).unwrap_or_else(|_| panic!("start"));
        let db_before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..20 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(100000))", [])
                .unwrap();
            c.committed();
        }
        // The thread catches up within a few checkpoints.
        let mut grown = false;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            if std::fs::metadata(&path).unwrap().len() > db_before + 1_500_000 {
                grown = true;
                break;
            }
        }
        assert!(grown, "the database file never received the WAL's pages");
        drop(c);
        // Everything is copied: the next commit rewinds the log instead of appending.
        let before = wal_len(&path);
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert!(
            wal_len(&path) <= before,
            "the log grew: {before} -> {}",
            wal_len(&path)
        );
    }
}
