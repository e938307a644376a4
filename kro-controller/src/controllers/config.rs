//! What the controllers take from the operator's flags, as a plain struct.

use std::time::Duration;

/// The settings of the RGD and instance controllers. Each field is named after the kro-rs
/// operator's flag that sets it (upstream kro's flags, plus `--strict-schema-checks`), and
/// [`ControllersConfig::default`] gives upstream kro v0.9.4's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllersConfig {
    /// RGDs reconciled in parallel (`--resource-graph-definition-concurrent-reconciles`, 1).
    pub resource_graph_definition_concurrent_reconciles: u32,
    /// Delay before an RGD whose graph was refused is looked at again, doubled
    /// (`--rgd-progress-requeue-delay`, 3s); at least a second is used. Also the delay of an
    /// RGD reconcile that failed.
    pub rgd_progress_requeue_delay: Duration,
    /// GraphRevisions kept per RGD (`--rgd-max-graph-revisions`, 5).
    pub rgd_max_graph_revisions: u32,
    /// Largest number of items one forEach collection may expand to
    /// (`--rgd-max-collection-size`, 1000).
    pub rgd_max_collection_size: u32,
    /// Largest number of forEach dimensions in one collection resource
    /// (`--rgd-max-collection-dimension-size`, 10).
    pub rgd_max_collection_dimension_size: u32,
    /// Refuse RGDs that only pass upstream kro's schema checks (`--strict-schema-checks`, off).
    pub strict_schema_checks: bool,
    /// Delete a generated CRD with its RGD (`--allow-crd-deletion`, off).
    pub allow_crd_deletion: bool,
    /// Instances of one RGD reconciled in parallel
    /// (`--dynamic-controller-concurrent-reconciles`, 1).
    pub dynamic_controller_concurrent_reconciles: u32,
    /// First retry delay of a failing instance
    /// (`--dynamic-controller-rate-limiter-min-delay`, 200ms).
    pub dynamic_controller_rate_limiter_min_delay: Duration,
    /// Largest retry delay of a failing instance
    /// (`--dynamic-controller-rate-limiter-max-delay`, 1000s).
    pub dynamic_controller_rate_limiter_max_delay: Duration,
    /// Error requeues per second, one token bucket shared by every instance controller
    /// (`--dynamic-controller-rate-limiter-rate-limit`, 10).
    pub dynamic_controller_rate_limiter_rate_limit: u32,
    /// Burst of that bucket (`--dynamic-controller-rate-limiter-burst-limit`, 100).
    pub dynamic_controller_rate_limiter_burst_limit: u32,
    /// Retries of a failing instance before it waits for its next change
    /// (`--dynamic-controller-default-queue-max-retries`, 20).
    pub dynamic_controller_default_queue_max_retries: u32,
    /// Delay before an instance that is not ready is reconciled again; zero for none
    /// (`--instance-requeue-interval`, 3s).
    pub instance_requeue_interval: Duration,
    /// Periodic reconcile of an ACTIVE instance; zero for none
    /// (`--dynamic-controller-default-resync-period`, ten hours).
    pub dynamic_controller_default_resync_period: Duration,
    /// CEL's `omit()` in templates (feature gate `CELOmitFunction`, off).
    pub cel_omit_function: bool,
    /// An Event per instance condition transition (feature gate `InstanceConditionEvents`, off).
    pub instance_condition_events: bool,
    /// How long each instance condition holds its status, for the metrics (feature gate
    /// `InstanceConditionMetrics`, off).
    pub instance_condition_metrics: bool,
    /// A standby replica already lists and watches RGDs, and reconciles every cached RGD as soon
    /// as it leads (`--enable-controller-warmup` with `--leader-elect`, off). Meant for an
    /// elected [`Leadership`](super::Leadership).
    pub controller_warmup: bool,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        Self {
            resource_graph_definition_concurrent_reconciles: 1,
            rgd_progress_requeue_delay: Duration::from_secs(3),
            rgd_max_graph_revisions: 5,
            rgd_max_collection_size: 1000,
            rgd_max_collection_dimension_size: 10,
            strict_schema_checks: false,
            allow_crd_deletion: false,
            dynamic_controller_concurrent_reconciles: 1,
            dynamic_controller_rate_limiter_min_delay: Duration::from_millis(200),
            dynamic_controller_rate_limiter_max_delay: Duration::from_secs(1000),
            dynamic_controller_rate_limiter_rate_limit: 10,
            dynamic_controller_rate_limiter_burst_limit: 100,
            dynamic_controller_default_queue_max_retries: 20,
            instance_requeue_interval: Duration::from_secs(3),
            dynamic_controller_default_resync_period: Duration::from_secs(36_000),
            cel_omit_function: false,
            instance_condition_events: false,
            instance_condition_metrics: false,
            controller_warmup: false,
        }
    }
}
