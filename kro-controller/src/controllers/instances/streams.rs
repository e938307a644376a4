//! The streams an instance controller runs on: the instance watch, and the triggers that
//! re-enqueue instances (child events, a changed graph, vanished instances).

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;

use futures::{Stream, StreamExt as _, stream};
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt as _, watcher};
use kube::{Resource as _, ResourceExt as _};
use tokio::sync::mpsc;

use super::super::instance_metrics::InstanceTelemetry;
use super::super::stored_instance::StoredInstance;
use super::SUSPEND_ANNOTATION;
use crate::embed::VanishedInstances;
use crate::executor::ObjectCache;

/// Where the instance watch reports what the controller's queue does not carry.
pub(super) struct WatchSignals {
    /// The last states of instances that vanished unfinalized, kept for their sweep (their
    /// references go to the controller's queue through the tracker's stream).
    pub(super) vanished: VanishedInstances<StoredInstance>,
    /// One message per completed (re)list of the instances.
    pub(super) listed_tx: mpsc::UnboundedSender<()>,
}

/// The instance watch as the controller's input: reflected into `writer`'s store, counted in
/// the metrics, filtered to the changes that trigger a reconcile ([`trigger_hash`]).
pub(super) fn instance_events(
    api: Api<StoredInstance>,
    writer: Writer<StoredInstance>,
    store: &Store<StoredInstance>,
    resource: &ApiResource,
    telemetry: &Arc<InstanceTelemetry>,
    signals: WatchSignals,
) -> impl Stream<Item = Result<StoredInstance, watcher::Error>> + Send + 'static {
    let WatchSignals {
        vanished,
        listed_tx,
    } = signals;
    let pending = Arc::clone(telemetry);
    let events = Arc::clone(telemetry);
    let resource = resource.clone();
    let known = store.clone();
    let watched = resource.clone();
    let mut synced = false;
    watcher(api, watcher::Config::default())
        .default_backoff()
        .inspect(move |event| {
            events.count_watch_event((&known, &watched), event, &mut synced);
            if let Ok(watcher::Event::InitDone) = event {
                // Every instance is listed: children left by instances deleted while no
                // watch saw them can be found now.
                let _ = listed_tx.send(());
            }
        })
        .reflect(writer)
        .inspect(move |event| {
            // A vanished instance goes through the controller's queue: the sweep waits for a
            // running reconcile of the instance, which may still be applying children.
            if let Ok(event) = event {
                vanished.observe(event);
            }
        })
        .applied_objects()
        .predicate_filter(trigger_hash, PredicateConfig::default())
        .inspect(move |result| {
            if let Ok(object) = result {
                pending
                    .queue()
                    .add(ObjectRef::from_obj_with(object, resource.clone()));
            }
        })
}

/// What re-enqueues instances besides their own watch: events of their children, every
/// instance when the graph changed, and instances that vanished unfinalized.
pub(super) fn reconcile_triggers(
    cache: &ObjectCache,
    resource: &ApiResource,
    store: &Store<StoredInstance>,
    requeue_all: mpsc::UnboundedReceiver<()>,
    vanished_refs: impl Stream<Item = ObjectRef<StoredInstance>> + Send + 'static,
    telemetry: &Arc<InstanceTelemetry>,
) -> impl Stream<Item = ObjectRef<StoredInstance>> + Send + 'static {
    let children = crate::triggers(cache, resource, store.clone());
    let everything = {
        let store = store.clone();
        let resource = resource.clone();
        tokio_stream_from(requeue_all).flat_map(move |()| stream::iter(all_refs(&store, &resource)))
    };
    let pending = Arc::clone(telemetry);
    stream::select(stream::select(children, everything), vanished_refs)
        .inspect(move |object_ref| pending.queue().add(object_ref.clone()))
}

/// The trigger hash of an instance: generation, deletion and the suspend annotation. Status and
/// label writes change none of them, so kro's own writes do not retrigger a reconcile.
pub(super) fn trigger_hash(instance: &StoredInstance) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    instance.meta().generation.hash(&mut hasher);
    instance
        .meta()
        .deletion_timestamp
        .is_some()
        .hash(&mut hasher);
    instance
        .annotations()
        .get(SUSPEND_ANNOTATION)
        .map(|value| value.to_ascii_lowercase())
        .hash(&mut hasher);
    Some(hasher.finish())
}

fn all_refs(
    store: &Store<StoredInstance>,
    resource: &ApiResource,
) -> Vec<ObjectRef<StoredInstance>> {
    store
        .state()
        .iter()
        .map(|object| ObjectRef::from_obj_with(object.as_ref(), resource.clone()))
        .collect()
}

fn tokio_stream_from(
    receiver: mpsc::UnboundedReceiver<()>,
) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|()| ((), receiver))
    })
}
