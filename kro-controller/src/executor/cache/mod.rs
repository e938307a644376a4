//! The shared watch cache of kro-managed objects.
//!
//! One label-selected, metadata-only watch per kind (`kro.run/owned=true`, cluster-wide), started
//! on demand and shared by every instance of every RGD: memory grows with the objects kro manages
//! (and only by their metadata), never with the size of the cluster, and N RGDs using Deployments
//! cost one Deployment watch. Every change of a child is mapped through its `kro.run/instance-*`
//! labels to the instance that owns it and published on a broadcast channel, which is how an
//! operator reconciles on the watch event rather than on a timer.
//!
//! Full objects (what readiness, status projection and drift checks read) are kept in a small,
//! bounded store of recently read or applied bodies, each valid only while the watched
//! `resourceVersion` still matches; anything else is read live by the executor. A burst of
//! reconciles of one instance reads each child once, and an idle operator holds metadata only.
//!
//! Objects are stored as JSON (`Arc<Value>`, without `managedFields`) because that is what the
//! planning core reads; a `reflector::Store<DynamicObject>` would need a conversion per read.

mod bodies;
mod identity;
mod metadata;
mod objects;
#[cfg(test)]
pub(crate) mod tests;
mod watch;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use kube::Client;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use super::events::ChildEvents;
use super::externals::{ExternalRef, ExternalWatches};
use bodies::BodyStore;
use metadata::{is_kro_owned, resource_version};
use objects::{KindObjects, KindStore};
use watch::run_watch;

pub use identity::KindApi;
use identity::store_key;
pub use kro_api::{KindMapping, ObjectKey};
pub(crate) use metadata::{labels_of, uid_of};
pub use write::WriteGuard;

/// What the cache knows about a read.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheAnswer<T> {
    /// The kind is watched and its initial list completed: the answer is authoritative for
    /// kro-managed objects.
    Answered(T),
    /// The kind is not watched yet, or its initial list is still running.
    NotSynced,
}

/// What the cache holds of one kro-managed object.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// No kro-managed object of that name exists.
    Absent,
    /// The full object, as current as the watch.
    Body(Arc<Value>),
    /// The object exists, but only its metadata is known: read it live (and
    /// [`ObjectCache::remember`] the result).
    MetadataOnly(Arc<Value>),
}

type ObjectName = (Option<String>, String);
type StoreKey = kro_api::Gvk;

struct CacheInner {
    client: Client,
    kinds: Mutex<HashMap<StoreKey, Arc<KindStore>>>,
    bodies: Arc<Mutex<BodyStore>>,
    events: broadcast::Sender<ObjectKey>,
    externals: ExternalWatches,
}

impl Drop for CacheInner {
    fn drop(&mut self) {
        let kinds = self.kinds.get_mut().unwrap_or_else(PoisonError::into_inner);
        for store in kinds.values() {
            if let Some(task) = store.task.get() {
                task.abort();
            }
        }
    }
}

/// The shared cache. Cheap to clone; the watches stop when the last clone is dropped.
#[derive(Clone)]
pub struct ObjectCache {
    inner: Arc<CacheInner>,
}

impl std::fmt::Debug for ObjectCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCache")
            .field("watched_kinds", &self.watched_kinds())
            .field("bodies", &self.body_count())
            .finish_non_exhaustive()
    }
}

/// How many instance events a slow subscriber may fall behind before it sees `Lagged` (and
/// should then reconcile everything it owns).
const EVENT_BUFFER: usize = 4096;

/// Default number of full objects kept: the children of the few hundred instances a busy
/// operator has in its queue at once (a burst of creations re-reads nothing while its own
/// applies are still current), about 2 MiB as text.
pub const DEFAULT_BODY_CAPACITY: usize = 1024;

impl ObjectCache {
    /// An empty cache that watches through `client`, keeping up to [`DEFAULT_BODY_CAPACITY`]
    /// full objects.
    pub fn new(client: Client) -> Self {
        Self::with_body_capacity(client, DEFAULT_BODY_CAPACITY)
    }

