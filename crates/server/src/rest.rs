//! The FHIR instance and type interactions (read, vread, create, update, delete, patch,
//! $validate), independent of HTTP so that batch and transaction entries run the very same code.

use crate::body::Limits;
use crate::error::ApiError;
pub(crate) use crate::reads::gone;
pub use crate::reads::{read, vread};
pub use crate::refs::check_references;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::Value;
use zdrav_fhir::{Definitions, Issue};
use zdrav_store::{DynStore, Precondition, StoredResource, WriteOp, WriteOutcome, WriteResult};

pub use crate::patch::{patch, patch_error};
pub use crate::validate_op::validate_op;

/// Everything an interaction needs.
#[derive(Clone)]
pub struct Ctx {
    /// The store.
    pub store: DynStore,
    /// The R4 definitions.
    pub defs: &'static Definitions,
    /// Request limits.
    pub limits: Limits,
    /// The public base URL of the FHIR API, e.g. `http://127.0.0.1:8080/fhir`.
    pub base: String,
    /// Validation choices of this deployment.
    pub validation: zdrav_fhir::Options,
    /// Bulk export jobs and where their files go.
    pub exports: std::sync::Arc<crate::export::Exports>,
    /// Token checking; `None` with `--no-auth`.
    pub security: Option<std::sync::Arc<crate::auth::Security>>,
    /// Who the current request runs as (set per request).
    pub caller: crate::auth::Caller,
    /// The writer of read and refusal audit events; `None` with `--no-auth`.
    pub audit: Option<std::sync::Arc<crate::audit::Audit>>,
    /// The client's network address (set per request), for audit.
    pub client_address: Option<String>,
    /// Per-client rate limits; `None` for none.
    pub rate_limit: Option<std::sync::Arc<crate::limits::RateLimiter>>,
    /// A practitioner's reach for this request; `None` when not limited that way.
    pub care: Option<std::sync::Arc<crate::care::Care>>,
    /// The stated reason of an emergency (break-glass) access, for the audit.
    pub break_glass: Option<String>,
    /// Compiled code systems of the terminology service.
    pub terminology: std::sync::Arc<crate::terminology::Cache>,
    /// Bindings this deployment requires beyond the specification (`--require-binding`).
    pub required_bindings: std::sync::Arc<Vec<crate::bindings::Required>>,
    /// Booking settings and the per-patient booking locks.
    pub booking: std::sync::Arc<crate::booking::Booking>,
    /// The trusted certification centres and CRLs of registration; `None` (no `--trusted-ca`)
    /// in the local/demo mode, where signer certificates are not checked against any CA.
    pub trust: Option<std::sync::Arc<zdrav_gost::TrustStore>>,
}

/// What `Prefer: return=` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferReturn {
    /// The resource (default).
    #[default]
    Representation,
    /// No body.
    Minimal,
    /// An OperationOutcome.
    OperationOutcome,
}

impl PreferReturn {
    /// Parses a `Prefer` header value.
    pub fn parse(prefer: Option<&str>) -> PreferReturn {
        let Some(p) = prefer else {
            return PreferReturn::Representation;
        };
        for part in p.split([',', ';']) {
            match part
                .trim()
                .strip_prefix("return=")
                .map(|v| v.trim_matches('"'))
            {
                Some("minimal") => return PreferReturn::Minimal,
                Some("OperationOutcome") => return PreferReturn::OperationOutcome,
                Some("representation") => return PreferReturn::Representation,
                _ => {}
            }
        }
        PreferReturn::Representation
    }
}

/// Conditional headers of a request (or of a bundle entry's `request`).
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// `If-Match`: the version the client expects.
    pub if_match: Option<u64>,
    /// `If-None-Match` on read.
    pub if_none_match: Option<u64>,
    /// `If-Modified-Since` on read.
    pub if_modified_since: Option<std::time::SystemTime>,
    /// `If-None-Exist` on create (conditional create).
    pub if_none_exist: Option<String>,
    /// `Prefer: return=`.
    pub prefer: PreferReturn,
    /// `Prefer: handling=strict`: unknown search parameters are errors, not ignored.
    pub strict: bool,
    /// A read may answer with a large Binary left in the store ([`Payload::Binary`]): true
    /// only for a top-level HTTP read without a view (`_summary`, `_elements`), whose answer is
    /// the stored JSON or body as it is; a batch entry or an operation needs the JSON itself.
    pub stream: bool,
}

