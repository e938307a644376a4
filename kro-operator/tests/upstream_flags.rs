//! Upstream kro v0.9.4's command line runs kro-operator unchanged: every flag name of upstream's
//! controller (`cmd/controller/main.go`, controller-runtime's zap options and `--kubeconfig`), Go's
//! flag syntax, the `AllAlpha`/`AllBeta` feature-gate keys, and the argument list upstream's Helm
//! chart renders with its default values.

use std::process::Command;
use std::time::Duration;

use kro_operator::config::{BindAddress, LogFormat, LogLevel, OperatorConfig};
use kro_operator::features::FeatureGate;
use kro_operator::logging::{StacktraceLevel, TimeEncoding};

fn parse(args: &[&str]) -> Result<OperatorConfig, clap::Error> {
    OperatorConfig::try_from_args(std::iter::once("kro-operator").chain(args.iter().copied()))
}

/// Every flag upstream's controller binary defines, with a valid value for it: the 28 of
/// `cmd/controller/main.go`, the 5 of controller-runtime's `zap.Options.BindFlags`, and
/// `--kubeconfig` (registered by controller-runtime's `client/config` package).
const UPSTREAM_FLAGS: [(&str, &str); 34] = [
    ("metrics-bind-address", ":8078"),
    ("health-probe-bind-address", ":8079"),
    ("pprof-bind-address", ":6060"),
    ("leader-elect", "true"),
    ("enable-controller-warmup", "true"),
    ("leader-election-namespace", "kro-system"),
    ("allow-crd-deletion", "true"),
    ("graceful-shutdown-timeout", "60s"),
    ("resource-graph-definition-concurrent-reconciles", "1"),
    ("graph-revision-concurrent-reconciles", "1"),
    ("dynamic-controller-concurrent-reconciles", "1"),
    ("dynamic-controller-rate-limiter-min-delay", "200ms"),
    ("dynamic-controller-rate-limiter-max-delay", "1000s"),
    ("dynamic-controller-rate-limiter-rate-limit", "10"),
    ("dynamic-controller-rate-limiter-burst-limit", "100"),
    ("instance-requeue-interval", "3s"),
    ("dynamic-controller-default-resync-period", "36000"),
    ("dynamic-controller-default-queue-max-retries", "20"),
    ("client-qps", "100"),
    ("client-burst", "150"),
    ("rgd-max-collection-size", "1000"),
    ("rgd-max-collection-dimension-size", "10"),
    ("feature-gates", "InstanceConditionEvents=true"),
    ("rgd-max-graph-revisions", "5"),
    ("rgd-progress-requeue-delay", "3s"),
    ("leader-election-lease-duration", "15s"),
    ("leader-election-renew-deadline", "10s"),
    ("leader-election-retry-period", "2s"),
    ("zap-devel", "false"),
    ("zap-encoder", "json"),
    ("zap-log-level", "debug"),
    ("zap-stacktrace-level", "error"),
    ("zap-time-encoding", "iso8601"),
    ("kubeconfig", "/tmp/kubeconfig"),
];

#[test]
fn every_upstream_flag_parses_in_every_go_form() {
    for (name, value) in UPSTREAM_FLAGS {
        for args in [
            vec![format!("--{name}={value}")],
            vec![format!("-{name}={value}")],
            vec![format!("--{name}"), value.to_owned()],
            vec![format!("-{name}"), value.to_owned()],
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(error) = parse(&args) {
                panic!("{args:?} rejected: {error}");
            }
        }
    }
}

#[test]
fn upstream_flags_keep_upstreams_defaults() {
    let config = parse(&[]).expect("defaults are valid");
    assert_eq!(config.graph_revision_concurrent_reconciles, 1);
    assert_eq!(config.dynamic_controller_default_queue_max_retries, 20);
    assert_eq!(config.dynamic_controller_rate_limiter_rate_limit, 10);
    assert_eq!(config.dynamic_controller_rate_limiter_burst_limit, 100);
    assert!(!config.enable_controller_warmup);
    assert_eq!(config.pprof_bind_address.to_string(), "0.0.0.0:6060");
    assert!(
        config.zap_devel,
        "controller-runtime's Options{{Development: true}}"
    );
}

#[test]
fn booleans_take_gos_forms() {
    for (arg, expected) in [
        ("--leader-elect", true),
        ("-leader-elect", true),
        ("--leader-elect=true", true),
        ("--leader-elect=false", false),
        ("-leader-elect=false", false),
        ("--leader-elect=1", true),
        ("--leader-elect=0", false),
        ("--leader-elect=t", true),
        ("--leader-elect=F", false),
        ("--leader-elect=TRUE", true),
        ("--leader-elect=False", false),
    ] {
        let config = parse(&[arg]).unwrap_or_else(|error| panic!("{arg}: {error}"));
        assert_eq!(config.leader_elect, expected, "{arg}");
    }
    assert!(parse(&["--leader-elect=yes"]).is_err());
    let config = parse(&["--zap-devel=false", "-enable-controller-warmup"]).expect("valid");
    assert!(!config.zap_devel);
    assert!(config.enable_controller_warmup);
}

