//! Assembles the operator's infrastructure services and the context controllers are built from.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::config::OperatorConfig;
use crate::health::Readiness;
use crate::http::ServerError;
use crate::leader::{ElectionSettings, LeaderElection, LeaderGate, LeaderState};
use crate::metrics::{LeaseLabels, Metrics};
use crate::servers::HttpService;
use crate::service::{Service, SupervisorError, run_services};

/// What every controller is built from.
#[derive(Clone)]
pub struct OperatorContext {
    /// The validated flags.
    pub config: Arc<OperatorConfig>,
    /// The Kubernetes client.
    pub client: Client,
    /// Opens when this replica leads (at once without `--leader-elect`).
    pub leader: LeaderGate,
    /// Where controllers register their readiness checks (e.g. caches synced).
    pub readiness: Readiness,
    /// The shared metric families.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for OperatorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorContext")
            .field("config", &self.config)
            .field("leader", &self.leader)
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}

/// The operator before it runs: its context and the services to supervise, infrastructure first.
pub struct Operator {
    context: OperatorContext,
    services: Vec<Box<dyn Service>>,
    grace: Duration,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|service| service.name()).collect();
        f.debug_struct("Operator")
            .field("context", &self.context)
            .field("services", &names)
            .field("grace", &self.grace)
            .finish()
    }
}

impl Operator {
    /// Binds the metrics and health servers (unless disabled) and sets up leader election (with
    /// `--leader-elect`). Binding happens here so that a port conflict fails the start-up.
    ///
    /// # Errors
    /// [`ServerError::Bind`] when an address cannot be bound.
    pub async fn prepare(config: OperatorConfig, client: Client) -> Result<Self, ServerError> {
        Self::prepare_with_metrics(config, client, Arc::new(Metrics::new())).await
    }

    /// [`Operator::prepare`] with metrics created beforehand (the client's request counter is
    /// part of them).
    ///
    /// # Errors
    /// [`ServerError::Bind`] when an address cannot be bound.
    pub async fn prepare_with_metrics(
        config: OperatorConfig,
        client: Client,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ServerError> {
        let readiness = Readiness::new();
        let mut services: Vec<Box<dyn Service>> = Vec::new();
        if let Some(addr) = config.metrics_bind_address.socket_addr() {
            services.push(Box::new(
                HttpService::metrics(addr, Arc::clone(&metrics)).await?,
            ));
        }
        if let Some(addr) = config.health_probe_bind_address.socket_addr() {
            services.push(Box::new(
                HttpService::health(addr, readiness.clone()).await?,
            ));
        }
        #[cfg(feature = "pprof")]
        if let Some(addr) = config.pprof_bind_address.socket_addr() {
            services.push(Box::new(crate::pprof::PprofService::bind(addr).await?));
        }
        let leader = if config.leader_elect {
            let settings = ElectionSettings::from_config(&config);
            let (election, gate) =
                LeaderElection::new(client.clone(), settings, readiness.register("leader-known"));
            services.push(Box::new(election));
            track_leadership(&metrics, &gate);
            gate
        } else {
            LeaderGate::always_leader()
        };
        let grace = config.graceful_shutdown_timeout;
        let context = OperatorContext {
            config: Arc::new(config),
            client,
            leader,
            readiness,
            metrics,
        };
        Ok(Self {
            context,
            services,
            grace,
        })
    }

    /// The context to build controllers from.
    #[must_use]
    pub fn context(&self) -> &OperatorContext {
        &self.context
    }

    /// Adds a service (a controller) to run after the infrastructure services.
    pub fn add_service(&mut self, service: Box<dyn Service>) {
        self.services.push(service);
    }

    /// Names of the services, in start order.
    #[must_use]
    pub fn service_names(&self) -> Vec<String> {
        self.services
            .iter()
            .map(|service| service.name().to_owned())
            .collect()
    }

    /// Runs every service until `shutdown` is cancelled or one fails; see [`run_services`].
    ///
    /// # Errors
    /// See [`SupervisorError`].
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SupervisorError> {
        run_services(self.services, shutdown, self.grace).await
    }
}

/// Keeps `leader_election_master_status{name="controller.kro.run"}` at 1 while this replica
/// leads and 0 otherwise, as client-go's leader elector reports it.
fn track_leadership(metrics: &Metrics, gate: &LeaderGate) {
    let gauge = metrics
        .leader
        .get_or_create(&LeaseLabels {
            name: crate::leader::LEASE_NAME.to_owned(),
        })
        .clone();
    let mut states = gate.states();
    tokio::spawn(async move {
        loop {
            let leading = *states.borrow_and_update() == LeaderState::Leading;
            gauge.set(i64::from(leading));
            if states.changed().await.is_err() {
                return;
            }
        }
    });
}
