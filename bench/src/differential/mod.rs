//! The differential harness: upstream kro v0.9.4 and kro-rs, each on its own fresh control plane,
//! get the same inputs step by step; after each step both clusters settle, are captured,
//! normalised and compared. Differences not on the allow-list fail the run, and so do allow-list
//! entries that match nothing (a fixed difference must leave the list too).

pub mod allow;
pub mod cli;
pub mod compare;
pub mod inputs;
pub mod normalize;
pub mod report;
pub mod side;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::join_all;

use crate::controller::ControllerSpec;
use crate::testenv::ControlPlane;
use allow::AllowList;
use inputs::{Phase, Step};
use report::Found;
use side::Side;

/// The environment variable kro-rs's debug build reads for the self-test.
pub const SELF_TEST_ENV: &str = "KRO_DIFFERENTIAL_SELF_TEST";
/// The key the self-test's change must show up under.
pub const SELF_TEST_KEY: &str = "instance.status.conditions[InstanceManaged].message";

/// Differences that come from the inputs, not from either controller, as (key, object) globs.
/// Dropped before the allow-list is consulted; the run's log counts them.
const INPUT_NOISE: [(&str, &str); 2] = [
    // cel-functions seeds `random.seededString` with the instance's uid, which differs between
    // the clusters.
    (
        "child.spec.template.spec.containers[*].env[RANDOM_SEEDED_STRING].value",
        "*",
    ),
    // core-dns's template sets the Deployment controller's own revision annotation to `"1"`
    // (quotes included): the controller and kro rewrite it in turn, so its value at capture
    // time is a race on both sides.
    (
        "child.annotations.deployment.kubernetes.io/revision",
        "default/mynameis",
    ),
];

fn is_input_noise(difference: &compare::Difference) -> bool {
    INPUT_NOISE.iter().any(|(key, name)| {
        allow::glob_match(key.as_bytes(), difference.key.as_bytes())
            && allow::glob_match(name.as_bytes(), difference.name.as_bytes())
    })
}

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The repository root.
    pub root: PathBuf,
    /// Upstream kro's controller and its CRD directory.
    pub upstream: ControllerSpec,
    /// kro-rs's operator.
    pub kro_rs: ControllerSpec,
    /// Upstream's Go module directory (examples and fixtures).
    pub module: PathBuf,
    /// Only these steps (all when empty).
    pub steps: Vec<String>,
    /// A cluster is settled once its fingerprint has not changed for this long.
    pub quiet: Duration,
    /// Settling gives up after this long (the clusters are compared anyway).
    pub settle_timeout: Duration,
    /// Controller logs and the report go here.
    pub log_dir: PathBuf,
}

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// Every difference, with its allow-list entry.
    pub found: Vec<Found>,
    /// Allow-list entries that matched nothing.
    pub unused: Vec<usize>,
    /// Why the run stopped early (the steps before it are still compared).
    pub error: Option<String>,
}

impl Outcome {
    /// True when every difference is allowed and every entry matched.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.unused.is_empty()
            && self.found.iter().all(|f| f.allowed_by.is_some())
    }
}

/// Both control planes at once (each start takes several seconds of mostly waiting).
async fn start_sides(options: &Options) -> anyhow::Result<[Side; 2]> {
    let start = |root: PathBuf| tokio::task::spawn_blocking(move || ControlPlane::start(&root));
    let (a, b) = tokio::join!(start(options.root.clone()), start(options.root.clone()));
    let (a, b) = (a??, b??);
    let (upstream, kro_rs) = tokio::join!(
        Side::start(a, &options.upstream, &options.log_dir),
        Side::start(b, &options.kro_rs, &options.log_dir)
    );
    Ok([upstream?, kro_rs?])
}

/// Applies a phase on one side: Namespaces first (everything else may live in them), then the
/// rest and the deletions at once.
async fn run_phase(side: &Side, phase: &Phase) -> anyhow::Result<()> {
    let is_namespace =
        |d: &&inputs::Doc| d.value.get("kind").and_then(|k| k.as_str()) == Some("Namespace");
    join_all(
        phase
            .apply
            .iter()
            .filter(is_namespace)
            .map(|d| side.apply(&d.value)),
    )
    .await;
    let applies = join_all(
        phase
            .apply
            .iter()
            .filter(|d| !is_namespace(d))
            .map(|d| side.apply(&d.value)),
    );
    let deletes = join_all(phase.delete.iter().map(|d| side.delete(&d.value)));
    let (_, deleted) = tokio::join!(applies, deletes);
    deleted.into_iter().collect()
}

