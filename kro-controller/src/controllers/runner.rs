//! What `kube::runtime::Controller::run` does, on kube-runtime's stable API: the trigger streams
//! merged with a backoff on their errors, stopped by a graceful shutdown, fed to [`applier`] with
//! every reconcile spawned on its own task (cancelled when dropped). `Controller::for_stream` and
//! `Controller::reconcile_on`, which the controllers need, are behind kube's unstable features,
//! which a library leaves to the final binary.

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt as _, TryFuture, TryFutureExt};
use kube::Resource;
use kube::runtime::applier;
use kube::runtime::controller::{Action, Config, Error, ReconcileRequest};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::utils::{CancelableJoinHandle, StreamBackoff};
use kube::runtime::watcher::{self, DefaultBackoff};
use tracing::Instrument as _;

/// One source of reconcile requests.
pub(crate) type Trigger<K> = BoxStream<'static, Result<ReconcileRequest<K>, watcher::Error>>;

/// A controller of `K`: its triggers, its store, its settings.
pub(crate) struct Runner<K>
where
    K: Resource + 'static,
    K::DynamicType: Eq + Hash,
{
    triggers: SelectAll<Trigger<K>>,
    store: Store<K>,
    config: Config,
}

impl<K> Runner<K>
where
    K: Clone + Resource + Debug + Send + Sync + 'static,
    K::DynamicType: Debug + Eq + Hash + Clone + Unpin + Send + Sync,
{
    /// A controller reconciling the objects of `store`.
    pub(crate) fn new(store: Store<K>, config: Config) -> Self {
        Self {
            triggers: SelectAll::new(),
            store,
            config,
        }
    }

    /// Adds a source of reconcile requests.
    pub(crate) fn trigger(
        mut self,
        requests: impl Stream<Item = Result<ReconcileRequest<K>, watcher::Error>> + Send + 'static,
    ) -> Self {
        self.triggers.push(requests.boxed());
        self
    }

    /// Reconciles every requested object until `shutdown` resolves (no new reconcile starts
    /// then; the stream ends once the running ones finished), as `Controller::run` with
    /// `graceful_shutdown_on(shutdown)`.
    pub(crate) fn run<Fut, Ctx>(
        self,
        mut reconciler: impl FnMut(Arc<K>, Arc<Ctx>) -> Fut,
        error_policy: impl Fn(Arc<K>, &Fut::Error, Arc<Ctx>) -> Action,
        context: Arc<Ctx>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Stream<Item = Result<(ObjectRef<K>, Action), Error<Fut::Error, watcher::Error>>>
    where
        Fut: TryFuture<Ok = Action> + Send + 'static,
        Fut::Error: std::error::Error + Send + 'static,
    {
        let queue = StreamBackoff::new(self.triggers, DefaultBackoff::default())
            .take_until(Box::pin(shutdown));
        applier(
            move |object, context| {
                CancelableJoinHandle::spawn(
                    TryFutureExt::into_future(reconciler(object, context)).in_current_span(),
                    &tokio::runtime::Handle::current(),
                )
            },
            error_policy,
            context,
            self.store,
            queue,
            self.config,
        )
    }
}
