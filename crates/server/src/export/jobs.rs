//! `$export` jobs: each kick-off becomes a background task writing into its own directory under
//! the export directory. The registry answers status polls, cancels jobs, finds the files to serve
//! and removes what has expired. A finished job's manifest is kept on disk beside its files, so the
//! files stay downloadable across a restart until they expire.

use super::engine::{self, ExportError, Options, OutputFile, Plan, Progress};
use crate::error::ApiError;
use crate::rest::Ctx;
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use zdrav_fhir::Issue;
use zdrav_store::DynStore;

/// The manifest file in a finished job's directory.
const MANIFEST: &str = "manifest.json";
/// The file of warnings and errors listed in the manifest's `error`.
const ERRORS: &str = "OperationOutcome-errors.ndjson";
/// A job directory without a manifest and untouched this long belongs to no live job (a crash,
/// or a server that shares the directory and has stopped).
const STALE: Duration = Duration::from_secs(10 * 60);
/// How long a cancel waits for the run to reach its next page before aborting it.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// The export jobs of one server.
pub struct Exports {
    dir: PathBuf,
    options: Options,
    ttl: Duration,
    max_running: usize,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

struct Job {
    created: SystemTime,
    /// The token subject that started it; only they may poll, cancel or download.
    owner: Option<String>,
    progress: Arc<Progress>,
    state: Mutex<State>,
    task: Mutex<Option<JoinHandle<()>>>,
}

enum State {
    Running,
    Done(Value),
    Failed(ApiError),
}

/// What a status poll finds.
#[derive(Debug, Clone)]
pub enum Status {
    /// Still running; the text is the progress.
    Running(String),
    /// Finished; the completion manifest.
    Done(Value),
    /// Failed; the error to report.
    Failed(ApiError),
}

/// A job to start.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to export.
    pub plan: Plan,
    /// The kick-off URL, for the manifest's `request`.
    pub url: String,
    /// Warnings for the manifest's `error` file (ignored parameters).
    pub notes: Vec<Issue>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// True for a job id as this server makes them (a lower-case hyphenated UUID): the id names a
/// directory, so nothing else may reach the file system.
fn valid_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

/// The newest modification time of a directory and the files directly in it.
fn last_activity(dir: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
            newest = newest.max(t);
        }
    }
    Some(newest)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Exports {
    /// Jobs kept in `dir` (created when the first job starts), with the default options: files
    /// of up to 100,000 resources, kept for 24 hours, at most 4 jobs running at once.
    pub fn new(dir: PathBuf) -> Exports {
        Exports::with_options(dir, Options::default(), Duration::from_secs(24 * 3600))
    }

    /// Jobs with explicit file options and lifetime.
    pub fn with_options(dir: PathBuf, options: Options, ttl: Duration) -> Exports {
        Exports {
            dir,
            options,
            ttl,
            max_running: 4,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    /// The export directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes expired jobs and the directories no live job owns that are expired or were left
    /// unfinished; returns how many directories went. Blocking file-system work: call it at start
    /// or on a blocking thread. Only directories named like job ids are touched.
    pub fn sweep(&self) -> usize {
        let now = SystemTime::now();
        let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        let keep: HashSet<String> = {
            let mut jobs = lock(&self.jobs);
            jobs.retain(|_, j| {
                matches!(*lock(&j.state), State::Running) || age(j.created) <= self.ttl
            });
            jobs.keys().cloned().collect()
        };
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if !valid_id(&name) || keep.contains(&name) || !path.is_dir() {
                continue;
            }
            let idle = last_activity(&path).map_or(Duration::MAX, age);
            let finished = path.join(MANIFEST).is_file();
            if (idle > self.ttl || (!finished && idle > STALE))
                && std::fs::remove_dir_all(&path).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// Starts a job in the background and returns its id.
    pub fn start(&self, ctx: &Ctx, req: Request) -> Result<String, ApiError> {
        let mut jobs = lock(&self.jobs);
        let running = jobs
            .values()
            .filter(|j| matches!(*lock(&j.state), State::Running))
            .count();
        if running >= self.max_running {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-costly",
                format!(
                    "{running} exports are running, the most this server runs at once; try again when one has finished"
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let owner = match &ctx.caller {
            crate::auth::Caller::Principal(p) => Some(p.sub.clone()),
            crate::auth::Caller::Unrestricted => None,
        };
        let job = Arc::new(Job {
            created: SystemTime::now(),
            owner,
            progress: Arc::new(Progress::default()),
            state: Mutex::new(State::Running),
            task: Mutex::new(None),
        });
        let run = JobRun {
            store: ctx.store.clone(),
            defs: ctx.defs,
            base: ctx.base.clone(),
            id: id.clone(),
            dir: self.dir.join(&id),
            options: self.options.clone(),
            req,
        };
        let progress = job.progress.clone();
        let task_job = job.clone();
        let handle = tokio::spawn(async move {
            let dir = run.dir.clone();
            let state = match run.execute(&progress).await {
                Ok(manifest) => State::Done(manifest),
                Err(ExportError::Cancelled) => {
                    let _ = tokio::fs::remove_dir_all(&dir).await;
                    State::Failed(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "not-found",
                        format!("export job {} was cancelled", run.id),
                    ))
                }
                Err(e) => {
                    tracing::error!(error = %e, job = %run.id, "export failed");
                    let _ = tokio::fs::remove_dir_all(&dir).await;
                    State::Failed(ApiError::internal(format!("the export failed: {e}")))
                }
            };
            *lock(&task_job.state) = state;
        });
        *lock(&job.task) = Some(handle);
        jobs.insert(id.clone(), job);
        Ok(id)
    }

    /// True if `ctx`'s caller may see job `id`: the one who started it (anyone without
    /// authentication). Unknown jobs are left to the caller's own 404.
    pub fn may_see(&self, ctx: &Ctx, id: &str) -> bool {
        let crate::auth::Caller::Principal(p) = &ctx.caller else {
            return true;
        };
        match lock(&self.jobs).get(id) {
            Some(job) => job.owner.as_deref().is_none_or(|o| o == p.sub),
            None => true,
        }
    }

    /// The state of a job; `None` for an unknown or expired one.
    pub async fn status(&self, id: &str) -> Option<Status> {
        if !valid_id(id) {
            return None;
        }
        let job = lock(&self.jobs).get(id).cloned();
        if let Some(job) = job {
            let expired = SystemTime::now()
                .duration_since(job.created)
                .is_ok_and(|a| a > self.ttl);
            let state = lock(&job.state);
            return match &*state {
                State::Running => Some(Status::Running(job.progress.describe())),
                _ if expired => None,
                State::Done(m) => Some(Status::Done(m.clone())),
                State::Failed(e) => Some(Status::Failed(e.clone())),
            };
        }
        // A job finished before a restart: its manifest is on disk.
        let raw = tokio::fs::read(self.dir.join(id).join(MANIFEST))
            .await
            .ok()?;
        let manifest: Value = serde_json::from_slice(&raw).ok()?;
        let at = manifest
            .get("transactionTime")
            .and_then(Value::as_str)
            .and_then(zdrav_store::parse_fhir_datetime_range)?;
        let ttl = i64::try_from(self.ttl.as_micros()).unwrap_or(i64::MAX);
        (now_micros().saturating_sub(at.0) <= ttl).then_some(Status::Done(manifest))
    }

    /// Cancels a job (or deletes a finished one) and removes its files; false if unknown.
    pub async fn cancel(&self, id: &str) -> bool {
        if !valid_id(id) {
            return false;
        }
        let job = lock(&self.jobs).remove(id);
        let dir = self.dir.join(id);
        let known = match job {
            Some(job) => {
                job.progress.cancel();
                let task = lock(&job.task).take();
                if let Some(mut task) = task {
                    // The run stops at its next page with every file operation finished, so
                    // nothing writes into the directory after it is removed below.
                    if tokio::time::timeout(CANCEL_WAIT, &mut task).await.is_err() {
                        task.abort();
                        let _ = task.await;
                    }
                }
                true
            }
            None => tokio::fs::metadata(dir.join(MANIFEST)).await.is_ok(),
        };
        if known {
            if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot remove export files");
                }
            }
        }
        known
    }

    /// The path of a file of a finished job, if the job's manifest lists it.
    pub async fn file(&self, id: &str, name: &str) -> Option<PathBuf> {
        let Some(Status::Done(manifest)) = self.status(id).await else {
            return None;
        };
        let listed = ["output", "error"]
            .iter()
            .filter_map(|k| manifest.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|o| o.get("url").and_then(Value::as_str))
            .any(|u| u.rsplit('/').next() == Some(name));
        listed.then(|| self.dir.join(id).join(name))
    }
}

/// Everything a job's task owns.
struct JobRun {
    store: DynStore,
    defs: &'static zdrav_fhir::Definitions,
    base: String,
    id: String,
    dir: PathBuf,
    options: Options,
    req: Request,
}

impl JobRun {
    async fn execute(&self, progress: &Progress) -> Result<Value, ExportError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ExportError::Io { path, source }
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(io(&self.dir))?;
        let plan = Arc::new(self.req.plan.clone());
        let outputs = engine::run(
            &self.store,
            self.defs,
            plan,
            &self.dir,
            &self.options,
            progress,
        )
        .await?;
        let mut errors = Vec::new();
        if !self.req.notes.is_empty() {
            let mut line = serde_json::to_vec(&zdrav_fhir::operation_outcome(&self.req.notes))
                .unwrap_or_default();
            line.push(b'\n');
            let path = self.dir.join(ERRORS);
            tokio::fs::write(&path, line).await.map_err(io(&path))?;
            errors.push(OutputFile {
                rtype: "OperationOutcome".into(),
                name: ERRORS.into(),
                count: 1,
            });
        }
        let manifest = self.manifest(&outputs, &errors);
        // Written aside and renamed: a manifest on disk always means a complete job.
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        tokio::fs::write(&tmp, body).await.map_err(io(&tmp))?;
        let path = self.dir.join(MANIFEST);
        tokio::fs::rename(&tmp, &path).await.map_err(io(&path))?;
        Ok(manifest)
    }

    fn manifest(&self, outputs: &[OutputFile], errors: &[OutputFile]) -> Value {
        let item = |f: &OutputFile| {
            json!({
                "type": f.rtype,
                "url": format!("{}/$export-file/{}/{}", self.base, self.id, f.name),
                "count": f.count,
            })
        };
        json!({
            "transactionTime": zdrav_store::format_instant(self.req.plan.until_micros),
            "request": self.req.url,
            "requiresAccessToken": false,
            "output": outputs.iter().map(item).collect::<Vec<_>>(),
            "error": errors.iter().map(item).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_canonical_uuids() {
        assert!(valid_id("0b6c9a4e-3f0e-4e8e-9a53-6d1b2f0f7a11"));
        assert!(!valid_id("0B6C9A4E-3F0E-4E8E-9A53-6D1B2F0F7A11"));
        assert!(!valid_id("../etc"));
        assert!(!valid_id("0b6c9a4e3f0e4e8e9a536d1b2f0f7a11"));
    }

    #[test]
    fn sweep_removes_only_unowned_stale_job_directories() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("0b6c9a4e-3f0e-4e8e-9a53-6d1b2f0f7a11");
        let fresh = dir.path().join("1b6c9a4e-3f0e-4e8e-9a53-6d1b2f0f7a11");
        let other = dir.path().join("not-a-job");
        for d in [&old, &fresh, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(fresh.join(MANIFEST), "{}").unwrap();
        // A zero lifetime expires everything that is not running.
        let e = Exports::with_options(dir.path().to_path_buf(), Options::default(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(e.sweep(), 2);
        assert!(other.is_dir());
        let e = Exports::new(dir.path().to_path_buf());
        std::fs::create_dir_all(&old).unwrap();
        assert_eq!(
            e.sweep(),
            0,
            "a fresh unfinished directory may be a live job"
        );
    }
}
