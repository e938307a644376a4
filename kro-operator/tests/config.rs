//! Flag names, defaults, aliases, validation and environment variables of `OperatorConfig`.

use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use kro_operator::config::{BindAddress, LogFormat, LogLevel, OperatorConfig};
use kro_operator::features::FeatureGate;

fn parse(args: &[&str]) -> Result<OperatorConfig, clap::Error> {
    OperatorConfig::try_from_args(std::iter::once("kro-operator").chain(args.iter().copied()))
}

fn secs(value: u64) -> Duration {
    Duration::from_secs(value)
}

#[test]
fn defaults_match_upstream() {
    let config = parse(&[]).expect("defaults are valid");
    assert_eq!(
        config.metrics_bind_address,
        BindAddress::Listen("0.0.0.0:8078".parse().expect("addr"))
    );
    assert_eq!(
        config.health_probe_bind_address,
        BindAddress::Listen("0.0.0.0:8079".parse().expect("addr"))
    );
    assert!(!config.leader_elect);
    assert_eq!(config.leader_election_namespace, "");
    assert_eq!(config.leader_election_lease_duration, secs(15));
    assert_eq!(config.leader_election_renew_deadline, secs(10));
    assert_eq!(config.leader_election_retry_period, secs(2));
    assert!(!config.allow_crd_deletion);
    assert_eq!(config.graceful_shutdown_timeout, secs(60));
    assert_eq!(config.resource_graph_definition_concurrent_reconciles, 1);
    assert_eq!(config.dynamic_controller_concurrent_reconciles, 1);
    assert_eq!(
        config.dynamic_controller_rate_limiter_min_delay,
        Duration::from_millis(200)
    );
    assert_eq!(config.dynamic_controller_rate_limiter_max_delay, secs(1000));
    assert_eq!(config.instance_requeue_interval, secs(3));
    assert_eq!(
        config.dynamic_controller_default_resync_period,
        secs(36_000)
    );
    assert!((config.client_qps - 100.0).abs() < f32::EPSILON);
    assert_eq!(config.client_burst, 150);
    assert_eq!(config.rgd_max_collection_size, 1000);
    assert_eq!(config.rgd_max_collection_dimension_size, 10);
    assert_eq!(config.rgd_max_graph_revisions, 5);
    assert_eq!(config.rgd_progress_requeue_delay, secs(3));
    for gate in FeatureGate::ALL {
        assert!(!config.feature_gates.enabled(gate), "{gate}");
    }
    // zap's development mode is upstream's default: debug for kro, text lines.
    assert_eq!(config.log_level, None);
    assert_eq!(config.log_format, None);
    assert!(config.zap_devel);
    assert_eq!(config.zap_stacktrace_level, None);
    assert_eq!(config.zap_time_encoding, None);
    assert_eq!(config.kubeconfig, None);
    assert_eq!(config.graph_revision_concurrent_reconciles, 1);
    assert_eq!(config.dynamic_controller_default_queue_max_retries, 20);
    assert_eq!(config.dynamic_controller_rate_limiter_rate_limit, 10);
    assert_eq!(config.dynamic_controller_rate_limiter_burst_limit, 100);
    assert!(!config.enable_controller_warmup);
    assert_eq!(
        config.pprof_bind_address,
        BindAddress::Listen("0.0.0.0:6060".parse().expect("addr"))
    );
}

