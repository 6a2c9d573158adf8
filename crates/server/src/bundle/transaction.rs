//! The transaction half of bundle processing: every entry is resolved (conditional create,
//! update and delete, conditional references), validated and checked against the store first;
//! then all writes go to the store in one commit, so the bundle succeeds or fails as a whole.

use super::*;

pub(super) async fn transaction(
    ctx: &Ctx,
    entries: Vec<Value>,
    with_resource: bool,
) -> Result<Value, ApiError> {
    let t0 = std::time::Instant::now();
    let mut reqs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        reqs.push(parse_request(ctx, e, i)?);
    }
    // Assign ids (resolving conditional create, update and delete) and build the
    // fullUrl -> Type/id map.
    let mut map: HashMap<String, String> = HashMap::new();
    let mut ids: Vec<Option<String>> = Vec::with_capacity(reqs.len());
    // Entries answered without a write: a conditional create that found its match, a
    // conditional delete that found nothing.
    let mut preset: Vec<Option<Reply>> = vec![None; reqs.len()];
    for (i, (req, entry)) in reqs.iter().zip(&entries).enumerate() {
        rest::check_type(ctx.defs, &req.rtype).map_err(|e| entry_err(i, e.at("request.url")))?;
        let conditional = req.id.is_none() && !req.query.is_empty();
        let id = match (req.method.as_str(), &req.id) {
            ("POST", None) if req.rest.is_empty() => match &req.cond.if_none_exist {
                None => Some(rest::new_id()),
                Some(criteria) => {
                    let found = crate::search::matches(ctx, &req.rtype, criteria)
                        .await
                        .map_err(|e| entry_err(i, e.at("request.ifNoneExist")))?;
                    match found.as_slice() {
                        [] => Some(rest::new_id()),
                        [one] => {
                            preset[i] = Some(rest::existing(one));
                            Some(one.id.clone())
                        }
                        _ => {
                            return Err(entry_err(i, rest::multiple_matches(&req.rtype, criteria)))
                        }
                    }
                }
            },
            ("PUT" | "PATCH" | "DELETE", Some(id)) if req.rest.is_empty() => {
                rest::check_id(id).map_err(|e| entry_err(i, e.at("request.url")))?;
                Some(id.clone())
            }
            ("PUT" | "PATCH" | "DELETE", None) if conditional => {
                let found = crate::search::matches(ctx, &req.rtype, &req.query)
                    .await
                    .map_err(|e| entry_err(i, e.at("request.url")))?;
                match (req.method.as_str(), found.as_slice()) {
                    (_, [one]) => Some(one.id.clone()),
                    ("DELETE", []) => {
                        preset[i] = Some(Reply::json(
                            StatusCode::OK,
                            zdrav_fhir::operation_outcome(&[zdrav_fhir::Issue::information(
                                "informational",
                                "no resource matched the criteria; nothing deleted",
                            )]),
                        ));
                        None
                    }
                    ("PUT", []) => Some(
                        entry
                            .pointer("/resource/id")
                            .and_then(Value::as_str)
                            .map(String::from)
                            .unwrap_or_else(rest::new_id),
                    ),
                    ("PATCH", []) => {
                        return Err(entry_err(
                            i,
                            ApiError::not_found("no resource matched the PATCH criteria")
                                .at("request.url"),
                        ))
                    }
                    _ => return Err(entry_err(i, rest::multiple_matches(&req.rtype, &req.query))),
                }
            }
            ("GET" | "HEAD", _) => None,
            _ => {
                return Err(entry_err(
                    i,
                    ApiError::bad_request(format!(
                        "unsupported entry request {} {}",
                        req.method,
                        [Some(req.rtype.as_str()), req.id.as_deref()]
                            .into_iter()
                            .flatten()
                            .chain(req.rest.iter().map(String::as_str))
                            .collect::<Vec<_>>()
                            .join("/")
                    ))
                    .at("request.url"),
                ))
            }
        };
        if conditional && req.method == "PUT" {
            if let (Some(id), Some(body_id)) =
                (&id, entry.pointer("/resource/id").and_then(Value::as_str))
            {
                if body_id != id {
                    return Err(entry_err(
                        i,
                        ApiError::bad_request(format!(
                            "the resource id '{body_id}' differs from the matching resource '{id}'"
                        ))
                        .at(format!("{}.id", req.rtype)),
                    ));
                }
            }
        }
        if let (Some(id), Some(full)) = (&id, entry.get("fullUrl").and_then(Value::as_str)) {
            let target = format!("{}/{id}", req.rtype);
            if map.insert(full.to_string(), target).is_some() {
                return Err(entry_err(
                    i,
                    ApiError::bad_request(format!("fullUrl '{full}' appears twice")).at("fullUrl"),
                ));
            }
        }
        ids.push(id);
    }
    // Conditional references (`Patient?identifier=...`) must match exactly one resource.
    let mut conditional_refs: Vec<(usize, String)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(r) = e.get("resource") {
            collect_conditional_refs(r, &mut |s| conditional_refs.push((i, s.to_string())));
        }
    }
    for (i, r) in conditional_refs {
        if map.contains_key(&r) {
            continue;
        }
        let Some((rtype, criteria)) = r.split_once('?') else {
            continue;
        };
        let found = crate::search::matches(ctx, rtype, criteria)
            .await
            .map_err(|e| entry_err(i, e.at("resource")))?;
        match found.as_slice() {
            [one] => {
                map.insert(r.clone(), format!("{}/{}", one.rtype, one.id));
            }
            [] => {
                return Err(entry_err(
                    i,
                    ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "not-found",
                        format!("conditional reference '{r}' matches no resource"),
                    )
                    .at("resource"),
                ))
            }
            _ => {
                return Err(entry_err(
                    i,
                    rest::multiple_matches(rtype, criteria).at("resource"),
                ))
            }
        }
    }
    // Prepare writes.
    let mut order_idx: Vec<usize> = (0..reqs.len()).collect();
    order_idx.sort_by_key(|&i| order(&reqs[i].method));
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut op_entry: Vec<usize> = Vec::new();
    let mut refs = Vec::new();
    let mut written: HashSet<(String, String)> = HashSet::new();
    let mut deleted: HashSet<(String, String)> = HashSet::new();
    let mut warnings: Vec<Vec<zdrav_fhir::Issue>> = Vec::new();
    let mut entries = entries;
    for &i in &order_idx {
        let req = &reqs[i];
        if preset[i].is_some() {
            continue;
        }
        let Some(id) = ids[i].clone() else { continue };
        if matches!(req.method.as_str(), "PUT" | "PATCH" | "DELETE") {
            crate::care::check_existing(ctx, &req.method, &[&req.rtype, &id])
                .await
                .map_err(|e| entry_err(i, e))?;
            crate::remd::check_change(ctx, &req.rtype, &id)
                .await
                .map_err(|e| entry_err(i, e))?;
        }
        let key = (req.rtype.clone(), id.clone());
        let precondition = |create: bool| match req.cond.if_match {
            Some(v) => Precondition::VersionIs(v),
            None if create => Precondition::MustNotExist,
            None => Precondition::None,
        };
        match req.method.as_str() {
            "DELETE" => {
                deleted.insert(key);
                warnings.push(Vec::new());
                ops.push(WriteOp::Delete {
                    rtype: req.rtype.clone(),
                    id,
                    precondition: precondition(false),
                });
            }
            "POST" | "PUT" | "PATCH" => {
                let mut resource =
                    entries[i]
                        .get_mut("resource")
                        .map(Value::take)
                        .ok_or_else(|| {
                            entry_err(
                                i,
                                ApiError::bad_request("entry.resource is missing").at("resource"),
                            )
                        })?;
                let mut precond = precondition(req.method == "POST");
                if req.method == "PATCH" {
                    let (doc, is_json) = patch_body(resource).map_err(|e| entry_err(i, e))?;
                    let current = ctx
                        .store
                        .read(&req.rtype, &id)
                        .await?
                        .filter(|c| !c.deleted)
                        .ok_or_else(|| {
                            entry_err(
                                i,
                                ApiError::not_found(format!("{}/{id} is not known", req.rtype)),
                            )
                        })?;
                    let cur: Value = serde_json::from_slice(&current.json).map_err(|e| {
                        ApiError::internal(format!("stored JSON is unreadable: {e}"))
                    })?;
                    resource = if is_json {
                        zdrav_fhir::patch::json_patch(&cur, &doc)
                    } else {
                        zdrav_fhir::patch::fhir_patch(ctx.defs, &cur, &doc)
                    }
                    .map_err(|e| entry_err(i, rest::patch_error(e)))?;
                    precond = Precondition::VersionIs(req.cond.if_match.unwrap_or(current.version));
                } else if req.method == "PUT" {
                    match resource.get("id").and_then(Value::as_str) {
                        Some(b) if b == id => {}
                        _ => {
                            return Err(entry_err(
                                i,
                                ApiError::bad_request(format!(
                                    "the resource id must equal the id in request.url ('{id}')"
                                ))
                                .at(format!("{}.id", req.rtype)),
                            ))
                        }
                    }
                }
                if req.rtype == "Appointment" && resource.get("slot").is_some() {
                    return Err(entry_err(i, crate::booking::not_in_transactions()));
                }
                let mut unresolved = Vec::new();
                let at = format!("Bundle.entry[{i}].resource");
                rewrite_refs(&mut resource, &at, &map, &mut unresolved);
                if let Some((u, at)) = unresolved.first() {
                    return Err(ApiError::bad_request(format!(
                        "reference '{u}' does not match the fullUrl of any entry in the transaction"
                    ))
                    .at(at.clone()));
                }
                let checked = rest::prepare(ctx, &req.rtype, &id, &mut resource)
                    .map_err(|e| entry_err(i, e))?;
                refs.extend(
                    checked
                        .local_refs
                        .into_iter()
                        .map(|r| (format!("Bundle.entry[{i}].resource"), r)),
                );
                warnings.push(checked.issues);
                written.insert(key);
                ops.push(rest::put_op(ctx, &req.rtype, &id, resource, precond));
            }
            _ => continue,
        }
        op_entry.push(i);
    }
    for (prefix, r) in &refs {
        let key = (r.rtype.clone(), r.id.clone());
        if deleted.contains(&key) && !written.contains(&key) {
            let at = match r.expression.split_once('.') {
                Some((_, rest)) => format!("{prefix}.{rest}"),
                None => prefix.clone(),
            };
            return Err(ApiError::bad_request(format!(
                "{}/{} is referenced but deleted by this transaction",
                r.rtype, r.id
            ))
            .at(at));
        }
    }
    rest::check_references(&ctx.store, &refs, &written).await?;
    crate::remd::check_transaction(ctx, &mut ops, &op_entry).await?;
    tracing::debug!(
        prepare_us = t0.elapsed().as_micros() as u64,
        entries = reqs.len(),
        "transaction prepared"
    );
    let results = match crate::audit::commit(ctx, ops, "transaction").await {
        Ok(r) => r,
        Err(e) => {
            let idx = match &e {
                StoreError::VersionConflict { index, .. }
                | StoreError::AlreadyExists { index, .. }
                | StoreError::DuplicateKey { index, .. } => op_entry.get(*index).copied(),
                StoreError::Backend(_)
                | StoreError::OutboxGone { .. }
                | StoreError::TooCostly { .. } => None,
            };
            let err = ApiError::from(e);
            return Err(match idx {
                Some(i) => entry_err(i, err),
                None => err,
            });
        }
    };
    let mut out: Vec<Value> = vec![Value::Null; reqs.len()];
    for ((w, &i), warn) in results.iter().zip(&op_entry).zip(&warnings) {
        let prefer = if with_resource {
            PreferReturn::Representation
        } else {
            PreferReturn::Minimal
        };
        let reply = rest::write_reply(w, prefer, warn);
        out[i] = response_entry(&ctx.base, &reply, with_resource);
        if !warn.is_empty() {
            let warn: Vec<_> = warn
                .iter()
                .cloned()
                .map(|w| {
                    let at = w.expression.clone().unwrap_or_default();
                    let rest = at.split_once('.').map_or("", |(_, r)| r);
                    w.at(format!("Bundle.entry[{i}].resource.{rest}"))
                })
                .collect();
            out[i]["response"]["outcome"] = zdrav_fhir::operation_outcome(&warn);
        }
    }
    for (i, reply) in preset.iter().enumerate() {
        if let Some(reply) = reply {
            out[i] = response_entry(&ctx.base, reply, with_resource);
        }
    }
    for &i in &order_idx {
        if ids[i].is_none() && preset[i].is_none() {
            out[i] = match run_single(ctx, &reqs[i], None).await {
                Ok(reply) => response_entry(&ctx.base, &reply, true),
                Err(e) => error_entry(&e),
            };
        }
    }
    Ok(
        json!({"resourceType": "Bundle", "id": rest::new_id(), "type": "transaction-response", "entry": out}),
    )
}
