//! The watched metadata of one kind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::Value;
use tokio::sync::Notify;

use super::ObjectName;
use super::metadata::{part_of, resource_version, uid_of};

pub(super) struct KindStore {
    pub(super) objects: RwLock<KindObjects>,
    pub(super) synced: AtomicBool,
    pub(super) synced_signal: Notify,
    pub(super) task: OnceLock<tokio::task::AbortHandle>,
}

/// One watched object as the cache keeps it: its metadata as compact JSON text. A parsed
/// `serde_json` tree of the same metadata takes three to four times the memory (every small map
/// is a B-tree node), and an idle operator's memory is mostly this store.
pub(super) struct CachedObject {
    pub(super) resource_version: Option<Box<str>>,
    pub(super) part_of: Option<Box<str>>,
    pub(super) json: Box<str>,
}

impl CachedObject {
    pub(super) fn new(value: &Value) -> Self {
        Self {
            resource_version: resource_version(value).map(Box::from),
            part_of: part_of(value).map(Box::from),
            json: value.to_string().into_boxed_str(),
        }
    }

    /// The metadata object (`apiVersion`, `kind`, `metadata`).
    pub(super) fn value(&self) -> Arc<Value> {
        // The text was written by `Value::to_string`; it always parses.
        Arc::new(serde_json::from_str(&self.json).unwrap_or(Value::Null))
    }
}

/// The watched objects of one kind, with an index by ApplySet: prune lists an instance's members
/// on every reconcile, and a scan of every object of the kind per reconcile made N instances cost
/// N² label comparisons.
#[derive(Default)]
pub(super) struct KindObjects {
    pub(super) by_name: BTreeMap<ObjectName, CachedObject>,
    /// `applyset.kubernetes.io/part-of` label value → the objects carrying it.
    pub(super) by_applyset: HashMap<Box<str>, BTreeSet<ObjectName>>,
    /// Completed (re)lists: a list replaces the store with a snapshot that may predate a write.
    pub(super) lists_done: u64,
    /// A (re)list is running: its snapshot may predate a write that ends before it does.
    pub(super) listing: bool,
}

impl KindObjects {
    /// The store after a completed list of `objects`.
    pub(super) fn listed(&self, objects: BTreeMap<ObjectName, Arc<Value>>) -> Self {
        let mut indexed = Self {
            lists_done: self.lists_done + 1,
            ..Self::default()
        };
        for (key, value) in objects {
            indexed.insert(key, &value);
        }
        indexed
    }

    pub(super) fn insert(&mut self, key: ObjectName, value: &Value) {
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

    pub(super) fn remove(&mut self, key: &ObjectName) {
        self.unindex(key);
        self.by_name.remove(key);
    }

    /// Removes `key` unless the object kept under that name is another incarnation than
    /// `deleted` (a different uid): the delayed deletion event of an object kro has since
    /// created again must not hide the new one. Returns whether it removed anything.
    pub(super) fn remove_incarnation(&mut self, key: &ObjectName, deleted: &Value) -> bool {
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

    pub(super) fn unindex(&mut self, key: &ObjectName) {
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

    pub(super) fn get(&self, key: &ObjectName) -> Option<Arc<Value>> {
        self.by_name.get(key).map(CachedObject::value)
    }

    pub(super) fn members(
        &self,
        applyset: &str,
    ) -> impl Iterator<Item = (&ObjectName, Arc<Value>)> {
        self.by_applyset
            .get(applyset)
            .into_iter()
            .flatten()
            .filter_map(|key| Some((key, self.get(key)?)))
    }
}