#[test]
fn flags_override_defaults() {
    let config = parse(&[
        "--metrics-bind-address=127.0.0.1:9090",
        "--health-probe-bind-address",
        "0",
        "--leader-elect",
        "--leader-election-namespace=ops",
        "--leader-election-lease-duration=1m",
        "--leader-election-renew-deadline=45s",
        "--leader-election-retry-period=5s",
        "--allow-crd-deletion=true",
        "--graceful-shutdown-timeout=1m30s",
        "--resource-graph-definition-concurrent-reconciles=4",
        "--dynamic-controller-concurrent-reconciles=8",
        "--dynamic-controller-rate-limiter-min-delay=50ms",
        "--dynamic-controller-rate-limiter-max-delay=5m",
        "--instance-requeue-interval=0s",
        "--dynamic-controller-default-resync-period=600",
        "--client-qps=20.5",
        "--client-burst=40",
        "--rgd-max-collection-size=50",
        "--rgd-max-collection-dimension-size=3",
        "--rgd-max-graph-revisions=2",
        "--rgd-progress-requeue-delay=1500ms",
        "--feature-gates=CELOmitFunction=true,InstanceConditionEvents=true",
        "--log-level=debug",
        "--log-format=json",
        "--kubeconfig=/tmp/kubeconfig",
    ])
    .expect("valid flags");
    assert_eq!(
        config.metrics_bind_address,
        BindAddress::Listen("127.0.0.1:9090".parse().expect("addr"))
    );
    assert_eq!(config.health_probe_bind_address, BindAddress::Disabled);
    assert!(config.leader_elect);
    assert_eq!(config.leader_election_namespace, "ops");
    assert_eq!(config.leader_election_lease_duration, secs(60));
    assert!(config.allow_crd_deletion);
    assert_eq!(config.graceful_shutdown_timeout, secs(90));
    assert_eq!(config.resource_graph_definition_concurrent_reconciles, 4);
    assert_eq!(config.dynamic_controller_concurrent_reconciles, 8);
    assert_eq!(
        config.dynamic_controller_rate_limiter_min_delay,
        Duration::from_millis(50)
    );
    assert_eq!(config.dynamic_controller_rate_limiter_max_delay, secs(300));
    assert_eq!(config.instance_requeue_interval, Duration::ZERO);
    assert_eq!(config.dynamic_controller_default_resync_period, secs(600));
    assert!((config.client_qps - 20.5).abs() < f32::EPSILON);
    assert_eq!(config.client_burst, 40);
    assert_eq!(config.rgd_max_graph_revisions, 2);
    assert_eq!(
        config.rgd_progress_requeue_delay,
        Duration::from_millis(1500)
    );
    assert!(config.feature_gates.enabled(FeatureGate::CelOmitFunction));
    assert!(
        config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionEvents)
    );
    assert!(
        !config
            .feature_gates
            .enabled(FeatureGate::InstanceConditionMetrics)
    );
    assert_eq!(config.log_level, Some(LogLevel::Debug));
    assert_eq!(config.log_format, Some(LogFormat::Json));
    assert_eq!(
        config.kubeconfig.as_deref(),
        Some(std::path::Path::new("/tmp/kubeconfig"))
    );
}

#[test]
fn upstream_zap_flags_are_aliases() {
    let config = parse(&["--zap-log-level=2", "--zap-encoder=console"]).expect("valid");
    assert_eq!(config.log_level, Some(LogLevel::Trace));
    assert_eq!(config.log_format, Some(LogFormat::Text));
    let config = parse(&["--zap-log-level", "error", "--zap-encoder", "json"]).expect("valid");
    assert_eq!(config.log_level, Some(LogLevel::Error));
    assert_eq!(config.log_format, Some(LogFormat::Json));
}

#[test]
fn boolean_flags_accept_explicit_false() {
    let config = parse(&["--leader-elect=false", "--allow-crd-deletion", "false"]).expect("valid");
    assert!(!config.leader_elect);
    assert!(!config.allow_crd_deletion);
}

fn error_of(args: &[&str]) -> String {
    parse(args).expect_err("must be rejected").to_string()
}

#[test]
fn unparsable_values_name_the_flag() {
    let message = error_of(&["--instance-requeue-interval=3"]);
    assert!(
        message.contains("--instance-requeue-interval") && message.contains("missing unit"),
        "{message}"
    );
    let message = error_of(&["--feature-gates=Bogus=true"]);
    assert!(
        message.contains("--feature-gates") && message.contains("unknown feature gate `Bogus`"),
        "{message}"
    );
    let message = error_of(&["--metrics-bind-address=8078"]);
    assert!(
        message.contains("--metrics-bind-address") && message.contains("invalid bind address"),
        "{message}"
    );
    let message = error_of(&["--log-level=chatty"]);
    assert!(message.contains("--log-level"), "{message}");
}

