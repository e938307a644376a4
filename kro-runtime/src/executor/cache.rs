//! The shared watch cache of kro-managed objects.
//!
//! One label-selected watch per kind (`kro.run/owned=true`, cluster-wide), started on demand and
//! shared by every instance of every RGD, so memory grows only with kro-managed objects and N
//! RGDs using Deployments cost one Deployment watch. Every change of a child is mapped through
//! its `kro.run/instance-*` labels to the instance that owns it and published on a broadcast
//! channel, which is how an operator reconciles on the watch event rather than on a timer.
//!
//! Objects are stored as JSON (`Arc<Value>`, without `managedFields`) because that is what the
//! planning core reads; a `reflector::Store<DynamicObject>` would need a conversion per read.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use kro_applyset::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL, INSTANCE_NAMESPACE_LABEL,
    INSTANCE_VERSION_LABEL, OWNED_LABEL,
};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

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

type ObjectName = (Option<String>, String);

struct KindStore {
    objects: RwLock<BTreeMap<ObjectName, Arc<Value>>>,
    synced: AtomicBool,
    synced_signal: Notify,
    task: tokio::task::AbortHandle,
}

struct CacheInner {
    client: Client,
    kinds: Mutex<HashMap<(String, String, String), Arc<KindStore>>>,
    events: broadcast::Sender<InstanceKey>,
}

