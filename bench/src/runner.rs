//! One measurement: a fresh control plane, one controller, one scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::cluster::{Cluster, ClusterError, Progress, api_resource, rgd_resource};
use crate::controller::{ControllerError, ControllerSpec, RunningController};
use crate::procstat::ProcSample;
use crate::report::ControllerRun;
use crate::scenario::{
    INSTANCE_GROUP, INSTANCE_NAMESPACE, INSTANCE_VERSION, NOISE_CONFIGMAPS, NOISE_CRDS, Scenario,
    Workload, noise_configmap, noise_crd,
};
use crate::stats::{percentile, round3};
use crate::testenv::{ControlPlane, TestenvError};

/// Timing knobs of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the controller runs before the RGD is installed (start-up traffic settles).
    pub settle: Duration,
    /// Limit for the RGD to become Active.
    pub rgd_timeout: Duration,
    /// Limit for all instances to become ACTIVE.
    pub converge_timeout: Duration,
    /// The quiet window after convergence.
    pub quiet: Duration,
    /// Creates in flight at once.
    pub create_parallelism: usize,
}

/// Why a measurement failed (a controller that does not converge is a result, not an error).
#[derive(Debug, Error)]
pub enum RunError {
    /// The control plane.
    #[error(transparent)]
    Testenv(#[from] TestenvError),
    /// The controller process.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// The driver's API calls.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

fn mib(kib: u64) -> f64 {
    round3(kib as f64 / 1024.0)
}

/// Fills the cluster with objects no kro controller should care about.
async fn add_noise(cluster: &Cluster) -> Result<(), ClusterError> {
    let crd = api_resource(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    cluster
        .create_many(&crd, None, (0..NOISE_CRDS).map(noise_crd).collect(), 8)
        .await?;
    let configmap = api_resource("", "v1", "ConfigMap", "configmaps");
    cluster
        .create_many(
            &configmap,
            Some(INSTANCE_NAMESPACE),
            (0..NOISE_CONFIGMAPS).map(noise_configmap).collect(),
            32,
        )
        .await?;
    Ok(())
}

/// Runs `scenario` with `spec` on a fresh control plane under `root`, logging the controller to
/// `log_dir`.
///
/// # Errors
/// [`RunError`] when the control plane, the controller process or the driver fails.
pub async fn measure(
    root: &Path,
    spec: &ControllerSpec,
    scenario: Scenario,
    timing: Timing,
    log_dir: &Path,
) -> Result<ControllerRun, RunError> {
    let plane = ControlPlane::start(root)?;
    let result = measure_on(&plane, spec, scenario, timing, log_dir).await;
    plane.stop()?;
    result
}

async fn measure_on(
    plane: &ControlPlane,
    spec: &ControllerSpec,
    scenario: Scenario,
    timing: Timing,
    log_dir: &Path,
) -> Result<ControllerRun, RunError> {
    let cluster = Cluster::connect(&plane.kubeconfig).await?;
    if scenario.workload == Workload::IdleNoise {
        add_noise(&cluster).await?;
    }
    if let Some(dir) = &spec.crd_dir {
        let dir = dir.display().to_string();
        plane.kubectl(&["apply", "--server-side", "-f", &dir])?;
    }
    let log: PathBuf = log_dir.join(format!(
        "{}-{}.log",
        spec.name,
        scenario.to_string().replace(':', "-")
    ));
    let mut controller = RunningController::start(spec, &plane.kubeconfig, &log)?;
    let result = drive(&cluster, &mut controller, scenario, timing).await;
    controller.stop(Duration::from_secs(20)).await;
    result.map(|mut run| {
        run.controller.clone_from(&spec.name);
        run
    })
}

async fn drive(
    cluster: &Cluster,
    controller: &mut RunningController,
    scenario: Scenario,
    timing: Timing,
) -> Result<ControllerRun, RunError> {
    tokio::time::sleep(timing.settle).await;
    let idle = controller.sample()?;
    let workload = scenario.workload;

    let before = cluster.scrape().await?;
    cluster.reset_tally();
    cluster
        .create(&rgd_resource(), None, workload.rgd())
        .await?;
    let crd_name = format!("{}.{INSTANCE_GROUP}", workload.plural());
    cluster
        .wait_rgd_ready(workload.rgd_name(), &crd_name, timing.rgd_timeout)
        .await?;

    let instance = api_resource(
        INSTANCE_GROUP,
        INSTANCE_VERSION,
        workload.kind(),
        workload.plural(),
    );
    let (progress, watch) = cluster.watch_progress(&instance, scenario.instances);
    let manifests = (0..scenario.instances)
        .map(|i| workload.instance(i))
        .collect();
    let start = Instant::now();
    let created = cluster
        .create_many(
            &instance,
            Some(INSTANCE_NAMESPACE),
            manifests,
            timing.create_parallelism,
        )
        .await?;
    let deadline = start + timing.converge_timeout;
    let count = |pick: fn(&Progress) -> usize| progress.lock().map(|p| pick(&p)).unwrap_or(0);
    let converged = wait_until(controller, deadline, || {
        count(|p| p.active.len()) >= scenario.instances
    })
    .await?;
    let converged_at = Instant::now();
    let busy = controller.sample()?;
    // The request window runs on until every instance is also Ready, so passes a controller makes
    // after reporting ACTIVE are counted as convergence work and not as steady-state writes.
    let all_ready = converged
        && wait_until(controller, deadline, || {
            count(|p| p.ready.len()) >= scenario.instances
        })
        .await?;
    watch.abort();
    let progress: Progress = progress.lock().map(|p| p.clone()).unwrap_or_default();
    let after = cluster.scrape().await?;
    let requests = after
        .since(&before)
        .minus(&cluster.tally())
        .controller_facing();

    tokio::time::sleep(timing.settle).await;
    let quiet_start = cluster.scrape().await?;
    let quiet_cpu = controller.sample()?;
    tokio::time::sleep(timing.quiet).await;
    let quiet_end = cluster.scrape().await?;
    let steady = controller.sample()?;
    let quiet_writes = quiet_end.since(&quiet_start).controller_facing();

    Ok(summarise(Summary {
        converged,
        start,
        converged_at,
        created: &created,
        progress: &progress,
        all_ready,
        samples: [idle, busy, quiet_cpu, steady],
        requests_by_verb: requests.by_verb(),
        steady_writes_by_resource: quiet_writes.writes_by_resource(),
        quiet: timing.quiet,
    }))
}

/// Polls `done` every 100 ms until it holds (true) or `deadline` passes (false), failing if the
/// controller exits meanwhile.
async fn wait_until(
    controller: &mut RunningController,
    deadline: Instant,
    done: impl Fn() -> bool,
) -> Result<bool, RunError> {
    loop {
        if done() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        controller.check_alive()?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Summary<'a> {
    converged: bool,
    start: Instant,
    converged_at: Instant,
    created: &'a BTreeMap<String, Instant>,
    progress: &'a Progress,
    all_ready: bool,
    samples: [ProcSample; 4],
    requests_by_verb: BTreeMap<String, u64>,
    steady_writes_by_resource: BTreeMap<String, u64>,
    quiet: Duration,
}

fn summarise(summary: Summary<'_>) -> ControllerRun {
    let ticks = crate::procstat::clock_ticks_per_second() as f64;
    let [idle, busy, quiet_start, steady] = summary.samples;
    let active = &summary.progress.active;
    let latencies: Vec<f64> = summary
        .progress
        .active
        .iter()
        .filter_map(|(name, at)| {
            Some(
                at.saturating_duration_since(*summary.created.get(name)?)
                    .as_secs_f64(),
            )
        })
        .collect();
    let since_start = |at: &Instant| at.saturating_duration_since(summary.start).as_secs_f64();
    let ready_wall = summary
        .progress
        .ready
        .values()
        .map(since_start)
        .fold(0.0, f64::max);
    let mut times: Vec<f64> = active.values().map(since_start).collect();
    times.sort_by(f64::total_cmp);
    let active_over_time = times
        .iter()
        .enumerate()
        .map(|(i, t)| (round3(*t), i + 1))
        .collect();
    let wall = if summary.converged {
        times.last().copied().unwrap_or(0.0)
    } else {
        summary
            .converged_at
            .saturating_duration_since(summary.start)
            .as_secs_f64()
    };
    let quiet_seconds = summary.quiet.as_secs();
    let requests_total = summary.requests_by_verb.values().sum();
    ControllerRun {
        controller: String::new(),
        converged: summary.converged,
        active: active.len(),
        all_ready: summary.all_ready,
        ready_wall_seconds: summary.all_ready.then(|| round3(ready_wall)),
        wall_seconds: round3(wall),
        p50_seconds: percentile(&latencies, 50.0).map(round3),
        p99_seconds: percentile(&latencies, 99.0).map(round3),
        idle_rss_mib: mib(idle.rss_kib),
        peak_rss_mib: mib(steady.peak_rss_kib),
        steady_rss_mib: mib(steady.rss_kib),
        cpu_seconds: round3(busy.cpu_ticks.saturating_sub(idle.cpu_ticks) as f64 / ticks),
        steady_cpu_cores: round3(
            steady.cpu_ticks.saturating_sub(quiet_start.cpu_ticks) as f64
                / ticks
                / summary.quiet.as_secs_f64().max(1.0),
        ),
        requests_total,
        requests_by_verb: summary.requests_by_verb,
        steady_writes: summary.steady_writes_by_resource.values().sum(),
        steady_writes_by_resource: summary.steady_writes_by_resource,
        quiet_seconds,
        active_over_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_computes_latencies_and_series() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let created = BTreeMap::from([
            ("a".to_owned(), at(0)),
            ("b".to_owned(), at(100)),
            ("c".to_owned(), at(200)),
        ]);
        let active = BTreeMap::from([
            ("a".to_owned(), at(1000)),
            ("b".to_owned(), at(600)),
            ("c".to_owned(), at(2200)),
        ]);
        let ready = BTreeMap::from([
            ("a".to_owned(), at(4000)),
            ("b".to_owned(), at(3600)),
            ("c".to_owned(), at(5200)),
        ]);
        let progress = Progress { active, ready };
        let sample = |rss, ticks| ProcSample {
            rss_kib: rss,
            peak_rss_kib: 4096,
            cpu_ticks: ticks,
        };
        let run = summarise(Summary {
            converged: true,
            start,
            converged_at: at(2300),
            created: &created,
            progress: &progress,
            all_ready: true,
            samples: [
                sample(1024, 0),
                sample(2048, 100),
                sample(2048, 130),
                sample(3072, 130),
            ],
            requests_by_verb: BTreeMap::from([("APPLY".to_owned(), 9), ("GET".to_owned(), 1)]),
            steady_writes_by_resource: BTreeMap::new(),
            quiet: Duration::from_secs(60),
        });
        assert_eq!(run.wall_seconds, 2.2);
        assert_eq!(run.ready_wall_seconds, Some(5.2));
        assert_eq!(run.p50_seconds, Some(1.0));
        assert_eq!(run.p99_seconds, Some(2.0));
        assert_eq!(run.active_over_time, vec![(0.6, 1), (1.0, 2), (2.2, 3)]);
        assert_eq!(
            (run.idle_rss_mib, run.steady_rss_mib, run.peak_rss_mib),
            (1.0, 3.0, 4.0)
        );
        assert_eq!(run.requests_total, 10);
        assert_eq!(run.steady_cpu_cores, 0.0);
        assert!(run.cpu_seconds > 0.0);
    }
}
