//! Results of a benchmark run: one record per (scenario, controller), the side-by-side comparison
//! with ratios, and its Markdown rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::{ratio, round3};

/// The controller that ratios are taken against.
pub const BASELINE: &str = "upstream-kro";

/// What one controller did in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerRun {
    /// `upstream-kro` or `kro-rs`.
    pub controller: String,
    /// Whether every instance reached ACTIVE before the timeout.
    pub converged: bool,
    /// How many instances reached ACTIVE.
    pub active: usize,
    /// Whether every instance also reported condition Ready True before the timeout.
    pub all_ready: bool,
    /// Seconds from the first create to the last instance reporting Ready (when all did).
    pub ready_wall_seconds: Option<f64>,
    /// Seconds from the first create to the last instance reaching ACTIVE (to the timeout if it
    /// did not converge).
    pub wall_seconds: f64,
    /// Median seconds from an instance's create to its ACTIVE.
    pub p50_seconds: Option<f64>,
    /// 99th percentile of the same.
    pub p99_seconds: Option<f64>,
    /// Resident memory after start-up, before the RGD, MiB.
    pub idle_rss_mib: f64,
    /// Peak resident memory over the whole run (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// Resident memory at the end of the quiet window, MiB.
    pub steady_rss_mib: f64,
    /// CPU seconds (user + system) from installing the RGD to all Ready.
    pub cpu_seconds: f64,
    /// CPU cores used on average during the quiet window.
    pub steady_cpu_cores: f64,
    /// Controller API requests from installing the RGD to all Ready, per verb (WATCH excluded).
    pub requests_by_verb: BTreeMap<String, u64>,
    /// Sum of `requests_by_verb`.
    pub requests_total: u64,
    /// Writes to controller-facing resources during the quiet window.
    pub steady_writes: u64,
    /// The same, per resource.
    pub steady_writes_by_resource: BTreeMap<String, u64>,
    /// Length of the quiet window, seconds.
    pub quiet_seconds: u64,
    /// `(seconds since first create, instances ACTIVE)` at each change, for the plot.
    pub active_over_time: Vec<(f64, usize)>,
}

/// Both controllers in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `workload:N`.
    pub scenario: String,
    /// How many instances.
    pub instances: usize,
    /// One run per controller, baseline first.
    pub runs: Vec<ControllerRun>,
    /// `candidate / baseline` per metric, for each non-baseline controller.
    pub ratios: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Comparison {
    /// Builds the comparison and its ratios.
    #[must_use]
    pub fn new(scenario: String, instances: usize, runs: Vec<ControllerRun>) -> Self {
        let mut ratios = BTreeMap::new();
        if let Some(base) = runs.iter().find(|run| run.controller == BASELINE) {
            for run in runs.iter().filter(|run| run.controller != BASELINE) {
                ratios.insert(run.controller.clone(), run_ratios(run, base));
            }
        }
        Self {
            scenario,
            instances,
            runs,
            ratios,
        }
    }
}

fn run_ratios(run: &ControllerRun, base: &ControllerRun) -> BTreeMap<String, f64> {
    let pairs = [
        (
            "wall_seconds",
            Some(run.wall_seconds),
            Some(base.wall_seconds),
        ),
        (
            "ready_wall_seconds",
            run.ready_wall_seconds,
            base.ready_wall_seconds,
        ),
        ("p50_seconds", run.p50_seconds, base.p50_seconds),
        ("p99_seconds", run.p99_seconds, base.p99_seconds),
        (
            "peak_rss_mib",
            Some(run.peak_rss_mib),
            Some(base.peak_rss_mib),
        ),
        (
            "steady_rss_mib",
            Some(run.steady_rss_mib),
            Some(base.steady_rss_mib),
        ),
        ("cpu_seconds", Some(run.cpu_seconds), Some(base.cpu_seconds)),
        (
            "requests_total",
            Some(run.requests_total as f64),
            Some(base.requests_total as f64),
        ),
    ];
    pairs
        .into_iter()
        .filter_map(|(name, candidate, baseline)| {
            ratio(candidate?, baseline?).map(|value| (name.to_owned(), round3(value)))
        })
        .collect()
}

/// A whole benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Where and how it ran (versions, core count), so a figure is never read without context.
    pub environment: BTreeMap<String, String>,
    /// One comparison per scenario, in the order run.
    pub comparisons: Vec<Comparison>,
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

