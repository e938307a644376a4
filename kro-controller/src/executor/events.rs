//! A subscription to the cache's instance events, in kro's own types.

use futures::Stream;
use futures::stream;
use tokio::sync::broadcast;

use super::cache::ObjectKey;

/// One event of [`ChildEvents`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildEvent {
    /// A kro-managed child of this instance, or an external reference it reads, changed
    /// (added, modified or deleted).
    Changed(ObjectKey),
    /// The subscriber fell behind and `missed` events were dropped: which instances they were
    /// for is unknown, so reconcile every instance you serve.
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

/// The instance events of an [`ObjectCache`](super::ObjectCache) from the moment of
/// [`subscribe`](super::ObjectCache::subscribe): one [`ChildEvent::Changed`] per change of a
/// kro-managed child or of a watched external reference. Events are buffered per subscriber;
/// one that falls too far behind gets [`ChildEvent::Lagged`] instead of the oldest events.
#[derive(Debug)]
pub struct ChildEvents {
    receiver: broadcast::Receiver<ObjectKey>,
}

impl ChildEvents {
    pub(crate) fn new(receiver: broadcast::Receiver<ObjectKey>) -> Self {
        Self { receiver }
    }

    /// The next event, waiting for one; `None` once the cache is gone.
    pub async fn recv(&mut self) -> Option<ChildEvent> {
        match self.receiver.recv().await {
            Ok(key) => Some(ChildEvent::Changed(key)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(ChildEvent::Lagged { missed }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is already waiting, without waiting (for draining what arrived
    /// while a reconcile ran).
    pub fn try_recv(&mut self) -> Option<ChildEvent> {
        match self.receiver.try_recv() {
            Ok(key) => Some(ChildEvent::Changed(key)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Some(ChildEvent::Lagged { missed })
            }
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => {
                None
            }
        }
    }

    /// The events as a stream, ending when the cache is gone.
    pub fn into_stream(self) -> impl Stream<Item = ChildEvent> + Send + 'static {
        stream::unfold(self, |mut events| async move {
            let event = events.recv().await?;
            Some((event, events))
        })
    }
}