/// True when a `Prefer` header asks for strict handling.
pub fn prefers_strict(prefer: Option<&str>) -> bool {
    prefer.is_some_and(|p| {
        p.split([',', ';'])
            .any(|part| part.trim().replace(' ', "") == "handling=strict")
    })
}

/// Parses an ETag (`W/"3"` or `"3"` or `3`) to a version number.
pub fn parse_etag(s: &str) -> Result<u64, ApiError> {
    let t = s.trim();
    let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
    t.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid ETag '{s}': expected W/\"<version>\"")))
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Payload {
    /// No body.
    None,
    /// Stored JSON bytes, served as they are.
    Raw(Bytes),
    /// A built JSON value.
    Json(Value),
    /// A large Binary left in the store, streamed by the response (only when the request's
    /// [`Conditions::stream`] allowed it).
    Binary(std::sync::Arc<crate::stored_body::StoredBinary>),
}

/// The result of an interaction, before it becomes an HTTP response or a bundle entry.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub payload: Payload,
    /// `Location` (relative to the base: `Patient/1/_history/1`).
    pub location: Option<String>,
    /// Version for the `ETag`.
    pub version: Option<u64>,
    /// `lastUpdated` for `Last-Modified`.
    pub last_modified: Option<String>,
}

impl Reply {
    /// A reply with a JSON body and no headers.
    pub fn json(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            payload: Payload::Json(v),
            location: None,
            version: None,
            last_modified: None,
        }
    }

    /// A reply carrying a stored resource.
    pub fn stored(r: &StoredResource) -> Reply {
        Reply {
            status: StatusCode::OK,
            payload: Payload::Raw(r.json.clone()),
            location: None,
            version: Some(r.version),
            last_modified: Some(r.last_updated.clone()),
        }
    }
}

/// Checks the resource type in a URL.
pub fn check_type(defs: &Definitions, rtype: &str) -> Result<(), ApiError> {
    if defs.is_resource_type(rtype) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "unknown resource type '{rtype}'"
        )))
    }
}

/// Checks a logical id in a URL.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if zdrav_fhir::primitives::is_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid id '{id}': 1-64 characters of A-Z a-z 0-9 - ."
        )))
    }
}

/// Makes a resource ready to store: checks its type, drops server-managed meta, sets the id and
/// validates it against the definitions. Returns the warnings and the local references to check
/// for existence.
pub fn prepare(
    ctx: &Ctx,
    rtype: &str,
    id: &str,
    resource: &mut Value,
) -> Result<zdrav_fhir::Validation, ApiError> {
    let Some(obj) = resource.as_object_mut() else {
        return Err(ApiError::bad_request("a resource must be a JSON object"));
    };
    match obj.get("resourceType") {
        Some(Value::String(t)) if t == rtype => {}
        Some(Value::String(t)) => {
            return Err(ApiError::bad_request(format!(
                "resourceType '{t}' does not match the URL type '{rtype}'"
            ))
            .at(rtype.to_string()))
        }
        _ => {
            return Err(
                ApiError::bad_request("resourceType is missing or not a string")
                    .at(rtype.to_string()),
            )
        }
    }
    if let Some(Value::Object(meta)) = obj.get_mut("meta") {
        // versionId and lastUpdated belong to the server; an empty meta is left by clients that
        // only meant to clear them.
        // shift_remove keeps the client's element order (remove would move the last member
        // into the gap).
        meta.shift_remove("versionId");
        meta.shift_remove("lastUpdated");
        if meta.is_empty() {
            obj.shift_remove("meta");
        }
    }
    obj.insert("id".into(), Value::String(id.to_string()));
    crate::ident::normalise(rtype, resource)?;
    let v = zdrav_fhir::validate_with(ctx.defs, resource, &ctx.validation);
    if !v.is_valid() {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            issues: v.issues,
        });
    }
    // Invariants run only on a structurally valid resource (their expressions assume the
    // shapes the definitions promise); only error-level constraints can refuse a write, the
    // warnings (dom-6 "should have narrative" on nearly every resource) are left to $validate.
    ApiError::unless_clean(zdrav_fhirpath::check_invariant_errors(ctx.defs, resource))?;
    crate::bindings::check(ctx, rtype, resource)?;
    crate::care::check_write(ctx, rtype, resource)?;
    Ok(v)
}

