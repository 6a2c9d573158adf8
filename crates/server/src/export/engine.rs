//! The export engine shared by `$export` jobs and `zdrav export`: walks the store one type at a
//! time (keyset scans), keeps the resources the export's level selects, as they were at the
//! transaction time, and writes them as NDJSON files of at most `max_per_file` lines.

use bytes::Bytes;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use zdrav_fhir::Definitions;
use zdrav_fhirpath::Output;
use zdrav_search::IndexValue;
use zdrav_store::{DynStore, HistoryQuery, HistoryScope, ScanQuery, StoreError, StoredResource};

/// Whose data an export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// Every resource (`/$export`).
    System,
    /// Patients and the resources in some patient's compartment (`/Patient/$export`).
    Patient,
    /// These patients and the resources in their compartments (`/Group/[id]/$export`).
    Group(HashSet<String>),
}

/// What an export selects.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Whose data.
    pub level: Level,
    /// `_type`: only these types (`None`: every type the level allows).
    pub types: Option<Vec<String>>,
    /// `_since`: only resources last updated at or after this instant (µs since the epoch).
    pub since_micros: Option<i64>,
    /// The transaction time (µs): versions committed after it are not exported; the version
    /// current at that instant is exported instead.
    pub until_micros: i64,
}

/// How an export writes its files.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most resources in one file; the next ones go to `Type-2.ndjson`, `Type-3.ndjson`, ...
    pub max_per_file: u64,
    /// Resources per store scan call.
    pub page_size: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_per_file: 100_000,
            page_size: 1000,
        }
    }
}

/// One NDJSON file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Resource type of every line.
    pub rtype: String,
    /// File name inside the export directory.
    pub name: String,
    /// Lines (resources) in the file.
    pub count: u64,
}

/// Live progress of a run, read by the status endpoint while the run goes on.
#[derive(Debug, Default)]
pub struct Progress {
    types_total: AtomicUsize,
    types_done: AtomicUsize,
    resources: AtomicU64,
    current: Mutex<String>,
    cancelled: AtomicBool,
}

impl Progress {
    /// A one-line summary for `X-Progress`.
    pub fn describe(&self) -> String {
        let current = self.current.lock().map(|c| c.clone()).unwrap_or_default();
        let total = self.types_total.load(Ordering::Relaxed);
        if total == 0 && current.is_empty() {
            return "starting".into();
        }
        format!(
            "{} of {total} types done, {} resources written{}",
            self.types_done.load(Ordering::Relaxed),
            self.resources(),
            if current.is_empty() {
                String::new()
            } else {
                format!(", now {current}")
            }
        )
    }

    /// Resources written so far.
    pub fn resources(&self) -> u64 {
        self.resources.load(Ordering::Relaxed)
    }

    /// Asks the run to stop at its next page. Aborting the task instead would leave file
    /// operations already handed to the blocking pool running, and they could recreate files
    /// after the job's directory has been removed.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), ExportError> {
        if self.cancelled.load(Ordering::Relaxed) {
            Err(ExportError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn set_current(&self, rtype: &str) {
        if let Ok(mut c) = self.current.lock() {
            *c = rtype.to_string();
        }
    }
}

/// Why an export failed (never the client's doing: the kick-off checked the request).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A worker thread failed.
    #[error("export worker failed: {0}")]
    Worker(String),
    /// The job was cancelled.
    #[error("the export was cancelled")]
    Cancelled,
    /// A registered document body no longer matches its registered hash; it is not exported.
    #[error("{0}")]
    Integrity(String),
}

/// True for the types a patient-level export can hold: Patient and every type the Patient
/// CompartmentDefinition links to a patient.
pub fn in_patient_compartment(defs: &Definitions, rtype: &str) -> bool {
    rtype == "Patient"
        || defs
            .patient_compartment
            .get(rtype)
            .is_some_and(|p| !p.is_empty())
}

/// The types an export walks, sorted: those holding resources, narrowed by the level and `_type`.
pub async fn types_to_export(
    store: &DynStore,
    defs: &Definitions,
    plan: &Plan,
) -> Result<Vec<String>, StoreError> {
    let mut types: Vec<String> = store
        .counts()
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t)
        .filter(|t| plan.types.as_ref().is_none_or(|l| l.contains(t)))
        .filter(|t| plan.level == Level::System || in_patient_compartment(defs, t))
        .collect();
    types.sort();
    types.dedup();
    Ok(types)
}

