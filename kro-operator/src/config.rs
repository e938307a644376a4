//! Command-line flags and environment of the operator, with upstream's names and defaults.
//!
//! Every flag of upstream kro v0.9.4's controller is accepted with its name, default and meaning,
//! including controller-runtime's `--zap-*` logging flags and `--kubeconfig`, in Go's flag syntax
//! (`-flag` as well as `--flag`, `--flag=v`, `--flag v`, booleans bare or as `--flag=false`; see
//! [`crate::goflags`]). Every flag also reads `KRO_<FLAG_IN_UPPER_SNAKE_CASE>` from the
//! environment; the command line wins over the environment. [`OperatorConfig::validate`] checks the relations between flags
//! that clap cannot express, and its errors name the flag.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, CommandFactory as _, Parser, ValueEnum};
use thiserror::Error;

use crate::duration::{DurationError, format_go_duration, parse_go_duration};
use crate::features::{FeatureGates, parse_go_bool};
use crate::goflags::{long_flags, normalize_go_args};
use crate::logging::{StacktraceLevel, TimeEncoding};

/// Where an HTTP server listens: Go's `host:port` syntax, where an empty host (`:8078`) means
/// every interface and `0` disables the server, as in controller-runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddress {
    /// The server is switched off.
    Disabled,
    /// The server listens on this socket address.
    Listen(SocketAddr),
}

impl BindAddress {
    /// The socket address, or `None` when the server is disabled.
    #[must_use]
    pub fn socket_addr(self) -> Option<SocketAddr> {
        match self {
            BindAddress::Disabled => None,
            BindAddress::Listen(addr) => Some(addr),
        }
    }
}

/// Why a bind address was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid bind address `{0}`, expected `:PORT`, `HOST:PORT` with an IP or `localhost`, or `0` to disable"
)]
pub struct BindAddressError(String);

impl FromStr for BindAddress {
    type Err = BindAddressError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || BindAddressError(value.to_owned());
        let text = value.trim();
        if text == "0" {
            return Ok(BindAddress::Disabled);
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = match host {
            "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            literal => literal.parse().map_err(|_| invalid())?,
        };
        Ok(BindAddress::Listen(SocketAddr::new(ip, port)))
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Disabled => f.write_str("0"),
            BindAddress::Listen(addr) => write!(f, "{addr}"),
        }
    }
}

/// Log verbosity. Besides names, the zap-style integers are accepted: `0` is info, `1` debug,
/// `2` and more trace (zap's `V(n)` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-request detail.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation.
    Info,
    /// Unexpected but handled conditions.
    Warn,
    /// Failures only.
    Error,
}

impl LogLevel {
    /// The level as a `tracing` directive.
    #[must_use]
    pub fn as_directive(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Why a log level was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid log level `{0}`, expected trace, debug, info, warn, error or a zap verbosity integer"
)]
pub struct LogLevelError(String);

impl FromStr for LogLevel {
    type Err = LogLevelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value.trim().to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            // zap's dpanic/panic/fatal levels only log errors before aborting.
            "error" | "dpanic" | "panic" | "fatal" => LogLevel::Error,
            number => match number.parse::<u8>() {
                Ok(0) => LogLevel::Info,
                Ok(1) => LogLevel::Debug,
                Ok(_) => LogLevel::Trace,
                Err(_) => return Err(LogLevelError(value.to_owned())),
            },
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_directive())
    }
}

/// Log line encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (zap's `console`).
    #[value(alias = "console")]
    Text,
    /// One JSON object per line.
    Json,
}

/// A flag value or a combination of flags that cannot work; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// One flag has a value outside its range.
    #[error("--{flag}: {value} is invalid, expected {expected}")]
    OutOfRange {
        /// The flag name without dashes.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// What the flag accepts.
        expected: &'static str,
    },
    /// Two flags contradict each other.
    #[error("--{flag} ({value}) must be {relation} --{other} ({other_value})")]
    Conflict {
        /// The flag that is reported.
        flag: &'static str,
        /// Its value.
        value: String,
        /// The expected relation, e.g. `less than`.
        relation: &'static str,
        /// The flag it is compared with.
        other: &'static str,
        /// The other flag's value.
        other_value: String,
    },
}

