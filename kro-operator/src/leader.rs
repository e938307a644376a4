//! Leader election on a `coordination.k8s.io/v1` Lease, through `kube-lease-manager`.
//!
//! Controllers hold a [`LeaderGate`]: they await [`LeaderGate::acquired`] before reconciling and
//! stop when [`LeaderGate::lost`] is cancelled. Losing the lease makes the election service fail,
//! which stops the whole process with a non-zero status. Restarting is deliberate: the
//! controllers' in-memory state (informer caches, per-GVR watches, the graph registry, queued
//! work) was built under the assumption that no other replica writes the same objects; throwing
//! it away and letting the Deployment restart the pod as a clean standby is simpler and safer
//! than tearing every controller down and re-initialising it in place.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::OperatorConfig;
use crate::health::ReadinessCheck;
use crate::service::{Service, ServiceError, ServiceFuture};

pub use kro_api::labels::LEASE_NAME;

/// Namespace used when neither the flag nor the service-account file names one.
pub const FALLBACK_NAMESPACE: &str = "kro-system";

/// Where Kubernetes mounts the pod's namespace.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Where this replica stands in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderState {
    /// Waiting to acquire the lease.
    Standby,
    /// Holding the lease.
    Leading,
    /// Stopped: leadership was lost or the operator is shutting down.
    Stopped,
}

/// The election ended without this replica leading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leader election stopped before this replica became leader")]
pub struct ElectionStopped;

/// What controllers hold to wait for leadership and notice its loss.
#[derive(Debug, Clone)]
pub struct LeaderGate {
    state: watch::Receiver<LeaderState>,
    lost: CancellationToken,
}

impl LeaderGate {
    /// A gate that is open from the start, for runs without `--leader-elect`.
    #[must_use]
    pub fn always_leader() -> Self {
        let (sender, state) = watch::channel(LeaderState::Leading);
        // Keep the value readable after the sender is gone.
        drop(sender);
        Self {
            state,
            lost: CancellationToken::new(),
        }
    }

    /// Whether this replica leads right now.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        *self.state.borrow() == LeaderState::Leading
    }

    /// Waits until this replica leads.
    ///
    /// # Errors
    /// [`ElectionStopped`] when the election stops (shutdown) first.
    pub async fn acquired(&self) -> Result<(), ElectionStopped> {
        let mut state = self.state.clone();
        loop {
            match *state.borrow_and_update() {
                LeaderState::Leading => return Ok(()),
                LeaderState::Stopped => return Err(ElectionStopped),
                LeaderState::Standby => {}
            }
            if state.changed().await.is_err() {
                // The election service is gone; its last word is final.
                return match *state.borrow() {
                    LeaderState::Leading => Ok(()),
                    LeaderState::Standby | LeaderState::Stopped => Err(ElectionStopped),
                };
            }
        }
    }

    /// The election's state as it changes (for `leader_election_master_status`).
    #[must_use]
    pub fn states(&self) -> watch::Receiver<LeaderState> {
        self.state.clone()
    }

    /// A token cancelled when leadership, once held, is lost. Never cancelled without election.
    #[must_use]
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

/// Lease timing in the whole seconds a Lease stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// Lease validity after the last renewal.
    pub duration_secs: u64,
    /// How long before expiry the holder renews; `duration - grace` is the renewal interval.
    pub grace_secs: u64,
    /// How long renewals may keep failing before the leader gives up.
    pub renew_deadline: Duration,
    /// Pause between attempts after an error, and between standby observations.
    pub retry_period: Duration,
}

impl LeaseTiming {
    /// Maps upstream's three flags onto the lease manager's (duration, grace) pair: the holder
    /// renews every retry period, like client-go, so `grace = duration - retry period`.
    #[must_use]
    pub fn from_flags(
        lease_duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Self {
        let duration_secs =
            lease_duration.as_secs().max(2) + u64::from(lease_duration.subsec_nanos() > 0);
        let retry_secs = retry_period.as_secs().max(1);
        let grace_secs = duration_secs
            .saturating_sub(retry_secs)
            .clamp(1, duration_secs - 1);
        Self {
            duration_secs,
            grace_secs,
            renew_deadline,
            retry_period,
        }
    }
}

/// Settings of one election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionSettings {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity in `holderIdentity`.
    pub identity: String,
    /// Timing.
    pub timing: LeaseTiming,
}