impl Drop for CacheInner {
    fn drop(&mut self) {
        let kinds = self.kinds.get_mut().unwrap_or_else(PoisonError::into_inner);
        for store in kinds.values() {
            store.task.abort();
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
            .finish()
    }
}

/// How many instance events a slow subscriber may fall behind before it sees `Lagged` (and
/// should then reconcile everything it owns).
const EVENT_BUFFER: usize = 4096;

impl ObjectCache {
    /// An empty cache that watches through `client`.
    pub fn new(client: Client) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            inner: Arc::new(CacheInner {
                client,
                kinds: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// The client the cache watches through.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Instance keys of changed children: one per added, modified or deleted kro-managed object.
    pub fn subscribe(&self) -> broadcast::Receiver<InstanceKey> {
        self.inner.events.subscribe()
    }

    /// Starts watching `kind` unless it is already watched. Must run inside a tokio runtime.
    pub fn ensure_watch(&self, kind: &KindMapping) {
        let mut kinds = self.lock_kinds();
        if kinds.contains_key(&kind.store_key()) {
            return;
        }
        let store = Arc::new_cyclic(|weak: &std::sync::Weak<KindStore>| {
            let task = tokio::spawn(run_watch(
                self.inner.client.clone(),
                kind.clone(),
                weak.clone(),
                self.inner.events.clone(),
            ));
            KindStore {
                objects: RwLock::new(BTreeMap::new()),
                synced: AtomicBool::new(false),
                synced_signal: Notify::new(),
                task: task.abort_handle(),
            }
        });
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

    /// The kro-managed object `namespace/name` of `kind`.
    pub fn get(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        name: &str,
    ) -> CacheAnswer<Option<Arc<Value>>> {
        let Some(store) = self.synced_store(kind) else {
            return CacheAnswer::NotSynced;
        };
        let key = (
            namespace.filter(|_| kind.namespaced).map(str::to_owned),
            name.to_owned(),
        );
        let objects = store.objects.read().unwrap_or_else(PoisonError::into_inner);
        CacheAnswer::Answered(objects.get(&key).cloned())
    }

    /// The kro-managed objects of `kind` in `namespace` (all namespaces when `None`) whose labels
    /// satisfy `matches`, sorted by namespace and name.
    pub fn list(
        &self,
        kind: &KindMapping,
        namespace: Option<&str>,
        matches: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> CacheAnswer<Vec<Arc<Value>>> {
        let Some(store) = self.synced_store(kind) else {
            return CacheAnswer::NotSynced;
        };
        let objects = store.objects.read().unwrap_or_else(PoisonError::into_inner);
        let listed = objects
            .iter()
            .filter(|((object_namespace, _), _)| {
                namespace.is_none() || !kind.namespaced || object_namespace.as_deref() == namespace
            })
            .filter(|(_, object)| matches(&labels_of(object)))
            .map(|(_, object)| object.clone())
            .collect();
        CacheAnswer::Answered(listed)
    }

    fn store(&self, kind: &KindMapping) -> Option<Arc<KindStore>> {
        self.lock_kinds().get(&kind.store_key()).cloned()
    }

    fn synced_store(&self, kind: &KindMapping) -> Option<Arc<KindStore>> {
        self.store(kind)
            .filter(|store| store.synced.load(Ordering::Acquire))
    }

    fn lock_kinds(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Arc<KindStore>>> {
        self.inner
            .kinds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
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

/// The object as the cache keeps it: JSON without `managedFields`, which nothing reads, and with
/// `apiVersion` and `kind`, which items of a LIST response do not carry.
fn to_cached(kind: &KindMapping, object: &DynamicObject) -> Option<(ObjectName, Arc<Value>)> {
    let mut value = serde_json::to_value(object).ok()?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("apiVersion".to_owned(), Value::String(kind.api_version()));
        fields.insert("kind".to_owned(), Value::String(kind.kind.clone()));
    }
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    let name = object.metadata.name.clone()?;
    let namespace = object
        .metadata
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty());
    Some(((namespace, name), Arc::new(value)))
}

fn resource_version(object: &Value) -> Option<&str> {
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
    events: broadcast::Sender<InstanceKey>,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &kind.api_resource());
    let config = watcher::Config::default().labels(&format!("{OWNED_LABEL}=true"));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut relist: Option<BTreeMap<ObjectName, Arc<Value>>> = None;
    while let Some(event) = stream.next().await {
        let Some(store) = store.upgrade() else {
            return;
        };
        match event {
            Ok(watcher::Event::Init) => relist = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(object)) => {
                if let (Some(buffer), Some((key, value))) =
                    (relist.as_mut(), to_cached(&kind, &object))
                {
                    buffer.insert(key, value);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let fresh = relist.take().unwrap_or_default();
                let mut objects = store
                    .objects
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                // A relist after a broken watch may hide changes: publish every difference.
                for (key, old) in objects.iter() {
                    match fresh.get(key) {
                        Some(new) if resource_version(new) == resource_version(old) => {}
                        Some(new) => publish(&events, new),
                        None => publish(&events, old),
                    }
                }
                for (key, new) in &fresh {
                    if !objects.contains_key(key) {
                        publish(&events, new);
                    }
                }
                *objects = fresh;
                drop(objects);
                store.synced.store(true, Ordering::Release);
                store.synced_signal.notify_waiters();
            }
            Ok(watcher::Event::Apply(object)) => {
                if let Some((key, value)) = to_cached(&kind, &object) {
                    publish(&events, &value);
                    store
                        .objects
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(key, value);
                }
            }
            Ok(watcher::Event::Delete(object)) => {
                if let Some((key, value)) = to_cached(&kind, &object) {
                    store
                        .objects
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key);
                    publish(&events, &value);
                }
            }
            Err(error) => {
                tracing::warn!(kind = %kind.kind, group = %kind.group, %error, "watch failed; retrying with backoff");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cached_objects_drop_managed_fields_and_carry_their_kind() {
        let kind = KindMapping {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            plural: "configmaps".into(),
            namespaced: true,
        };
        // Items of a LIST response carry no apiVersion or kind.
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "ns", "managedFields": [{"manager": "x"}],
                         "labels": {"a": "b"}},
            "data": {"k": "v"}
        }))
        .expect("valid object");
        let ((namespace, name), value) = to_cached(&kind, &object).expect("named object");
        assert_eq!((namespace.as_deref(), name.as_str()), (Some("ns"), "a"));
        assert!(value.pointer("/metadata/managedFields").is_none());
        assert_eq!(value.pointer("/data/k"), Some(&Value::from("v")));
        assert_eq!(value["apiVersion"], "v1");
        assert_eq!(value["kind"], "ConfigMap");
        assert_eq!(
            labels_of(&value),
            BTreeMap::from([("a".to_owned(), "b".to_owned())])
        );
    }
}
