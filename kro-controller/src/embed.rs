//! Wiring kro's engine into a kube-rs controller of your own.
//!
//! A controller for the generated kind of one RGD needs, besides an [`Executor`](crate::Executor)
//! reconcile per instance:
//! - the kind it serves and the kinds kro applies for it ([`instance_api_resource`],
//!   [`child_kinds`]);
//! - reconcile triggers when a child or an external reference changes, since readiness is read
//!   from them ([`triggers`]: a stream of instance references for
//!   [`kube::runtime::applier`]'s queue, or for `Controller::reconcile_on` with kube's
//!   `unstable-runtime-reconcile-on` feature);
//! - a sweep of the children of an instance the API server deleted while kro's finalizer was
//!   being added (kubernetes issue 77988), routed through the controller's queue so it never
//!   runs during a reconcile of the same instance ([`VanishedInstances`]).
//!
//! The crate's README and `examples/consumer` in the repository show them together.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt as _, stream};
use kro_graph::{Graph, NodeKind};
use kube::Resource;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use crate::executor::{ChildEvent, KindMapping, ObjectCache, ObjectKey};

/// The kube-rs description of the graph's generated kind (the instances).
pub fn instance_api_resource(graph: &Graph) -> ApiResource {
    let gvk = graph.instance().gvk();
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&gvk.group, &gvk.version, &gvk.kind),
        graph.instance().plural(),
    )
}

/// The kinds kro applies for instances of the graph (its template resources; external
/// references are only read), one per group and kind, in the graph's topological order.
pub fn child_kinds(graph: &Graph) -> Vec<KindMapping> {
    let mut seen = BTreeSet::new();
    graph
        .topological_order()
        .filter(|node| matches!(node.kind(), NodeKind::Template))
        .filter(|node| seen.insert((node.gvk().group.clone(), node.gvk().kind.clone())))
        .map(|node| node.mapping())
        .collect()
}

/// Whether `key` names an instance of `instance`'s kind. The version is not compared: children
/// keep the version label of the apply that created them until their next apply.
pub fn is_instance_of(key: &ObjectKey, instance: &ApiResource) -> bool {
    key.group == instance.group && key.kind == instance.kind
}

/// The reference a kube-rs controller of `instance`'s kind queues for the instance `key`.
pub fn instance_object_ref(key: &ObjectKey, instance: &ApiResource) -> ObjectRef<DynamicObject> {
    object_ref(key, instance)
}

fn object_ref<K: Resource<DynamicType = ApiResource>>(
    key: &ObjectKey,
    instance: &ApiResource,
) -> ObjectRef<K> {
    let reference = ObjectRef::new_with(&key.name, instance.clone());
    match &key.namespace {
        Some(namespace) => reference.within(namespace),
        None => reference,
    }
}

/// The instances of `instance`'s kind to reconcile because a child or a watched external
/// reference changed, from [`ObjectCache::subscribe`]. When events were lost
/// ([`ChildEvent::Lagged`]) it yields every instance of `store` (the store of the controller's
/// own instance watch), since the lost ones are unknown.
///
/// `K` is the type the controller stores instances as, usually [`DynamicObject`].
pub fn triggers<K>(
    cache: &ObjectCache,
    instance: &ApiResource,
    store: Store<K>,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ApiResource> + Clone + Send + Sync + 'static,
{
    let resource = instance.clone();
    cache.subscribe().into_stream().flat_map(move |event| {
        let refs = match event {
            ChildEvent::Changed(key) if is_instance_of(&key, &resource) => {
                vec![object_ref(&key, &resource)]
            }
            ChildEvent::Changed(_) => Vec::new(),
            ChildEvent::Lagged { .. } => store
                .state()
                .iter()
                .map(|object| ObjectRef::from_obj_with(object.as_ref(), resource.clone()))
                .collect(),
        };
        stream::iter(refs)
    })
}

type LastStates<K> = HashMap<ObjectRef<K>, K>;

/// Instances that disappeared without being marked for deletion although they carried kro's
/// finalizer: the API server let a delete through that raced with the finalizer's addition,
/// and the children kro applied meanwhile are left behind.
///
/// Feed it every event of the controller's instance watch ([`VanishedInstances::observe`]);
/// merge its reference stream into the controller's queue. The controller then reports the
/// reference as not found (`kube::runtime::controller::Error::ObjectNotFound`), after any
/// running reconcile of that instance ended; [`VanishedInstances::take`] gives the last state
/// to pass to [`Executor::sweep_vanished_instance`](crate::Executor::sweep_vanished_instance).
///
/// `K` is the type the controller stores instances as, usually [`DynamicObject`].
#[derive(Debug)]
pub struct VanishedInstances<K = DynamicObject>
where
    K: Resource<DynamicType = ApiResource>,
{
    resource: ApiResource,
    last_states: Arc<Mutex<LastStates<K>>>,
    queue: mpsc::UnboundedSender<ObjectRef<K>>,
}

// Not derived: a derive would ask `K: Clone` of the handle, which only shares the states.
impl<K: Resource<DynamicType = ApiResource>> Clone for VanishedInstances<K> {
    fn clone(&self) -> Self {
        Self {
            resource: self.resource.clone(),
            last_states: Arc::clone(&self.last_states),
            queue: self.queue.clone(),
        }
    }
}

impl<K> VanishedInstances<K>
where
    K: Resource<DynamicType = ApiResource> + Clone + Send + 'static,
{
    /// A tracker for instances of `instance`'s kind, and the stream of references to queue.
    pub fn new(
        instance: &ApiResource,
    ) -> (Self, impl Stream<Item = ObjectRef<K>> + Send + 'static) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let refs = stream::unfold(receiver, |mut receiver| async move {
            let object_ref = receiver.recv().await?;
            Some((object_ref, receiver))
        });
        let tracker = Self {
            resource: instance.clone(),
            last_states: Arc::default(),
            queue,
        };
        (tracker, refs)
    }

    /// Looks at one event of the instance watch: the deletion of an instance that vanished
    /// unfinalized is remembered and its reference queued. Returns whether it was.
    pub fn observe(&self, event: &watcher::Event<K>) -> bool {
        let watcher::Event::Delete(object) = event else {
            return false;
        };
        // The decision reads the metadata only (finalizers, deletion mark).
        let metadata = serde_json::json!({ "metadata": object.meta() });
        if !kro_runtime::core::vanished_unfinalized(&metadata) {
            return false;
        }
        let object_ref = ObjectRef::from_obj_with(object, self.resource.clone());
        self.lock().insert(object_ref.clone(), object.clone());
        // The receiver lives as long as the controller's queue; without one nobody sweeps.
        let _ = self.queue.send(object_ref);
        true
    }

    /// The last state of a vanished instance whose reference the controller reported as not
    /// found, once; `None` for any other reference.
    pub fn take(&self, object_ref: &ObjectRef<K>) -> Option<K> {
        self.lock().remove(object_ref)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LastStates<K>> {
        self.last_states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "embed_tests.rs"]
mod tests;
