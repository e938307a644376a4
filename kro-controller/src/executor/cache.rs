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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use kro_applyset::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL, INSTANCE_NAMESPACE_LABEL,
    INSTANCE_VERSION_LABEL, OWNED_LABEL, PART_OF_LABEL,
};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PartialObjectMeta};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use super::events::ChildEvents;
use super::externals::{ExternalRef, ExternalWatches};

/// A kind with its REST mapping: what a watch, a GET or an apply needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindMapping {
    /// The API group, empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The plural resource name.
    pub plural: String,
    /// Whether objects of the kind are namespaced.
    pub namespaced: bool,
}

impl KindMapping {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube-rs resource description.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(&self.group, &self.version, &self.kind),
            &self.plural,
        )
    }

    /// A dynamic API for objects of this kind in `namespace` (all namespaces, or the cluster
    /// scope, when `None` or when the kind is cluster-scoped).
    pub fn api(&self, client: Client, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = self.api_resource();
        match namespace {
            Some(namespace) if self.namespaced => {
                Api::namespaced_with(client, namespace, &resource)
            }
            _ => Api::all_with(client, &resource),
        }
    }

    fn store_key(&self) -> (String, String, String) {
        (self.group.clone(), self.version.clone(), self.kind.clone())
    }
}

/// The instance a child belongs to, from the child's `kro.run/instance-*` labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceKey {
    /// The instance's API group.
    pub group: String,
    /// The instance's version.
    pub version: String,
    /// The instance's kind.
    pub kind: String,
    /// The instance's namespace; `None` for cluster-scoped instances.
    pub namespace: Option<String>,
    /// The instance's name.
    pub name: String,
}

impl InstanceKey {
    /// The owning instance of a kro child, or `None` if the labels do not name one.
    pub fn from_child_labels(labels: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            group: labels.get(INSTANCE_GROUP_LABEL)?.clone(),
            version: labels.get(INSTANCE_VERSION_LABEL)?.clone(),
            kind: labels.get(INSTANCE_KIND_LABEL)?.clone(),
            namespace: labels
                .get(INSTANCE_NAMESPACE_LABEL)
                .filter(|namespace| !namespace.is_empty())
                .cloned(),
            name: labels.get(INSTANCE_NAME_LABEL)?.clone(),
        })
    }
}

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
type StoreKey = (String, String, String);

struct KindStore {
    objects: RwLock<KindObjects>,
    synced: AtomicBool,
    synced_signal: Notify,
    task: OnceLock<tokio::task::AbortHandle>,
}

/// One watched object as the cache keeps it: its metadata as compact JSON text. A parsed
/// `serde_json` tree of the same metadata takes three to four times the memory (every small map
/// is a B-tree node), and an idle operator's memory is mostly this store.
struct CachedObject {
    resource_version: Option<Box<str>>,
    part_of: Option<Box<str>>,
    json: Box<str>,
}

impl CachedObject {
    fn new(value: &Value) -> Self {
        Self {
            resource_version: resource_version(value).map(Box::from),
            part_of: part_of(value).map(Box::from),
            json: value.to_string().into_boxed_str(),
        }
    }

    /// The metadata object (`apiVersion`, `kind`, `metadata`).
    fn value(&self) -> Arc<Value> {
        // The text was written by `Value::to_string`; it always parses.
        Arc::new(serde_json::from_str(&self.json).unwrap_or(Value::Null))
    }
}

/// The watched objects of one kind, with an index by ApplySet: prune lists an instance's members
/// on every reconcile, and a scan of every object of the kind per reconcile made N instances cost
/// N² label comparisons.
#[derive(Default)]
struct KindObjects {
    by_name: BTreeMap<ObjectName, CachedObject>,
    /// `applyset.kubernetes.io/part-of` label value → the objects carrying it.
    by_applyset: HashMap<Box<str>, BTreeSet<ObjectName>>,
    /// Completed (re)lists: a list replaces the store with a snapshot that may predate a write.
    lists_done: u64,
    /// A (re)list is running: its snapshot may predate a write that ends before it does.
    listing: bool,
}

impl KindObjects {
    /// The store after a completed list of `objects`.
    fn listed(&self, objects: BTreeMap<ObjectName, Arc<Value>>) -> Self {
        let mut indexed = Self {
            lists_done: self.lists_done + 1,
            ..Self::default()
        };
        for (key, value) in objects {
            indexed.insert(key, &value);
        }
        indexed
    }

