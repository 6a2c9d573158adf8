//! РЭМД registration (issue 9, second part): a legally significant medical document is a
//! DocumentReference whose `type` is coded from the НСИ dictionary «Виды медицинской
//! документации» (`urn:oid:1.2.643.5.1.13.13.11.1522`). It is registered by one transaction
//! holding the body as a Binary (`content.attachment.url` = `Binary/<id>`, with `size` and the
//! SHA-1 `hash` of the exact bytes, and their Streebog-256 hash in [`STREEBOG_HASH`], set by
//! the server if the sender gave none), the DocumentReference, and one Provenance per signer whose
//! `signature` carries a detached CMS signature (`application/pkcs7-signature`) over those
//! bytes. The transaction commits only if a signature of the author (a Practitioner whose
//! СНИЛС is in the certificate) and one of the custodian (an Organization whose ОГРН is in the
//! certificate) verify, each certificate valid when it signed (`zdrav_gost`).
//! When trusted CAs are configured (`--trusted-ca`), each signer's certificate must also chain
//! to one of them at its signing time and not be on a loaded CRL (`--crl`). The Binary and
//! the DocumentReference are then tagged registered and can never change; a correction is a
//! new registration whose `relatesTo` replaces the old document, which becomes `superseded`
//! and stays readable with its signatures.

mod attachment;

pub use attachment::STREEBOG_HASH;

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};
use zdrav_store::{Precondition, WriteOp};

use crate::error::ApiError;
use crate::rest::{self, Ctx};

/// The НСИ dictionary of document kinds.
pub const KINDS: &str = "urn:oid:1.2.643.5.1.13.13.11.1522";

/// The tag system marking registered documents and bodies.
pub const REGISTERED: &str = "urn:zdrav:CodeSystem:remd";

/// The MIME type of a detached CMS signature.
const PKCS7: &str = "application/pkcs7-signature";

fn refuse(message: impl Into<String>, at: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "business-rule", message).at(at.into())
}

/// Whether a DocumentReference is a РЭМД document (its type is coded from НСИ 1522).
pub fn is_remd(doc: &Value) -> bool {
    doc.pointer("/type/coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("system").and_then(Value::as_str) == Some(KINDS))
}

/// Whether a stored resource carries the registered tag.
pub fn is_registered(resource: &Value) -> bool {
    resource
        .pointer("/meta/tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| t.get("system").and_then(Value::as_str) == Some(REGISTERED))
}

/// Refuses a direct create of a РЭМД document: it is registered only with its body and
/// signatures, in one transaction.
pub fn check_create(rtype: &str, resource: &Value) -> Result<(), ApiError> {
    if rtype == "DocumentReference" && is_remd(resource) {
        return Err(refuse(
            "a document of kind НСИ 1522 is registered in one transaction with its Binary body and the signers' Provenances",
            "DocumentReference.type",
        ));
    }
    Ok(())
}

/// Refuses any change (update, patch, delete) of a registered document or body.
pub async fn check_change(ctx: &Ctx, rtype: &str, id: &str) -> Result<(), ApiError> {
    if !matches!(rtype, "DocumentReference" | "Binary") {
        return Ok(());
    }
    let Some(cur) = ctx.store.read(rtype, id).await?.filter(|r| !r.deleted) else {
        return Ok(());
    };
    let v: Value = serde_json::from_slice(&cur.json).unwrap_or(Value::Null);
    if is_registered(&v) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{rtype}/{id} is a registered legally significant document and cannot change; register a correction whose relatesTo replaces it"),
        ));
    }
    Ok(())
}

fn put_parts(op: &WriteOp) -> Option<(&str, &str, &Value)> {
    match op {
        WriteOp::Put {
            rtype,
            id,
            resource,
            ..
        } => Some((rtype, id, resource)),
        WriteOp::Delete { .. } => None,
    }
}

