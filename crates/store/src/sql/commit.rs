//! The backend-independent half of `commit`: reshaping resources before the write lock, and
//! deciding per op (duplicates, preconditions, version, outcome, stamped JSON, patient owner)
//! from the resource's current row, so both backends write exactly the same versions.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::{Map, Value};
use zdrav_search::IndexRow;

use crate::{Precondition, StoreError, WriteOp, WriteOutcome, WriteResult};

/// An op with its resource already reshaped, so the write lock is held only for stamping.
pub(crate) enum Body {
    /// A new version (serialised but for its stamp) and its index rows.
    Put(Unstamped, Vec<IndexRow>),
    /// A tombstone.
    Delete,
}

/// What an op writes and what must hold first.
pub(crate) type Key = (String, String, Precondition);

/// The ops of one commit, split for the transaction.
pub(crate) struct Plan {
    pub(crate) keys: Vec<Key>,
    pub(crate) bodies: Vec<Body>,
    /// The first op whose key repeats an earlier op's; reported when the loop reaches it so
    /// that an earlier op's own failure still wins, as "the first failure" requires.
    pub(crate) duplicate: Option<usize>,
}

/// Reshapes every resource and finds the first duplicate key. Fails on a resource that is not
/// a JSON object, before any transaction starts.
pub(crate) fn plan(ops: Vec<WriteOp>) -> Result<Plan, StoreError> {
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
                let body = Unstamped::new(&map, &rtype, &id)
                    .map_err(|e| StoreError::Backend(format!("op {index}: {e}")))?;
                keys.push((rtype, id, precondition));
                bodies.push(Body::Put(body, rows));
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
    let duplicate = {
        let mut seen = HashSet::with_capacity(keys.len());
        keys.iter()
            .position(|(rtype, id, _)| !seen.insert((rtype.as_str(), id.as_str())))
    };
    Ok(Plan {
        keys,
        bodies,
        duplicate,
    })
}

/// The current row of a resource, as the commit transaction reads it.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) version: i64,
    pub(crate) deleted: bool,
    pub(crate) seq: i64,
    pub(crate) rk: i64,
    pub(crate) pat: Option<String>,
}

/// What the transaction decided for one op, as reported to the caller.
pub(crate) struct Written {
    pub(crate) version: i64,
    pub(crate) outcome: WriteOutcome,
    pub(crate) json: Vec<u8>,
}

/// A version the transaction must store.
pub(crate) struct NewVersion {
    pub(crate) deleted: bool,
    /// The patient-compartment owner of the version.
    pub(crate) pat: Option<String>,
    /// The change of the type's live count: +1 for a create, -1 for a delete.
    pub(crate) live_delta: i64,
}

/// Decides op `index` given the resource's current row: fails on a duplicate key or an unmet
/// precondition; otherwise stamps the body and says what to store (`None` for a no-op delete).
pub(crate) fn decide(
    index: usize,
    key: &Key,
    body: &Body,
    cur: Option<&Current>,
    duplicate: Option<usize>,
    now_str: &str,
) -> Result<(Written, Option<NewVersion>), StoreError> {
    let (rtype, id, precondition) = key;
    if duplicate == Some(index) {
        return Err(StoreError::DuplicateKey {
            index,
            rtype: rtype.clone(),
            id: id.clone(),
        });
    }
    check(index, rtype, id, *precondition, cur)?;
    let live = cur.filter(|c| !c.deleted);
    let (version, deleted, outcome, json, live_delta) = match body {
        Body::Put(body, _) => {
            let version = cur.map_or(1, |c| c.version + 1);
            let json = body.stamp(version, now_str);
            match live {
                Some(_) => (version, false, WriteOutcome::Updated, json, 0),
                None => (version, false, WriteOutcome::Created, json, 1),
            }
        }
        Body::Delete => match live {
            Some(c) => (c.version + 1, true, WriteOutcome::Deleted, Vec::new(), -1),
            None => {
                let written = Written {
                    version: cur.map_or(0, |c| c.version),
                    outcome: WriteOutcome::NoOp,
                    json: Vec::new(),
                };
                return Ok((written, None));
            }
        },
    };
    // A tombstone keeps the owner of the version it ends, so that a patient's shard holds
    // its whole history.
    let pat = match body {
        Body::Put(_, rows) => zdrav_search::patient_owner(rtype, id, rows),
        Body::Delete => cur.and_then(|c| c.pat.clone()),
    };
    Ok((
        Written {
            version,
            outcome,
            json,
        },
        Some(NewVersion {
            deleted,
            pat,
            live_delta,
        }),
    ))
}

