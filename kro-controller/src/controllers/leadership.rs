//! When the controllers may write, and where they report that their caches are ready.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed future of the leadership's signals.
type Signal<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// When this replica leads: the RGD controller writes nothing before, and stops (gracefully)
/// when leadership, once held, is lost.
pub struct Leadership {
    pub(crate) acquired: Signal<bool>,
    pub(crate) lost: Signal<()>,
}

impl fmt::Debug for Leadership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leadership").finish_non_exhaustive()
    }
}

impl Leadership {
    /// Leading from the start, never lost: a single replica, or an embedder without election.
    #[must_use]
    pub fn always() -> Self {
        Self::elected(std::future::ready(true), std::future::pending())
    }

    /// An election's outcome: `acquired` resolves to `true` once this replica leads, or to
    /// `false` when the election stopped first; `lost` resolves when leadership, once held, is
    /// lost.
    #[must_use]
    pub fn elected(
        acquired: impl Future<Output = bool> + Send + 'static,
        lost: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            acquired: Box::pin(acquired),
            lost: Box::pin(lost),
        }
    }
}

/// Where the RGD controller says whether its caches are ready (a readiness probe's check): ready
/// once the RGD cache synced, or, on a standby replica, once the RGD API answered.
pub trait ReadinessSink: Send + Sync {
    /// Marks the check ready or not ready.
    fn set_ready(&self, ready: bool);
}

impl<F: Fn(bool) + Send + Sync> ReadinessSink for F {
    fn set_ready(&self, ready: bool) {
        self(ready);
    }
}