    fn insert(&mut self, key: ObjectName, value: &Value) {
        self.unindex(&key);
        let object = CachedObject::new(value);
        if let Some(applyset) = &object.part_of {
            self.by_applyset
                .entry(applyset.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_name.insert(key, object);
    }

    fn remove(&mut self, key: &ObjectName) {
        self.unindex(key);
        self.by_name.remove(key);
    }

    /// Removes `key` unless the object kept under that name is another incarnation than
    /// `deleted` (a different uid): the delayed deletion event of an object kro has since
    /// created again must not hide the new one. Returns whether it removed anything.
    fn remove_incarnation(&mut self, key: &ObjectName, deleted: &Value) -> bool {
        let Some(kept) = self.by_name.get(key) else {
            return false;
        };
        let kept = kept.value();
        if let (Some(kept_uid), Some(deleted_uid)) = (uid_of(&kept), uid_of(deleted))
            && kept_uid != deleted_uid
        {
            return false;
        }
        self.remove(key);
        true
    }

    fn unindex(&mut self, key: &ObjectName) {
        let Some(applyset) = self.by_name.get(key).and_then(|old| old.part_of.as_deref()) else {
            return;
        };
        if let Some(names) = self.by_applyset.get_mut(applyset) {
            names.remove(key);
            if names.is_empty() {
                self.by_applyset.remove(applyset);
            }
        }
    }

    fn get(&self, key: &ObjectName) -> Option<Arc<Value>> {
        self.by_name.get(key).map(CachedObject::value)
    }

    fn members(&self, applyset: &str) -> impl Iterator<Item = (&ObjectName, Arc<Value>)> {
        self.by_applyset
            .get(applyset)
            .into_iter()
            .flatten()
            .filter_map(|key| Some((key, self.get(key)?)))
    }
}

/// `metadata.uid` of an object.
pub(crate) fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

/// The ApplySet an object is labelled a member of (`applyset.kubernetes.io/part-of`).
pub(crate) fn part_of(object: &Value) -> Option<&str> {
    label_of(object, PART_OF_LABEL)
}

fn label_of<'a>(object: &'a Value, label: &str) -> Option<&'a str> {
    object.get("metadata")?.get("labels")?.get(label)?.as_str()
}

/// Whether an object carries `kro.run/owned=true`: only those are watched, so only those are
/// kept.
fn is_kro_owned(object: &Value) -> bool {
    label_of(object, OWNED_LABEL) == Some("true")
}

/// Recently read or applied full objects, keyed by kind and name, each with the
/// `resourceVersion` it was read at. Bounded: the least recently used bodies go first.
struct BodyStore {
    capacity: usize,
    tick: u64,
    bodies: HashMap<(StoreKey, ObjectName), BodyEntry>,
    /// Objects kro is writing right now, with the watch events that arrived meanwhile (held
    /// back: one may be the echo of that very write, which the server can send before the
    /// write's response is read).
    writing: HashMap<(StoreKey, ObjectName), WriteSlot>,
}

/// The writes of one object in flight and what the watch said about it meanwhile.
struct WriteSlot {
    /// Writes in flight: two instances rendering the same name may write it at once.
    writers: usize,
    /// More than one write was in flight: their responses cannot be ordered, so none enters
    /// the store and the watch decides.
    overlapped: bool,
    /// The store's completed lists when the first write began (`None`: the kind was not
    /// watched yet).
    lists_done: Option<u64>,
    /// Watch events held back, oldest first (at most [`MAX_HELD_EVENTS`]).
    held: Vec<Arc<Value>>,
    /// Events were dropped from `held`: the store may know a version the write cannot see.
    held_overflow: bool,
}

/// Watch events kept per object written; a write lasts one request, so more is unusual.
const MAX_HELD_EVENTS: usize = 8;

/// A body as compact JSON text: parsed trees of a thousand Deployments take several times the
/// memory, and a lookup parses one body in microseconds, against a live read's milliseconds.
struct BodyEntry {
    resource_version: String,
    body: Arc<str>,
    used: u64,
}