#[test]
fn validation_errors_name_the_flag() {
    let cases: [(&[&str], &str); 12] = [
        (
            &["--graph-revision-concurrent-reconciles=0"],
            "--graph-revision-concurrent-reconciles",
        ),
        (
            &["--dynamic-controller-rate-limiter-rate-limit=0"],
            "--dynamic-controller-rate-limiter-rate-limit",
        ),
        (
            &["--dynamic-controller-rate-limiter-burst-limit=0"],
            "--dynamic-controller-rate-limiter-burst-limit",
        ),
        (
            &["--dynamic-controller-concurrent-reconciles=0"],
            "--dynamic-controller-concurrent-reconciles",
        ),
        (
            &["--rgd-max-graph-revisions=0"],
            "--rgd-max-graph-revisions",
        ),
        (&["--client-qps=0"], "--client-qps"),
        (&["--client-burst=0"], "--client-burst"),
        (
            &[
                "--dynamic-controller-rate-limiter-min-delay=2s",
                "--dynamic-controller-rate-limiter-max-delay=1s",
            ],
            "--dynamic-controller-rate-limiter-max-delay (1s) must be at least --dynamic-controller-rate-limiter-min-delay (2s)",
        ),
        (
            &["--leader-election-renew-deadline=20s"],
            "--leader-election-renew-deadline (20s) must be less than --leader-election-lease-duration (15s)",
        ),
        (
            &["--leader-election-retry-period=10s"],
            "--leader-election-retry-period (10s) must be less than --leader-election-renew-deadline (10s)",
        ),
        (
            &["--leader-election-namespace=Not_A_Namespace"],
            "--leader-election-namespace",
        ),
        (
            &[
                "--metrics-bind-address=:9000",
                "--health-probe-bind-address=127.0.0.1:9000",
            ],
            "--health-probe-bind-address",
        ),
    ];
    for (args, expected) in cases {
        let message = error_of(args);
        assert!(
            message.contains(expected),
            "{args:?}: expected `{expected}` in `{message}`"
        );
    }
}

#[test]
fn help_documents_every_flag_in_one_line_with_its_env_var() {
    let command = OperatorConfig::command();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let long = arg.get_long().expect("every option is a long flag");
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(
            !help.is_empty() && !help.contains('\n'),
            "--{long}: help must be one line, got {help:?}"
        );
        let env = arg.get_env().map(|env| env.to_string_lossy().into_owned());
        let expected = format!("KRO_{}", long.replace('-', "_").to_uppercase());
        assert_eq!(env.as_deref(), Some(expected.as_str()), "--{long}");
    }
    let help = OperatorConfig::command().render_help().to_string();
    assert!(
        help.contains("per resource") && !help.contains("not yet enforced"),
        "--client-qps must say what it limits:\n{help}"
    );
}

#[test]
fn environment_variables_are_read() {
    // The variables are set on a child process: the test process's environment stays untouched.
    let output = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .env("KRO_RGD_MAX_GRAPH_REVISIONS", "0")
        .output()
        .expect("runs the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--rgd-max-graph-revisions: 0 is invalid"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .env("KRO_FEATURE_GATES", "Nope=true")
        .arg("--rgd-max-graph-revisions=3")
        .output()
        .expect("runs the binary");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown feature gate `Nope`"), "{stderr}");
}

#[test]
fn command_line_wins_over_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
        .env("KRO_CLIENT_BURST", "0")
        .args(["--client-burst=7", "--rgd-max-graph-revisions=0"])
        .output()
        .expect("runs the binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--rgd-max-graph-revisions"),
        "the burst from the flag is valid: {stderr}"
    );
}
