//! `control_plane_outages`: kube-apiserver and etcd disrupted under load.

use super::*;

/// What the outage steps share.
pub(crate) struct Outages {
    pub(crate) plane: PrivateControlPlane,
    pub(crate) operator: OperatorProcess,
    pub(crate) pid: u32,
    pub(crate) fleet: Fleet,
    pub(crate) expected: BTreeMap<String, String>,
    pub(crate) uids: ChildUids,
}

impl Outages {
    /// The operator must be the same process as at the start: it recovered without a restart.
    pub(crate) fn ensure_same_operator(&mut self) -> anyhow::Result<()> {
        ensure!(
            self.operator.is_running() && self.operator.pid() == self.pid,
            "the operator (pid {}) is no longer running:\n{}",
            self.pid,
            self.operator.log_tail(60)
        );
        Ok(())
    }

    /// Waits until the fleet converged, then checks it; `new` names instances created since the
    /// last check.
    pub(crate) async fn converge(&mut self, what: &str, new: &[String]) -> anyhow::Result<()> {
        let converged = self
            .fleet
            .wait_converged(&self.expected, CONVERGE_TIMEOUT, what)
            .await;
        logged(converged, &self.operator)?;
        self.ensure_same_operator()?;
        let new: BTreeSet<String> = new.iter().cloned().collect();
        logged(
            self.fleet
                .verify(&self.expected, &mut self.uids, &new)
                .await,
            &self.operator,
        )
    }

    /// A new instance converges: the operator's watches work after the fault.
    pub(crate) async fn new_instance_converges(&mut self, name: &str) -> anyhow::Result<()> {
        self.fleet.create_instance(name, "fresh").await?;
        self.expected.insert(name.to_owned(), "fresh".to_owned());
        let single: BTreeMap<String, String> =
            BTreeMap::from([(name.to_owned(), "fresh".to_owned())]);
        let converged = self
            .fleet
            .wait_converged(
                &single,
                TIMEOUT,
                &format!("new instance {name} to converge"),
            )
            .await;
        logged(converged, &self.operator)?;
        self.converge("the fleet with the new instance", &[name.to_owned()])
            .await
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.expected.keys().cloned().collect()
    }

    pub(crate) async fn set_all(&mut self, value: &str) -> anyhow::Result<()> {
        let names = self.names();
        self.fleet.set_values(&names, value).await?;
        for slot in self.expected.values_mut() {
            value.to_owned().clone_into(slot);
        }
        Ok(())
    }
}

/// kube-apiserver restarted while 50 new instances are being reconciled.
pub(crate) async fn apiserver_restart(outages: &mut Outages) -> anyhow::Result<String> {
    let names: Vec<String> = (0..LOAD_INSTANCES)
        .map(|i| format!("load-{i:02}"))
        .collect();
    for name in &names {
        outages
            .fleet
            .create_instance(name, "before-restart")
            .await?;
        outages
            .expected
            .insert(name.clone(), "before-restart".to_owned());
    }
    // Restart once the operator is busy: some children exist, most instances are still to do.
    let fleet = &outages.fleet;
    wait_for(TIMEOUT, "the first children to appear", || async {
        Ok(fleet.children().await?.len() >= 5)
    })
    .await?;
    let pending = fleet.unconverged(&outages.expected).await?.len();
    ensure!(pending > 0, "every instance converged before the restart");
    outages
        .plane
        .ctl(Disruption::Restart, Component::ApiServer)
        .await?;
    outages
        .converge(
            "the instances to converge after the API server restart",
            &names,
        )
        .await?;
    outages
        .new_instance_converges("after-apiserver-restart")
        .await?;
    Ok(format!(
        "{LOAD_INSTANCES} instances converged ({pending} unfinished at the restart) without an \
         operator restart; a new instance afterwards converged"
    ))
}

/// etcd frozen (SIGSTOP) for 10 s right after every instance's spec changed.
pub(crate) async fn etcd_pause(outages: &mut Outages) -> anyhow::Result<String> {
    outages.set_all("during-etcd-pause").await?;
    outages
        .plane
        .ctl(Disruption::Pause, Component::Etcd)
        .await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    outages
        .plane
        .ctl(Disruption::Resume, Component::Etcd)
        .await?;
    outages
        .converge("the instances to converge after etcd resumed", &[])
        .await?;
    let count = outages.expected.len();
    outages.new_instance_converges("after-etcd-pause").await?;
    Ok(format!(
        "{count} instances converged without an operator restart; a new instance afterwards \
         converged"
    ))
}

