//! Runs the executor's orphan sweep whenever an RGD's instance watch has listed the instances:
//! at start-up, and after every re-list (a watch that lost its place may have missed deletions).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::Executor;
use kro_graph::Graph;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Attempts per listing before the sweep waits for the next one.
const ATTEMPTS: u32 = 4;

/// Sweeps once per message of `listed` (the instance watch's `InitDone`), until the channel
/// closes or `cancel` fires. Failures are retried with backoff, then logged.
pub(crate) async fn sweep_orphans_after_listing(
    executor: Arc<Executor>,
    graph: Arc<RwLock<Arc<Graph>>>,
    rgd: String,
    mut listed: mpsc::UnboundedReceiver<()>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            message = listed.recv() => if message.is_none() { return },
        }
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let current = Arc::clone(&graph.read().unwrap_or_else(PoisonError::into_inner));
            match executor.sweep_orphans(&current).await {
                Ok(deleted) if deleted.is_empty() => break,
                Ok(deleted) => {
                    tracing::warn!(
                        rgd = %rgd,
                        deleted = ?deleted.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "deleted children whose instance no longer exists (it was deleted \
                         while no kro operator ran, or without kro's finalizer)"
                    );
                    break;
                }
                Err(error) if attempt < ATTEMPTS => {
                    tracing::debug!(rgd = %rgd, error = %kro_api::ErrorChain::new(&error), "orphan sweep failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) => {
                    tracing::error!(rgd = %rgd, error = %kro_api::ErrorChain::new(&error), "cannot sweep the children of vanished instances");
                }
            }
        }
    }
}
