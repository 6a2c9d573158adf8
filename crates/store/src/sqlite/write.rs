//! `commit`: one IMMEDIATE transaction per call.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::{Map, Value};
use zdrav_search::IndexRow;

use super::index_write::IndexWriter;
use super::Error;
use crate::time::format_instant;
use crate::{Precondition, StoreError, WriteOp, WriteOutcome, WriteResult};

/// An op with its resource already reshaped, so the write lock is held only for stamping.
enum Body {
    Put(Map<String, Value>, Vec<IndexRow>),
    Delete,
}

/// The current row of a resource: version, deleted, seq, rk.
type Current = (i64, bool, i64, i64);

/// What the transaction decided for one op.
struct Written {
    version: i64,
    outcome: WriteOutcome,
    json: Vec<u8>,
}

pub(super) fn commit(
    writer: &Mutex<Connection>,
    ops: Vec<WriteOp>,
) -> Result<Vec<WriteResult>, Error> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys = Vec::with_capacity(ops.len());
    let mut bodies = Vec::with_capacity(ops.len());
    for (index, op) in ops.into_iter().enumerate() {
        match op {
            WriteOp::Put {
                rtype,
                id,
                resource,
                precondition,
                index: rows,
            } => {
                let map = reshape(resource, &rtype, &id).ok_or_else(|| {
                    StoreError::Backend(format!("op {index}: {rtype}/{id} is not a JSON object"))
                })?;
                keys.push((rtype, id, precondition));
                bodies.push(Body::Put(map, rows));
            }
            WriteOp::Delete {
                rtype,
                id,
                precondition,
            } => {
                keys.push((rtype, id, precondition));
                bodies.push(Body::Delete);
            }
        }
    }
    // The first repeated key; reported when the loop reaches it so that an earlier op's own
    // failure still wins, as "the first failure" requires.
    let duplicate = {
        let mut seen = HashSet::with_capacity(keys.len());
        keys.iter()
            .position(|(rtype, id, _)| !seen.insert((rtype.as_str(), id.as_str())))
    };

    let mut conn = writer.lock();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = next_instant(&tx)?;
    let now_str = format_instant(now);
    let written = apply(&tx, &keys, &mut bodies, duplicate, now, &now_str)?;
    tx.commit()?;
    drop(conn);

    Ok(keys
        .into_iter()
        .zip(written)
        .map(|((rtype, id, _), w)| WriteResult {
            rtype,
            id,
            version: to_u64(w.version),
            last_updated: now_str.clone(),
            outcome: w.outcome,
            json: Bytes::from(w.json),
        })
        .collect())
}

/// The instant for this commit: now, but strictly after every stored version so that versions
/// never share an instant with an earlier commit or go back in time when the clock does.
fn next_instant(tx: &Transaction<'_>) -> Result<i64, Error> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT max(last_updated) FROM history")?
        .query_row([], |row| row.get(0))?;
    let now = chrono::Utc::now().timestamp_micros();
    Ok(match last {
        Some(last) if last >= now => last + 1,
        _ => now,
    })
}

