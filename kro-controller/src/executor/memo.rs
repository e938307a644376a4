//! What kro applied to each object, so an unchanged body needs no request.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Mutex, PoisonError};

use kro_applyset::ObjectKey;
use serde_json::Value;

/// Remembers the last body applied to each object (with the UID it was applied to), so an
/// unchanged body on an object that still holds it needs no request.
#[derive(Debug, Default)]
pub(super) struct AppliedMemo {
    bodies: Mutex<HashMap<ObjectKey, (String, u64)>>,
}

impl AppliedMemo {
    pub(super) fn matches(&self, key: &ObjectKey, uid: &str, body_hash: u64) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|(known_uid, known_hash)| known_uid == uid && *known_hash == body_hash)
    }

    pub(super) fn record(&self, key: &ObjectKey, uid: &str, body_hash: u64) {
        self.lock().insert(key.clone(), (uid.to_owned(), body_hash));
    }

    pub(super) fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, (String, u64)>> {
        self.bodies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) fn body_hash(body: &Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    body.to_string().hash(&mut hasher);
    hasher.finish()
}