impl BodyStore {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            bodies: HashMap::new(),
            writing: HashMap::new(),
        }
    }

    /// Holds the event back if `key` is being written; returns whether it did.
    fn defer_if_writing(&mut self, key: &(StoreKey, ObjectName), event: &Arc<Value>) -> bool {
        let Some(slot) = self.writing.get_mut(key) else {
            return false;
        };
        if slot.held.len() == MAX_HELD_EVENTS {
            slot.held.remove(0);
            slot.held_overflow = true;
        }
        slot.held.push(event.clone());
        true
    }

    /// The body of `key` if it was read at `resource_version`.
    fn get(&mut self, key: &(StoreKey, ObjectName), resource_version: &str) -> Option<Arc<str>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.bodies.get_mut(key)?;
        if entry.resource_version != resource_version {
            return None;
        }
        entry.used = tick;
        Some(entry.body.clone())
    }

    fn put(&mut self, key: (StoreKey, ObjectName), resource_version: String, body: Arc<str>) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        self.bodies.insert(
            key,
            BodyEntry {
                resource_version,
                body,
                used: self.tick,
            },
        );
        // Evicting a quarter at a time keeps the sort off the common path.
        if self.bodies.len() > self.capacity {
            let keep = self.capacity - self.capacity / 4;
            let mut ages: Vec<u64> = self.bodies.values().map(|entry| entry.used).collect();
            ages.sort_unstable_by(|a, b| b.cmp(a));
            let oldest_kept = ages.get(keep.saturating_sub(1)).copied().unwrap_or(0);
            self.bodies.retain(|_, entry| entry.used >= oldest_kept);
        }
    }

    fn remove(&mut self, key: &(StoreKey, ObjectName)) {
        self.bodies.remove(key);
    }

    /// Registers a write of `key`; `lists_done` is the store's count of completed lists.
    fn start_write(&mut self, key: (StoreKey, ObjectName), lists_done: Option<u64>) {
        self.writing
            .entry(key)
            .and_modify(|slot| {
                slot.writers += 1;
                slot.overlapped = true;
            })
            .or_insert(WriteSlot {
                writers: 1,
                overlapped: false,
                lists_done,
                held: Vec::new(),
                held_overflow: false,
            });
    }

    /// Ends one write of `key`. The last write to end takes the held events; an earlier one
    /// gets a slot without them (its response does not enter the store: the writes overlapped).
    fn finish_write(&mut self, key: &(StoreKey, ObjectName)) -> Option<WriteSlot> {
        let slot = self.writing.get_mut(key)?;
        slot.writers = slot.writers.saturating_sub(1);
        if slot.writers > 0 {
            return Some(WriteSlot {
                writers: 0,
                overlapped: true,
                lists_done: slot.lists_done,
                held: Vec::new(),
                held_overflow: slot.held_overflow,
            });
        }
        self.writing.remove(key)
    }

    /// Whether the body of `key` at `resource_version` is kept (without touching its age).
    fn holds(&self, key: &(StoreKey, ObjectName), resource_version: &str) -> bool {
        self.bodies
            .get(key)
            .is_some_and(|entry| entry.resource_version == resource_version)
    }

    fn len(&self) -> usize {
        self.bodies.len()
    }
}

struct CacheInner {
    client: Client,
    kinds: Mutex<HashMap<StoreKey, Arc<KindStore>>>,
    bodies: Arc<Mutex<BodyStore>>,
    events: broadcast::Sender<InstanceKey>,
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

/// A write in progress (see [`ObjectCache::begin_write`]).
#[must_use = "the write is over when the guard is finished or dropped"]
pub struct WriteGuard<'a> {
    cache: &'a ObjectCache,
    key: Option<(StoreKey, ObjectName)>,
}

impl WriteGuard<'_> {
    /// Ends the write; `response` is the object the server returned (`None` if it failed).
    ///
    /// A kro-managed response is entered in the watched metadata at once, unless the watch
    /// reported another version of the object meanwhile, another write of it overlapped, or a
    /// list of the kind ran (its snapshot may predate the write). The watch may lag by seconds
    /// under load, and another instance planning meanwhile must see that the object exists and
    /// whose ApplySet it belongs to: a creation is applied without force, which the server
    /// refuses for another field manager's object but never for kro's own.
    pub fn finish(mut self, response: Option<&Value>) {
        self.end(response);
    }

    fn end(&mut self, response: Option<&Value>) {
        let Some(key) = self.key.take() else {
            return;
        };
        let written_version = response.and_then(resource_version);
        let entry = response.and_then(owned_metadata);
        let store = entry
            .as_ref()
            .and_then(|_| self.cache.lock_kinds().get(&key.0).cloned());
        // Objects before bodies, the order a relist takes them in; holding both makes the
        // decision and the insertion one step for the watch task.
        let mut objects = store.as_ref().map(|store| {
            store
                .objects
                .write()
                .unwrap_or_else(PoisonError::into_inner)
        });
        let Some(slot) = self.cache.lock_bodies().finish_write(&key) else {
            return;
        };
        let written_uid = response.and_then(uid_of);
        // A held event of the written incarnation at another version is either older or newer
        // than the response, which cannot be told apart: the watch's state stands. Events of
        // other incarnations (the deletion of the object this write replaced) are older.
        let contradicted = slot.held.iter().any(|event| {
            resource_version(event) != written_version
                && (written_uid.is_none() || uid_of(event) == written_uid)
        });
        if let (Some(objects), Some(entry)) = (objects.as_mut(), entry)
            && !slot.overlapped
            && !slot.held_overflow
            && !contradicted
            && !objects.listing
            && slot.lists_done == Some(objects.lists_done)
        {
            objects.insert(key.1, &entry);
        }
        drop(objects);
        for event in &slot.held {
            if resource_version(event) != written_version {
                publish(&self.cache.inner.events, event);
            }
        }
    }
}