#[test]
fn values_may_follow_as_the_next_argument_even_when_negative() {
    let config = parse(&["-client-qps", "25", "-leader-election-namespace", "ops"]).expect("valid");
    assert!((config.client_qps - 25.0).abs() < f32::EPSILON);
    assert_eq!(config.leader_election_namespace, "ops");
    // Go hands `-5` to the flag; the value is then out of range, not an unknown flag.
    let message = parse(&["--client-qps", "-5"])
        .expect_err("negative qps")
        .to_string();
    assert!(message.contains("--client-qps: -5 is invalid"), "{message}");
}

#[test]
fn a_repeated_flag_takes_its_last_value_as_in_go() {
    let config = parse(&[
        "--client-burst=5",
        "-client-burst",
        "9",
        "--leader-elect",
        "-leader-elect=false",
    ])
    .expect("valid");
    assert_eq!(config.client_burst, 9);
    assert!(!config.leader_elect);
}

#[test]
fn zap_flags_mean_what_they_mean_upstream() {
    let config = parse(&[
        "--zap-log-level=INFO",
        "--zap-encoder=Console",
        "--zap-stacktrace-level=panic",
        "--zap-time-encoding=rfc3339nano",
    ])
    .expect("valid");
    assert_eq!(config.log_level, Some(LogLevel::Info));
    assert_eq!(config.log_format, Some(LogFormat::Text));
    assert_eq!(config.zap_stacktrace_level, Some(StacktraceLevel::Panic));
    assert_eq!(config.zap_time_encoding, Some(TimeEncoding::Rfc3339Nano));
    for encoding in [
        "epoch",
        "millis",
        "nanos",
        "iso8601",
        "rfc3339",
        "rfc3339nano",
    ] {
        parse(&[&format!("--zap-time-encoding={encoding}")])
            .unwrap_or_else(|error| panic!("{encoding}: {error}"));
    }
    assert!(parse(&["--zap-stacktrace-level=debug"]).is_err());
    assert!(parse(&["--zap-encoder=xml"]).is_err());
}

#[test]
fn feature_gates_accept_all_alpha_and_all_beta() {
    let config = parse(&["--feature-gates=AllAlpha=true,CELOmitFunction=false"]).expect("valid");
    assert!(!config.feature_gates.enabled(FeatureGate::CelOmitFunction));
    assert!(
        config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionEvents)
    );
    assert!(
        config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionMetrics)
    );
    let config = parse(&["-feature-gates", "AllBeta=false,AllAlpha=false"]).expect("valid");
    for gate in FeatureGate::ALL {
        assert!(!config.feature_gates.enabled(gate), "{gate}");
    }
}

/// The arguments of upstream v0.9.4's `helm/templates/deployment.yaml` rendered with its
/// `values.yaml`, after the kubelet expanded the `$(KRO_*)` references from the container's env.
const UPSTREAM_CHART_DEFAULT_ARGS: [&str; 50] = [
    "--metrics-bind-address",
    ":8078",
    "--health-probe-bind-address",
    ":8079",
    "--resource-graph-definition-concurrent-reconciles",
    "1",
    "--graph-revision-concurrent-reconciles",
    "1",
    "--dynamic-controller-concurrent-reconciles",
    "1",
    "--zap-log-level",
    "info",
    "--zap-encoder",
    "console",
    "--zap-devel=false",
    "--graceful-shutdown-timeout",
    "60s",
    "--instance-requeue-interval",
    "3s",
    "--dynamic-controller-default-resync-period",
    "36000",
    "--dynamic-controller-default-queue-max-retries",
    "20",
    "--dynamic-controller-rate-limiter-min-delay",
    "200ms",
    "--dynamic-controller-rate-limiter-max-delay",
    "1000s",
    "--client-qps",
    "100",
    "--client-burst",
    "150",
    "--dynamic-controller-rate-limiter-rate-limit",
    "10",
    "--dynamic-controller-rate-limiter-burst-limit",
    "100",
    "--rgd-max-collection-size",
    "1000",
    "--rgd-max-collection-dimension-size",
    "10",
    "--rgd-max-graph-revisions",
    "5",
    "--rgd-progress-requeue-delay",
    "3s",
    "--leader-election-lease-duration",
    "15s",
    "--leader-election-renew-deadline",
    "10s",
    "--leader-election-retry-period",
    "2s",
    "--leader-elect",
];

