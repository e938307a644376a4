//! `sigkill_storm`: every spec changed, the operator SIGKILLed after a random delay, again.

use super::*;

/// A deterministic pseudo-random sequence (SplitMix64), so a failing storm can be replayed with
/// `KRO_FAULTS_SEED`.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `low..high`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

/// The seed of the storm: `KRO_FAULTS_SEED` to replay a run, else the clock.
pub(crate) fn storm_seed() -> u64 {
    std::env::var("KRO_FAULTS_SEED")
        .ok()
        .and_then(|seed| seed.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(1)
        })
}

pub(crate) async fn storm() -> anyhow::Result<String> {
    let started = Instant::now();
    let seed = storm_seed();
    eprintln!("storm: seed {seed} (replay with KRO_FAULTS_SEED={seed})");
    let mut random = SplitMix64(seed);
    let plane = PrivateControlPlane::start()?;
    let client = plane.client().await?;
    let mut operator = start_operator_on(&client, plane.kubeconfig(), &STORM_OPERATOR_ARGS).await?;
    let fleet = Fleet::create(&client, "faults-storm").await?;
    fleet.wait_rgd_active(&client, &operator).await?;

    let names: Vec<String> = (0..STORM_INSTANCES)
        .map(|i| format!("app-{i:03}"))
        .collect();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for name in &names {
        fleet.create_instance(name, "round-0").await?;
        expected.insert(name.clone(), "round-0".to_owned());
    }
    logged(
        fleet
            .wait_converged(
                &expected,
                CONVERGE_TIMEOUT,
                "the first 200 instances to converge",
            )
            .await,
        &operator,
    )?;
    let mut uids = BTreeMap::new();
    let all: BTreeSet<String> = names.iter().cloned().collect();
    fleet.verify(&expected, &mut uids, &all).await?;
    eprintln!(
        "storm: {STORM_INSTANCES} instances converged in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut interrupted = 0;
    for round in 1..=STORM_ROUNDS {
        let round_started = Instant::now();
        let value = format!("round-{round}");
        fleet.set_values(&names, &value).await?;
        for slot in expected.values_mut() {
            value.clone_into(slot);
        }
        let delay = Duration::from_millis(random.between(200, 3000));
        tokio::time::sleep(delay).await;
        operator.kill()?;
        let pending = fleet.unconverged(&expected).await?.len();
        if pending > 0 {
            interrupted += 1;
        }
        operator = start_operator_on(&client, plane.kubeconfig(), &STORM_OPERATOR_ARGS).await?;
        let converged = fleet
            .wait_converged(
                &expected,
                CONVERGE_TIMEOUT,
                &format!("round {round}: every instance to converge after the restart"),
            )
            .await;
        logged(converged, &operator)?;
        logged(
            fleet
                .verify(&expected, &mut uids, &BTreeSet::new())
                .await
                .with_context(|| format!("round {round} (killed after {delay:?})")),
            &operator,
        )?;
        eprintln!(
            "storm: round {round}: killed after {} ms with {pending}/{STORM_INSTANCES} unconverged; \
             converged again in {:.1} s",
            delay.as_millis(),
            round_started.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "storm: {STORM_ROUNDS} rounds in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(format!(
        "all converged after every restart; 0 duplicated, 0 orphaned, 0 wrongly deleted \
         ({interrupted} of {STORM_ROUNDS} kills interrupted unfinished work; seed {seed})"
    ))
}
