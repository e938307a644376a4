//! Long-running parts of the operator and the supervisor that runs them.
//!
//! Everything the process does (HTTP servers, leader election, controllers) is a [`Service`].
//! [`run_services`] starts them all, and:
//! - when a service fails, cancels the others: the operator does not limp on with a part missing,
//!   Kubernetes restarts the pod instead;
//! - when shutdown is requested (SIGTERM/SIGINT), waits up to the grace period for every service
//!   to return, then aborts the rest.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kro_api::ErrorChain;
use thiserror::Error;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::http::ServerError;

/// Any error, boxed, for services written in other crates.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The future a [`Service`] returns.
pub type ServiceFuture = Pin<Box<dyn Future<Output = Result<(), ServiceError>> + Send + 'static>>;

/// Why a service stopped before shutdown was requested.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// This replica was the leader and lost the lease.
    #[error("lost leadership of lease {namespace}/{lease}")]
    LeadershipLost {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        lease: String,
    },
    /// An HTTP server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Any other failure.
    #[error(transparent)]
    Other(BoxError),
}

impl ServiceError {
    /// Wraps an error of another crate.
    pub fn other(error: impl Into<BoxError>) -> Self {
        ServiceError::Other(error.into())
    }
}

/// A long-running part of the operator.
///
/// `run` must return soon after `shutdown` is cancelled; returning earlier with an error stops
/// the whole operator, returning earlier with `Ok` just ends this service.
pub trait Service: Send + 'static {
    /// A short name for logs (`metrics-server`, `leader-election`, `rgd-controller`).
    fn name(&self) -> &str;

    /// Runs until `shutdown` is cancelled or the service fails.
    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture;
}

/// How the supervised run ended badly.
#[derive(Debug, Error)]
pub enum SupervisorError {
    /// A service failed; the others were asked to stop. Its error is the
    /// [`source`](std::error::Error::source).
    #[error("service {service} failed")]
    ServiceFailed {
        /// The failing service's name.
        service: String,
        /// Its error.
        #[source]
        source: ServiceError,
    },
    /// A service panicked.
    #[error("service {service} panicked")]
    ServicePanicked {
        /// The service's name.
        service: String,
    },
    /// Some services were still running when the grace period ended; they were aborted.
    #[error("services {} did not stop within the graceful shutdown timeout of {timeout:?}", pending.join(", "))]
    ShutdownTimedOut {
        /// Names of the services that were aborted, sorted.
        pending: Vec<String>,
        /// The grace period.
        timeout: Duration,
    },
}

/// Runs `services` until `shutdown` is cancelled (then waits up to `grace`) or one of them fails.
///
/// # Errors
/// The first service failure or panic, else [`SupervisorError::ShutdownTimedOut`] when some
/// services outlived `grace`.
pub async fn run_services(
    services: Vec<Box<dyn Service>>,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), SupervisorError> {
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    for service in services {
        let name = service.name().to_owned();
        let handle = tasks.spawn(service.run(shutdown.child_token()));
        tracing::info!(service = %name, "service started");
        running.insert(handle.id(), name);
    }

    let mut first_failure: Option<SupervisorError> = None;
    while !running.is_empty() {
        let joined = tokio::select! {
            () = shutdown.cancelled() => break,
            joined = tasks.join_next_with_id() => joined,
        };
        let Some(joined) = joined else { break };
        if let Some(failure) = record_exit(&mut running, joined) {
            tracing::error!(error = %ErrorChain::new(&failure), "stopping every service");
            first_failure.get_or_insert(failure);
            shutdown.cancel();
        }
    }

    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = tasks.join_next_with_id().await {
            if let Some(failure) = record_exit(&mut running, joined) {
                tracing::error!(error = %ErrorChain::new(&failure), "service failed while stopping");
                first_failure.get_or_insert(failure);
            }
        }
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
        let mut pending: Vec<String> = running.into_values().collect();
        pending.sort();
        tracing::error!(?pending, ?grace, "graceful shutdown timed out, aborting");
        return Err(first_failure.unwrap_or(SupervisorError::ShutdownTimedOut {
            pending,
            timeout: grace,
        }));
    }
    first_failure.map_or(Ok(()), Err)
}

/// Removes a finished service from `running` and turns its outcome into a failure, if any.
fn record_exit(
    running: &mut HashMap<tokio::task::Id, String>,
    joined: Result<(tokio::task::Id, Result<(), ServiceError>), tokio::task::JoinError>,
) -> Option<SupervisorError> {
    match joined {
        Ok((id, outcome)) => {
            let service = running.remove(&id).unwrap_or_default();
            match outcome {
                Ok(()) => {
                    tracing::info!(%service, "service stopped");
                    None
                }
                Err(source) => Some(SupervisorError::ServiceFailed { service, source }),
            }
        }
        Err(join_error) => {
            let service = running.remove(&join_error.id()).unwrap_or_default();
            if join_error.is_cancelled() {
                None
            } else {
                Some(SupervisorError::ServicePanicked { service })
            }
        }
    }
}

/// Adapts an async closure into a [`Service`]; handy for small tasks and for tests.
pub struct FnService<F> {
    name: String,
    run: F,
}

impl<F> FnService<F> {
    /// A service called `name` that runs `run(shutdown)`.
    pub fn new(name: impl Into<String>, run: F) -> Self {
        Self {
            name: name.into(),
            run,
        }
    }
}

impl<F, Fut> Service for FnService<F>
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ServiceError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        Box::pin((self.run)(shutdown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_service_names_the_service_and_the_chain_says_why() {
        let io = || std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let failure = SupervisorError::ServiceFailed {
            service: "metrics-server".to_owned(),
            source: ServiceError::Server(ServerError::Bind {
                server: "metrics",
                addr: ([127, 0, 0, 1], 8080).into(),
                source: io(),
            }),
        };
        assert_eq!(failure.to_string(), "service metrics-server failed");
        // What the log said before the causes moved to `source()`, each said once.
        assert_eq!(
            ErrorChain::new(&failure).to_string(),
            format!(
                "service metrics-server failed: cannot listen on 127.0.0.1:8080 for the metrics \
                 server: {}",
                io()
            )
        );
    }
}