/// The ids of the Patients whose compartment `resource` is in through its compartment search
/// parameters (a Patient's own compartment, by id, is not among them). Only those parameters are
/// evaluated, not the whole index: the export asks this of most resources it reads.
pub fn compartment_patients(defs: &Definitions, rtype: &str, resource: &Value) -> Vec<String> {
    let registry = zdrav_search::registry();
    let mut patients = Vec::new();
    let mut values = Vec::new();
    for code in registry.compartment_params("Patient", rtype) {
        let Some(p) = registry
            .param(rtype, code)
            .filter(|p| p.unsupported.is_none())
        else {
            continue;
        };
        let Some(Ok(found)) = p.expression.as_ref().map(|e| e.evaluate(defs, resource)) else {
            continue;
        };
        values.clear();
        for o in &found {
            if let Output::Node(n) = o {
                zdrav_search::to_index_values(p.ptype, n.value, &n.fhir_type, &mut values);
            }
        }
        for v in values.drain(..) {
            if let IndexValue::Reference {
                target_type: Some(t),
                target_id: Some(id),
                ..
            } = v
            {
                if t == "Patient" && !patients.contains(&id) {
                    patients.push(id);
                }
            }
        }
    }
    patients
}

/// True when the level selects the resource `r` (already parsed into `v` when needed).
fn selected(defs: &Definitions, level: &Level, r: &StoredResource, v: Option<&Value>) -> bool {
    let in_compartment = |wanted: &dyn Fn(&str) -> bool| {
        v.is_some_and(|v| {
            compartment_patients(defs, &r.rtype, v)
                .iter()
                .any(|p| wanted(p))
        })
    };
    match level {
        Level::System => true,
        Level::Patient => r.rtype == "Patient" || in_compartment(&|_| true),
        Level::Group(ids) if r.rtype == "Patient" => ids.contains(&r.id),
        Level::Group(ids) => in_compartment(&|p| ids.contains(p)),
    }
}

/// The NDJSON line of `r` if the plan selects it: the stored bytes when they are one line
/// already (the store keeps compact JSON), else the resource re-serialised compactly.
fn line_for(defs: &Definitions, plan: &Plan, r: &StoredResource) -> Option<Bytes> {
    let multi_line = r.json.iter().any(|b| *b == b'\n' || *b == b'\r');
    let parsed: Option<Value> = if plan.level != Level::System || multi_line {
        Some(serde_json::from_slice(&r.json).ok()?)
    } else {
        None
    };
    if !selected(defs, &plan.level, r, parsed.as_ref()) {
        return None;
    }
    match parsed {
        Some(v) if multi_line => serde_json::to_vec(&v).ok().map(Bytes::from),
        _ => Some(r.json.clone()),
    }
}

/// Fails the export on a registered body that does not match its registered hash
/// (`integrity::check`): such bytes are never served, in a file either.
async fn check_body(store: &DynStore, r: &StoredResource) -> Result<(), ExportError> {
    crate::integrity::check_in(store, r).await.map_err(|e| {
        let why: Vec<&str> = e.issues.iter().map(|i| i.diagnostics.as_str()).collect();
        ExportError::Integrity(why.join("; "))
    })
}

/// The micros of a stored `lastUpdated`.
fn updated_micros(r: &StoredResource) -> i64 {
    zdrav_store::parse_fhir_datetime_range(&r.last_updated).map_or(i64::MAX, |(start, _)| start)
}

/// Splits a scan page into the selected lines and the resources changed after the transaction
/// time (whose earlier version is looked up separately).
fn select_page(
    defs: &Definitions,
    plan: &Plan,
    page: Vec<StoredResource>,
) -> (Vec<Bytes>, Vec<StoredResource>) {
    let mut lines = Vec::with_capacity(page.len());
    let mut late = Vec::new();
    for r in page {
        if updated_micros(&r) > plan.until_micros {
            late.push(r);
        } else if let Some(line) = line_for(defs, plan, &r) {
            lines.push(line);
        }
    }
    (lines, late)
}