/// Waits until both clusters' fingerprints have been still for `quiet`; while the two disagree
/// on a state, three times as long (one controller may just be slower).
async fn settle(sides: &mut [Side; 2], quiet: Duration, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last: [(String, Instant); 2] = [(String::new(), started), (String::new(), started)];
    // The lines that changed last on each side, shown when settling times out.
    let mut changed: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for side in sides.iter_mut() {
            side.check_alive()?;
        }
        let (a, b) = tokio::join!(sides[0].capture_kro(), sides[1].capture_kro());
        // A failed list (an API server busy with two controllers) is only a missed poll.
        let (Ok(a), Ok(b)) = (a, b) else {
            continue;
        };
        let now = Instant::now();
        for (index, ((slot, lines), raw)) in
            last.iter_mut().zip(&mut changed).zip([&a, &b]).enumerate()
        {
            let print = snapshot::fingerprint(raw);
            if print != slot.0 {
                if let Some(dir) = std::env::var_os("KRO_DIFFERENTIAL_DEBUG_DIR") {
                    let at = now.duration_since(started).as_millis();
                    let file = format!("fp-{index}-{at:06}.txt");
                    let _ = std::fs::write(std::path::Path::new(&dir).join(file), &print);
                }
                let before: Vec<&str> = slot.0.lines().collect();
                *lines = print
                    .lines()
                    .filter(|line| !before.contains(line))
                    .map(|line| line.chars().take(300).collect())
                    .collect();
                *slot = (print, now);
            }
        }
        let still = |wait: Duration| last.iter().all(|(_, at)| now.duration_since(*at) >= wait);
        let agree = snapshot::summary(&a) == snapshot::summary(&b);
        if (agree && still(quiet)) || still(quiet * 3) {
            return Ok(());
        }
        if now.duration_since(started) >= timeout {
            eprintln!(
                "differential: not settled after {} s; comparing anyway",
                timeout.as_secs()
            );
            for (side, lines) in sides.iter().zip(&changed) {
                for line in lines.iter().take(5) {
                    eprintln!("differential:   last change on {}: {line}", side.name);
                }
            }
            return Ok(());
        }
    }
}

async fn run_step(
    sides: &mut [Side; 2],
    step: &Step,
    options: &Options,
) -> anyhow::Result<Vec<compare::Difference>> {
    let started = Instant::now();
    for phase in &step.phases {
        let (a, b) = tokio::join!(run_phase(&sides[0], phase), run_phase(&sides[1], phase));
        a?;
        b?;
        settle(sides, options.quiet, options.settle_timeout).await?;
    }
    let (a, b) = tokio::join!(sides[0].capture(), sides[1].capture());
    let applied = |side: &Side| side.applied.lock().map(|m| m.clone()).unwrap_or_default();
    let upstream = snapshot::snapshot(&a?, &applied(&sides[0]));
    let kro_rs = snapshot::snapshot(&b?, &applied(&sides[1]));
    let (noise, differences): (Vec<_>, Vec<_>) = compare::diff(&upstream, &kro_rs)
        .into_iter()
        .partition(is_input_noise);
    if !noise.is_empty() {
        eprintln!(
            "differential: step {}: {} differences dropped as input noise (see INPUT_NOISE)",
            step.name,
            noise.len()
        );
    }
    eprintln!(
        "differential: step {} done in {:.0} s: {} objects upstream, {} kro-rs, {} differences",
        step.name,
        started.elapsed().as_secs_f64(),
        upstream.len(),
        kro_rs.len(),
        differences.len()
    );
    Ok(differences)
}

/// Runs every step and checks the differences against `allow`.
///
/// # Errors
/// When a control plane, a controller or the capture fails (a difference is not an error).
pub async fn run(options: &Options, allow: &AllowList) -> anyhow::Result<Outcome> {
    let crafted = options.root.join("bench/differential");
    let steps: Vec<Step> = inputs::steps(&options.module, &crafted)?
        .into_iter()
        .filter(|s| options.steps.is_empty() || options.steps.iter().any(|n| n == s.name))
        .collect();
    std::fs::create_dir_all(&options.log_dir)
        .with_context(|| format!("creating {}", options.log_dir.display()))?;
    let mut sides = start_sides(options).await?;
    let mut per_step = Vec::new();
    let mut failure = None;
    for step in &steps {
        match run_step(&mut sides, step, options).await {
            Ok(differences) => per_step.push((step.name, differences)),
            Err(err) => {
                failure = Some(err.context(format!("step {}", step.name)));
                break;
            }
        }
    }
    let [a, b] = sides;
    let (stop_a, stop_b) = tokio::join!(a.stop(), b.stop());
    for stopped in [stop_a, stop_b] {
        if let Err(err) = stopped {
            eprintln!("differential: stopping a control plane: {err:#}");
        }
    }
    let error = failure.map(|err| format!("{err:#}"));
    if let Some(err) = &error {
        eprintln!("differential: FAILED: {err}");
    }
    let mut found = report::dedupe(per_step);
    let mut used = vec![false; allow.entries.len()];
    for f in &mut found {
        f.allowed_by = allow.allows(&f.difference);
        if let Some(index) = f.allowed_by {
            used[index] = true;
        }
    }
    let unused = (0..used.len())
        .filter(|i| !used[*i] && !allow.entries[*i].varies)
        .collect();
    Ok(Outcome {
        found,
        unused,
        error,
    })
}

/// Whether the self-test's tag reached the report under [`SELF_TEST_KEY`].
#[must_use]
pub fn self_test_seen(outcome: &Outcome, tag: &str) -> bool {
    outcome.found.iter().any(|f| {
        f.difference.key == SELF_TEST_KEY
            && f.difference
                .kro_rs
                .as_ref()
                .and_then(|v| v.as_str())
                .is_some_and(|message| message.contains(tag))
    })
}

/// Writes the report and the differences as JSON into `dir`.
///
/// # Errors
/// When the files cannot be written.
pub fn write_outputs(dir: &Path, text: &str, outcome: &Outcome) -> anyhow::Result<()> {
    std::fs::write(dir.join("report.txt"), text)?;
    let json = serde_json::to_string_pretty(&outcome.found)? + "\n";
    std::fs::write(dir.join("differences.json"), json)?;
    Ok(())
}
