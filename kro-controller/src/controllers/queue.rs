//! The bookkeeping of a controller's queue for [`QueueMetrics`]: kube-runtime keeps its queue
//! to itself, so the triggers fed to a controller are counted as adds (a key already waiting
//! counts once, as in a workqueue), a worker taking the object ends its wait, and the reconcile
//! is the work.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::metrics::QueueMetrics;

/// One queue's bookkeeping. Cheap to clone; clones share the queue.
#[derive(Clone)]
pub(crate) struct QueueTracker<K> {
    sink: Arc<dyn QueueMetrics>,
    pending: Arc<Mutex<HashMap<K, Instant>>>,
}

/// A reconcile in progress; [`QueueTracker::done`] ends it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Work {
    token: u64,
    started: Instant,
}

impl<K: Hash + Eq + Clone> QueueTracker<K> {
    /// A queue reporting to `sink`.
    pub(crate) fn new(sink: Arc<dyn QueueMetrics>) -> Self {
        Self {
            sink,
            pending: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A trigger for `key`; an object already waiting counts once, as in a workqueue.
    pub(crate) fn add(&self, key: K) {
        let mut pending = self.lock();
        if pending.contains_key(&key) {
            return;
        }
        pending.insert(key, Instant::now());
        drop(pending);
        self.sink.added();
    }

    /// A worker took `key`. A key that was not waiting comes from a delayed requeue coming due.
    pub(crate) fn start(&self, key: &K) -> Work {
        let now = Instant::now();
        let waited = self
            .lock()
            .remove(key)
            .map(|at| now.saturating_duration_since(at));
        let token = self.sink.started(waited);
        Work {
            token,
            started: now,
        }
    }

    /// The reconcile of `work` finished.
    pub(crate) fn done(&self, work: Work) {
        self.sink.finished(work.token, work.started.elapsed());
    }

    /// The object goes back with a delay (an error backoff or a requeue-after).
    pub(crate) fn retry(&self) {
        self.sink.retried();
    }

    /// `key` will not be processed (the object is gone).
    pub(crate) fn forget(&self, key: &K) {
        if self.lock().remove(key).is_some() {
            self.sink.dropped(1);
        }
    }

    /// Forgets every waiting key (the controller stopped).
    pub(crate) fn clear(&self) {
        let dropped = self.lock().drain().count();
        self.sink.dropped(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Records what the tracker reports.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl QueueMetrics for Recorded {
        fn added(&self) {
            self.push("added".to_owned());
        }
        fn started(&self, waited: Option<Duration>) -> u64 {
            self.push(format!("started waiting={}", waited.is_some()));
            7
        }
        fn finished(&self, token: u64, _: Duration) {
            self.push(format!("finished {token}"));
        }
        fn retried(&self) {
            self.push("retried".to_owned());
        }
        fn dropped(&self, count: usize) {
            self.push(format!("dropped {count}"));
        }
    }

    impl Recorded {
        fn push(&self, event: String) {
            self.0.lock().expect("not poisoned").push(event);
        }
    }

    #[test]
    fn a_waiting_key_counts_once_and_a_due_requeue_is_an_add_without_wait() {
        let sink = Arc::new(Recorded::default());
        let queue = QueueTracker::new(Arc::clone(&sink) as Arc<dyn QueueMetrics>);
        queue.add("a");
        queue.add("a");
        let work = queue.start(&"a");
        queue.done(work);
        queue.retry();
        let again = queue.start(&"a");
        queue.done(again);
        queue.add("b");
        queue.add("c");
        queue.forget(&"b");
        queue.forget(&"b");
        queue.clear();
        let events = sink.0.lock().expect("not poisoned").clone();
        assert_eq!(
            events,
            [
                "added",
                "started waiting=true",
                "finished 7",
                "retried",
                "started waiting=false",
                "finished 7",
                "added",
                "added",
                "dropped 1",
                "dropped 1",
            ]
        );
    }
}
