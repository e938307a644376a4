//! The watch task of one kind: keeps its store in step with the API server and publishes the
//! instance of every changed object.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures::StreamExt as _;
use kro_applyset::labels::OWNED_LABEL;
use kube::Client;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::broadcast;

use super::bodies::BodyStore;
use super::identity::{KindApi as _, store_key};
use super::metadata::{labels_of, resource_version, to_cached_metadata};
use super::objects::KindStore;
use super::{KindMapping, ObjectKey, ObjectName};

pub(super) fn publish(events: &broadcast::Sender<ObjectKey>, object: &Value) {
    if let Some(instance) = kro_api::labels::owning_instance(&labels_of(object)) {
        // No subscriber is fine: nobody is waiting for this instance.
        let _ = events.send(instance);
    }
}

pub(super) async fn run_watch(
    client: Client,
    kind: KindMapping,
    store: Weak<KindStore>,
    bodies: Weak<Mutex<BodyStore>>,
    events: broadcast::Sender<ObjectKey>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &kind.api_resource());
    let config = watcher::Config::default().labels(&format!("{OWNED_LABEL}=true"));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut watch = KindWatch {
        kind,
        bodies,
        events,
        relist: None,
    };
    while let Some(event) = stream.next().await {
        let Some(store) = store.upgrade() else {
            return;
        };
        watch.handle(&store, event);
    }
}

/// What the watch task of one kind carries from one event to the next.
struct KindWatch {
    kind: KindMapping,
    bodies: Weak<Mutex<BodyStore>>,
    events: broadcast::Sender<ObjectKey>,
    /// The objects of the (re)list in progress.
    relist: Option<BTreeMap<ObjectName, Arc<Value>>>,
}

impl KindWatch {
    fn handle(
        &mut self,
        store: &KindStore,
        event: Result<watcher::Event<PartialObjectMeta<DynamicObject>>, watcher::Error>,
    ) {
        match event {
            Ok(watcher::Event::Init) => {
                self.relist = Some(BTreeMap::new());
                store
                    .objects
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .listing = true;
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let (Some(buffer), Some((key, value))) = (
                    self.relist.as_mut(),
                    to_cached_metadata(&self.kind, &object),
                ) {
                    buffer.insert(key, value);
                }
            }
            Ok(watcher::Event::InitDone) => self.relisted(store),
            Ok(watcher::Event::Apply(object)) => self.applied(store, &object),
            Ok(watcher::Event::Delete(object)) => self.deleted(store, &object),
            Err(error) => {
                let kind = &self.kind;
                tracing::warn!(kind = %kind.kind, group = %kind.group, %error, "watch failed; retrying with backoff");
            }
        }
    }

    fn forget_body(&self, key: &ObjectName) {
        if let Some(bodies) = self.bodies.upgrade() {
            bodies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(store_key(&self.kind), key.clone()));
        }
    }

    fn relisted(&mut self, store: &KindStore) {
        let fresh = self.relist.take().unwrap_or_default();
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
                    Some(new) if resource_version(new) == old.resource_version.as_deref() => {}
                    Some(new) => changed.push(new.clone()),
                    None => {
                        self.forget_body(key);
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
            publish(&self.events, object);
        }
    }

    fn applied(&self, store: &KindStore, object: &PartialObjectMeta<DynamicObject>) {
        let kind = &self.kind;
        if let Some((key, value)) = to_cached_metadata(kind, object) {
            // The echo of kro's own apply (or of a body a reconcile already read live)
            // tells the owning instance nothing new: that reconcile saw this version.
            // While kro is still writing the object, the event waits for the write.
            let seen = self.bodies.upgrade().is_some_and(|bodies| {
                let mut bodies = bodies.lock().unwrap_or_else(PoisonError::into_inner);
                let full_key = (store_key(kind), key.clone());
                resource_version(&value).is_some_and(|version| bodies.holds(&full_key, version))
                    || bodies.defer_if_writing(&full_key, &value)
            });
            store
                .objects
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), &value);
            tracing::trace!(kind = %kind.kind, name = %key.1, version = resource_version(&value).unwrap_or_default(), seen, "watched object changed");
            if !seen {
                publish(&self.events, &value);
            }
        }
    }

    fn deleted(&self, store: &KindStore, object: &PartialObjectMeta<DynamicObject>) {
        if let Some((key, value)) = to_cached_metadata(&self.kind, object) {
            // A deletion during a write is published when the write ends, and keeps
            // the write's response out of the store.
            let held = self.bodies.upgrade().is_some_and(|bodies| {
                bodies
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .defer_if_writing(&(store_key(&self.kind), key.clone()), &value)
            });
            let removed = store
                .objects
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove_incarnation(&key, &value);
            if removed {
                self.forget_body(&key);
            }
            if !held {
                publish(&self.events, &value);
            }
        }
    }
}