/// The results of a committed transaction, in op order.
pub(crate) fn results(keys: Vec<Key>, written: Vec<Written>, now_str: &str) -> Vec<WriteResult> {
    keys.into_iter()
        .zip(written)
        .map(|((rtype, id, _), w)| WriteResult {
            rtype,
            id,
            version: to_u64(w.version),
            last_updated: now_str.to_owned(),
            outcome: w.outcome,
            json: Bytes::from(w.json),
        })
        .collect()
}

fn check(
    index: usize,
    rtype: &str,
    id: &str,
    precondition: Precondition,
    cur: Option<&Current>,
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
            Some(c) if !c.deleted && to_u64(c.version) == expected => Ok(()),
            _ => Err(StoreError::VersionConflict {
                index,
                rtype: rtype.to_owned(),
                id: id.to_owned(),
                expected,
                current: cur.map_or(0, |c| to_u64(c.version)),
            }),
        },
    }
}

/// Rebuilds the resource as `resourceType`, `id`, `meta` (with empty `versionId` and
/// `lastUpdated` placeholders first, the caller's other meta fields kept), then the caller's other fields in
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
    meta.insert("versionId".to_owned(), Value::String(String::new()));
    meta.insert("lastUpdated".to_owned(), Value::String(String::new()));
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

/// A reshaped resource serialised before the write lock, waiting for the version and instant
/// only the transaction knows. Stamping is then two copies instead of a serialisation, which
/// takes most of the JSON work out of the single writer's critical section.
pub(crate) struct Unstamped {
    /// `{"resourceType":"T","id":"I","meta":{"versionId":"`
    head: Vec<u8>,
    /// What follows the `lastUpdated` value's closing quote.
    tail: Vec<u8>,
}

impl Unstamped {
    /// Serialises `map` (as [`reshape`] built it, stamp fields empty) and cuts it around them.
    fn new(map: &Map<String, Value>, rtype: &str, id: &str) -> Result<Unstamped, String> {
        let json = serde_json::to_vec(map).map_err(|e| e.to_string())?;
        // Type names and ids are validated (letters, digits, '-' and '.'), so they serialise as
        // themselves and the head is known without searching.
        let head = serde_json::to_vec(&serde_json::json!({"resourceType": rtype, "id": id}))
            .map_err(|e| e.to_string())?;
        let mut expected = head[..head.len() - 1].to_vec();
        expected.extend_from_slice(br#","meta":{"versionId":""#);
        let middle = br#"","lastUpdated":""#;
        let rest = json
            .strip_prefix(expected.as_slice())
            .and_then(|r| r.strip_prefix(middle.as_slice()))
            .ok_or_else(|| format!("{rtype}/{id} did not serialise in stamp order"))?;
        Ok(Unstamped {
            head: expected,
            tail: rest.to_vec(),
        })
    }

    /// The stored JSON: the body with `meta.versionId` and `meta.lastUpdated` filled in.
    fn stamp(&self, version: i64, now: &str) -> Vec<u8> {
        let version = version.to_string();
        let middle = br#"","lastUpdated":""#;
        let mut out = Vec::with_capacity(
            self.head.len() + version.len() + middle.len() + now.len() + self.tail.len(),
        );
        out.extend_from_slice(&self.head);
        out.extend_from_slice(version.as_bytes());
        out.extend_from_slice(middle);
        out.extend_from_slice(now.as_bytes());
        out.extend_from_slice(&self.tail);
        out
    }
}

/// A stored count or version as the API's unsigned type (never negative in practice).
pub(crate) fn to_u64(v: i64) -> u64 {
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
        let map = reshape(src, "Patient", "p1").unwrap();
        let body = Unstamped::new(&map, "Patient", "p1").unwrap();
        let text = String::from_utf8(body.stamp(3, "2026-11-23T09:10:00.000000Z")).unwrap();
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2026-11-23T09:10:00.000000Z","profile":["p"],"tag":[{"code":"t"}]},"name":[{"family":"X"}],"active":true}"#
        );
        assert!(reshape(json!([1]), "Patient", "p1").is_none());
    }
}