/// A `Put` op with the resource's search index rows extracted (outside the store's write lock).
pub fn put_op(
    ctx: &Ctx,
    rtype: &str,
    id: &str,
    resource: Value,
    precondition: Precondition,
) -> WriteOp {
    let index = zdrav_search::extract(ctx.defs, &resource);
    // The audit trail is append-only: an AuditEvent can be created, never replaced.
    let precondition = if rtype == "AuditEvent" {
        Precondition::MustNotExist
    } else {
        precondition
    };
    WriteOp::Put {
        rtype: rtype.to_string(),
        id: id.to_string(),
        resource,
        precondition,
        index,
    }
}

/// Builds the reply to a successful write, honouring `Prefer: return=`; validation warnings are
/// part of the OperationOutcome form.
pub fn write_reply(w: &WriteResult, prefer: PreferReturn, warnings: &[Issue]) -> Reply {
    let status = match w.outcome {
        WriteOutcome::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let payload = match prefer {
        PreferReturn::Minimal => Payload::None,
        PreferReturn::Representation if !w.json.is_empty() => Payload::Raw(w.json.clone()),
        _ => {
            let msg = match w.outcome {
                WriteOutcome::Created => {
                    format!("created {}/{} version {}", w.rtype, w.id, w.version)
                }
                WriteOutcome::Updated => {
                    format!("updated {}/{} to version {}", w.rtype, w.id, w.version)
                }
                WriteOutcome::Deleted => format!("deleted {}/{}", w.rtype, w.id),
                WriteOutcome::NoOp => {
                    format!("{}/{} did not exist; nothing deleted", w.rtype, w.id)
                }
            };
            let mut issues = vec![Issue::information("informational", msg)];
            issues.extend(warnings.iter().cloned());
            Payload::Json(zdrav_fhir::operation_outcome(&issues))
        }
    };
    Reply {
        status,
        payload,
        location: (w.outcome != WriteOutcome::NoOp)
            .then(|| format!("{}/{}/_history/{}", w.rtype, w.id, w.version)),
        version: (w.outcome != WriteOutcome::NoOp).then_some(w.version),
        last_modified: Some(w.last_updated.clone()),
    }
}

async fn commit_one(ctx: &Ctx, op: WriteOp) -> Result<WriteResult, ApiError> {
    let subtype = match &op {
        WriteOp::Delete { .. } => "delete",
        WriteOp::Put {
            precondition: Precondition::MustNotExist,
            ..
        } => "create",
        WriteOp::Put { .. } => "update",
    };
    let mut results = crate::audit::commit(ctx, vec![op], subtype).await?;
    results
        .pop()
        .ok_or_else(|| ApiError::internal("the store returned no result for a write"))
}

/// The reply for a conditional create that found its match: 200 with the existing resource.
pub fn existing(r: &StoredResource) -> Reply {
    let mut reply = Reply::stored(r);
    reply.location = Some(format!("{}/{}/_history/{}", r.rtype, r.id, r.version));
    reply
}

/// 412 for conditional criteria that match more than one resource.
pub fn multiple_matches(rtype: &str, criteria: &str) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "multiple-matches",
        format!("the criteria {rtype}?{criteria} match more than one resource"),
    )
}

/// `POST [type]`: create with a server-assigned id.
pub async fn create(
    ctx: &Ctx,
    rtype: &str,
    mut resource: Value,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    crate::remd::check_create(rtype, &resource)?;
    if let Some(criteria) = &c.if_none_exist {
        // Conditional create: an existing match is returned instead of creating a duplicate.
        let found = crate::search::matches(ctx, rtype, criteria).await?;
        match found.as_slice() {
            [] => {}
            [one] => return Ok(existing(one)),
            _ => return Err(multiple_matches(rtype, criteria)),
        }
    }
    if rtype == "Appointment" {
        return crate::booking::write(ctx, None, resource, c).await;
    }
    let id = new_id();
    let checked = prepare(ctx, rtype, &id, &mut resource)?;
    let mut warnings = Vec::new();
    // The MPI: a Patient that is already registered is returned (with If-None-Exist, when
    // exactly one certain match exists) or flagged as a possible duplicate.
    if rtype == "Patient" {
        // A failed duplicate search must not stop a registration; it only loses the warning.
        let found = crate::mpi::find(ctx, &resource, zdrav_mpi::Grade::Probable)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = ?e.issues, "duplicate search failed");
                Vec::new()
            });
        let certain: Vec<_> = found
            .iter()
            .filter(|(_, m)| m.grade == zdrav_mpi::Grade::Certain)
            .collect();
        match (c.if_none_exist.is_some(), certain.as_slice()) {
            (true, [(p, _)]) => return Ok(Reply::json(StatusCode::OK, p.clone())),
            (true, [_, _, ..]) => return Err(multiple_matches(rtype, "a certain MPI match")),
            _ => warnings = crate::mpi::duplicate_warnings(&found),
        }
    }
    warnings.extend(checked.issues.iter().cloned());
    let refs: Vec<_> = checked
        .local_refs
        .into_iter()
        .map(|r| (String::new(), r))
        .collect();
    check_references(&ctx.store, &refs, &Default::default()).await?;
    let w = commit_one(
        ctx,
        put_op(ctx, rtype, &id, resource, Precondition::MustNotExist),
    )
    .await?;
    Ok(write_reply(&w, c.prefer, &warnings))
}

