//! Watches on external references: objects an RGD reads but kro does not manage.
//!
//! They carry none of kro's labels, so the shared child watches never see them. Each external
//! reference an instance reads (one object by name, or the objects a label selector picks) gets a
//! narrow, metadata-only watch — a field selector on the name, or the label selector itself — that
//! is shared by every instance reading the same reference and stopped when the last of them no
//! longer does. A change is published for every interested instance on the cache's event channel,
//! so an instance waiting for an external object reconciles when the object appears or changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::StreamExt as _;
use kube::Client;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use tokio::sync::broadcast;

use super::cache::KindApi as _;
use super::cache::{KindMapping, ObjectKey};

pub use kro_runtime::machine::RefSelection;

/// One external reference as read by an instance: kind, namespace and selection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalRef {
    /// The kind read.
    pub kind: KindMapping,
    /// The namespace read; `None` for cluster-scoped kinds or all namespaces.
    pub namespace: Option<String>,
    /// The name or selector.
    pub selection: RefSelection,
}

impl std::fmt::Display for ExternalRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let namespace = self.namespace.as_deref().unwrap_or("");
        match &self.selection {
            RefSelection::Name(name) => write!(f, "{} {namespace}/{name}", self.kind.kind),
            RefSelection::Labels(selector) => {
                write!(f, "{} in {namespace:?} where {selector}", self.kind.kind)
            }
        }
    }
}

struct RefWatch {
    interested: Arc<RwLock<BTreeSet<ObjectKey>>>,
    task: tokio::task::AbortHandle,
}

#[derive(Default)]
struct State {
    by_instance: HashMap<ObjectKey, BTreeSet<ExternalRef>>,
    watches: BTreeMap<ExternalRef, RefWatch>,
}

/// The registry of external-reference watches (part of the shared cache).
pub(crate) struct ExternalWatches {
    client: Client,
    events: broadcast::Sender<ObjectKey>,
    state: Mutex<State>,
}

impl Drop for ExternalWatches {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for watch in state.watches.values() {
            watch.task.abort();
        }
    }
}

impl ExternalWatches {
    pub(crate) fn new(client: Client, events: broadcast::Sender<ObjectKey>) -> Self {
        Self {
            client,
            events,
            state: Mutex::new(State::default()),
        }
    }

    /// Makes `references` the set `instance` reads, starting and stopping watches as needed.
    /// Must run inside a tokio runtime when a new reference appears.
    pub(crate) fn set_interest(&self, instance: &ObjectKey, references: BTreeSet<ExternalRef>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = state.by_instance.remove(instance).unwrap_or_default();
        for gone in previous.difference(&references) {
            let now_unused = state.watches.get(gone).is_some_and(|watch| {
                let mut interested = watch
                    .interested
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                interested.remove(instance);
                interested.is_empty()
            });
            if now_unused && let Some(watch) = state.watches.remove(gone) {
                watch.task.abort();
            }
        }
        for added in references.difference(&previous) {
            if let Some(watch) = state.watches.get(added) {
                watch
                    .interested
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(instance.clone());
                continue;
            }
            let interested = Arc::new(RwLock::new(BTreeSet::from([instance.clone()])));
            let task = tokio::spawn(run_ref_watch(
                self.client.clone(),
                added.clone(),
                Arc::clone(&interested),
                self.events.clone(),
            ));
            state.watches.insert(
                added.clone(),
                RefWatch {
                    interested,
                    task: task.abort_handle(),
                },
            );
        }
        if !references.is_empty() {
            state.by_instance.insert(instance.clone(), references);
        }
    }

    /// The references watched, sorted.
    pub(crate) fn watched(&self) -> Vec<ExternalRef> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .watches
            .keys()
            .cloned()
            .collect()
    }
}

async fn run_ref_watch(
    client: Client,
    reference: ExternalRef,
    interested: Arc<RwLock<BTreeSet<ObjectKey>>>,
    events: broadcast::Sender<ObjectKey>,
) {
    let resource = reference.kind.api_resource();
    let api: Api<PartialObjectMeta<DynamicObject>> = match reference
        .namespace
        .as_deref()
        .filter(|_| reference.kind.namespaced)
    {
        Some(namespace) => Api::namespaced_with(client, namespace, &resource),
        None => Api::all_with(client, &resource),
    };
    let config = match &reference.selection {
        RefSelection::Name(name) => {
            watcher::Config::default().fields(&format!("metadata.name={name}"))
        }
        RefSelection::Labels(selector) => watcher::Config::default().labels(selector),
    };
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let notify = || {
        let instances = interested.read().unwrap_or_else(PoisonError::into_inner);
        for instance in instances.iter() {
            // No subscriber is fine: nobody is waiting for this instance.
            let _ = events.send(instance.clone());
        }
    };
    while let Some(event) = stream.next().await {
        match event {
            // Every (re)list is reported: the instance read the reference before this watch
            // started, and a relist after a broken watch may hide changes.
            Ok(watcher::Event::InitDone | watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                notify();
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Err(error) => {
                tracing::warn!(reference = %reference, %error, "external reference watch failed; retrying with backoff");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::executor::cache::tests::config_maps;

    #[test]
    fn references_read_as_what_they_select() {
        let by_name = ExternalRef {
            kind: config_maps(),
            namespace: Some("team".into()),
            selection: RefSelection::Name("settings".into()),
        };
        assert_eq!(by_name.to_string(), "ConfigMap team/settings");
        let by_labels = ExternalRef {
            selection: RefSelection::Labels("app=web".into()),
            ..by_name
        };
        assert_eq!(by_labels.to_string(), "ConfigMap in \"team\" where app=web");
    }
}
