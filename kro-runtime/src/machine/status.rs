//! The status write shared by both machines: written only when it differs from the stored
//! one, and after a conflict (another writer changed the instance since it was read) written
//! again on the instance read afresh, a bounded number of times.

use serde_json::Value;

use super::MachineError;
use crate::compare::json_equal;

/// At most this many attempts at one status write: each conflict means another writer of the
/// instance, and each attempt costs a read and a write.
pub const MAX_STATUS_ATTEMPTS: usize = 3;

/// A status write in progress.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusWrite {
    /// The status to write.
    pub(crate) status: Value,
    /// Which attempt the next (or current) write is, from 1.
    attempt: usize,
}

impl StatusWrite {
    /// The first attempt at writing `status` over `instance`; `None` when the instance holds
    /// that status already (a settled instance costs no write).
    pub(crate) fn first(instance: &Value, status: Value) -> Option<Self> {
        Self { status, attempt: 1 }.unless_held_by(instance)
    }

    /// After a conflict: the same write, to be tried again once the instance is read afresh;
    /// an error after the last attempt.
    pub(crate) fn after_conflict(self) -> Result<Self, MachineError> {
        if self.attempt >= MAX_STATUS_ATTEMPTS {
            return Err(MachineError::StatusConflicts {
                attempts: self.attempt,
            });
        }
        Ok(self)
    }

    /// The next attempt over the instance read afresh; `None` when another writer already put
    /// this status there.
    pub(crate) fn retry_over(self, fresh: &Value) -> Option<Self> {
        Self {
            attempt: self.attempt + 1,
            ..self
        }
        .unless_held_by(fresh)
    }

    fn unless_held_by(self, instance: &Value) -> Option<Self> {
        let current = instance.get("status").unwrap_or(&Value::Null);
        (!json_equal(current, &self.status)).then_some(self)
    }
}
