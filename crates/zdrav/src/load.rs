//! `zdrav load` and the demo data: transaction/batch Bundles go through the same transaction code
//! as `POST /fhir`; NDJSON lines are validated and written in large transactions.

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;
use zdrav_server::rest::{self, PreferReturn};
use zdrav_server::Ctx;
use zdrav_store::Precondition;

/// What a load did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Files read.
    pub files: usize,
    /// Resources written.
    pub resources: usize,
    /// Wall time.
    pub seconds: f64,
}

/// Resources per NDJSON transaction.
const NDJSON_CHUNK: usize = 1000;

/// Demo patients shipped inside the binary (PySynthea transaction bundles), so the start command
/// shows data on a fresh clone.
static DEMO: &[(&str, &[u8])] = &[
    ("demo-1", include_bytes!("../../../demo/patient-1.json.gz")),
    ("demo-2", include_bytes!("../../../demo/patient-2.json.gz")),
    ("demo-3", include_bytes!("../../../demo/patient-3.json.gz")),
];

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_dir() {
        let mut items: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        items.sort();
        for p in items {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir()
                || [".json", ".json.gz", ".ndjson", ".ndjson.gz"]
                    .iter()
                    .any(|s| name.ends_with(s))
            {
                collect(&p, out)?;
            }
        }
        Ok(())
    } else if path.is_file() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

fn read_maybe_gz(name: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
    if name.ends_with(".gz") {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| format!("{name}: not valid gzip: {e}"))?;
        Ok(out)
    } else {
        Ok(raw.to_vec())
    }
}

/// Loads files and directories.
pub async fn load_paths(ctx: &Ctx, paths: &[PathBuf]) -> Result<Stats, String> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let start = Instant::now();
    let mut stats = Stats::default();
    // Files load concurrently so that one file's parsing and validation overlaps another's commit
    // (SQLite has one writer; the CPU work does not need it). Each file is still its own
    // transaction, so a failure names the file and leaves the others intact.
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = files.into_iter();
    loop {
        while tasks.len() < LOAD_CONCURRENCY {
            let Some(f) = pending.next() else { break };
            let ctx = ctx.clone();
            tasks.spawn(async move {
                let name = f.display().to_string();
                let raw = std::fs::read(&f).map_err(|e| format!("cannot read {name}: {e}"))?;
                let data = read_maybe_gz(&name, &raw)?;
                load_bytes(&ctx, &name, &data).await
            });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let n = done.map_err(|e| format!("a load task failed: {e}"))??;
        stats.files += 1;
        stats.resources += n;
    }
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}

/// Files in flight at once: enough to keep both the CPU and the writer busy.
const LOAD_CONCURRENCY: usize = 3;

/// Loads one file's content; returns the number of resources written.
pub async fn load_bytes(ctx: &Ctx, name: &str, data: &[u8]) -> Result<usize, String> {
    let stem = name.trim_end_matches(".gz");
    if stem.ends_with(".ndjson") {
        return load_ndjson(ctx, name, data).await;
    }
    let v: Value = serde_json::from_slice(data).map_err(|e| {
        format!(
            "{name}: malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    if v.get("resourceType").and_then(Value::as_str) == Some("Bundle")
        && matches!(
            v.get("type").and_then(Value::as_str),
            Some("transaction" | "batch")
        )
    {
        let n = v.get("entry").and_then(Value::as_array).map_or(0, Vec::len);
        let out = zdrav_server::bundle::process(ctx, v, PreferReturn::Minimal)
            .await
            .map_err(|e| format!("{name}: {}", describe(&e)))?;
        if let Some(Value::Array(entries)) = out.get("entry") {
            for (i, e) in entries.iter().enumerate() {
                let status = e
                    .pointer("/response/status")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !status.starts_with('2') {
                    return Err(format!(
                        "{name}: entry {i} failed with {status}: {}",
                        e["response"]["outcome"]
                    ));
                }
            }
        }
        return Ok(n);
    }
    put_all(ctx, vec![v])
        .await
        .map_err(|e| format!("{name}: {e}"))
}

fn describe(e: &zdrav_server::ApiError) -> String {
    e.issues
        .iter()
        .map(|i| match &i.expression {
            Some(x) => format!("{} (at {x})", i.diagnostics),
            None => i.diagnostics.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn load_ndjson(ctx: &Ctx, name: &str, data: &[u8]) -> Result<usize, String> {
    let mut total = 0;
    let mut chunk = Vec::with_capacity(NDJSON_CHUNK);
    for (n, line) in data.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| format!("{name} line {}: malformed JSON: {e}", n + 1))?;
        chunk.push(v);
        if chunk.len() == NDJSON_CHUNK {
            total += put_all(ctx, std::mem::take(&mut chunk))
                .await
                .map_err(|e| format!("{name} near line {}: {e}", n + 1))?;
        }
    }
    if !chunk.is_empty() {
        total += put_all(ctx, chunk)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(total)
}

/// Validates and writes resources with their own ids (a new id where none is given) in one
/// transaction. References are not checked for existence: bulk files arrive in any order.
async fn put_all(ctx: &Ctx, resources: Vec<Value>) -> Result<usize, String> {
    let mut ops = Vec::with_capacity(resources.len());
    for mut r in resources {
        let rtype = r
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or("a resource has no resourceType")?
            .to_string();
        rest::check_type(ctx.defs, &rtype).map_err(|e| describe(&e))?;
        let id = match r.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => rest::new_id(),
        };
        rest::check_id(&id).map_err(|e| describe(&e))?;
        rest::prepare(ctx, &rtype, &id, &mut r)
            .map_err(|e| format!("{rtype}/{id}: {}", describe(&e)))?;
        ops.push(rest::put_op(ctx, &rtype, &id, r, Precondition::None));
    }
    let n = ops.len();
    ctx.store.commit(ops).await.map_err(|e| e.to_string())?;
    Ok(n)
}

/// Loads the bundled demo patients into an empty database.
pub async fn demo(ctx: &Ctx) -> Result<(), String> {
    let counts = ctx.store.counts().await.map_err(|e| e.to_string())?;
    if counts.iter().any(|(_, n)| *n > 0) {
        eprintln!("zdrav: the database already has data; demo patients not loaded again");
        return Ok(());
    }
    let start = Instant::now();
    let mut total = 0;
    for (name, gz) in DEMO {
        let data = read_maybe_gz(&format!("{name}.json.gz"), gz)?;
        total += load_bytes(ctx, name, &data).await?;
    }
    eprintln!(
        "zdrav: loaded {total} demo resources ({} patients) in {:.1} s",
        DEMO.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