fn duration_flag(value: &str) -> Result<Duration, DurationError> {
    parse_go_duration(value)
}

/// Why a boolean flag value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid boolean `{0}`, expected true, false, 1, 0, t, f (Go's strconv.ParseBool)")]
pub struct BoolFlagError(String);

/// A boolean in Go's syntax (`strconv.ParseBool`), as upstream's flags accept it.
fn bool_flag(value: &str) -> Result<bool, BoolFlagError> {
    parse_go_bool(value.trim()).ok_or_else(|| BoolFlagError(value.to_owned()))
}

/// Seconds as an integer (upstream's form) or, for convenience, a Go duration.
fn seconds_flag(value: &str) -> Result<Duration, DurationError> {
    match value.trim().parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => parse_go_duration(value),
    }
}

/// The operator's configuration, parsed from flags and `KRO_*` environment variables.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kro-operator",
    version,
    about = "kro-rs operator: reconciles ResourceGraphDefinitions and their instances",
    // Go's flag package lets a later occurrence of a flag replace an earlier one.
    args_override_self = true
)]
pub struct OperatorConfig {
    /// Address of the Prometheus /metrics endpoint (`:PORT`, `HOST:PORT`, or `0` to disable).
    #[arg(long, env = "KRO_METRICS_BIND_ADDRESS", default_value = ":8078")]
    pub metrics_bind_address: BindAddress,

    /// Address of the /healthz and /readyz endpoints (`:PORT`, `HOST:PORT`, or `0` to disable).
    #[arg(long, env = "KRO_HEALTH_PROBE_BIND_ADDRESS", default_value = ":8079")]
    pub health_probe_bind_address: BindAddress,

    /// Address of the pprof endpoint (`0` disables it): served only by builds with the `pprof`
    /// feature, as upstream serves it only in builds tagged `pprof`; accepted by every build.
    #[arg(long, env = "KRO_PPROF_BIND_ADDRESS", default_value = ":6060")]
    pub pprof_bind_address: BindAddress,

    /// Elect a leader through a coordination.k8s.io Lease so only one replica reconciles.
    #[arg(long, env = "KRO_LEADER_ELECT", default_value = "false", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_flag)]
    pub leader_elect: bool,

    /// With --leader-elect, list and watch RGDs while standing by, so a new leader starts warm.
    ///
    /// Wired: a standby replica fills its ResourceGraphDefinition cache before it leads and
    /// reconciles every cached RGD as soon as it takes over. The watch of generated CRDs and the
    /// instance watches still start on leading, as upstream's dynamic controller's do.
    #[arg(long, env = "KRO_ENABLE_CONTROLLER_WARMUP", default_value = "false", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_flag)]
    pub enable_controller_warmup: bool,

    /// Namespace of the leader Lease (empty: the pod's namespace, else kro-system).
    #[arg(long, env = "KRO_LEADER_ELECTION_NAMESPACE", default_value = "")]
    pub leader_election_namespace: String,

    /// How long a non-leader waits after the last renewal before taking the lease.
    #[arg(long, env = "KRO_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = duration_flag)]
    pub leader_election_lease_duration: Duration,

    /// How long the leader keeps retrying a failed renewal before giving up leadership.
    #[arg(long, env = "KRO_LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = duration_flag)]
    pub leader_election_renew_deadline: Duration,

    /// Interval between leader election attempts and lease renewals.
    #[arg(long, env = "KRO_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = duration_flag)]
    pub leader_election_retry_period: Duration,

    /// Refuse RGDs that only pass the schema checks upstream kro makes: kro-rs's stricter checks
    /// (repeated markers, bounds on non-numbers, ...) become errors instead of warnings. A
    /// kro-rs flag; upstream has no such checks.
    #[arg(long, env = "KRO_STRICT_SCHEMA_CHECKS", default_value = "false", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_flag)]
    pub strict_schema_checks: bool,

    /// Delete a generated CRD when its ResourceGraphDefinition is deleted.
    #[arg(long, env = "KRO_ALLOW_CRD_DELETION", default_value = "false", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_flag)]
    pub allow_crd_deletion: bool,

