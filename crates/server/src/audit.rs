//! The audit trail (IHE BALP style): an AuditEvent for every authenticated read, search and
//! write of patient data and for every refused access. Writes carry their AuditEvent in the same
//! store commit ([`commit`]), so a change is never stored without its record. Reads and refusals
//! are queued to a background writer that commits them in batches ([`Audit`]): one commit per
//! read would cost a write transaction per read. Each event names the patients whose data it
//! touched as entities (`Patient/...`), which is what `AuditEvent?patient=` finds, so a citizen
//! sees who looked at their record. AuditEvents cannot be updated or deleted through the API.
//!
//! Without authentication (`--no-auth`, the loader) nothing is audited: there is no one to name.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use zdrav_auth::Principal;
use zdrav_store::{DynStore, OutboxOps, Precondition, StoreError, WriteOp, WriteResult};

use crate::auth::Caller;
use crate::rest::Ctx;

/// HL7 v3 ActReason: the purpose of an emergency access and its review tag.
pub const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

/// Events a batch commit takes at most.
const BATCH: usize = 512;
/// Events queued at most before readers wait for the writer (backpressure, never loss).
const QUEUE: usize = 16_384;

/// What happened, for one AuditEvent.
#[derive(Debug, Clone)]
pub struct Event {
    /// `C`, `R`, `U`, `D` or `E` (execute: search, operations).
    pub action: &'static str,
    /// The RESTful interaction (`read`, `vread`, `search-type`, `create`, `transaction`, ...).
    pub subtype: &'static str,
    /// `0` success, `4` minor failure (refused), `8` serious failure.
    pub outcome: &'static str,
    /// Why it failed, if it did.
    pub outcome_desc: Option<String>,
    /// The resources read or written (`Type/id`).
    pub entities: Vec<String>,
    /// The patients whose data was touched (ids).
    pub patients: BTreeSet<String>,
    /// The query of a search (path and query string).
    pub query: Option<String>,
}

impl Event {
    /// A successful event touching nothing yet.
    pub fn new(action: &'static str, subtype: &'static str) -> Event {
        Event {
            action,
            subtype,
            outcome: "0",
            outcome_desc: None,
            entities: Vec::new(),
            patients: BTreeSet::new(),
            query: None,
        }
    }
}

/// The background writer of read and refusal events.
pub struct Audit {
    tx: mpsc::Sender<Value>,
}

impl Audit {
    /// Starts the writer on `store`.
    pub fn start(store: DynStore) -> Arc<Audit> {
        let (tx, mut rx) = mpsc::channel::<Value>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let ops: Vec<WriteOp> = batch.drain(..).map(op).collect();
                // One retry: a commit can fail on a busy database; losing audit is not an option
                // we take quietly.
                if let Err(e) = store.commit(ops.clone()).await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if let Err(e2) = store.commit(ops).await {
                        tracing::error!(error = %e, retry = %e2, "audit events could not be stored");
                    }
                }
            }
        });
        Arc::new(Audit { tx })
    }

    /// Queues an event for the background writer.
    pub async fn record(&self, event: Value) {
        if self.tx.send(event).await.is_err() {
            tracing::error!("the audit writer has stopped; an audit event is lost");
        }
    }
}

fn op(event: Value) -> WriteOp {
    let id = crate::rest::new_id();
    let index = zdrav_search::extract(zdrav_fhir::r4(), &event);
    WriteOp::Put {
        rtype: "AuditEvent".into(),
        id,
        resource: event,
        precondition: Precondition::MustNotExist,
        index,
    }
}

/// The AuditEvent resource for `event` by `who` from `address`; an emergency access carries
/// its reason as the purpose (ETREAT) and the tag `BTG`, which reviewers search by `_tag`.
pub fn resource(
    who: &Principal,
    address: Option<&str>,
    break_glass: Option<&str>,
    event: &Event,
) -> Value {
    let agent_who = match (&who.practitioner, &who.patient, who.role) {
        _ if who.fhir_user.is_some() => json!({"reference": who.fhir_user}),
        (Some(p), _, _) => json!({"reference": format!("Practitioner/{p}")}),
        (None, Some(p), zdrav_auth::Role::Citizen) => json!({"reference": format!("Patient/{p}")}),
        _ => {
            json!({"identifier": {"system": "urn:zdrav:sub", "value": who.sub}, "display": who.sub})
        }
    };
    let mut agent = json!({
        "type": {"coding": [{"system": "urn:zdrav:role", "code": who.role.as_str()}]},
        "who": agent_who,
        "altId": who.sub,
        "requestor": true,
    });
    if let Some(org) = &who.organization {
        agent["role"] = json!([{"coding": [{"system": "urn:zdrav:organization", "code": org}]}]);
    }
    if let Some(addr) = address {
        agent["network"] = json!({"address": addr, "type": "2"});
    }
    let mut entities: Vec<Value> = event
        .entities
        .iter()
        .map(|r| json!({"what": {"reference": r}, "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"}}))
        .collect();
    for p in &event.patients {
        entities.push(json!({
            "what": {"reference": format!("Patient/{p}")},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}
        }));
    }
    if let Some(q) = &event.query {
        use base64::Engine;
        entities.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24"},
            "query": base64::engine::general_purpose::STANDARD.encode(q.as_bytes())
        }));
    }
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": event.subtype}],
        "action": event.action,
        "recorded": zdrav_store::format_instant(chrono::Utc::now().timestamp_micros()),
        "outcome": event.outcome,
        "agent": [agent],
        "source": {"observer": {"display": "zdrav"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}]},
    });
    if let Some(d) = &event.outcome_desc {
        ev["outcomeDesc"] = Value::String(d.clone());
    }
    if let Some(reason) = break_glass {
        ev["purposeOfEvent"] = json!([{"coding": [{"system": ACT_REASON, "code": "ETREAT",
            "display": "Emergency Treatment"}], "text": reason}]);
        ev["meta"] = json!({"tag": [{"system": ACT_REASON, "code": "BTG",
            "display": "break the glass"}]});
    }
    if !entities.is_empty() {
        ev["entity"] = Value::Array(entities);
    }
    ev
}

