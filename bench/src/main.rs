//! `kro-bench`: runs the side-by-side benchmark and writes `latest.json`, `latest.md` and
//! `active-over-time.svg`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use kro_bench::controller::ControllerSpec;
use kro_bench::report::{BASELINE, Comparison, Report};
use kro_bench::runner::{Timing, measure};
use kro_bench::scenario::Scenario;
use kro_bench::{plot, report};

/// Benchmarks kro-rs against upstream kro, one fresh control plane per measurement.
#[derive(Debug, Parser)]
#[command(subcommand_negates_reqs = true)]
struct Args {
    /// Instead of a benchmark, another tool.
    #[command(subcommand)]
    command: Option<Tool>,
    /// The repository root (holds scripts/testenv-up.sh).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Upstream kro's controller binary.
    #[arg(long)]
    upstream: Option<PathBuf>,
    /// Directory of upstream kro's CRD manifests (applied before it starts).
    #[arg(long, requires = "upstream")]
    upstream_crds: Option<PathBuf>,
    /// kro-rs's operator binary.
    #[arg(long)]
    kro_rs: Option<PathBuf>,
    /// Scenarios, in order: `three-resource:N`, `chain:N`, `idle-noise`.
    #[arg(long = "scenario", required = true)]
    scenarios: Vec<Scenario>,
    /// Seconds of the quiet window after convergence.
    #[arg(long, default_value_t = 60)]
    quiet_seconds: u64,
    /// Seconds the controller runs before the RGD is installed.
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// Seconds allowed for all instances to become ACTIVE.
    #[arg(long, default_value_t = 900)]
    timeout_seconds: u64,
    /// Creates in flight at once.
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// Where latest.json, latest.md and active-over-time.svg go.
    #[arg(long, default_value = "bench/results")]
    out_dir: PathBuf,
    /// Where controller logs go (default: a directory under the system temp dir).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// `key=value` facts recorded in the report's environment (versions, machine).
    #[arg(long = "note")]
    notes: Vec<String>,
    /// Exit non-zero unless every controller converged in every scenario.
    #[arg(long)]
    require_convergence: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Compares upstream kro and kro-rs on the same inputs (`bash bench/differential.sh`).
    Differential(kro_bench::differential::cli::DifferentialArgs),
}

fn write_outputs(out_dir: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let json = serde_json::to_string_pretty(report)? + "\n";
    std::fs::write(out_dir.join("latest.json"), json)?;
    let markdown = format!(
        "# kro-rs vs upstream kro\n\nRatios in parentheses are kro-rs / upstream-kro (lower is better).\n\n{}\n![ACTIVE instances over time](active-over-time.svg)\n",
        report.to_markdown()
    );
    std::fs::write(out_dir.join("latest.md"), markdown)?;
    std::fs::write(out_dir.join("active-over-time.svg"), plot::render(report))?;
    Ok(())
}

/// The controllers to measure, upstream kro (the baseline) first.
fn controller_specs(args: &Args) -> anyhow::Result<Vec<ControllerSpec>> {
    let mut controllers = Vec::new();
    if let Some(binary) = &args.upstream {
        controllers.push(ControllerSpec {
            name: BASELINE.into(),
            binary: binary.clone(),
            crd_dir: args.upstream_crds.clone(),
            args: Vec::new(),
            env: Vec::new(),
        });
    }
    if let Some(binary) = &args.kro_rs {
        controllers.push(ControllerSpec {
            name: "kro-rs".into(),
            binary: binary.clone(),
            crd_dir: None,
            args: Vec::new(),
            env: Vec::new(),
        });
    }
    if controllers.is_empty() {
        bail!("nothing to measure: pass --upstream and/or --kro-rs");
    }
    Ok(controllers)
}

/// The facts the report records about its run: the `--note`s, the cores and the settings
/// that shape the numbers.
fn report_environment(args: &Args) -> BTreeMap<String, String> {
    let mut environment: BTreeMap<String, String> = args
        .notes
        .iter()
        .filter_map(|note| {
            note.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    environment.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_default(),
    );
    environment.insert("quiet window (s)".into(), args.quiet_seconds.to_string());
    environment.insert("creates in flight".into(), args.parallel.to_string());
    environment
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    if let Some(Tool::Differential(differential)) = args.command {
        return kro_bench::differential::cli::main(differential).await;
    }
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("repository root {}", args.root.display()))?;
    let controllers = controller_specs(&args)?;
    let log_dir = args.log_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kro-bench-logs-{}", std::process::id()))
    });
    std::fs::create_dir_all(&log_dir)?;
    let timing = Timing {
        settle: Duration::from_secs(args.settle_seconds),
        rgd_timeout: Duration::from_secs(120),
        converge_timeout: Duration::from_secs(args.timeout_seconds),
        quiet: Duration::from_secs(args.quiet_seconds),
        create_parallelism: args.parallel,
    };
    let environment = report_environment(&args);
    let mut report = Report {
        environment,
        comparisons: Vec::new(),
    };
    let mut failures = Vec::new();
    for scenario in &args.scenarios {
        let mut runs = Vec::new();
        for spec in &controllers {
            eprintln!("kro-bench: {scenario} with {} ...", spec.name);
            let run = measure(&root, spec, *scenario, timing, &log_dir)
                .await
                .with_context(|| {
                    format!(
                        "{scenario} with {} (logs in {})",
                        spec.name,
                        log_dir.display()
                    )
                })?;
            eprintln!(
                "kro-bench: {scenario} with {}: converged={} active={} wall={:.1}s peak={:.1}MiB requests={}",
                spec.name,
                run.converged,
                run.active,
                run.wall_seconds,
                run.peak_rss_mib,
                run.requests_total
            );
            if !run.converged {
                failures.push(format!(
                    "{scenario}: {} reached ACTIVE on {}/{} instances",
                    spec.name, run.active, scenario.instances
                ));
            }
            runs.push(run);
        }
        report.comparisons.push(Comparison::new(
            scenario.to_string(),
            scenario.instances,
            runs,
        ));
        // Rewritten after every scenario so a long run that is interrupted still leaves its results.
        write_outputs(&args.out_dir, &report)?;
    }
    print!("{}", report::Report::to_markdown(&report));
    if args.require_convergence && !failures.is_empty() {
        bail!("not converged:\n{}", failures.join("\n"));
    }
    Ok(std::process::ExitCode::SUCCESS)
}