    /// An empty cache keeping up to `capacity` full objects (0: every body is read live).
    pub fn with_body_capacity(client: Client, capacity: usize) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            inner: Arc::new(CacheInner {
                externals: ExternalWatches::new(client.clone(), events.clone()),
                client,
                kinds: Mutex::new(HashMap::new()),
                bodies: Arc::new(Mutex::new(BodyStore::new(capacity))),
                events,
            }),
        }
    }

    /// The client the cache watches through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Instance keys of changed children and external references: one per added, modified or
    /// deleted kro-managed object, and one per interested instance for each change of a watched
    /// external reference.
    pub fn subscribe(&self) -> ChildEvents {
        ChildEvents::new(self.inner.events.subscribe())
    }

    /// Publishes `key` as if one of its children had changed.
    #[cfg(test)]
    pub(crate) fn publish_for_test(&self, key: ObjectKey) {
        let _ = self.inner.events.send(key);
    }

    /// Starts watching `kind` unless it is already watched. Must run inside a tokio runtime.
    pub fn ensure_watch(&self, kind: &KindMapping) {
        let mut kinds = self.lock_kinds();
        if kinds.contains_key(&store_key(kind)) {
            return;
        }
        // The store exists before its watch task: a task spawned while the store is still being
        // built could run first, find nothing to upgrade to and end without ever watching.
        let store = Arc::new(KindStore {
            objects: RwLock::new(KindObjects::default()),
            synced: AtomicBool::new(false),
            synced_signal: Notify::new(),
            task: OnceLock::new(),
        });
        let task = tokio::spawn(run_watch(
            self.inner.client.clone(),
            kind.clone(),
            Arc::downgrade(&store),
            Arc::downgrade(&self.inner.bodies),
            self.inner.events.clone(),
        ));
        let _ = store.task.set(task.abort_handle());
        kinds.insert(store_key(kind), store);
    }

    /// Whether `kind` is watched and its initial list has completed.
    pub fn is_synced(&self, kind: &KindMapping) -> bool {
        self.store(kind)
            .is_some_and(|store| store.synced.load(Ordering::Acquire))
    }

    /// Waits until `kind`'s initial list completed, at most `timeout`. Returns whether it did.
    pub async fn wait_synced(&self, kind: &KindMapping, timeout: Duration) -> bool {
        let Some(store) = self.store(kind) else {
            return false;
        };
        let wait = async {
            loop {
                let signal = store.synced_signal.notified();
                if store.synced.load(Ordering::Acquire) {
                    return;
                }
                signal.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// The kinds watched, sorted.
    pub fn watched_kinds(&self) -> Vec<kro_api::Gvk> {
        let mut kinds: Vec<_> = self.lock_kinds().keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// The number of full objects currently kept.
    pub fn body_count(&self) -> usize {
        self.lock_bodies().len()
    }

    /// The metadata (`apiVersion`, `kind`, `metadata`) of the kro-managed object
    /// `namespace/name` of `kind`.
    pub fn get(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        name: &str,
    ) -> CacheAnswer<Option<Arc<Value>>> {
        self.read_objects(kind, |objects| {
            objects.get(&object_name(kind, namespace, name))
        })
    }

    /// `read` over the objects of `kind`, once its initial list completed.
    fn read_objects<T>(
        &self,
        kind: &KindMapping,
        read: impl FnOnce(&KindObjects) -> T,
    ) -> CacheAnswer<T> {
        let Some(store) = self.synced_store(kind) else {
            return CacheAnswer::NotSynced;
        };
        let objects = store.objects.read().unwrap_or_else(PoisonError::into_inner);
        CacheAnswer::Answered(read(&objects))
    }

    /// The kro-managed object `namespace/name` of `kind`: its full body when one read at the
    /// watched `resourceVersion` is kept, else its metadata.
    pub fn lookup(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        name: &str,
    ) -> CacheAnswer<Lookup> {
        let metadata = match self.get(kind, namespace, name) {
            CacheAnswer::NotSynced => return CacheAnswer::NotSynced,
            CacheAnswer::Answered(None) => return CacheAnswer::Answered(Lookup::Absent),
            CacheAnswer::Answered(Some(metadata)) => metadata,
        };
        let Some(version) = resource_version(&metadata) else {
            return CacheAnswer::Answered(Lookup::MetadataOnly(metadata));
        };
        let key = (store_key(kind), object_name(kind, namespace, name));
        let kept = self.lock_bodies().get(&key, version);
        match kept.and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
            Some(body) => CacheAnswer::Answered(Lookup::Body(Arc::new(body))),
            None => CacheAnswer::Answered(Lookup::MetadataOnly(metadata)),
        }
    }

    /// Marks `namespace/name` of `kind` as being written by kro until the returned guard is
    /// finished or dropped. A watch event for it that arrives meanwhile is held back, and
    /// published afterwards only if it shows another version than the write's response: the
    /// echo of kro's own write does not trigger another reconcile.
    pub fn begin_write(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        name: &str,
    ) -> WriteGuard<'_> {
        let key = (store_key(kind), object_name(kind, namespace, name));
        let lists_done = self.store(kind).map(|store| {
            store
                .objects
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .lists_done
        });
        self.lock_bodies().start_write(key.clone(), lists_done);
        WriteGuard {
            cache: self,
            key: Some(key),
        }
    }

    /// Keeps `object`, a full object of `kind` read live or returned by an apply, for later
    /// [`ObjectCache::lookup`]s while the watch reports the same `resourceVersion`. Objects
    /// without kro's `kro.run/owned` label are not kept: the cache never watches them.
    pub fn remember(&self, kind: &KindMapping, object: &Arc<Value>) {
        if !is_kro_owned(object) {
            return;
        }
        let (Some(name), Some(version)) = (
            object.pointer("/metadata/name").and_then(Value::as_str),
            resource_version(object),
        ) else {
            return;
        };
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let key = (store_key(kind), object_name(kind, namespace, name));
        let text: Arc<str> = Arc::from(object.to_string());
        self.lock_bodies().put(key, version.to_owned(), text);
    }

    /// The kro-managed objects of `kind` in `namespace` (all namespaces when `None`) whose labels
    /// satisfy `matches`, as metadata, sorted by namespace and name.
    pub fn list(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        matches: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> CacheAnswer<Vec<Arc<Value>>> {
        self.read_objects(kind, |objects| {
            objects
                .by_name
                .iter()
                .filter(|(name, _)| in_namespace(kind, namespace, name))
                .map(|(_, object)| object.value())
                .filter(|object| matches(&labels_of(object)))
                .collect()
        })
    }

    /// The kro-managed objects of `kind` in `namespace` (all namespaces when `None`) labelled
    /// as members of the ApplySet `applyset_id`, as metadata, sorted by namespace and name. Reads
    /// an index: the cost follows the ApplySet's size, not the number of objects of the kind.
    pub fn applyset_members(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        applyset_id: &str,
    ) -> CacheAnswer<Vec<Arc<Value>>> {
        self.read_objects(kind, |objects| {
            objects
                .members(applyset_id)
                .filter(|(name, _)| in_namespace(kind, namespace, name))
                .map(|(_, object)| object)
                .collect()
        })
    }

    /// Declares the external references `instance` reads: each is watched (by name or by label
    /// selector, metadata only) while some instance reads it, and its changes are published for
    /// every instance that reads it. Replaces the instance's previous set; an empty set forgets
    /// the instance.
    pub fn watch_external_refs(&self, instance: &ObjectKey, references: BTreeSet<ExternalRef>) {
        self.inner.externals.set_interest(instance, references);
    }

    /// The external references currently watched, sorted.
    pub fn watched_external_refs(&self) -> Vec<ExternalRef> {
        self.inner.externals.watched()
    }

    fn store(&self, kind: &KindMapping) -> Option<Arc<KindStore>> {
        self.lock_kinds().get(&store_key(kind)).cloned()
    }

    fn synced_store(&self, kind: &KindMapping) -> Option<Arc<KindStore>> {
        self.store(kind)
            .filter(|store| store.synced.load(Ordering::Acquire))
    }

    fn lock_kinds(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Arc<KindStore>>> {
        self.inner
            .kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_bodies(&self) -> std::sync::MutexGuard<'_, BodyStore> {
        self.inner
            .bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `name` is in `namespace` (every object is when `namespace` is `None` or the kind is
/// cluster-scoped).
fn in_namespace(kind: &KindMapping, namespace: Option<&str>, name: &ObjectName) -> bool {
    namespace.is_none() || !kind.namespaced || name.0.as_deref() == namespace
}

fn object_name(kind: &KindMapping, namespace: Option<&str>, name: &str) -> ObjectName {
    (
        namespace.filter(|_| kind.namespaced).map(str::to_owned),
        name.to_owned(),
    )
}