/// Queues the event of a read, search or refusal, if the caller is authenticated.
pub async fn record(ctx: &Ctx, event: Event) {
    let (Caller::Principal(p), Some(audit)) = (&ctx.caller, &ctx.audit) else {
        return;
    };
    audit
        .record(resource(
            p,
            ctx.client_address.as_deref(),
            ctx.break_glass.as_deref(),
            &event,
        ))
        .await;
}

/// Commits `ops` with, for an authenticated caller, the AuditEvent of the write in the same
/// transaction; returns the results of `ops` only.
pub async fn commit(
    ctx: &Ctx,
    ops: Vec<WriteOp>,
    subtype: &'static str,
) -> Result<Vec<WriteResult>, StoreError> {
    commit_with_outbox(ctx, ops, subtype, OutboxOps::default()).await
}

/// [`commit`] with outbox messages added and removed in the same transaction.
pub async fn commit_with_outbox(
    ctx: &Ctx,
    ops: Vec<WriteOp>,
    subtype: &'static str,
    outbox: OutboxOps,
) -> Result<Vec<WriteResult>, StoreError> {
    let terminology = ops.iter().any(|o| match o {
        WriteOp::Put { rtype, .. } | WriteOp::Delete { rtype, .. } => rtype == "CodeSystem",
    });
    let results = commit_audited(ctx, ops, subtype, outbox).await;
    if terminology {
        // Also after a failure: whether it committed may be unknown.
        ctx.terminology.changed();
    }
    results
}

async fn commit_audited(
    ctx: &Ctx,
    mut ops: Vec<WriteOp>,
    subtype: &'static str,
    outbox: OutboxOps,
) -> Result<Vec<WriteResult>, StoreError> {
    let Caller::Principal(p) = &ctx.caller else {
        return ctx.store.commit_with_outbox(ops, outbox).await;
    };
    // Interaction codes map to BALP actions; a transaction or batch is an execute.
    let action = match subtype {
        "create" => "C",
        "update" | "patch" => "U",
        "delete" => "D",
        _ => "E",
    };
    let mut event = Event::new(action, subtype);
    for o in &ops {
        match o {
            WriteOp::Put {
                rtype, id, index, ..
            } => {
                event.entities.push(format!("{rtype}/{id}"));
                if let Some(pat) = zdrav_search::patient_owner(rtype, id, index) {
                    event.patients.insert(pat);
                }
            }
            WriteOp::Delete { rtype, id, .. } => event.entities.push(format!("{rtype}/{id}")),
        }
    }
    let n = ops.len();
    ops.push(op(resource(
        p,
        ctx.client_address.as_deref(),
        ctx.break_glass.as_deref(),
        &event,
    )));
    let mut results = ctx.store.commit_with_outbox(ops, outbox).await?;
    results.truncate(n);
    Ok(results)
}

/// The patients whose data a resource holds: itself if a Patient, else its compartment owners.
pub fn patients_of(ctx: &Ctx, resource: &Value) -> Vec<String> {
    let rtype = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rtype == "Patient" {
        return resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default();
    }
    if !crate::export::engine::in_patient_compartment(ctx.defs, rtype) {
        return Vec::new();
    }
    crate::export::engine::compartment_patients(ctx.defs, rtype, resource)
}

