//! The end of a write: what its response tells the watched metadata.

use std::sync::PoisonError;

use serde_json::Value;

use super::metadata::{owned_metadata, resource_version, uid_of};
use super::watch::publish;
use super::{ObjectCache, ObjectName, StoreKey};

/// A write in progress (see [`ObjectCache::begin_write`]).
#[must_use = "the write is over when the guard is finished or dropped"]
pub struct WriteGuard<'a> {
    pub(super) cache: &'a ObjectCache,
    pub(super) key: Option<(StoreKey, ObjectName)>,
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

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.end(None);
    }
}