fn apply(
    tx: &Transaction<'_>,
    keys: &[(String, String, Precondition)],
    bodies: &mut [Body],
    duplicate: Option<usize>,
    now: i64,
    now_str: &str,
) -> Result<Vec<Written>, Error> {
    let mut current = tx.prepare_cached(
        "SELECT version, deleted, seq, rk, pat FROM current WHERE rtype = ?1 AND id = ?2",
    )?;
    let mut insert_history = tx.prepare_cached(
        "INSERT INTO history (rtype, id, version, last_updated, deleted, pat) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut insert_json =
        tx.prepare_cached("INSERT INTO history_json (seq, json) VALUES (?1, ?2)")?;
    let mut supersede =
        tx.prepare_cached("UPDATE history SET superseded_at = ?1 WHERE seq = ?2")?;
    let mut upsert_current = tx.prepare_cached(
        "INSERT INTO current (rk, rtype, id, version, deleted, seq, last_updated, pat) \
         VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6, ?8) \
         ON CONFLICT (rtype, id) DO UPDATE SET version = excluded.version, \
         deleted = excluded.deleted, seq = excluded.seq, last_updated = excluded.last_updated, \
         pat = excluded.pat",
    )?;
    let mut indexer = IndexWriter::new(tx)?;

    let mut live_delta: HashMap<&str, i64> = HashMap::new();
    let mut written = Vec::with_capacity(keys.len());
    for (index, ((rtype, id, precondition), body)) in keys.iter().zip(bodies.iter_mut()).enumerate()
    {
        if duplicate == Some(index) {
            return Err(StoreError::DuplicateKey {
                index,
                rtype: rtype.clone(),
                id: id.clone(),
            }
            .into());
        }
        let found: Option<(Current, Option<String>)> = current
            .query_row(params![rtype, id], |row| {
                Ok((
                    (
                        row.get(0)?,
                        row.get::<_, i64>(1)? != 0,
                        row.get(2)?,
                        row.get(3)?,
                    ),
                    row.get(4)?,
                ))
            })
            .optional()?;
        let (cur, cur_pat) = match found {
            Some((c, p)) => (Some(c), p),
            None => (None, None),
        };
        check(index, rtype, id, *precondition, cur)?;
        let live = cur.filter(|c| !c.1);

        let (version, deleted, outcome, json) = match body {
            Body::Put(map, _) => {
                let version = cur.map_or(1, |c| c.0 + 1);
                stamp(map, version, now_str);
                let json = serde_json::to_vec(map)
                    .map_err(|e| StoreError::Backend(format!("op {index}: {e}")))?;
                if live.is_some() {
                    (version, false, WriteOutcome::Updated, json)
                } else {
                    *live_delta.entry(rtype).or_default() += 1;
                    (version, false, WriteOutcome::Created, json)
                }
            }
            Body::Delete => match live {
                Some((v, ..)) => {
                    *live_delta.entry(rtype).or_default() -= 1;
                    (v + 1, true, WriteOutcome::Deleted, Vec::new())
                }
                None => {
                    written.push(Written {
                        version: cur.map_or(0, |c| c.0),
                        outcome: WriteOutcome::NoOp,
                        json: Vec::new(),
                    });
                    continue;
                }
            },
        };

        // A tombstone keeps the owner of the version it ends, so that a patient's shard holds
        // its whole history.
        let pat = match body {
            Body::Put(_, rows) => zdrav_search::patient_owner(rtype, id, rows),
            Body::Delete => cur_pat,
        };
        insert_history.execute(params![rtype, id, version, now, deleted, pat])?;
        let seq = tx.last_insert_rowid();
        insert_json.execute(params![seq, json])?;
        if let Some((_, _, prev_seq, _)) = cur {
            supersede.execute(params![now, prev_seq])?;
        }
        // A resource keeps the key of its first version for life, across deletes.
        let rk = cur.map_or(seq, |c| c.3);
        upsert_current.execute(params![rtype, id, version, deleted, seq, now, rk, pat])?;
        if cur.is_some() {
            indexer.clear(rk)?;
        }
        if let Body::Put(_, rows) = body {
            indexer.insert(tx, rk, rtype, pat.as_deref(), rows)?;
        }
        written.push(Written {
            version,
            outcome,
            json,
        });
    }

    let mut count = tx.prepare_cached(
        "INSERT INTO type_counts (rtype, live) VALUES (?1, ?2) \
         ON CONFLICT (rtype) DO UPDATE SET live = live + excluded.live",
    )?;
    for (rtype, delta) in live_delta {
        if delta != 0 {
            count.execute(params![rtype, delta])?;
        }
    }
    Ok(written)
}

fn check(
    index: usize,
    rtype: &str,
    id: &str,
    precondition: Precondition,
    cur: Option<Current>,
) -> Result<(), StoreError> {
    match precondition {
        Precondition::None => Ok(()),
        Precondition::MustNotExist if cur.is_none() => Ok(()),
        Precondition::MustNotExist => Err(StoreError::AlreadyExists {
            index,
            rtype: rtype.to_owned(),
            id: id.to_owned(),
        }),
        Precondition::VersionIs(expected) => match cur {
            Some((v, false, ..)) if to_u64(v) == expected => Ok(()),
            _ => Err(StoreError::VersionConflict {
                index,
                rtype: rtype.to_owned(),
                id: id.to_owned(),
                expected,
                current: cur.map_or(0, |c| to_u64(c.0)),
            }),
        },
    }
}

/// Rebuilds the resource as `resourceType`, `id`, `meta` (with `versionId` and `lastUpdated`
/// placeholders first, the caller's other meta fields kept), then the caller's other fields in
/// their order. `None` if the resource is not an object.
fn reshape(resource: Value, rtype: &str, id: &str) -> Option<Map<String, Value>> {
    let Value::Object(src) = resource else {
        return None;
    };
    let mut out = Map::with_capacity(src.len() + 3);
    out.insert("resourceType".to_owned(), Value::String(rtype.to_owned()));
    out.insert("id".to_owned(), Value::String(id.to_owned()));
    out.insert("meta".to_owned(), Value::Null);
    let mut old_meta = None;
    for (key, value) in src {
        match key.as_str() {
            "id" => {}
            "meta" => old_meta = Some(value),
            // Inserting an existing key keeps its position, so `resourceType` stays first.
            _ => {
                out.insert(key, value);
            }
        }
    }
    let mut meta = Map::new();
    meta.insert("versionId".to_owned(), Value::Null);
    meta.insert("lastUpdated".to_owned(), Value::Null);
    if let Some(Value::Object(old)) = old_meta {
        for (key, value) in old {
            if key != "versionId" && key != "lastUpdated" {
                meta.insert(key, value);
            }
        }
    }
    out.insert("meta".to_owned(), Value::Object(meta));
    Some(out)
}

fn stamp(map: &mut Map<String, Value>, version: i64, now: &str) {
    if let Some(Value::Object(meta)) = map.get_mut("meta") {
        if let Some(slot) = meta.get_mut("versionId") {
            *slot = Value::String(version.to_string());
        }
        if let Some(slot) = meta.get_mut("lastUpdated") {
            *slot = Value::String(now.to_owned());
        }
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reshape_orders_and_keeps_meta() {
        let src = json!({
            "name": [{"family": "X"}],
            "meta": {"profile": ["p"], "versionId": "9", "tag": [{"code": "t"}]},
            "resourceType": "Patient",
            "id": "old",
            "active": true
        });
        let mut map = reshape(src, "Patient", "p1").unwrap();
        stamp(&mut map, 3, "2026-11-23T09:10:00.000000Z");
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2026-11-23T09:10:00.000000Z","profile":["p"],"tag":[{"code":"t"}]},"name":[{"family":"X"}],"active":true}"#
        );
        assert!(reshape(json!([1]), "Patient", "p1").is_none());
    }
}
