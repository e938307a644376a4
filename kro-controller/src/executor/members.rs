//! ApplySet members: listing them (from the watch cache when it can answer, live otherwise) and
//! deleting them with UID preconditions. Used by prune and by instance deletion.

use std::sync::Arc;

use futures::StreamExt as _;
use kro_applyset::{ChildMeta, Deletion, ObjectKey, PruneScope};
use kube::Client;
use kube::api::{DeleteParams, ListParams, Preconditions};
use serde_json::Value;

use super::cache::KindApi as _;
use super::cache::{CacheAnswer, ObjectCache};
use super::error::{Error, status_code};
use super::rest::RestMapper;

/// The result of one delete call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeleteResult {
    /// The server accepted the delete (the object may still be terminating).
    Deleted,
    /// The object was already gone.
    Gone,
    /// The object was recreated (another UID): it is not the member we meant, keep it.
    UidConflict,
}

/// One listed member: the object and its ApplySet metadata.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    /// The object as listed.
    pub(crate) object: Arc<Value>,
    /// What prune and deletion planning read.
    pub(crate) meta: ChildMeta,
}

/// Where members are listed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListFrom {
    /// The watch cache when it is synced, the server otherwise.
    Cache,
    /// The server: the watch may not have reported an object kro created a moment ago.
    Server,
}

/// Every member of the ApplySet `scope` selects, sorted by key. Kinds the server no longer
/// serves are skipped (nothing of them can exist).
pub(crate) async fn list_members(
    client: &Client,
    cache: &ObjectCache,
    mapper: &RestMapper,
    scope: &PruneScope,
    from: ListFrom,
) -> Result<Vec<Member>, Error> {
    for group_kind in &scope.group_kinds {
        mapper.resolve(client, group_kind).await?;
    }
    let plan = scope.list_requests(|group_kind| mapper.scope_of(group_kind));
    let applyset_id = scope
        .label_selector
        .split_once('=')
        .map(|(_, id)| id.to_owned())
        .unwrap_or_default();
    let mut members = Vec::new();
    for request in &plan.requests {
        let Some(kind) = mapper.known(&request.group_kind) else {
            continue;
        };
        let cached = match from {
            ListFrom::Cache => {
                cache.ensure_watch(&kind);
                cache.applyset_members(&kind, request.namespace.as_deref(), &applyset_id)
            }
            ListFrom::Server => CacheAnswer::NotSynced,
        };
        let objects = match cached {
            CacheAnswer::Answered(objects) => objects,
            CacheAnswer::NotSynced => {
                let api = kind.api(client.clone(), request.namespace.as_deref());
                let list = api
                    .list(&ListParams::default().labels(&request.label_selector))
                    .await
                    .map_err(|source| {
                        Error::kube(
                            format!(
                                "listing {} members in {}",
                                request.group_kind,
                                request.namespace.as_deref().unwrap_or("the cluster")
                            ),
                            source,
                        )
                    })?;
                list.items
                    .iter()
                    .filter_map(|object| serde_json::to_value(object).ok())
                    .map(|mut value| {
                        // A list's items carry no apiVersion/kind.
                        if let Some(map) = value.as_object_mut() {
                            map.insert("apiVersion".into(), kind.api_version().into());
                            map.insert("kind".into(), kind.kind.clone().into());
                        }
                        Arc::new(value)
                    })
                    .collect()
            }
        };
        for object in objects {
            let meta = ChildMeta::from_object(&object).map_err(|source| Error::InvalidObject {
                key: object_name(&object),
                source,
            })?;
            members.push(Member { object, meta });
        }
    }
    members.sort_by(|a, b| {
        a.meta
            .key
            .cmp(&b.meta.key)
            .then_with(|| a.meta.uid.cmp(&b.meta.uid))
    });
    Ok(members)
}

/// Issues the deletes concurrently (at most `concurrency` at a time), each with its UID
/// precondition. The results are in the order of `deletions`.
pub(crate) async fn delete_all(
    client: &Client,
    mapper: &RestMapper,
    deletions: &[&Deletion],
    concurrency: usize,
) -> Result<Vec<DeleteResult>, Error> {
    // Built eagerly so the caller's future stays `Send` (see `Executor::apply_items`).
    let pending: Vec<_> = deletions
        .iter()
        .map(|deletion| delete_member(client, mapper, &deletion.key, &deletion.uid_precondition))
        .collect();
    let results: Vec<Result<DeleteResult, Error>> = futures::stream::iter(pending)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

async fn delete_member(
    client: &Client,
    mapper: &RestMapper,
    key: &ObjectKey,
    uid: &str,
) -> Result<DeleteResult, Error> {
    let kind = mapper
        .resolve(client, &key.group_kind())
        .await?
        .ok_or_else(|| Error::UnknownKind { key: key.clone() })?;
    let api = kind.api(client.clone(), key.namespace.as_deref());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&key.name, &params).await {
        Ok(_) => Ok(DeleteResult::Deleted),
        Err(error) if status_code(&error) == Some(404) => Ok(DeleteResult::Gone),
        Err(error) if status_code(&error) == Some(409) => Ok(DeleteResult::UidConflict),
        Err(source) => Err(Error::kube(format!("deleting {key}"), source)),
    }
}

fn object_name(object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!(
        "{} {}/{}",
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name")
    )
}