    /// Time allowed for running tasks to stop after SIGTERM/SIGINT (0s: do not wait).
    #[arg(long, env = "KRO_GRACEFUL_SHUTDOWN_TIMEOUT", default_value = "60s", value_parser = duration_flag)]
    pub graceful_shutdown_timeout: Duration,

    /// Number of ResourceGraphDefinitions reconciled in parallel.
    #[arg(
        long,
        env = "KRO_RESOURCE_GRAPH_DEFINITION_CONCURRENT_RECONCILES",
        default_value_t = 1
    )]
    pub resource_graph_definition_concurrent_reconciles: u32,

    /// Number of GraphRevisions reconciled in parallel (accepted; kro-rs has no separate revision controller).
    ///
    /// Not wired: kro-rs issues and verifies GraphRevisions inside the RGD reconcile (see
    /// `kro_controller::controllers`), so their parallelism is
    /// `--resource-graph-definition-concurrent-reconciles`. The value is validated and kept here.
    #[arg(
        long,
        env = "KRO_GRAPH_REVISION_CONCURRENT_RECONCILES",
        default_value_t = 1
    )]
    pub graph_revision_concurrent_reconciles: u32,

    /// Number of instances reconciled in parallel by the dynamic controller.
    #[arg(
        long,
        env = "KRO_DYNAMIC_CONTROLLER_CONCURRENT_RECONCILES",
        default_value_t = 1
    )]
    pub dynamic_controller_concurrent_reconciles: u32,

    /// First retry delay of the dynamic controller's exponential backoff.
    #[arg(long, env = "KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_MIN_DELAY", default_value = "200ms", value_parser = duration_flag)]
    pub dynamic_controller_rate_limiter_min_delay: Duration,

    /// Largest retry delay of the dynamic controller's exponential backoff.
    #[arg(long, env = "KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_MAX_DELAY", default_value = "1000s", value_parser = duration_flag)]
    pub dynamic_controller_rate_limiter_max_delay: Duration,

    /// Error requeues per second of the instance queues, shared token bucket (event-driven adds are not limited).
    #[arg(
        long,
        env = "KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_RATE_LIMIT",
        default_value_t = 10
    )]
    pub dynamic_controller_rate_limiter_rate_limit: u32,

    /// Burst of the error-requeue token bucket of the instance queues.
    #[arg(
        long,
        env = "KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_BURST_LIMIT",
        default_value_t = 100
    )]
    pub dynamic_controller_rate_limiter_burst_limit: u32,

    /// Failed reconciles of one instance retried with backoff before it waits for its next change.
    #[arg(
        long,
        env = "KRO_DYNAMIC_CONTROLLER_DEFAULT_QUEUE_MAX_RETRIES",
        default_value_t = 20
    )]
    pub dynamic_controller_default_queue_max_retries: u32,

    /// Delay before an instance that is not yet ready is reconciled again (0s: no delayed requeue).
    #[arg(long, env = "KRO_INSTANCE_REQUEUE_INTERVAL", default_value = "3s", value_parser = duration_flag)]
    pub instance_requeue_interval: Duration,

    /// Full resync period of the dynamic informers, in seconds.
    #[arg(long, env = "KRO_DYNAMIC_CONTROLLER_DEFAULT_RESYNC_PERIOD", default_value = "36000", value_parser = seconds_flag)]
    pub dynamic_controller_default_resync_period: Duration,

    /// Kubernetes API requests per second per resource (client-side token buckets; must be > 0).
    #[arg(long, env = "KRO_CLIENT_QPS", default_value_t = 100.0)]
    pub client_qps: f32,

    /// Kubernetes API requests per resource allowed at once above the sustained rate.
    #[arg(long, env = "KRO_CLIENT_BURST", default_value_t = 150)]
    pub client_burst: u32,

    /// Largest number of items one forEach collection may expand to.
    #[arg(long, env = "KRO_RGD_MAX_COLLECTION_SIZE", default_value_t = 1000)]
    pub rgd_max_collection_size: u32,

    /// Largest number of forEach dimensions in one collection resource.
    #[arg(
        long,
        env = "KRO_RGD_MAX_COLLECTION_DIMENSION_SIZE",
        default_value_t = 10
    )]
    pub rgd_max_collection_dimension_size: u32,

    /// Number of GraphRevisions kept per ResourceGraphDefinition.
    #[arg(long, env = "KRO_RGD_MAX_GRAPH_REVISIONS", default_value_t = 5)]
    pub rgd_max_graph_revisions: u32,

    /// Delay before re-checking a ResourceGraphDefinition whose revision is still compiling.
    #[arg(long, env = "KRO_RGD_PROGRESS_REQUEUE_DELAY", default_value = "3s", value_parser = duration_flag)]
    pub rgd_progress_requeue_delay: Duration,

    /// Alpha features: CELOmitFunction, InstanceConditionEvents, InstanceConditionMetrics, AllAlpha, AllBeta (`Name=bool,...`).
    #[arg(long, env = "KRO_FEATURE_GATES", default_value = "")]
    pub feature_gates: FeatureGates,

    /// Log verbosity: trace, debug, info, warn, error, or a zap integer [default: debug for kro with --zap-devel, else info].
    #[arg(long, alias = "zap-log-level", env = "KRO_LOG_LEVEL")]
    pub log_level: Option<LogLevel>,

    /// Log encoding: text (alias console) or json [default: text with --zap-devel, else json].
    #[arg(
        long,
        alias = "zap-encoder",
        env = "KRO_LOG_FORMAT",
        value_enum,
        ignore_case = true
    )]
    pub log_format: Option<LogFormat>,

    /// Development logging (zap's): defaults to debug level and text, and adds file:line to each line.
    #[arg(long, env = "KRO_ZAP_DEVEL", default_value = "true", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_flag)]
    pub zap_devel: bool,

    /// Level from which zap adds stack traces: info, error or panic (accepted; Rust log events carry none).
    #[arg(long, env = "KRO_ZAP_STACKTRACE_LEVEL", value_enum, ignore_case = true)]
    pub zap_stacktrace_level: Option<StacktraceLevel>,

    /// Timestamp format: epoch, millis, nanos, iso8601, rfc3339 or rfc3339nano [default: rfc3339].
    #[arg(long, env = "KRO_ZAP_TIME_ENCODING", value_enum, ignore_case = true)]
    pub zap_time_encoding: Option<TimeEncoding>,

    /// Path of a kubeconfig file (default: KUBECONFIG, then in-cluster, then ~/.kube/config).
    #[arg(long, env = "KRO_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