/// Checks every РЭМД registration among a transaction's writes (`entry[k]` is the bundle entry
/// of `ops[k]`), tags what it registers and supersedes what it replaces.
pub async fn check_transaction(
    ctx: &Ctx,
    ops: &mut Vec<WriteOp>,
    entry: &[usize],
) -> Result<(), ApiError> {
    let docs: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(k, op)| put_parts(op).map(|p| (k, p)))
        .filter(|(_, (t, _, r))| *t == "DocumentReference" && is_remd(r))
        .map(|(k, _)| k)
        .collect();
    let mut tag = Vec::new();
    let mut tag_docs: HashMap<String, String> = HashMap::new();
    let mut streebog: HashMap<String, String> = HashMap::new();
    let mut supersede = Vec::new();
    for k in docs {
        let at = |path: &str| {
            format!(
                "Bundle.entry[{}].resource{path}",
                entry.get(k).copied().unwrap_or(k)
            )
        };
        if let WriteOp::Put { resource, .. } = &mut ops[k] {
            name_kind(ctx, resource, &at).await?;
        }
        let Some((_, id, doc)) = put_parts(&ops[k]) else {
            continue;
        };
        let (id, doc) = (id.to_string(), doc.clone());
        let body_ref = doc
            .pointer("/content/0/attachment/url")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                refuse(
                    "the document names its body in content[0].attachment.url",
                    at(".content[0].attachment.url"),
                )
            })?;
        let body_id = body_ref.strip_prefix("Binary/").ok_or_else(|| {
            refuse(
                "content[0].attachment.url must reference the Binary of this transaction",
                at(".content[0].attachment.url"),
            )
        })?;
        let (bk, body) = ops
            .iter()
            .enumerate()
            .find_map(|(j, op)| match put_parts(op) {
                Some(("Binary", bid, b)) if bid == body_id => Some((j, b)),
                _ => None,
            })
            .ok_or_else(|| {
                refuse(
                    format!("the body {body_ref} must be registered in the same transaction"),
                    at(".content[0].attachment.url"),
                )
            })?;
        let data_at = format!(
            "Bundle.entry[{}].resource.data",
            entry.get(bk).copied().unwrap_or(bk)
        );
        let data = body.get("data").and_then(Value::as_str).unwrap_or("");
        // Refused before decoding, so an oversized body costs no second copy.
        let size = crate::binary::decoded_len(data);
        if size > ctx.limits.max_document_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                format!(
                    "the document body has {size} bytes, more than the limit of {} bytes (--max-document-bytes)",
                    ctx.limits.max_document_bytes
                ),
            )
            .at(data_at));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| refuse("the Binary's data is not base64", data_at.clone()))?;
        attachment::check(&doc, &bytes, &at)?;
        let content = zdrav_gost::Content::new(&bytes);
        let signed = signatures(ctx, ops, entry, &id, &content).await?;
        streebog.insert(id.clone(), attachment::check_streebog(&doc, &content, &at)?);
        let author = first_ref(&doc, "/author", "Practitioner/").ok_or_else(|| {
            refuse(
                "a registered document names its author Practitioner",
                at(".author"),
            )
        })?;
        let custodian = doc
            .pointer("/custodian/reference")
            .and_then(Value::as_str)
            .filter(|r| r.starts_with("Organization/"))
            .ok_or_else(|| {
                refuse(
                    "a registered document names its custodian Organization",
                    at(".custodian"),
                )
            })?
            .to_string();
        let snils = identifier(ctx, ops, &author, zdrav_ru::SNILS_PRACTITIONER).await?;
        let ogrn = identifier(ctx, ops, &custodian, "urn:identity:ogrn").await?;
        let doctor = signed.iter().find(|s| s.agent == author).ok_or_else(|| {
            refuse(format!("the author's signature is missing: no Provenance with agent {author} signs the document"), at(""))
        })?;
        if digits(doctor.signer.subject_snils.as_deref()) != digits(snils.as_deref())
            || snils.is_none()
        {
            return Err(refuse(
                format!(
                    "the author's certificate names СНИЛС {} but {author} has СНИЛС {}",
                    doctor.signer.subject_snils.as_deref().unwrap_or("(none)"),
                    snils.as_deref().unwrap_or("(none)")
                ),
                doctor.at.clone(),
            ));
        }
        let org = signed.iter().find(|s| s.agent == custodian).ok_or_else(|| {
            refuse(format!("the organisation's signature is missing: no Provenance with agent {custodian} signs the document"), at(""))
        })?;
        if digits(org.signer.subject_ogrn.as_deref()) != digits(ogrn.as_deref()) || ogrn.is_none() {
            return Err(refuse(
                format!(
                    "the organisation's certificate names ОГРН {} but {custodian} has ОГРН {}",
                    org.signer.subject_ogrn.as_deref().unwrap_or("(none)"),
                    ogrn.as_deref().unwrap_or("(none)")
                ),
                org.at.clone(),
            ));
        }
        tag.push(k);
        tag.push(bk);
        tag_docs.insert(body_id.to_string(), id.clone());
        for r in doc
            .get("relatesTo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("code").and_then(Value::as_str) == Some("replaces"))
            .filter_map(|r| r.pointer("/target/reference").and_then(Value::as_str))
        {
            supersede.push((r.to_string(), at(".relatesTo")));
        }
    }
    for k in tag {
        let Some((rtype, id, r)) =
            put_parts(&ops[k]).map(|(t, i, r)| (t.to_string(), i.to_string(), r.clone()))
        else {
            continue;
        };
        let mut r = r;
        if let Some(hash) = streebog.get(&id).filter(|_| rtype == "DocumentReference") {
            attachment::stamp_streebog(&mut r, hash);
        }
        // The body is read with the document's permissions (see `binary_context`).
        if rtype == "Binary" && r.get("securityContext").is_none() {
            if let Some(doc) = tag_docs.get(&id) {
                r["securityContext"] = json!({"reference": format!("DocumentReference/{doc}")});
            }
        }
        let mut tags = r
            .pointer("/meta/tag")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        tags.push(json!({"system": REGISTERED, "code": "registered"}));
        if !r.get("meta").is_some_and(Value::is_object) {
            r["meta"] = json!({});
        }
        r["meta"]["tag"] = Value::Array(tags);
        let precondition = match &ops[k] {
            WriteOp::Put { precondition, .. } => *precondition,
            WriteOp::Delete { precondition, .. } => *precondition,
        };
        ops[k] = rest::put_op(ctx, &rtype, &id, r, precondition);
    }
    for (target, at) in supersede {
        let Some(old_id) = target.strip_prefix("DocumentReference/") else {
            continue;
        };
        let cur = ctx
            .store
            .read("DocumentReference", old_id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| refuse(format!("{target} is not known"), at.clone()))?;
        let mut old: Value =
            serde_json::from_slice(&cur.json).map_err(|e| ApiError::internal(e.to_string()))?;
        if !is_registered(&old) {
            return Err(refuse(format!("{target} is not a registered document"), at));
        }
        if old.get("status").and_then(Value::as_str) == Some("superseded") {
            return Err(refuse(format!("{target} has already been replaced"), at));
        }
        old["status"] = json!("superseded");
        ops.push(rest::put_op(
            ctx,
            "DocumentReference",
            old_id,
            old,
            Precondition::VersionIs(cur.version),
        ));
    }
    Ok(())
}