impl ElectionSettings {
    /// Settings from the flags; the namespace falls back to the pod's, then to `kro-system`.
    #[must_use]
    pub fn from_config(config: &OperatorConfig) -> Self {
        Self {
            lease_name: LEASE_NAME.to_owned(),
            namespace: lease_namespace(
                &config.leader_election_namespace,
                Path::new(SERVICE_ACCOUNT_NAMESPACE_FILE),
            ),
            identity: replica_identity(),
            timing: LeaseTiming::from_flags(
                config.leader_election_lease_duration,
                config.leader_election_renew_deadline,
                config.leader_election_retry_period,
            ),
        }
    }
}

/// The Lease namespace: `flag` if set, else the content of `service_account_file`, else
/// [`FALLBACK_NAMESPACE`].
#[must_use]
pub fn lease_namespace(flag: &str, service_account_file: &Path) -> String {
    if !flag.trim().is_empty() {
        return flag.trim().to_owned();
    }
    std::fs::read_to_string(service_account_file)
        .ok()
        .map(|content| content.trim().to_owned())
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| FALLBACK_NAMESPACE.to_owned())
}

/// `<pod name>_<nonce>`: the pod name makes `kubectl get lease` readable, the nonce keeps a
/// restarted container from mistaking its predecessor's lease for its own.
fn replica_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "kro-operator".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("{host}_{:08x}{:08x}", std::process::id(), nanos)
}

/// The election as a [`Service`]: acquires and renews the Lease, publishes the state to the
/// gates, and fails with [`ServiceError::LeadershipLost`] when the lease is lost.
pub struct LeaderElection {
    client: Client,
    settings: ElectionSettings,
    state: watch::Sender<LeaderState>,
    lost: CancellationToken,
    leader_known: ReadinessCheck,
}

impl std::fmt::Debug for LeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElection")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LeaderElection {
    /// The election service and the gate controllers wait on. `leader_known` is marked ready
    /// while some replica (this one or another) holds the lease.
    #[must_use]
    pub fn new(
        client: Client,
        settings: ElectionSettings,
        leader_known: ReadinessCheck,
    ) -> (Self, LeaderGate) {
        let (state, receiver) = watch::channel(LeaderState::Standby);
        let lost = CancellationToken::new();
        let gate = LeaderGate {
            state: receiver,
            lost: lost.clone(),
        };
        (
            Self {
                client,
                settings,
                state,
                lost,
                leader_known,
            },
            gate,
        )
    }

    async fn elect(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let settings = &self.settings;
        let timing = settings.timing;
        let mut manager = self.lease_manager().await?;
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &settings.namespace);
        tracing::info!(lease = %settings.lease_name, namespace = %settings.namespace,
            identity = %settings.identity, "waiting for leadership");

        let mut leading = false;
        let mut failing_since: Option<Instant> = None;
        let mut observe = tokio::time::interval(timing.retry_period);
        observe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let changed = {
                // `changed()` sleeps until the next renewal; it must survive the observation
                // ticks, so it is pinned outside the select loop.
                let changed = manager.changed();
                tokio::pin!(changed);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            return self.stop(&manager, leading).await;
                        }
                        result = &mut changed => break Some(result),
                        _ = observe.tick(), if !leading => {
                            let held = lease_has_holder(&leases, &settings.lease_name).await;
                            self.leader_known.set_ready(held);
                            if !held {
                                // A standby sleeps until the expiry it last saw and does not
                                // re-read the lease before; a fresh manager takes a released
                                // lease now instead.
                                break None;
                            }
                        }
                    }
                }
            };
            let Some(changed) = changed else {
                manager = self.lease_manager().await?;
                continue;
            };
            match changed {
                Ok(true) => {
                    leading = true;
                    failing_since = None;
                    tracing::info!(identity = %settings.identity, "became leader");
                    self.leader_known.set_ready(true);
                    self.state.send_replace(LeaderState::Leading);
                }
                Ok(false) => {
                    if leading {
                        return Err(self.give_up("another replica took the lease"));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election API call failed");
                    if leading {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        // The last good renewal was up to one retry period before the first failure.
                        if since.elapsed() + timing.retry_period >= timing.renew_deadline {
                            return Err(
                                self.give_up("renewals failed for longer than the renew deadline")
                            );
                        }
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return self.stop(&manager, leading).await,
                        () = tokio::time::sleep(timing.retry_period) => {}
                    }
                }
            }
        }
    }

    async fn lease_manager(&self) -> Result<LeaseManager, ServiceError> {
        let settings = &self.settings;
        LeaseManagerBuilder::new(self.client.clone(), &settings.lease_name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.timing.duration_secs)
            .with_grace(settings.timing.grace_secs)
            .build()
            .await
            .map_err(ServiceError::other)
    }

    fn give_up(&self, reason: &str) -> ServiceError {
        tracing::error!(
            reason,
            "leadership lost, exiting so that the pod restarts clean"
        );
        self.state.send_replace(LeaderState::Stopped);
        self.leader_known.set_ready(false);
        self.lost.cancel();
        ServiceError::LeadershipLost {
            namespace: self.settings.namespace.clone(),
            lease: self.settings.lease_name.clone(),
        }
    }

    async fn stop(&self, manager: &LeaseManager, leading: bool) -> Result<(), ServiceError> {
        self.state.send_replace(LeaderState::Stopped);
        if leading {
            // Releasing lets a standby take over now instead of after the lease expires.
            match manager.release().await {
                Ok(()) => tracing::info!("released the leader lease"),
                Err(error) => tracing::warn!(%error, "could not release the leader lease"),
            }
        }
        Ok(())
    }
}

