//! `kro-operator`: parses flags, sets up logging, the Kubernetes client, the metrics and health
//! servers and leader election, then supervises every service until SIGTERM/SIGINT.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use kro_api::ErrorChain;
use kro_operator::client::{RateLimits, build_client};
use kro_operator::config::OperatorConfig;
use kro_operator::controllers::RgdControllerService;
use kro_operator::logging::{LogOptions, init_logging};
use kro_operator::metrics::Metrics;
use kro_operator::operator::Operator;
use kro_operator::shutdown::cancel_on_signal;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let config = match OperatorConfig::try_from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(error) => error.exit(),
    };
    if let Err(error) = init_logging(&LogOptions::from_config(&config)) {
        eprintln!("kro-operator: {}", ErrorChain::new(&error));
        return ExitCode::FAILURE;
    }
    // Deeply nested CEL is evaluated recursively; kro-cel rejects ASTs deeper than 100 levels,
    // which a debug build can still need a few MiB of stack for. Untouched stack costs no memory.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %ErrorChain::new(error.as_ref()), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// Says which upstream flags this build accepts without acting on them.
fn log_accepted_only_flags(config: &OperatorConfig) {
    #[cfg(not(feature = "pprof"))]
    tracing::info!(
        pprof_bind_address = %config.pprof_bind_address,
        "this build does not serve pprof (build with the `pprof` feature); --pprof-bind-address is accepted and ignored"
    );
    if let Some(level) = config.zap_stacktrace_level {
        tracing::info!(
            ?level,
            "--zap-stacktrace-level is accepted; Rust log events carry no stack traces"
        );
    }
    if config.graph_revision_concurrent_reconciles != 1 {
        tracing::info!(
            graph_revision_concurrent_reconciles = config.graph_revision_concurrent_reconciles,
            "GraphRevisions are issued inside the RGD reconcile; their parallelism is --resource-graph-definition-concurrent-reconciles"
        );
    }
    if config.enable_controller_warmup && !config.leader_elect {
        tracing::info!("--enable-controller-warmup has no effect without --leader-elect");
    }
}

/// Builds the infrastructure services and runs them; the reconcile controllers are added with
/// `operator.add_service(...)`, built from `operator.context()`.
async fn run(config: OperatorConfig) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), feature_gates = %config.feature_gates, "starting kro-operator");
    log_accepted_only_flags(&config);
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(error) = cancel_on_signal(shutdown).await {
                tracing::error!(%error, "cannot install signal handlers");
            }
        }
    });

    let metrics = Arc::new(Metrics::new());
    let limits = RateLimits {
        qps: config.client_qps,
        burst: config.client_burst,
    };
    let client = build_client(
        config.kubeconfig.as_deref(),
        limits,
        Some(metrics.client.clone()),
    )
    .await?;
    let mut operator = Operator::prepare_with_metrics(config, client, metrics).await?;
    let context = operator.context().clone();
    let synced = context.readiness.register("rgd-caches-synced");
    operator.add_service(Box::new(RgdControllerService::new(context, synced)));
    tracing::info!(services = ?operator.service_names(), "running");
    operator
        .run(shutdown)
        .await
        .context("kro-operator stopped with an error")
}