/// A new server-assigned logical id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `PUT [type]/[id]`: update, or create with the client's id.
pub async fn update(
    ctx: &Ctx,
    rtype: &str,
    id: &str,
    mut resource: Value,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    check_id(id)?;
    crate::remd::check_change(ctx, rtype, id).await?;
    match resource.get("id") {
        Some(Value::String(body_id)) if body_id == id => {}
        Some(Value::String(body_id)) => {
            return Err(ApiError::bad_request(format!(
                "the id in the body ('{body_id}') differs from the id in the URL ('{id}')"
            ))
            .at(format!("{rtype}.id")))
        }
        _ => {
            return Err(
                ApiError::bad_request("an update must carry the resource id in the body")
                    .at(format!("{rtype}.id")),
            )
        }
    }
    if rtype == "Appointment" {
        return crate::booking::write(ctx, Some(id), resource, c).await;
    }
    let checked = prepare(ctx, rtype, id, &mut resource)?;
    let refs: Vec<_> = checked
        .local_refs
        .into_iter()
        .map(|r| (String::new(), r))
        .collect();
    check_references(&ctx.store, &refs, &Default::default()).await?;
    let precondition = c
        .if_match
        .map_or(Precondition::None, Precondition::VersionIs);
    let w = commit_one(ctx, put_op(ctx, rtype, id, resource, precondition)).await?;
    Ok(write_reply(&w, c.prefer, &checked.issues))
}

/// `PUT [type]?criteria`: update the one match, or create when nothing matches.
pub async fn conditional_update(
    ctx: &Ctx,
    rtype: &str,
    criteria: &str,
    mut resource: Value,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    let found = crate::search::matches(ctx, rtype, criteria).await?;
    let body_id = resource.get("id").and_then(Value::as_str).map(String::from);
    let id = match (found.as_slice(), body_id) {
        ([], Some(id)) => id,
        ([], None) => new_id(),
        ([one], Some(id)) if id != one.id => {
            return Err(ApiError::bad_request(format!(
                "the resource id '{id}' differs from the matching resource '{}'",
                one.id
            ))
            .at(format!("{rtype}.id")))
        }
        ([one], _) => one.id.clone(),
        _ => return Err(multiple_matches(rtype, criteria)),
    };
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("id".into(), Value::String(id.clone()));
    }
    update(ctx, rtype, &id, resource, c).await
}

/// `DELETE [type]?criteria`: delete the one match (nothing when none matches).
pub async fn conditional_delete(
    ctx: &Ctx,
    rtype: &str,
    criteria: &str,
    c: &Conditions,
) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    let found = crate::search::matches(ctx, rtype, criteria).await?;
    match found.as_slice() {
        [] => Ok(Reply::json(
            StatusCode::OK,
            zdrav_fhir::operation_outcome(&[Issue::information(
                "informational",
                "no resource matched the criteria; nothing deleted",
            )]),
        )),
        [one] => delete(ctx, rtype, &one.id, c).await,
        _ => Err(multiple_matches(rtype, criteria)),
    }
}

/// `DELETE [type]/[id]`.
pub async fn delete(ctx: &Ctx, rtype: &str, id: &str, c: &Conditions) -> Result<Reply, ApiError> {
    check_type(ctx.defs, rtype)?;
    check_id(id)?;
    crate::remd::check_change(ctx, rtype, id).await?;
    let precondition = c
        .if_match
        .map_or(Precondition::None, Precondition::VersionIs);
    let w = commit_one(
        ctx,
        WriteOp::Delete {
            rtype: rtype.to_string(),
            id: id.to_string(),
            precondition,
        },
    )
    .await?;
    let mut r = write_reply(&w, PreferReturn::OperationOutcome, &[]);
    r.location = None;
    if c.prefer == PreferReturn::Minimal {
        r.payload = Payload::None;
    }
    Ok(r)
}
