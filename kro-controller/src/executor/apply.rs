//! Server-side applies of a plan's items.

use std::sync::Arc;

use futures::StreamExt as _;
use kro_applyset::labels::CHILD_FIELD_MANAGER;
use kro_applyset::{ChildMeta, check_membership};
use kro_runtime::core::{ApplyItem, ResourceTarget};
use kro_runtime::machine::ApplyAnswer;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::Value;

use super::cache::{part_of, uid_of};
use super::instance::observed_json;
use super::memo::body_hash;
use super::view::mapping_of;
use super::{Error, Executor, ReconcileStats};

impl Executor {
    /// Applies each item (the machine already answered those a request would not change); one
    /// answer per item, in order. `observed` is the object the item applies to, when known.
    pub(super) async fn apply_targeted(
        &self,
        items: Vec<(&ApplyItem, ResourceTarget, Option<Arc<Value>>)>,
        stats: &mut ReconcileStats,
    ) -> Result<Vec<ApplyAnswer>, Error> {
        stats.applies += items.len();
        // Futures are built eagerly: a `map` closure over borrowed items would make the
        // reconcile future lose `Send` (rustc cannot prove it for every lifetime).
        let pending: Vec<_> = items
            .into_iter()
            .map(|(item, target, observed)| async move {
                let hash = body_hash(&item.body);
                self.apply_one(item, &target, hash, observed.is_none())
                    .await
            })
            .collect();
        futures::stream::iter(pending)
            .buffered(self.config.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    pub(super) async fn apply_one(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        absent_from_cache: bool,
    ) -> Result<ApplyAnswer, Error> {
        let write = self.cache.begin_write(
            &mapping_of(target),
            item.key.namespace.as_deref(),
            &item.key.name,
        );
        let result = self.send_apply(item, target, hash, absent_from_cache).await;
        write.finish(match &result {
            Ok(ApplyAnswer::Applied(observed)) => Some(observed),
            _ => None,
        });
        result
    }

    pub(super) async fn send_apply(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        absent_from_cache: bool,
    ) -> Result<ApplyAnswer, Error> {
        let api = mapping_of(target).api(self.client.clone(), item.key.namespace.as_deref());
        // The cache never sees objects without kro's label (other tools' ApplySets, objects
        // made by hand): a forced apply would take them over. A creation is therefore first
        // applied without force, which the server refuses with a conflict when another manager
        // owns a field kro sets to another value (such as the ApplySet label); only then is the
        // live object looked at. A new object costs one request, not a read and a write. The
        // server does not refuse kro's own objects (same manager): the cache enters each write's
        // response when it returns, so another instance's object is not absent here (short of
        // a relist that started before the write, until the watch reports the object).
        if absent_from_cache {
            match api
                .patch(
                    &item.key.name,
                    &PatchParams::apply(CHILD_FIELD_MANAGER),
                    &Patch::Apply(&item.body),
                )
                .await
            {
                Ok(response) => return Ok(self.applied(item, target, hash, &response)),
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return self.apply_failed(item, error),
            }
            let live = match api.get_opt(&item.key.name).await {
                Ok(live) => live,
                // Without read access the take-over check cannot be made: nothing is applied,
                // and the node reports the refusal.
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    self.memo.forget(&item.key);
                    return Ok(ApplyAnswer::Forbidden(status.message.clone()));
                }
                Err(source) => return Err(Error::kube(format!("reading {}", item.key), source)),
            };
            if let Some(live) = live {
                let live = observed_json(&live, target);
                let current =
                    ChildMeta::from_object(&live).map_err(|source| Error::InvalidObject {
                        key: item.key.to_string(),
                        source,
                    })?;
                let applyset_id = part_of(&item.body).unwrap_or_default();
                if let Err(conflict) = check_membership(applyset_id, &item.key, Some(&current)) {
                    return Ok(ApplyAnswer::Rejected(conflict.to_string()));
                }
            }
        }
        match api
            .patch(
                &item.key.name,
                &PatchParams::apply(CHILD_FIELD_MANAGER).force(),
                &Patch::Apply(&item.body),
            )
            .await
        {
            Ok(response) => Ok(self.applied(item, target, hash, &response)),
            Err(error) => self.apply_failed(item, error),
        }
    }

    /// Records an accepted apply: the memo of what was applied, and the response in the cache.
    pub(super) fn applied(
        &self,
        item: &ApplyItem,
        target: &ResourceTarget,
        hash: u64,
        response: &DynamicObject,
    ) -> ApplyAnswer {
        let observed = observed_json(response, target);
        let uid = uid_of(&observed).unwrap_or_default();
        self.memo.record(&item.key, uid, hash);
        let observed = Arc::new(observed);
        self.cache.remember(&mapping_of(target), &observed);
        ApplyAnswer::Applied(observed)
    }

    /// A refused apply: missing permission and rejections are the node's error; anything else
    /// fails the reconcile.
    pub(super) fn apply_failed(
        &self,
        item: &ApplyItem,
        error: kube::Error,
    ) -> Result<ApplyAnswer, Error> {
        match error {
            kube::Error::Api(status) if status.code == 403 => {
                self.memo.forget(&item.key);
                Ok(ApplyAnswer::Forbidden(status.message.clone()))
            }
            kube::Error::Api(status) if (400..500).contains(&status.code) => {
                self.memo.forget(&item.key);
                Ok(ApplyAnswer::Rejected(status.message.clone()))
            }
            source => Err(Error::kube(format!("applying {}", item.key), source)),
        }
    }
}
