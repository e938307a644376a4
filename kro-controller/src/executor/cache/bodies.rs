//! Full bodies of recently read or applied objects, and the writes kro has in flight.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{ObjectName, StoreKey};

/// Recently read or applied full objects, keyed by kind and name, each with the
/// `resourceVersion` it was read at. Bounded: the least recently used bodies go first.
pub(super) struct BodyStore {
    pub(super) capacity: usize,
    pub(super) tick: u64,
    pub(super) bodies: HashMap<(StoreKey, ObjectName), BodyEntry>,
    /// Objects kro is writing right now, with the watch events that arrived meanwhile (held
    /// back: one may be the echo of that very write, which the server can send before the
    /// write's response is read).
    pub(super) writing: HashMap<(StoreKey, ObjectName), WriteSlot>,
}

/// The writes of one object in flight and what the watch said about it meanwhile.
pub(super) struct WriteSlot {
    /// Writes in flight: two instances rendering the same name may write it at once.
    pub(super) writers: usize,
    /// More than one write was in flight: their responses cannot be ordered, so none enters
    /// the store and the watch decides.
    pub(super) overlapped: bool,
    /// The store's completed lists when the first write began (`None`: the kind was not
    /// watched yet).
    pub(super) lists_done: Option<u64>,
    /// Watch events held back, oldest first (at most [`MAX_HELD_EVENTS`]).
    pub(super) held: Vec<Arc<Value>>,
    /// Events were dropped from `held`: the store may know a version the write cannot see.
    pub(super) held_overflow: bool,
}

/// Watch events kept per object written; a write lasts one request, so more is unusual.
pub(super) const MAX_HELD_EVENTS: usize = 8;

/// A body as compact JSON text: parsed trees of a thousand Deployments take several times the
/// memory, and a lookup parses one body in microseconds, against a live read's milliseconds.
pub(super) struct BodyEntry {
    pub(super) resource_version: String,
    pub(super) body: Arc<str>,
    pub(super) used: u64,
}

impl BodyStore {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tick: 0,
            bodies: HashMap::new(),
            writing: HashMap::new(),
        }
    }

    /// Holds the event back if `key` is being written; returns whether it did.
    pub(super) fn defer_if_writing(
        &mut self,
        key: &(StoreKey, ObjectName),
        event: &Arc<Value>,
    ) -> bool {
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
    pub(super) fn get(
        &mut self,
        key: &(StoreKey, ObjectName),
        resource_version: &str,
    ) -> Option<Arc<str>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.bodies.get_mut(key)?;
        if entry.resource_version != resource_version {
            return None;
        }
        entry.used = tick;
        Some(entry.body.clone())
    }

    pub(super) fn put(
        &mut self,
        key: (StoreKey, ObjectName),
        resource_version: String,
        body: Arc<str>,
    ) {
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

    pub(super) fn remove(&mut self, key: &(StoreKey, ObjectName)) {
        self.bodies.remove(key);
    }

    /// Registers a write of `key`; `lists_done` is the store's count of completed lists.
    pub(super) fn start_write(&mut self, key: (StoreKey, ObjectName), lists_done: Option<u64>) {
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
    pub(super) fn finish_write(&mut self, key: &(StoreKey, ObjectName)) -> Option<WriteSlot> {
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
    pub(super) fn holds(&self, key: &(StoreKey, ObjectName), resource_version: &str) -> bool {
        self.bodies
            .get(key)
            .is_some_and(|entry| entry.resource_version == resource_version)
    }

    pub(super) fn len(&self) -> usize {
        self.bodies.len()
    }
}
