//! Server-side applies of a plan's items.

use std::sync::Arc;

use futures::StreamExt as _;
use kro_applyset::labels::CHILD_FIELD_MANAGER;
use kro_runtime::core::{ApplyItem, KindMapping};
use kro_runtime::machine::{ApplyAnswer, ApplyRequest};
use kube::api::{DynamicObject, Patch, PatchParams};

use super::cache::KindApi as _;
use super::cache::uid_of;
use super::instance::observed_json;
use super::memo::body_hash;
use super::{Error, Executor, ReconcileStats};

impl Executor {
    /// Applies each request (the machine already answered those a request would not change);
    /// one answer per request, in order.
    pub(super) async fn apply_targeted(
        &self,
        requests: Vec<(&ApplyRequest, KindMapping)>,
        stats: &mut ReconcileStats,
    ) -> Result<Vec<ApplyAnswer>, Error> {
        stats.applies += requests.len();
        // Futures are built eagerly: a `map` closure over borrowed items would make the
        // reconcile future lose `Send` (rustc cannot prove it for every lifetime).
        let pending: Vec<_> = requests
            .into_iter()
            .map(|(request, target)| async move { self.apply_one(request, &target).await })
            .collect();
        futures::stream::iter(pending)
            .buffered(self.config.concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// One apply, with the cache told of the write in flight (so a relist that started before
    /// it does not bring back the object's older state).
    pub(super) async fn apply_one(
        &self,
        request: &ApplyRequest,
        target: &KindMapping,
    ) -> Result<ApplyAnswer, Error> {
        let item = &request.item;
        let write = self
            .cache
            .begin_write(target, item.key.namespace.as_deref(), &item.key.name);
        let result = self.send_apply(request, target).await;
        write.finish(match &result {
            Ok(ApplyAnswer::Applied(observed)) => Some(observed),
            _ => None,
        });
        result
    }

    /// Sends one server-side apply, forced when the machine says so. A conflict on an unforced
    /// apply goes back to the machine, which decides whether kro may take the object over.
    pub(super) async fn send_apply(
        &self,
        request: &ApplyRequest,
        target: &KindMapping,
    ) -> Result<ApplyAnswer, Error> {
        let item = &request.item;
        let api = target.api(self.client.clone(), item.key.namespace.as_deref());
        let mut params = PatchParams::apply(CHILD_FIELD_MANAGER);
        if request.force {
            params = params.force();
        }
        match api
            .patch(&item.key.name, &params, &Patch::Apply(&item.body))
            .await
        {
            Ok(response) => Ok(self.applied(item, target, &response)),
            Err(kube::Error::Api(status)) if status.code == 409 && !request.force => {
                Ok(ApplyAnswer::Conflict(status.message.clone()))
            }
            Err(error) => self.apply_failed(item, error),
        }
    }

    /// Records an accepted apply: the memo of what was applied, and the response in the cache.
    pub(super) fn applied(
        &self,
        item: &ApplyItem,
        target: &KindMapping,
        response: &DynamicObject,
    ) -> ApplyAnswer {
        let observed = observed_json(response, target);
        let uid = uid_of(&observed).unwrap_or_default();
        self.memo.record(&item.key, uid, body_hash(&item.body));
        let observed = Arc::new(observed);
        self.cache.remember(target, &observed);
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