/// The container environment upstream's chart renders with its default values.
const UPSTREAM_CHART_DEFAULT_ENV: [(&str, &str); 25] = [
    ("KRO_METRICS_BIND_ADDRESS", ":8078"),
    ("KRO_HEALTH_PROBE_BIND_ADDRESS", ":8079"),
    ("KRO_RESOURCE_GROUP_CONCURRENT_RECONCILES", "1"),
    ("KRO_GRAPH_REVISION_CONCURRENT_RECONCILES", "1"),
    ("KRO_DYNAMIC_CONTROLLER_CONCURRENT_RECONCILES", "1"),
    ("KRO_LOG_LEVEL", "info"),
    ("KRO_LOG_ENCODER", "console"),
    ("KRO_LOG_DEVELOPMENT", "false"),
    ("KRO_DYNAMIC_CONTROLLER_DEFAULT_RESYNC_PERIOD", "36000"),
    ("KRO_DYNAMIC_CONTROLLER_DEFAULT_QUEUE_MAX_RETRIES", "20"),
    ("KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_MIN_DELAY", "200ms"),
    ("KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_MAX_DELAY", "1000s"),
    ("KRO_GRACEFUL_SHUTDOWN_TIMEOUT", "60s"),
    ("KRO_INSTANCE_REQUEUE_INTERVAL", "3s"),
    ("KRO_CLIENT_QPS", "100"),
    ("KRO_CLIENT_BURST", "150"),
    ("KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_RATE_LIMIT", "10"),
    ("KRO_DYNAMIC_CONTROLLER_RATE_LIMITER_BURST_LIMIT", "100"),
    ("KRO_RGD_MAX_COLLECTION_SIZE", "1000"),
    ("KRO_RGD_MAX_COLLECTION_DIMENSION_SIZE", "10"),
    ("KRO_RGD_MAX_GRAPH_REVISIONS", "5"),
    ("KRO_RGD_PROGRESS_REQUEUE_DELAY", "3s"),
    ("KRO_LEADER_ELECTION_LEASE_DURATION", "15s"),
    ("KRO_LEADER_ELECTION_RENEW_DEADLINE", "10s"),
    ("KRO_LEADER_ELECTION_RETRY_PERIOD", "2s"),
];

#[test]
fn upstream_charts_default_arguments_parse() {
    let config = parse(&UPSTREAM_CHART_DEFAULT_ARGS).expect("upstream's chart arguments");
    assert!(config.leader_elect);
    assert!(!config.zap_devel);
    assert_eq!(config.log_level, Some(LogLevel::Info));
    assert_eq!(config.log_format, Some(LogFormat::Text));
    assert_eq!(config.graph_revision_concurrent_reconciles, 1);
    assert_eq!(config.dynamic_controller_default_queue_max_retries, 20);
    assert_eq!(config.dynamic_controller_rate_limiter_rate_limit, 10);
    assert_eq!(config.dynamic_controller_rate_limiter_burst_limit, 100);
    assert_eq!(
        config.dynamic_controller_default_resync_period,
        Duration::from_secs(36_000)
    );
    assert_eq!(
        config.metrics_bind_address,
        BindAddress::Listen("0.0.0.0:8078".parse().expect("addr"))
    );
}

#[test]
fn upstream_charts_optional_arguments_parse() {
    let mut args = UPSTREAM_CHART_DEFAULT_ARGS.to_vec();
    args.insert(0, "--allow-crd-deletion");
    args.extend([
        "--leader-election-namespace",
        "kro-system",
        "--enable-controller-warmup",
        "--feature-gates",
        "CELOmitFunction=true,InstanceConditionEvents=false",
        "--pprof-bind-address",
        ":6060",
    ]);
    let config = parse(&args).expect("upstream's chart arguments with every option on");
    assert!(config.allow_crd_deletion);
    assert!(config.enable_controller_warmup);
    assert_eq!(config.leader_election_namespace, "kro-system");
    assert!(config.feature_gates.enabled(FeatureGate::CelOmitFunction));
}

#[test]
fn the_binary_starts_with_upstreams_chart_arguments_and_environment() {
    let missing = std::env::temp_dir().join("kro-operator-no-such-kubeconfig");
    let output = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .args(UPSTREAM_CHART_DEFAULT_ARGS)
        .args([
            "--metrics-bind-address=127.0.0.1:0",
            "--health-probe-bind-address=127.0.0.1:0",
        ])
        .arg(format!("-kubeconfig={}", missing.display()))
        .envs(UPSTREAM_CHART_DEFAULT_ENV)
        .env_remove("RUST_LOG")
        .output()
        .expect("runs the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Past flag parsing (exit code 2) and logging set-up: it stops at the missing kubeconfig.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("starting kro-operator"), "{stderr}");
    assert!(stderr.contains("does not serve pprof"), "{stderr}");
}