/// Records the read, search or refusal that a `/fhir` request (`m`, path segments, query)
/// turned out to be, from its answer. Writes are recorded with their commit instead.
pub async fn after(
    ctx: &Ctx,
    m: &str,
    seg: &[&str],
    query: Option<&str>,
    answer: &Result<crate::rest::Reply, crate::error::ApiError>,
) {
    if !matches!(ctx.caller, Caller::Principal(_)) || ctx.audit.is_none() {
        return;
    }
    // `$match` is a POST that reads patient data.
    let reads = matches!(m, "GET" | "HEAD") || matches!(seg.last(), Some(&"_search" | &"$match"));
    let path = seg.join("/");
    let reply = match answer {
        Err(e) if e.status == axum::http::StatusCode::FORBIDDEN => {
            let event = Event {
                action: if reads { "R" } else { "E" },
                subtype: if reads { "read" } else { "operation" },
                outcome: "4",
                outcome_desc: e.issues.first().map(|i| i.diagnostics.clone()),
                entities: Vec::new(),
                patients: BTreeSet::new(),
                query: Some(format!(
                    "{m} {path}{}",
                    query.map(|q| format!("?{q}")).unwrap_or_default()
                )),
            };
            record(ctx, event).await;
            return;
        }
        Err(_) => return,
        Ok(r) if reads => r,
        Ok(_) => return,
    };
    let (subtype, action, single) = match seg {
        ["_history"] => ("history-system", "R", false),
        [] | ["_search"] => ("search-system", "E", false),
        [_, "_history"] => ("history-type", "R", false),
        [_, "_search"] | [_] => ("search-type", "E", false),
        [_, id] if !id.starts_with('$') => ("read", "R", true),
        [_, _, "_history", _] => ("vread", "R", true),
        [_, _, "_history"] => ("history-instance", "R", false),
        _ => ("operation", "E", false),
    };
    let mut event = Event::new(action, subtype);
    if let (true, ["Binary", id, ..]) = (single, seg) {
        return binary_read(ctx, event, id, &reply.payload).await;
    }
    let body: Option<Value> = match &reply.payload {
        crate::rest::Payload::Raw(b) => serde_json::from_slice(b).ok(),
        crate::rest::Payload::Binary(b) => serde_json::from_slice(b.skeleton()).ok(),
        crate::rest::Payload::Json(v) => Some(v.clone()),
        crate::rest::Payload::None => None,
    };
    let Some(body) = body else { return };
    if single {
        if let (Some(t), Some(id)) = (
            body.get("resourceType").and_then(Value::as_str),
            body.get("id").and_then(Value::as_str),
        ) {
            event.entities.push(format!("{t}/{id}"));
        }
        event.patients.extend(patients_of(ctx, &body));
    } else {
        event.query = Some(format!(
            "{path}{}",
            query.map(|q| format!("?{q}")).unwrap_or_default()
        ));
        for e in body
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = e.get("resource") {
                event.patients.extend(patients_of(ctx, r));
            }
        }
    }
    // Reads of data that belongs to no patient (an Organization, the CapabilityStatement) are
    // not patient data; BALP records access to patient data.
    if !event.patients.is_empty() {
        record(ctx, event).await;
    }
}

/// Records the read of a Binary: a document's body is its patient's data, so the event names
/// the patients of its securityContext. The stored JSON is not parsed into a copy of the body.
async fn binary_read(ctx: &Ctx, mut event: Event, id: &str, payload: &crate::rest::Payload) {
    let context = match payload {
        crate::rest::Payload::Raw(b) => serde_json::from_slice::<crate::binary::BinaryView>(b)
            .ok()
            .and_then(|v| v.security_context?.reference),
        crate::rest::Payload::Binary(b) => {
            b.view().ok().and_then(|v| v.security_context?.reference)
        }
        crate::rest::Payload::Json(v) => v
            .pointer("/securityContext/reference")
            .and_then(Value::as_str)
            .map(str::to_string),
        crate::rest::Payload::None => return,
    };
    event.entities.push(format!("Binary/{id}"));
    if let Some(r) = context {
        if let Ok(Some(v)) = crate::refs::resolve(ctx, &r).await {
            event.patients.extend(patients_of(ctx, &v));
        }
    }
    if !event.patients.is_empty() {
        record(ctx, event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_audit_events_indexed_by_patient() {
        let defs = zdrav_fhir::r4();
        let who = Principal {
            sub: "dr-1".into(),
            role: zdrav_auth::Role::Practitioner,
            scopes: zdrav_auth::Scopes::default(),
            patient: None,
            practitioner: Some("pr1".into()),
            organization: Some("org1".into()),
            client_id: None,
            fhir_user: None,
            token_id: "t".into(),
        };
        let event = Event {
            action: "E",
            subtype: "search-type",
            outcome: "0",
            outcome_desc: None,
            entities: vec!["Observation/o1".into()],
            patients: BTreeSet::from(["p1".to_string(), "p2".to_string()]),
            query: Some("Observation?code=x".into()),
        };
        let mut ev = resource(&who, Some("127.0.0.1"), Some("кома"), &event);
        ev["id"] = json!("a1");
        let outcome = zdrav_fhir::validate(defs, &ev);
        assert!(outcome.is_valid(), "{:?}", outcome.issues);
        let rows = zdrav_search::extract(defs, &ev);
        let patients: Vec<String> = rows
            .iter()
            .filter(|r| r.param == "patient")
            .map(|r| format!("{:?}", r.value))
            .collect();
        assert_eq!(patients.len(), 2, "{patients:?}");
    }
}