/// etcd stopped for 5 s and started again right after every instance's spec changed.
pub(crate) async fn etcd_restart(outages: &mut Outages) -> anyhow::Result<String> {
    outages.set_all("during-etcd-restart").await?;
    outages.plane.ctl(Disruption::Stop, Component::Etcd).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    outages
        .plane
        .ctl(Disruption::Start, Component::Etcd)
        .await?;
    outages
        .converge("the instances to converge after etcd restarted", &[])
        .await?;
    let count = outages.expected.len();
    outages.new_instance_converges("after-etcd-restart").await?;
    Ok(format!(
        "{count} instances converged without an operator restart; a new instance afterwards \
         converged"
    ))
}

/// The operator's watches resume from a revision etcd has compacted away: kube-apiserver is
/// stopped, the etcd revision is moved past everything the operator saw (a key outside
/// /registry) and compacted, and kube-apiserver is started again.
pub(crate) async fn watches_resume_after_compaction(
    outages: &mut Outages,
) -> anyhow::Result<String> {
    // etcd's JSON gateway takes keys and values as base64, which is how ByteString serialises.
    let base64 = |text: &str| serde_json::to_value(ByteString(text.as_bytes().to_vec()));
    let log_before = operator_log(&outages.operator).len();
    outages
        .plane
        .ctl(Disruption::Stop, Component::ApiServer)
        .await?;
    let put = outages.plane.etcd_post(
        "/v3/kv/put",
        &json!({"key": base64("/kro-e2e-faults/bump")?, "value": base64("410")?}),
    )?;
    let revision: i64 = put
        .pointer("/header/revision")
        .and_then(|revision| match revision {
            Value::String(text) => text.parse().ok(),
            other => other.as_i64(),
        })
        .with_context(|| format!("no revision in the etcd answer {put}"))?;
    outages.plane.etcd_post(
        "/v3/kv/compaction",
        &json!({"revision": revision.to_string(), "physical": true}),
    )?;
    outages
        .plane
        .ctl(Disruption::Start, Component::ApiServer)
        .await?;

    // The operator's child watches log the expired resource version when they resume.
    let expired = wait_for(TIMEOUT, "the operator to log the expired watch", || async {
        let log = operator_log(&outages.operator);
        let fresh = &log[log_before.min(log.len())..];
        Ok(fresh.contains("too old resource version") || fresh.contains("Expired"))
    })
    .await;
    logged(expired, &outages.operator)?;

    // Proof that the watches resumed: a deleted child comes back, a spec change reaches a child.
    let target = outages
        .expected
        .keys()
        .next()
        .cloned()
        .context("no instance")?;
    let name = format!("{target}-config");
    let recreated = delete_child_and_wait(&outages.fleet.configmaps, &name).await;
    let seconds = logged(recreated, &outages.operator)?;
    // The recreated child is a new object by design; from now on it is the one to keep.
    let after = outages.fleet.configmaps.get(&name).await?;
    outages.uids.insert(
        (target.clone(), "config".to_owned()),
        after.metadata.uid.clone().unwrap_or_default(),
    );
    outages
        .fleet
        .set_values(std::slice::from_ref(&target), "after-compaction")
        .await?;
    outages
        .expected
        .insert(target.clone(), "after-compaction".to_owned());
    let configmaps = &outages.fleet.configmaps;
    let followed = wait_for(RECREATE_TIMEOUT, "the child to follow the spec", || async {
        let configmap = configmaps.get(&name).await?;
        Ok(configmap.data.and_then(|data| data.get("value").cloned())
            == Some("after-compaction".to_owned()))
    })
    .await;
    logged(followed, &outages.operator)?;
    outages
        .converge("the instances to converge after the compaction", &[])
        .await?;
    Ok(format!(
        "410 logged and watches re-listed without an operator restart; a deleted child was \
         recreated in {seconds:.1} s and a spec change reached the child"
    ))
}
