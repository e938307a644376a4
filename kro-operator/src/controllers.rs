//! The reconcile controllers as an operator service: [`RgdControllerService`] runs
//! `kro_controller::controllers::RgdController` (the ResourceGraphDefinition controller and the
//! instance controllers it starts) with the operator's flags ([`controllers_config`]), its leader
//! election, its readiness check and its Prometheus metrics.

use std::sync::Arc;

use kro_controller::controllers::{ControllersConfig, Leadership, ReadinessSink, RgdController};
use tokio_util::sync::CancellationToken;

use crate::config::OperatorConfig;
use crate::features::FeatureGate;
use crate::health::ReadinessCheck;
use crate::operator::OperatorContext;
use crate::service::{Service, ServiceError, ServiceFuture};

/// The RGD controller and the instance controllers it starts, as one operator service.
pub struct RgdControllerService {
    context: OperatorContext,
    synced: ReadinessCheck,
}

impl std::fmt::Debug for RgdControllerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgdControllerService")
            .finish_non_exhaustive()
    }
}

impl RgdControllerService {
    /// The service; `synced` turns ready once the RGD cache has synced.
    #[must_use]
    pub fn new(context: OperatorContext, synced: ReadinessCheck) -> Self {
        Self { context, synced }
    }
}

impl Service for RgdControllerService {
    fn name(&self) -> &str {
        "rgd-controller"
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> ServiceFuture {
        let Self { context, synced } = *self;
        let controller = RgdController::new(
            context.client,
            controllers_config(&context.config),
            context.metrics,
        );
        let leader = context.leader;
        let lost = leader.lost();
        let leadership = Leadership::elected(
            async move { leader.acquired().await.is_ok() },
            lost.cancelled_owned(),
        );
        Box::pin(async move {
            controller
                .run(leadership, Arc::new(synced), shutdown.cancelled_owned())
                .await
                .map_err(ServiceError::other)
        })
    }
}

impl ReadinessSink for ReadinessCheck {
    fn set_ready(&self, ready: bool) {
        ReadinessCheck::set_ready(self, ready);
    }
}

/// What the controllers take from the flags.
#[must_use]
pub fn controllers_config(config: &OperatorConfig) -> ControllersConfig {
    ControllersConfig {
        resource_graph_definition_concurrent_reconciles: config
            .resource_graph_definition_concurrent_reconciles,
        rgd_progress_requeue_delay: config.rgd_progress_requeue_delay,
        rgd_max_graph_revisions: config.rgd_max_graph_revisions,
        rgd_max_collection_size: config.rgd_max_collection_size,
        rgd_max_collection_dimension_size: config.rgd_max_collection_dimension_size,
        strict_schema_checks: config.strict_schema_checks,
        allow_crd_deletion: config.allow_crd_deletion,
        dynamic_controller_concurrent_reconciles: config.dynamic_controller_concurrent_reconciles,
        dynamic_controller_rate_limiter_min_delay: config.dynamic_controller_rate_limiter_min_delay,
        dynamic_controller_rate_limiter_max_delay: config.dynamic_controller_rate_limiter_max_delay,
        dynamic_controller_rate_limiter_rate_limit: config
            .dynamic_controller_rate_limiter_rate_limit,
        dynamic_controller_rate_limiter_burst_limit: config
            .dynamic_controller_rate_limiter_burst_limit,
        dynamic_controller_default_queue_max_retries: config
            .dynamic_controller_default_queue_max_retries,
        instance_requeue_interval: config.instance_requeue_interval,
        dynamic_controller_default_resync_period: config.dynamic_controller_default_resync_period,
        cel_omit_function: config.feature_gates.enabled(FeatureGate::CelOmitFunction),
        instance_condition_events: config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionEvents),
        instance_condition_metrics: config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionMetrics),
        // Warm-up is about standing by, which only an elected replica does.
        controller_warmup: config.enable_controller_warmup && config.leader_elect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_defaults_are_the_controllers_defaults() {
        let config = OperatorConfig::try_from_args(["kro-operator"]).expect("defaults parse");
        assert_eq!(controllers_config(&config), ControllersConfig::default());
    }

    #[test]
    fn warm_up_needs_leader_election() {
        let alone = OperatorConfig::try_from_args(["kro-operator", "--enable-controller-warmup"])
            .expect("parses");
        assert!(!controllers_config(&alone).controller_warmup);
        let elected = OperatorConfig::try_from_args([
            "kro-operator",
            "--enable-controller-warmup",
            "--leader-elect",
        ])
        .expect("parses");
        assert!(controllers_config(&elected).controller_warmup);
    }
}