/// Checks the document's kind against НСИ 1522 (an imported dictionary, else the kinds zdrav
/// knows) and names it when the sender gave only the code, so a citizen reads the kind in
/// Russian. A code missing from a complete dictionary is refused; one missing from the
/// built-in fragment is accepted, as it may be a real kind zdrav does not know.
async fn name_kind(
    ctx: &Ctx,
    doc: &mut Value,
    at: &(dyn Fn(&str) -> String + Sync),
) -> Result<(), ApiError> {
    let Some(kinds) = crate::terminology::resolve::current_code_system(ctx, KINDS).await? else {
        return Ok(());
    };
    let Some(codings) = doc
        .pointer_mut("/type/coding")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for (i, c) in codings.iter_mut().enumerate() {
        if c.get("system").and_then(Value::as_str) != Some(KINDS) {
            continue;
        }
        let Some(code) = c.get("code").and_then(Value::as_str) else {
            return Err(refuse(
                "the document's kind needs a code of НСИ 1522",
                at(&format!(".type.coding[{i}].code")),
            ));
        };
        match kinds.get(code) {
            Some(kind) if c.get("display").is_none() => {
                if let Some(d) = &kind.display {
                    c["display"] = Value::String(d.clone());
                }
            }
            Some(_) => {}
            None if kinds.complete => {
                return Err(refuse(
                    format!(
                        "'{code}' is not a kind of document in НСИ 1522 (version {})",
                        kinds.version.as_deref().unwrap_or("unstated")
                    ),
                    at(&format!(".type.coding[{i}].code")),
                ))
            }
            None => {}
        }
    }
    Ok(())
}

/// A verified signature and the Provenance agent it was given for.
struct Signed {
    agent: String,
    signer: zdrav_gost::Signer,
    at: String,
}

