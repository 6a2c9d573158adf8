//! A backend-independent conformance suite for [`crate::Store`]: every backend must pass
//! [`run_all`]. It speaks only through the trait, so it runs unchanged against SQLite and
//! PostgreSQL. Cases use resource types and ids unique to each call (`Zc<case><nonce>`), so they
//! never see each other's data; the system-history cases assume no other writer is active.
//! The cases panic with a message on any deviation, like test assertions.

mod groups;
mod history;
mod outbox;
mod pieces;
mod scan;
mod search;
mod search_access;
mod search_links;
mod search_paging;
mod search_values;
mod writes;

pub use groups::*;
pub use history::*;
pub use outbox::*;
pub use pieces::*;
pub use scan::*;
pub use search::{search_date, search_string, search_token};
pub use search_access::*;
pub use search_links::*;
pub use search_paging::*;
pub use search_values::*;
pub use writes::*;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::{DynStore, Precondition, StoredResource, WriteOp, WriteResult};

/// Calls the macro `$m` with the name of every case, in order: the one list that [`run_all`]
/// and each backend's test file (one `#[test]` per case) are generated from.
#[macro_export]
macro_rules! conformance_cases {
    ($m:ident) => {
        $m!(
            create_update_vread,
            delete_and_recreate,
            delete_of_missing_is_noop,
            version_is_precondition,
            must_not_exist_precondition,
            duplicate_key,
            failed_commit_leaves_nothing,
            meta_is_stamped,
            last_updated_increases,
            exists_many,
            counts,
            instance_type_system_history,
            history_since,
            history_at,
            snapshot_paging,
            concurrent_version_conflict,
            concurrent_must_not_exist,
            search_string,
            search_token,
            search_date,
            search_number_quantity,
            search_reference_uri,
            search_composite,
            search_chain_has,
            search_compartment_id_updated,
            search_include,
            search_sort,
            search_paging,
            search_after_updates,
            scan_pages,
            large_json_in_pieces,
            pages_are_bounded_in_bytes,
            settings_first_value_wins,
            search_restricted_to_patients,
            outbox_exactly_once,
            concurrent_commits_are_independent,
            concurrent_updates_of_one_resource
        );
    };
}

/// Runs every case, one after another, on `store`.
pub async fn run_all(store: DynStore) {
    macro_rules! run {
        ($($name:ident),* $(,)?) => { $($name(&store).await;)* };
    }
    crate::conformance_cases!(run);
}

/// A string unique within this process and, through the clock, across runs on one database.
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = chrono::Utc::now().timestamp_micros();
    format!("{t:x}{n:x}")
}

/// A resource type no other case or run uses.
fn unique_type(case: &str) -> String {
    format!("Zc{case}{}", nonce())
}

fn put(rtype: &str, id: &str, resource: Value, precondition: Precondition) -> WriteOp {
    WriteOp::Put {
        rtype: rtype.to_owned(),
        id: id.to_owned(),
        resource,
        precondition,
        index: Vec::new(),
    }
}

fn del(rtype: &str, id: &str, precondition: Precondition) -> WriteOp {
    WriteOp::Delete {
        rtype: rtype.to_owned(),
        id: id.to_owned(),
        precondition,
    }
}

/// A small resource of type `rtype` carrying a marker to tell versions apart.
fn body(rtype: &str, marker: &str) -> Value {
    serde_json::json!({
        "resourceType": rtype,
        "active": true,
        "name": [{ "family": marker }],
    })
}

/// Commits one op that must succeed and returns its result.
async fn commit1(store: &DynStore, op: WriteOp) -> WriteResult {
    let what = format!("{:?}", op.key());
    let mut results = store
        .commit(vec![op])
        .await
        .unwrap_or_else(|e| panic!("commit of {what} failed: {e}"));
    assert_eq!(results.len(), 1, "one result per op");
    results.remove(0)
}

/// Creates or updates `rtype/id` unconditionally.
async fn save(store: &DynStore, rtype: &str, id: &str, marker: &str) -> WriteResult {
    commit1(
        store,
        put(rtype, id, body(rtype, marker), Precondition::None),
    )
    .await
}

fn parse(json: &[u8]) -> Value {
    serde_json::from_slice(json).unwrap_or_else(|e| panic!("stored JSON does not parse: {e}"))
}

/// The `name[0].family` marker of a stored resource.
fn marker(json: &[u8]) -> String {
    parse(json)["name"][0]["family"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The start of a FHIR instant, in micros.
fn micros(instant: &str) -> i64 {
    crate::parse_fhir_datetime_range(instant)
        .unwrap_or_else(|| panic!("{instant:?} is not a FHIR instant"))
        .0
}

async fn must_read(store: &DynStore, rtype: &str, id: &str) -> StoredResource {
    store
        .read(rtype, id)
        .await
        .unwrap_or_else(|e| panic!("read {rtype}/{id}: {e}"))
        .unwrap_or_else(|| panic!("{rtype}/{id} not found"))
}

async fn must_vread(store: &DynStore, rtype: &str, id: &str, version: u64) -> StoredResource {
    store
        .vread(rtype, id, version)
        .await
        .unwrap_or_else(|e| panic!("vread {rtype}/{id}/{version}: {e}"))
        .unwrap_or_else(|| panic!("{rtype}/{id}/_history/{version} not found"))
}

async fn is_absent(store: &DynStore, rtype: &str, id: &str) -> bool {
    store
        .read(rtype, id)
        .await
        .unwrap_or_else(|e| panic!("read {rtype}/{id}: {e}"))
        .is_none()
}