/// The version of `r` that was current at `until`, if it existed and was not deleted then.
async fn version_at(
    store: &DynStore,
    r: &StoredResource,
    until: i64,
) -> Result<Option<StoredResource>, StoreError> {
    let page = store
        .history(HistoryQuery {
            scope: HistoryScope::Instance(r.rtype.clone(), r.id.clone()),
            since_micros: None,
            at_micros: Some((until, until.saturating_add(1))),
            snapshot: None,
            offset: 0,
            count: 1,
        })
        .await?;
    Ok(page.entries.into_iter().next().filter(|v| !v.deleted))
}

/// The file name of part `n` (from 1) of a type's output.
pub fn file_name(rtype: &str, n: usize) -> String {
    if n <= 1 {
        format!("{rtype}.ndjson")
    } else {
        format!("{rtype}-{n}.ndjson")
    }
}

/// The files of one type, opened lazily so that a type with nothing selected leaves no file.
struct FileSet<'a> {
    dir: &'a Path,
    rtype: &'a str,
    max: u64,
    files: Vec<OutputFile>,
    current: Option<(PathBuf, tokio::io::BufWriter<tokio::fs::File>)>,
}

impl FileSet<'_> {
    async fn write(&mut self, line: &[u8]) -> Result<(), ExportError> {
        let full = self.files.last().is_none_or(|f| f.count >= self.max);
        if full || self.current.is_none() {
            self.close().await?;
            let name = file_name(self.rtype, self.files.len() + 1);
            let path = self.dir.join(&name);
            let file = tokio::fs::File::create(&path)
                .await
                .map_err(|source| ExportError::Io {
                    path: path.clone(),
                    source,
                })?;
            self.current = Some((path, tokio::io::BufWriter::with_capacity(256 * 1024, file)));
            self.files.push(OutputFile {
                rtype: self.rtype.to_string(),
                name,
                count: 0,
            });
        }
        if let Some((path, w)) = self.current.as_mut() {
            let io = |source| ExportError::Io {
                path: path.clone(),
                source,
            };
            w.write_all(line).await.map_err(io)?;
            w.write_all(b"\n").await.map_err(io)?;
        }
        if let Some(f) = self.files.last_mut() {
            f.count += 1;
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), ExportError> {
        if let Some((path, mut w)) = self.current.take() {
            w.flush()
                .await
                .map_err(|source| ExportError::Io { path, source })?;
        }
        Ok(())
    }
}