impl OperatorConfig {
    /// Parses `args` (the first item is the program name) and the environment, then validates.
    ///
    /// # Errors
    /// A clap error for unknown flags or unparsable values (its `exit()` prints help and usage),
    /// or the [`ConfigError`] of [`OperatorConfig::validate`] converted into a clap error.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Self::command();
        command.build();
        let args = normalize_go_args(args, &long_flags(&command));
        let config = Self::try_parse_from(args)?;
        config.validate().map_err(|error| {
            Self::command().error(clap::error::ErrorKind::ValueValidation, error)
        })?;
        Ok(config)
    }

    /// Checks ranges and the relations between flags.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming the flag.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive(
            "resource-graph-definition-concurrent-reconciles",
            self.resource_graph_definition_concurrent_reconciles,
        )?;
        positive(
            "graph-revision-concurrent-reconciles",
            self.graph_revision_concurrent_reconciles,
        )?;
        positive(
            "dynamic-controller-concurrent-reconciles",
            self.dynamic_controller_concurrent_reconciles,
        )?;
        positive(
            "dynamic-controller-rate-limiter-rate-limit",
            self.dynamic_controller_rate_limiter_rate_limit,
        )?;
        positive(
            "dynamic-controller-rate-limiter-burst-limit",
            self.dynamic_controller_rate_limiter_burst_limit,
        )?;
        positive("rgd-max-collection-size", self.rgd_max_collection_size)?;
        positive(
            "rgd-max-collection-dimension-size",
            self.rgd_max_collection_dimension_size,
        )?;
        positive("rgd-max-graph-revisions", self.rgd_max_graph_revisions)?;
        if self.dynamic_controller_rate_limiter_min_delay.is_zero() {
            return Err(out_of_range(
                "dynamic-controller-rate-limiter-min-delay",
                &self.dynamic_controller_rate_limiter_min_delay,
                "a duration greater than 0s",
            ));
        }
        if self.dynamic_controller_rate_limiter_max_delay
            < self.dynamic_controller_rate_limiter_min_delay
        {
            return Err(conflict(
                "dynamic-controller-rate-limiter-max-delay",
                &self.dynamic_controller_rate_limiter_max_delay,
                "at least",
                "dynamic-controller-rate-limiter-min-delay",
                &self.dynamic_controller_rate_limiter_min_delay,
            ));
        }
        if !self.client_qps.is_finite() || self.client_qps <= 0.0 {
            return Err(out_of_range(
                "client-qps",
                &self.client_qps,
                "a finite number greater than 0",
            ));
        }
        positive("client-burst", self.client_burst)?;
        if !self.leader_election_namespace.is_empty()
            && !is_dns_label(&self.leader_election_namespace)
        {
            return Err(out_of_range(
                "leader-election-namespace",
                &self.leader_election_namespace,
                "a namespace name (lowercase letters, digits and '-', at most 63 characters)",
            ));
        }
        self.validate_leader_election()?;
        if let (BindAddress::Listen(metrics), BindAddress::Listen(health)) =
            (self.metrics_bind_address, self.health_probe_bind_address)
            && metrics.port() == health.port()
            // Port 0 asks the kernel for a free port each time, so two of them never clash.
            && metrics.port() != 0
            && (metrics.ip() == health.ip()
                || metrics.ip().is_unspecified()
                || health.ip().is_unspecified())
        {
            return Err(conflict(
                "health-probe-bind-address",
                &self.health_probe_bind_address,
                "on a different port than",
                "metrics-bind-address",
                &self.metrics_bind_address,
            ));
        }
        Ok(())
    }

    fn validate_leader_election(&self) -> Result<(), ConfigError> {
        let (lease, renew, retry) = (
            self.leader_election_lease_duration,
            self.leader_election_renew_deadline,
            self.leader_election_retry_period,
        );
        // Leases count whole seconds, and the leader must renew at least once before expiry.
        if lease < Duration::from_secs(2) {
            return Err(out_of_range(
                "leader-election-lease-duration",
                &lease,
                "at least 2s",
            ));
        }
        if retry < Duration::from_secs(1) {
            return Err(out_of_range(
                "leader-election-retry-period",
                &retry,
                "at least 1s",
            ));
        }
        if renew >= lease {
            return Err(conflict(
                "leader-election-renew-deadline",
                &renew,
                "less than",
                "leader-election-lease-duration",
                &lease,
            ));
        }
        if retry >= renew {
            return Err(conflict(
                "leader-election-retry-period",
                &retry,
                "less than",
                "leader-election-renew-deadline",
                &renew,
            ));
        }
        Ok(())
    }
}

fn positive(flag: &'static str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(out_of_range(flag, &value, "an integer of at least 1"));
    }
    Ok(())
}

fn out_of_range(flag: &'static str, value: &dyn FlagValue, expected: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        flag,
        value: value.render(),
        expected,
    }
}

fn conflict(
    flag: &'static str,
    value: &dyn FlagValue,
    relation: &'static str,
    other: &'static str,
    other_value: &dyn FlagValue,
) -> ConfigError {
    ConfigError::Conflict {
        flag,
        value: value.render(),
        relation,
        other,
        other_value: other_value.render(),
    }
}

/// Renders a flag value in the syntax the user typed it (durations in Go syntax).
trait FlagValue {
    fn render(&self) -> String;
}

impl FlagValue for Duration {
    fn render(&self) -> String {
        format_go_duration(*self)
    }
}

macro_rules! display_flag_value {
    ($($ty:ty),*) => {$(
        impl FlagValue for $ty {
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

display_flag_value!(u32, f32, String, BindAddress);

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}
