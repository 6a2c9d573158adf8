//! Finding terminology resources: the store first (imported НСИ versions, local code systems,
//! value sets and concept maps), then what is built in. Compiled code systems are cached by
//! resource id and version, so a new version is compiled once and an old one never served.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zdrav_terminology::{version_cmp, Builtins, CodeSystemIndex};

use crate::error::ApiError;
use crate::rest::Ctx;

/// Compiled code systems from the store, by `id|versionId`, and the code systems that
/// writes consult on every request ([`current_code_system`]), by URL.
#[derive(Default)]
pub struct Cache {
    compiled: Mutex<HashMap<String, Arc<CodeSystemIndex>>>,
    current: Mutex<HashMap<String, Current>>,
    /// Raised by every CodeSystem write of this process.
    generation: AtomicU64,
}

/// A resolved code system, when it was resolved, and the write generation it saw.
type Current = (Instant, u64, Option<Arc<CodeSystemIndex>>);

/// How long a resolved code system serves writes. A CodeSystem written through this server is
/// seen at once; one imported by another process (`zdrav nsi import`, another server on the
/// same PostgreSQL) within this time.
const CURRENT_FOR: Duration = Duration::from_secs(30);

impl Cache {
    /// Notes that a CodeSystem was written, so the next lookup resolves afresh.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("terminology::Cache")
    }
}

/// Entries kept before the cache starts over (each НСИ dictionary is a few MB compiled).
const CACHE_LIMIT: usize = 32;

/// The current resources of `rtype` with canonical `url`.
async fn by_url(ctx: &Ctx, rtype: &str, url: &str) -> Result<Vec<Value>, ApiError> {
    crate::search::unrestricted(ctx, rtype, &[("url", url.to_string())], 50).await
}

fn version_of(v: &Value) -> Option<&str> {
    v.get("version").and_then(Value::as_str)
}

/// Picks the requested version, or the newest.
fn pick(mut found: Vec<Value>, version: Option<&str>) -> Option<Value> {
    if let Some(v) = version {
        return found.into_iter().find(|r| version_of(r) == Some(v));
    }
    found.sort_by(|a, b| version_cmp(version_of(a).unwrap_or(""), version_of(b).unwrap_or("")));
    found.pop()
}

fn compile(ctx: &Ctx, resource: &Value) -> Result<Arc<CodeSystemIndex>, ApiError> {
    let key = format!(
        "{}|{}",
        resource.get("id").and_then(Value::as_str).unwrap_or(""),
        resource
            .pointer("/meta/versionId")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let mut cache = ctx
        .terminology
        .compiled
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(cs) = cache.get(&key) {
        return Ok(cs.clone());
    }
    let cs = Arc::new(CodeSystemIndex::from_resource(resource).map_err(ApiError::bad_request)?);
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, cs.clone());
    Ok(cs)
}

/// A code system by URL and optional version: the store's newest (or the asked version), or
/// the built-in one when it is newer or the only one.
pub async fn code_system(
    ctx: &Ctx,
    url: &str,
    version: Option<&str>,
) -> Result<Option<Arc<CodeSystemIndex>>, ApiError> {
    let stored = pick(by_url(ctx, "CodeSystem", url).await?, version);
    let builtin = Builtins::get().code_system(url, version);
    Ok(match (stored, builtin) {
        (Some(s), Some(b))
            if version.is_none()
                && version_cmp(
                    b.version.as_deref().unwrap_or(""),
                    version_of(&s).unwrap_or(""),
                )
                .is_gt() =>
        {
            Some(b)
        }
        (Some(s), _) => Some(compile(ctx, &s)?),
        (None, b) => b,
    })
}

/// [`code_system`] (newest version) for a check made on every write, such as a registered
/// document's kind: remembered for [`CURRENT_FOR`] or until a CodeSystem is written here,
/// so the write path does not search the store each time.
pub async fn current_code_system(
    ctx: &Ctx,
    url: &str,
) -> Result<Option<Arc<CodeSystemIndex>>, ApiError> {
    let cache = &ctx.terminology;
    let generation = cache.generation.load(Ordering::Acquire);
    {
        let current = cache.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, g, cs)) = current.get(url) {
            if *g == generation && at.elapsed() < CURRENT_FOR {
                return Ok(cs.clone());
            }
        }
    }
    let cs = code_system(ctx, url, None).await?;
    cache
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(url.to_string(), (Instant::now(), generation, cs.clone()));
    Ok(cs)
}

/// A code system given as a stored resource (instance-level operations).
pub fn code_system_resource(ctx: &Ctx, resource: &Value) -> Result<Arc<CodeSystemIndex>, ApiError> {
    compile(ctx, resource)
}

/// A value set by URL: stored, built in, or the implicit value set of a whole code system.
pub async fn value_set(ctx: &Ctx, url: &str) -> Result<Option<Value>, ApiError> {
    if let Some(vs) = pick(by_url(ctx, "ValueSet", url).await?, None) {
        return Ok(Some(vs));
    }
    if let Some(vs) = Builtins::get().value_set(url) {
        return Ok(Some(vs.clone()));
    }
    Ok(code_system(ctx, url, None)
        .await?
        .map(|_| json!({"resourceType": "ValueSet", "url": url, "compose": {"include": [{"system": url}]}})))
}

/// A concept map by URL.
pub async fn concept_map(ctx: &Ctx, url: &str) -> Result<Option<Value>, ApiError> {
    Ok(pick(by_url(ctx, "ConceptMap", url).await?, None))
}

/// Everything an expansion of `vs` may need, resolved ahead (the expansion itself is sync):
/// the code systems and value sets it names, transitively.
pub async fn prepare(
    ctx: &Ctx,
    vs: &Value,
) -> Result<
    (
        HashMap<String, Arc<CodeSystemIndex>>,
        HashMap<String, Value>,
    ),
    ApiError,
> {
    let mut systems = HashMap::new();
    let mut sets: HashMap<String, Value> = HashMap::new();
    let mut todo = vec![vs.clone()];
    let mut rounds = 0;
    while let Some(v) = todo.pop() {
        rounds += 1;
        if rounds > 64 {
            break;
        }
        for part in ["include", "exclude"] {
            let list = v
                .pointer(&format!("/compose/{part}"))
                .and_then(Value::as_array);
            for inc in list.into_iter().flatten() {
                if let Some(s) = inc.get("system").and_then(Value::as_str) {
                    let ver = inc.get("version").and_then(Value::as_str);
                    let key = format!("{s}|{}", ver.unwrap_or(""));
                    if let Entry::Vacant(slot) = systems.entry(key) {
                        if let Some(cs) = code_system(ctx, s, ver).await? {
                            slot.insert(cs);
                        }
                    }
                }
                for u in inc
                    .get("valueSet")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let u = u.as_str().unwrap_or_default();
                    let u = u.split('|').next().unwrap_or(u).to_string();
                    if let Entry::Vacant(slot) = sets.entry(u) {
                        let found = value_set(ctx, slot.key()).await?;
                        if let Some(sub) = found {
                            slot.insert(sub.clone());
                            todo.push(sub);
                        }
                    }
                }
            }
        }
    }
    Ok((systems, sets))
}