/// Runs an export into `dir` (which must exist) and returns the files written, in type order.
pub async fn run(
    store: &DynStore,
    defs: &'static Definitions,
    plan: Arc<Plan>,
    dir: &Path,
    options: &Options,
    progress: &Progress,
) -> Result<Vec<OutputFile>, ExportError> {
    let types = types_to_export(store, defs, &plan).await?;
    progress.types_total.store(types.len(), Ordering::Relaxed);
    let mut files = Vec::new();
    for rtype in &types {
        progress.set_current(rtype);
        let mut out = FileSet {
            dir,
            rtype,
            max: options.max_per_file.max(1),
            files: Vec::new(),
            current: None,
        };
        let mut after = 0;
        loop {
            progress.check()?;
            let page = store
                .scan(ScanQuery {
                    rtype: rtype.clone(),
                    since_micros: plan.since_micros,
                    after,
                    limit: options.page_size,
                })
                .await?;
            for r in &page.resources {
                check_body(store, r).await?;
            }
            let (lines, late) = if plan.level == Level::System {
                select_page(defs, &plan, page.resources)
            } else {
                // Compartment checks parse every resource: CPU work kept off the async workers.
                let plan = plan.clone();
                tokio::task::spawn_blocking(move || select_page(defs, &plan, page.resources))
                    .await
                    .map_err(|e| ExportError::Worker(e.to_string()))?
            };
            let mut written = lines.len() as u64;
            for line in &lines {
                out.write(line).await?;
            }
            for r in late {
                let Some(old) = version_at(store, &r, plan.until_micros).await? else {
                    continue;
                };
                if plan.since_micros.is_some_and(|s| updated_micros(&old) < s) {
                    continue;
                }
                check_body(store, &old).await?;
                if let Some(line) = line_for(defs, &plan, &old) {
                    out.write(&line).await?;
                    written += 1;
                }
            }
            progress.resources.fetch_add(written, Ordering::Relaxed);
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        out.close().await?;
        files.extend(out.files);
        progress.types_done.fetch_add(1, Ordering::Relaxed);
    }
    progress.set_current("");
    progress.check()?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(v: &Value) -> StoredResource {
        StoredResource {
            rtype: v["resourceType"].as_str().unwrap_or_default().into(),
            id: v["id"].as_str().unwrap_or_default().into(),
            version: 1,
            last_updated: "2026-01-01T00:00:00.000000Z".into(),
            deleted: false,
            json: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        }
    }

    fn plan(level: Level) -> Plan {
        Plan {
            level,
            types: None,
            since_micros: None,
            until_micros: i64::MAX,
        }
    }

    #[test]
    fn compartment_patients_match_the_index_owner() {
        let defs = zdrav_fhir::r4();
        let obs = json!({"resourceType": "Observation", "id": "o", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p2"},
            "performer": [{"reference": "Patient/p3"}, {"reference": "Practitioner/d"}]});
        let mut got = compartment_patients(defs, "Observation", &obs);
        got.sort();
        assert_eq!(got, vec!["p2".to_string(), "p3".to_string()]);
        let owner =
            zdrav_search::patient_owner("Observation", "o", &zdrav_search::extract(defs, &obs));
        assert_eq!(owner.as_deref(), Some("p2"));
        let org = json!({"resourceType": "Organization", "id": "o", "name": "x"});
        assert!(compartment_patients(defs, "Organization", &org).is_empty());
        let grp = json!({"resourceType": "Observation", "id": "o", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Group/g"}});
        assert!(compartment_patients(defs, "Observation", &grp).is_empty());
    }

    #[test]
    fn levels_select_by_compartment() {
        let defs = zdrav_fhir::r4();
        let p1 = stored(&json!({"resourceType": "Patient", "id": "p1"}));
        let p2 = stored(&json!({"resourceType": "Patient", "id": "p2"}));
        let enc = stored(
            &json!({"resourceType": "Encounter", "id": "e", "status": "finished",
            "class": {"code": "AMB"}, "subject": {"reference": "Patient/p2"}}),
        );
        let org = stored(&json!({"resourceType": "Organization", "id": "o", "name": "x"}));
        let all = [&p1, &p2, &enc, &org];
        let pick = |level: Level| -> usize {
            let plan = plan(level);
            all.iter()
                .filter(|r| line_for(defs, &plan, r).is_some())
                .count()
        };
        assert_eq!(pick(Level::System), 4);
        assert_eq!(pick(Level::Patient), 3);
        assert_eq!(pick(Level::Group(HashSet::from(["p2".to_string()]))), 2);
        assert_eq!(pick(Level::Group(HashSet::from(["p1".to_string()]))), 1);
    }

    #[test]
    fn lines_are_single_lines() {
        let defs = zdrav_fhir::r4();
        let mut r = stored(&json!({"resourceType": "Patient", "id": "p1"}));
        r.json = Bytes::from_static(b"{\n  \"resourceType\": \"Patient\",\n  \"id\": \"p1\"\n}");
        let line = line_for(defs, &plan(Level::System), &r).unwrap_or_default();
        assert_eq!(&line[..], br#"{"resourceType":"Patient","id":"p1"}"#);
        let late = StoredResource {
            last_updated: "2030-01-01T00:00:00Z".into(),
            ..r
        };
        let mut p = plan(Level::System);
        p.until_micros = 0;
        let (lines, late) = select_page(defs, &p, vec![late]);
        assert!(lines.is_empty());
        assert_eq!(late.len(), 1);
    }

    #[tokio::test]
    async fn files_split_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = FileSet {
            dir: dir.path(),
            rtype: "Patient",
            max: 2,
            files: Vec::new(),
            current: None,
        };
        for i in 0..5 {
            set.write(format!("{{\"n\":{i}}}").as_bytes())
                .await
                .unwrap();
        }
        set.close().await.unwrap();
        let counts: Vec<(String, u64)> = set
            .files
            .iter()
            .map(|f| (f.name.clone(), f.count))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("Patient.ndjson".to_string(), 2),
                ("Patient-2.ndjson".to_string(), 2),
                ("Patient-3.ndjson".to_string(), 1)
            ]
        );
        let last = std::fs::read_to_string(dir.path().join("Patient-3.ndjson")).unwrap();
        assert_eq!(last, "{\"n\":4}\n");
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("Patient", 1), "Patient.ndjson");
        assert_eq!(file_name("Patient", 3), "Patient-3.ndjson");
    }
}