/// Verifies every signature of every Provenance in the transaction that targets the document.
async fn signatures(
    ctx: &Ctx,
    ops: &[WriteOp],
    entry: &[usize],
    doc_id: &str,
    content: &zdrav_gost::Content<'_>,
) -> Result<Vec<Signed>, ApiError> {
    let target = format!("DocumentReference/{doc_id}");
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let Some(("Provenance", _, p)) = put_parts(op) else {
            continue;
        };
        let targets = p.get("target").and_then(Value::as_array);
        if !targets
            .into_iter()
            .flatten()
            .any(|t| t.get("reference").and_then(Value::as_str) == Some(target.as_str()))
        {
            continue;
        }
        let e = entry.get(k).copied().unwrap_or(k);
        let agent = p
            .pointer("/agent/0/who/reference")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for (n, sig) in p
            .get("signature")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("Bundle.entry[{e}].resource.signature[{n}]");
            if sig.get("sigFormat").and_then(Value::as_str) != Some(PKCS7) {
                return Err(refuse(
                    format!("signature.sigFormat must be {PKCS7}"),
                    format!("{at}.sigFormat"),
                ));
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(sig.get("data").and_then(Value::as_str).unwrap_or(""))
                .map_err(|_| refuse("signature.data is not base64", format!("{at}.data")))?;
            let signers = zdrav_gost::verify_detached_content(&der, content).map_err(|e| {
                refuse(
                    format!("the signature does not verify: {e}"),
                    format!("{at}.data"),
                )
            })?;
            for signer in signers {
                let when = signer.signing_time.unwrap_or(now);
                if when < signer.not_before || when > signer.not_after {
                    return Err(refuse(
                        format!("the signer's certificate was not valid when it signed (valid {} to {})", instant(signer.not_before), instant(signer.not_after)),
                        format!("{at}.data"),
                    ));
                }
                if let Some(trust) = &ctx.trust {
                    trust
                        .check(&signer.certificate_der, &signer.cms_certificates, when)
                        .map_err(|e| {
                            refuse(
                                format!("the signer's certificate is not trusted: {e}"),
                                format!("{at}.data"),
                            )
                        })?;
                }
                out.push(Signed {
                    agent: agent.clone(),
                    signer,
                    at: format!("{at}.data"),
                });
            }
        }
    }
    Ok(out)
}

fn instant(secs: i64) -> String {
    zdrav_store::format_instant(secs.saturating_mul(1_000_000))
}

fn first_ref(doc: &Value, path: &str, prefix: &str) -> Option<String> {
    doc.pointer(path)?
        .as_array()?
        .iter()
        .filter_map(|r| r.get("reference")?.as_str())
        .find(|r| r.starts_with(prefix))
        .map(str::to_string)
}

fn digits(s: Option<&str>) -> String {
    s.unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// The value of `system` among the identifiers of `Type/id`, from this transaction or the store.
async fn identifier(
    ctx: &Ctx,
    ops: &[WriteOp],
    reference: &str,
    system: &str,
) -> Result<Option<String>, ApiError> {
    let in_tx: HashMap<String, &Value> = ops
        .iter()
        .filter_map(put_parts)
        .map(|(t, i, r)| (format!("{t}/{i}"), r))
        .collect();
    let resource = match in_tx.get(reference) {
        Some(r) => Some((*r).clone()),
        None => crate::refs::resolve(ctx, reference).await?,
    };
    Ok(resource.and_then(|r| {
        r.get("identifier")?
            .as_array()?
            .iter()
            .find(|i| i.get("system").and_then(Value::as_str) == Some(system))?
            .get("value")?
            .as_str()
            .map(str::to_string)
    }))
}

/// The resource whose readers may read a Binary: the one its `securityContext` names (the
/// document it is the body of, or a patient). `None` when it names none; callers limited to
/// some patients then may not read it, since nothing says whose it is.
pub async fn binary_context(
    ctx: &Ctx,
    binary: &Value,
) -> Result<Option<(String, String, Value)>, ApiError> {
    let Some(r) = binary
        .pointer("/securityContext/reference")
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let Some((t, id)) = r.split_once('/') else {
        return Ok(None);
    };
    Ok(crate::refs::resolve(ctx, r)
        .await?
        .map(|v| (t.to_string(), id.to_string(), v)))
}