/// `apiVersion`, `kind` and `metadata` of a full kro-managed object, as the watch would report
/// them; `None` for an object without kro's `kro.run/owned` label, which the watch never sees.
fn owned_metadata(object: &Value) -> Option<Value> {
    if !is_kro_owned(object) {
        return None;
    }
    let mut metadata = object.get("metadata")?.clone();
    strip_unread_metadata(&mut metadata);
    Some(serde_json::json!({
        "apiVersion": object.get("apiVersion")?,
        "kind": object.get("kind")?,
        "metadata": metadata,
    }))
}

/// Drops `managedFields` and the client-side last-applied copy, which nothing reads.
fn strip_unread_metadata(metadata: &mut Value) {
    if let Some(fields) = metadata.as_object_mut() {
        fields.remove("managedFields");
        if let Some(annotations) = fields.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED_ANNOTATION);
        }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.end(None);
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
    pub(crate) fn publish_for_test(&self, key: InstanceKey) {
        let _ = self.inner.events.send(key);
    }

    /// Starts watching `kind` unless it is already watched. Must run inside a tokio runtime.
    pub fn ensure_watch(&self, kind: &KindMapping) {
        let mut kinds = self.lock_kinds();
        if kinds.contains_key(&kind.store_key()) {
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
        kinds.insert(kind.store_key(), store);
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
    pub fn watched_kinds(&self) -> Vec<(String, String, String)> {
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
        let key = (kind.store_key(), object_name(kind, namespace, name));
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
        let key = (kind.store_key(), object_name(kind, namespace, name));
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
        let key = (kind.store_key(), object_name(kind, namespace, name));
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
    pub fn watch_external_refs(&self, instance: &InstanceKey, references: BTreeSet<ExternalRef>) {
        self.inner.externals.set_interest(instance, references);
    }

    /// The external references currently watched, sorted.
    pub fn watched_external_refs(&self) -> Vec<ExternalRef> {
        self.inner.externals.watched()
    }

    fn store(&self, kind: &KindMapping) -> Option<Arc<KindStore>> {
        self.lock_kinds().get(&kind.store_key()).cloned()
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

/// `metadata.labels` of an object as a map (non-string values ignored).
pub(crate) fn labels_of(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/labels"))
}

/// `metadata.annotations` of an object as a map (non-string values ignored).
pub(crate) fn annotations_of(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/annotations"))
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The annotation `kubectl apply` (client-side) leaves: a full copy of the object, never read.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object's metadata as the cache keeps it: `apiVersion`, `kind` and `metadata` without
/// `managedFields` and the last-applied copy, which nothing reads.
pub(crate) fn to_cached_metadata(
    kind: &KindMapping,
    object: &PartialObjectMeta<DynamicObject>,
) -> Option<(ObjectName, Arc<Value>)> {
    let mut metadata = serde_json::to_value(&object.metadata).ok()?;
    strip_unread_metadata(&mut metadata);
    let name = object.metadata.name.clone()?;
    let namespace = object
        .metadata
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty());
    let value = serde_json::json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind,
        "metadata": metadata,
    });
    Some(((namespace, name), Arc::new(value)))
}

pub(crate) fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

fn publish(events: &broadcast::Sender<InstanceKey>, object: &Value) {
    if let Some(instance) = InstanceKey::from_child_labels(&labels_of(object)) {
        // No subscriber is fine: nobody is waiting for this instance.
        let _ = events.send(instance);
    }
}

async fn run_watch(
    client: Client,
    kind: KindMapping,
    store: std::sync::Weak<KindStore>,
    bodies: std::sync::Weak<Mutex<BodyStore>>,
    events: broadcast::Sender<InstanceKey>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &kind.api_resource());
    let config = watcher::Config::default().labels(&format!("{OWNED_LABEL}=true"));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut relist: Option<BTreeMap<ObjectName, Arc<Value>>> = None;
    let forget_body = |key: &ObjectName| {
        if let Some(bodies) = bodies.upgrade() {
            bodies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(kind.store_key(), key.clone()));
        }
    };
    while let Some(event) = stream.next().await {
        let Some(store) = store.upgrade() else {
            return;
        };
        match event {
            Ok(watcher::Event::Init) => {
                relist = Some(BTreeMap::new());
                store
                    .objects
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .listing = true;
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let (Some(buffer), Some((key, value))) =
                    (relist.as_mut(), to_cached_metadata(&kind, &object))
                {
                    buffer.insert(key, value);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let fresh = relist.take().unwrap_or_default();
                let mut changed = Vec::new();
                {
                    let mut objects = store
                        .objects
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    // A relist after a broken watch may hide changes: every difference is
                    // published, after the store holds the new state (a reconcile woken by the
                    // event must read what caused it).
                    for (key, old) in &objects.by_name {
                        match fresh.get(key) {
                            Some(new)
                                if resource_version(new) == old.resource_version.as_deref() => {}
                            Some(new) => changed.push(new.clone()),
                            None => {
                                forget_body(key);
                                changed.push(old.value());
                            }
                        }
                    }
                    for (key, new) in &fresh {
                        if !objects.by_name.contains_key(key) {
                            changed.push(new.clone());
                        }
                    }
                    *objects = objects.listed(fresh);
                }
                store.synced.store(true, Ordering::Release);
                store.synced_signal.notify_waiters();
                for object in &changed {
                    publish(&events, object);
                }
            }
            Ok(watcher::Event::Apply(object)) => {
                if let Some((key, value)) = to_cached_metadata(&kind, &object) {
                    // The echo of kro's own apply (or of a body a reconcile already read live)
                    // tells the owning instance nothing new: that reconcile saw this version.
                    // While kro is still writing the object, the event waits for the write.
                    let seen = bodies.upgrade().is_some_and(|bodies| {
                        let mut bodies = bodies.lock().unwrap_or_else(PoisonError::into_inner);
                        let full_key = (kind.store_key(), key.clone());
                        resource_version(&value)
                            .is_some_and(|version| bodies.holds(&full_key, version))
                            || bodies.defer_if_writing(&full_key, &value)
                    });
                    store
                        .objects
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(key.clone(), &value);
                    tracing::trace!(kind = %kind.kind, name = %key.1, version = resource_version(&value).unwrap_or_default(), seen, "watched object changed");
                    if !seen {
                        publish(&events, &value);
                    }
                }
            }
            Ok(watcher::Event::Delete(object)) => {
                if let Some((key, value)) = to_cached_metadata(&kind, &object) {
                    // A deletion during a write is published when the write ends, and keeps
                    // the write's response out of the store.
                    let held = bodies.upgrade().is_some_and(|bodies| {
                        bodies
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .defer_if_writing(&(kind.store_key(), key.clone()), &value)
                    });
                    let removed = store
                        .objects
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove_incarnation(&key, &value);
                    if removed {
                        forget_body(&key);
                    }
                    if !held {
                        publish(&events, &value);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(kind = %kind.kind, group = %kind.group, %error, "watch failed; retrying with backoff");
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::executor::ChildEvent;

    /// The kind of ConfigMaps, for tests of this module and its siblings.
    pub(crate) fn config_maps() -> KindMapping {
        KindMapping {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
        }
    }

    /// The instance of a [`ChildEvent::Changed`].
    fn changed(event: Option<ChildEvent>) -> Option<InstanceKey> {
        match event? {
            ChildEvent::Changed(key) => Some(key),
            other => panic!("expected a change, got {other:?}"),
        }
    }

    /// A client whose every connection is refused: watches keep retrying, nothing is read.
    fn unreachable_client() -> Client {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("valid uri"));
        Client::try_from(config).expect("client")
    }

    #[test]
    fn instance_key_comes_from_child_labels() {
        let labels = BTreeMap::from([
            (INSTANCE_GROUP_LABEL.to_owned(), "kro.run".to_owned()),
            (INSTANCE_VERSION_LABEL.to_owned(), "v1alpha1".to_owned()),
            (INSTANCE_KIND_LABEL.to_owned(), "WebApp".to_owned()),
            (INSTANCE_NAME_LABEL.to_owned(), "web".to_owned()),
            (INSTANCE_NAMESPACE_LABEL.to_owned(), "team".to_owned()),
        ]);
        let key = InstanceKey::from_child_labels(&labels).expect("complete labels");
        assert_eq!(key.namespace.as_deref(), Some("team"));
        assert_eq!(key.kind, "WebApp");
        let mut cluster = labels.clone();
        cluster.remove(INSTANCE_NAMESPACE_LABEL);
        assert_eq!(
            InstanceKey::from_child_labels(&cluster).and_then(|key| key.namespace),
            None
        );
        let mut partial = labels;
        partial.remove(INSTANCE_NAME_LABEL);
        assert_eq!(InstanceKey::from_child_labels(&partial), None);
    }

    #[test]
    fn applyset_index_follows_relabels_and_deletions() {
        let object = |name: &str, applyset: Option<&str>| {
            let mut labels = serde_json::Map::new();
            if let Some(id) = applyset {
                labels.insert(PART_OF_LABEL.into(), id.into());
            }
            (
                (Some("ns".to_owned()), name.to_owned()),
                Arc::new(serde_json::json!({"metadata": {"name": name, "labels": labels}})),
            )
        };
        let names = |objects: &KindObjects, id: &str| -> Vec<String> {
            objects
                .members(id)
                .map(|((_, name), _)| name.clone())
                .collect()
        };
        let mut objects = KindObjects::default().listed(BTreeMap::from([
            object("b", Some("applyset-1")),
            object("a", Some("applyset-1")),
            object("c", Some("applyset-2")),
            object("d", None),
        ]));
        assert_eq!(names(&objects, "applyset-1"), ["a", "b"]);
        assert_eq!(names(&objects, "applyset-2"), ["c"]);
        let kept = objects
            .get(&(Some("ns".to_owned()), "a".to_owned()))
            .expect("kept");
        assert_eq!(kept["metadata"]["labels"][PART_OF_LABEL], "applyset-1");

        let (key, value) = object("a", Some("applyset-2"));
        objects.insert(key, &value);
        assert_eq!(names(&objects, "applyset-1"), ["b"]);
        assert_eq!(names(&objects, "applyset-2"), ["a", "c"]);

        let (key, value) = object("c", None);
        objects.insert(key.clone(), &value);
        assert_eq!(names(&objects, "applyset-2"), ["a"]);
        objects.remove(&key);
        objects.remove(&(Some("ns".to_owned()), "b".to_owned()));
        assert!(names(&objects, "applyset-1").is_empty());
        assert!(!objects.by_applyset.contains_key("applyset-1"));
        assert_eq!(objects.by_name.len(), 2);
    }

    #[test]
    fn cached_metadata_drops_managed_fields_and_carries_its_kind() {
        let kind = config_maps();
        // Items of a metadata LIST carry no apiVersion or kind of the listed resource.
        let object: PartialObjectMeta<DynamicObject> = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "ns", "managedFields": [{"manager": "x"}],
                         "labels": {"a": "b"},
                         "annotations": {LAST_APPLIED_ANNOTATION: "{...}", "keep": "me"}}
        }))
        .expect("valid metadata");
        let ((namespace, name), value) = to_cached_metadata(&kind, &object).expect("named object");
        assert_eq!((namespace.as_deref(), name.as_str()), (Some("ns"), "a"));
        assert!(value.pointer("/metadata/managedFields").is_none());
        assert_eq!(value["apiVersion"], "v1");
        assert_eq!(value["kind"], "ConfigMap");
        assert_eq!(
            annotations_of(&value),
            BTreeMap::from([("keep".to_owned(), "me".to_owned())])
        );
        assert_eq!(
            labels_of(&value),
            BTreeMap::from([("a".to_owned(), "b".to_owned())])
        );
    }

    /// An event that arrives while kro writes the object waits for the write: the echo of the
    /// write is dropped, another version is published, and so is anything held by a write that
    /// never finished.
    #[tokio::test]
    async fn events_during_a_write_are_held_until_it_ends() {
        let cache = ObjectCache::new(unreachable_client());
        let mut events = cache.subscribe();
        let kind = config_maps();
        let at = |version: &str| {
            Arc::new(serde_json::json!({"metadata": {
                "name": "child", "namespace": "ns", "resourceVersion": version,
                "labels": {
                    OWNED_LABEL: "true",
                    INSTANCE_GROUP_LABEL: "kro.run",
                    INSTANCE_VERSION_LABEL: "v1alpha1",
                    INSTANCE_KIND_LABEL: "App",
                    INSTANCE_NAME_LABEL: "app",
                    INSTANCE_NAMESPACE_LABEL: "ns",
                }
            }}))
        };
        let key = (kind.store_key(), object_name(&kind, Some("ns"), "child"));
        let hold = |version: &str| cache.lock_bodies().defer_if_writing(&key, &at(version));

        assert!(!hold("5"), "nothing is being written");
        let write = cache.begin_write(&kind, Some("ns"), "child");
        assert!(hold("5"));
        write.finish(Some(&at("5")));
        assert!(
            events.try_recv().is_none(),
            "the echo of the write is dropped"
        );

        let write = cache.begin_write(&kind, Some("ns"), "child");
        assert!(hold("5"));
        assert!(hold("6"));
        write.finish(Some(&at("5")));
        assert_eq!(
            changed(events.try_recv()).expect("a newer version").name,
            "app"
        );
        assert!(events.try_recv().is_none());

        let write = cache.begin_write(&kind, Some("ns"), "child");
        assert!(hold("7"));
        drop(write);
        assert_eq!(
            changed(events.try_recv())
                .expect("held by a cancelled write")
                .name,
            "app"
        );
        assert!(!hold("8"), "the write is over");
    }

    /// A write's response is in the watched metadata as soon as the write ends, so a plan made
    /// before the watch reports it sees the object and its ApplySet; not when the watch reported
    /// another version meanwhile, and not for objects the watch would never see.
    #[tokio::test]
    async fn a_write_enters_the_watched_metadata_when_it_ends() {
        let cache = ObjectCache::new(unreachable_client());
        let mut events = cache.subscribe();
        let kind = config_maps();
        // A synced store without a watch task: the test plays the watch.
        let store = Arc::new(KindStore {
            objects: RwLock::new(KindObjects::default()),
            synced: AtomicBool::new(true),
            synced_signal: Notify::new(),
            task: OnceLock::new(),
        });
        cache.lock_kinds().insert(kind.store_key(), store.clone());
        let response = |name: &str, version: &str, owned: bool| {
            let mut labels = serde_json::Map::new();
            labels.insert(PART_OF_LABEL.into(), "applyset-owner".into());
            for (label, value) in [
                (INSTANCE_GROUP_LABEL, "kro.run"),
                (INSTANCE_VERSION_LABEL, "v1alpha1"),
                (INSTANCE_KIND_LABEL, "App"),
                (INSTANCE_NAME_LABEL, "owner"),
                (INSTANCE_NAMESPACE_LABEL, "ns"),
            ] {
                labels.insert(label.into(), value.into());
            }
            if owned {
                labels.insert(OWNED_LABEL.into(), "true".into());
            }
            serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                    "resourceVersion": version, "labels": labels,
                    "managedFields": [{"manager": "kro"}],
                },
                "data": {"owner": "owner"},
            })
        };
        let members = || match cache.applyset_members(&kind, Some("ns"), "applyset-owner") {
            CacheAnswer::Answered(members) => members
                .iter()
                .map(|m| {
                    m["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<Vec<_>>(),
            CacheAnswer::NotSynced => panic!("the store is synced"),
        };

        let write = cache.begin_write(&kind, Some("ns"), "shared");
        write.finish(Some(&response("shared", "5", true)));
        let CacheAnswer::Answered(Some(kept)) = cache.get(&kind, Some("ns"), "shared") else {
            panic!("the written object is known before its watch event");
        };
        assert_eq!(kept["metadata"]["resourceVersion"], "5");
        assert_eq!(kept["metadata"].get("managedFields"), None);
        assert!(kept.get("data").is_none(), "metadata only: {kept}");
        assert_eq!(members(), ["shared"]);
        assert!(
            events.try_recv().is_none(),
            "kro's own write publishes nothing"
        );

        // The watch reported a newer version during the write: it stands, and is published.
        let newer = Arc::new(response("raced", "9", true));
        store
            .objects
            .write()
            .expect("lock")
            .insert((Some("ns".into()), "raced".into()), &newer);
        let write = cache.begin_write(&kind, Some("ns"), "raced");
        let key = (kind.store_key(), object_name(&kind, Some("ns"), "raced"));
        assert!(cache.lock_bodies().defer_if_writing(&key, &newer));
        write.finish(Some(&response("raced", "8", true)));
        let CacheAnswer::Answered(Some(kept)) = cache.get(&kind, Some("ns"), "raced") else {
            panic!("the watched object stays");
        };
        assert_eq!(kept["metadata"]["resourceVersion"], "9");
        assert_eq!(
            changed(events.try_recv()).expect("the newer version").name,
            "owner"
        );

        // Failed writes and objects without kro's label enter nothing.
        cache.begin_write(&kind, Some("ns"), "failed").finish(None);
        cache
            .begin_write(&kind, Some("ns"), "foreign")
            .finish(Some(&response("foreign", "3", false)));

        // Two writes of one name at once: their responses cannot be ordered, neither enters.
        let first = cache.begin_write(&kind, Some("ns"), "twice");
        let second = cache.begin_write(&kind, Some("ns"), "twice");
        second.finish(Some(&response("twice", "7", true)));
        first.finish(Some(&response("twice", "6", true)));

        // A list running, or completed, during the write may predate it: the write stays out.
        let write = cache.begin_write(&kind, Some("ns"), "listing");
        store.objects.write().expect("lock").listing = true;
        write.finish(Some(&response("listing", "4", true)));
        store.objects.write().expect("lock").listing = false;
        let write = cache.begin_write(&kind, Some("ns"), "listed");
        store.objects.write().expect("lock").lists_done += 1;
        write.finish(Some(&response("listed", "4", true)));
        for name in ["failed", "foreign", "twice", "listing", "listed"] {
            assert_eq!(
                cache.get(&kind, Some("ns"), name),
                CacheAnswer::Answered(None),
                "{name}"
            );
        }
        assert!(events.try_recv().is_none(), "nothing was held");

        // The deletion of the object a creation replaced is older than the creation: the new
        // object enters, and the deletion is published.
        let mut deleted = response("recreated", "4", true);
        deleted["metadata"]["uid"] = "uid-earlier".into();
        let write = cache.begin_write(&kind, Some("ns"), "recreated");
        let key = (
            kind.store_key(),
            object_name(&kind, Some("ns"), "recreated"),
        );
        assert!(
            cache
                .lock_bodies()
                .defer_if_writing(&key, &Arc::new(deleted))
        );
        write.finish(Some(&response("recreated", "5", true)));
        let CacheAnswer::Answered(Some(kept)) = cache.get(&kind, Some("ns"), "recreated") else {
            panic!("the new incarnation enters");
        };
        assert_eq!(kept["metadata"]["uid"], "uid-recreated");
        assert_eq!(
            changed(events.try_recv()).expect("the deletion").name,
            "owner"
        );
        assert!(events.try_recv().is_none());
        assert_eq!(members(), ["raced", "recreated", "shared"]);
    }

    /// The late deletion event of an earlier incarnation leaves the object kro created since.
    #[test]
    fn a_deletion_removes_only_its_own_incarnation() {
        let incarnation = |uid: &str| {
            serde_json::json!({"metadata": {
                "name": "child", "namespace": "ns", "uid": uid, "resourceVersion": "1",
                "labels": {PART_OF_LABEL: "applyset-a"},
            }})
        };
        let key: ObjectName = (Some("ns".into()), "child".into());
        let mut objects = KindObjects::default();
        objects.insert(key.clone(), &incarnation("new"));
        assert!(!objects.remove_incarnation(&key, &incarnation("old")));
        assert!(objects.get(&key).is_some());
        assert!(objects.remove_incarnation(&key, &incarnation("new")));
        assert!(objects.get(&key).is_none());
        assert_eq!(objects.members("applyset-a").count(), 0);
        assert!(!objects.remove_incarnation(&key, &incarnation("new")));
        // Without uids (never from a real server) the name decides.
        objects.insert(
            key.clone(),
            &serde_json::json!({"metadata": {"name": "child"}}),
        );
        assert!(
            objects.remove_incarnation(&key, &serde_json::json!({"metadata": {"name": "child"}}))
        );
    }

    /// A watch task must outlive the `ensure_watch` call that started it, however the runtime
    /// schedules it: the server here refuses every connection, so a live task keeps retrying.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_watch_task_keeps_running() {
        let cache = ObjectCache::new(unreachable_client());
        let kinds: Vec<KindMapping> = (0..200)
            .map(|index| KindMapping {
                group: "example.com".into(),
                version: "v1".into(),
                kind: format!("Kind{index}"),
                plural: format!("kind{index}s"),
                namespaced: true,
            })
            .collect();
        for kind in &kinds {
            cache.ensure_watch(kind);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let finished = kinds
            .iter()
            .filter(|kind| {
                cache
                    .store(kind)
                    .and_then(|store| store.task.get().map(tokio::task::AbortHandle::is_finished))
                    .unwrap_or(true)
            })
            .count();
        assert_eq!(finished, 0, "{finished} of 200 watch tasks ended at once");
        assert!(!cache.is_synced(&kinds[0]));
    }

    fn body(version: &str) -> Arc<str> {
        Arc::from(serde_json::json!({"metadata": {"resourceVersion": version}}).to_string())
    }

    fn body_key(name: &str) -> (StoreKey, ObjectName) {
        (
            (String::new(), "v1".into(), "ConfigMap".into()),
            (Some("ns".into()), name.to_owned()),
        )
    }

    #[test]
    fn a_kept_body_answers_only_at_its_resource_version() {
        let mut store = BodyStore::new(4);
        store.put(body_key("a"), "7".into(), body("7"));
        assert_eq!(store.get(&body_key("a"), "7"), Some(body("7")));
        assert_eq!(store.get(&body_key("a"), "8"), None);
        assert_eq!(store.get(&body_key("b"), "7"), None);
        store.remove(&body_key("a"));
        assert_eq!(store.get(&body_key("a"), "7"), None);
    }

    #[test]
    fn the_body_store_stays_bounded_and_keeps_recently_used_bodies() {
        let mut store = BodyStore::new(8);
        for index in 0..8 {
            store.put(body_key(&index.to_string()), "1".into(), body("1"));
        }
        // "0" is the oldest put, but reading it makes it recent.
        assert!(store.get(&body_key("0"), "1").is_some());
        for index in 8..40 {
            store.put(body_key(&index.to_string()), "1".into(), body("1"));
            assert!(store.len() <= 8, "{} bodies kept", store.len());
        }
        assert!(store.get(&body_key("39"), "1").is_some());
        assert!(store.get(&body_key("1"), "1").is_none());
        let mut disabled = BodyStore::new(0);
        disabled.put(body_key("a"), "1".into(), body("1"));
        assert_eq!(disabled.len(), 0);
    }
}