async fn lease_has_holder(leases: &Api<Lease>, name: &str) -> bool {
    match leases.get_opt(name).await {
        Ok(lease) => lease
            .and_then(|lease| lease.spec)
            .and_then(|spec| spec.holder_identity)
            .is_some_and(|holder| !holder.is_empty()),
        Err(error) => {
            tracing::debug!(%error, "cannot read the leader lease");
            false
        }
    }
}

impl Service for LeaderElection {
    fn name(&self) -> &str {
        "leader-election"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        Box::pin((*self).elect(shutdown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_renews_every_retry_period() {
        let timing = LeaseTiming::from_flags(
            Duration::from_secs(15),
            Duration::from_secs(10),
            Duration::from_secs(2),
        );
        assert_eq!((timing.duration_secs, timing.grace_secs), (15, 13));
        let fractional = LeaseTiming::from_flags(
            Duration::from_millis(2500),
            Duration::from_secs(2),
            Duration::from_secs(1),
        );
        assert_eq!((fractional.duration_secs, fractional.grace_secs), (3, 2));
        let tight = LeaseTiming::from_flags(
            Duration::from_secs(2),
            Duration::from_millis(1500),
            Duration::from_secs(1),
        );
        assert!(tight.grace_secs >= 1 && tight.grace_secs < tight.duration_secs);
    }

    #[test]
    fn namespace_prefers_flag_then_file_then_fallback() {
        let dir = std::env::temp_dir().join(format!("kro-operator-ns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("namespace");
        std::fs::write(&file, "team-a\n").expect("write");
        assert_eq!(lease_namespace("ops", &file), "ops");
        assert_eq!(lease_namespace("", &file), "team-a");
        assert_eq!(
            lease_namespace("", &dir.join("missing")),
            FALLBACK_NAMESPACE
        );
        std::fs::write(&file, "  \n").expect("write");
        assert_eq!(lease_namespace("", &file), FALLBACK_NAMESPACE);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn gate_without_election_is_open() {
        let gate = LeaderGate::always_leader();
        assert!(gate.is_leader());
        assert_eq!(gate.acquired().await, Ok(()));
        assert!(!gate.lost().is_cancelled());
    }

    #[tokio::test]
    async fn gate_follows_the_election_state() {
        let (sender, receiver) = watch::channel(LeaderState::Standby);
        let gate = LeaderGate {
            state: receiver,
            lost: CancellationToken::new(),
        };
        assert!(!gate.is_leader());
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquired().await }
        });
        sender.send_replace(LeaderState::Leading);
        assert_eq!(waiter.await.expect("joined"), Ok(()));
        assert!(gate.is_leader());

        let (sender, receiver) = watch::channel(LeaderState::Standby);
        let gate = LeaderGate {
            state: receiver,
            lost: CancellationToken::new(),
        };
        sender.send_replace(LeaderState::Stopped);
        assert_eq!(gate.acquired().await, Err(ElectionStopped));
    }

    #[test]
    fn identity_starts_with_the_pod_name_source() {
        let identity = replica_identity();
        let (host, nonce) = identity.rsplit_once('_').expect("has a nonce");
        assert!(!host.is_empty());
        assert_eq!(nonce.len(), 16);
        assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