impl Report {
    /// The Markdown table: one row per (scenario, controller), ratios on the candidate's row.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| scenario | controller | all ACTIVE (s) | all Ready (s) | p50 (s) | p99 (s) | peak RSS (MiB) | steady RSS (MiB) | CPU (s) | steady CPU (cores) | API requests | steady writes |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for comparison in &self.comparisons {
            for run in &comparison.runs {
                let ratios = comparison.ratios.get(&run.controller);
                let with_ratio = |text: String, key: &str| match ratios.and_then(|r| r.get(key)) {
                    Some(value) => format!("{text} (×{value:.2})"),
                    None => text,
                };
                let wall = if run.converged {
                    format!("{:.1}", run.wall_seconds)
                } else {
                    format!("timeout ({}/{})", run.active, comparison.instances)
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} |",
                    comparison.scenario,
                    run.controller,
                    with_ratio(wall, "wall_seconds"),
                    with_ratio(opt(run.ready_wall_seconds), "ready_wall_seconds"),
                    with_ratio(opt(run.p50_seconds), "p50_seconds"),
                    with_ratio(opt(run.p99_seconds), "p99_seconds"),
                    with_ratio(format!("{:.1}", run.peak_rss_mib), "peak_rss_mib"),
                    with_ratio(format!("{:.1}", run.steady_rss_mib), "steady_rss_mib"),
                    with_ratio(format!("{:.1}", run.cpu_seconds), "cpu_seconds"),
                    run.steady_cpu_cores,
                    with_ratio(run.requests_total.to_string(), "requests_total"),
                    run.steady_writes,
                );
            }
        }
        out.push_str("\nAPI requests by verb (install RGD → all Ready; WATCH not counted):\n\n");
        out.push_str("| scenario | controller | requests by verb |\n|---|---|---|\n");
        for comparison in &self.comparisons {
            for run in &comparison.runs {
                let verbs: Vec<String> = run
                    .requests_by_verb
                    .iter()
                    .map(|(verb, count)| format!("{verb} {count}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    comparison.scenario,
                    run.controller,
                    verbs.join(", ")
                );
            }
        }
        out.push_str("\nEnvironment: ");
        let env: Vec<String> = self
            .environment
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        out.push_str(&env.join("; "));
        out.push('\n');
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn run(controller: &str, wall: f64, rss: f64, requests: u64) -> ControllerRun {
        ControllerRun {
            controller: controller.to_owned(),
            converged: true,
            active: 10,
            all_ready: true,
            ready_wall_seconds: Some(wall + 3.0),
            wall_seconds: wall,
            p50_seconds: Some(wall / 2.0),
            p99_seconds: Some(wall),
            idle_rss_mib: rss / 2.0,
            peak_rss_mib: rss,
            steady_rss_mib: rss,
            cpu_seconds: 1.0,
            steady_cpu_cores: 0.01,
            requests_by_verb: BTreeMap::from([("APPLY".to_owned(), requests)]),
            requests_total: requests,
            steady_writes: 0,
            steady_writes_by_resource: BTreeMap::new(),
            quiet_seconds: 60,
            active_over_time: vec![(0.5, 1), (wall, 10)],
        }
    }

    #[test]
    fn ratios_are_candidate_over_baseline() {
        let comparison = Comparison::new(
            "chain:10".into(),
            10,
            vec![
                run(BASELINE, 30.0, 80.0, 100),
                run("kro-rs", 10.0, 20.0, 50),
            ],
        );
        let ratios = &comparison.ratios["kro-rs"];
        assert_eq!(ratios["wall_seconds"], 0.333);
        assert_eq!(ratios["peak_rss_mib"], 0.25);
        assert_eq!(ratios["requests_total"], 0.5);
        assert!(!comparison.ratios.contains_key(BASELINE));
    }

    #[test]
    fn markdown_has_one_row_per_run_and_is_stable() {
        let mut slow = run("kro-rs", 10.0, 20.0, 50);
        slow.converged = false;
        slow.active = 7;
        let report = Report {
            environment: BTreeMap::from([("cores".to_owned(), "2".to_owned())]),
            comparisons: vec![Comparison::new(
                "chain:10".into(),
                10,
                vec![run(BASELINE, 30.0, 80.0, 100), slow],
            )],
        };
        let markdown = report.to_markdown();
        assert!(
            markdown.contains("| chain:10 | upstream-kro | 30.0 | 33.00 | 15.00 | 30.00 | 80.0 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| chain:10 | kro-rs | timeout (7/10) (×0.33) |"),
            "{markdown}"
        );
        assert!(markdown.contains("| chain:10 | kro-rs | APPLY 50 |"));
        assert!(markdown.ends_with("Environment: cores = 2\n"));
        assert_eq!(markdown, report.to_markdown());
        let json = serde_json::to_string(&report).expect("test setup");
        let back: Report = serde_json::from_str(&json).expect("test setup");
        assert_eq!(back, report);
    }
}
