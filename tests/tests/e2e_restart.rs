//! End to end: the operator survives SIGKILL in the middle of reconciling many instances, and
//! leader election lets only one of two replicas act.
//!
//! 1. Two replicas with `--leader-elect`: the standby waits and never reconciles; a new instance
//!    is reconciled by the leader only; after the leader is killed the standby takes over and
//!    reconciles the next new instance.
//! 2. 30 instances of a 3-resource RGD (ConfigMap -> Deployment -> Service); the operator is
//!    killed while some are still in progress and started again: every instance converges, with
//!    exactly its three children (by `kro.run/instance-id`) and no kro child left without a live
//!    instance; the restarted operator also deletes an instance with its children.
//! 3. An ACTIVE instance loses kro's finalizer and is deleted while no operator runs: its
//!    children stay behind until an operator starts again, which deletes them (and nothing of the
//!    other instances).
//!
//! One test, so the file never runs two operators against the API server at the same time except
//! the two replicas that the election is meant to arbitrate.

mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e_support::{
    INSTANCE_ID_LABEL, OWNED_LABEL, SweptKind, counter_value, create, create_test_namespace,
    delete_and_wait, dynamic_api, instance_api, label_for_test, no_unlabelled, operator_log,
    remove_test_objects, rgd_api, scrape_metrics, start_operator, state_of, wait_rgd_active,
};
use kro_integration_tests::{OperatorProcess, client, unique_name, wait_for};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::{Value, json};

const TEST: &str = "restart";
const INSTANCES: usize = 30;
const TIMEOUT: Duration = Duration::from_secs(60);
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(45);
const DELETE_TIMEOUT: Duration = Duration::from_secs(40);
/// The children each instance gets, one of each.
const CHILD_KINDS: [SweptKind; 3] = [
    SweptKind {
        api_version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
    },
    SweptKind {
        api_version: "apps/v1",
        kind: "Deployment",
        plural: "deployments",
    },
    SweptKind {
        api_version: "v1",
        kind: "Service",
        plural: "services",
    },
];
/// Short lease timings so that a takeover happens within seconds.
const ELECTION_TIMINGS: [&str; 6] = [
    "--leader-election-lease-duration",
    "4s",
    "--leader-election-renew-deadline",
    "3s",
    "--leader-election-retry-period",
    "1s",
];

/// The RGD: a ConfigMap, a Deployment that reads it and is ready when available, and a Service
/// named after the Deployment (so it waits for the Deployment's readiness).
fn restart_rgd(name: &str, group: &str) -> Value {
    let mut rgd = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "group": group,
                "kind": "RestartApp",
                "spec": {"image": "string | default=nginx"}
            },
            "resources": [
                {"id": "config", "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-config"},
                    "data": {"image": "${schema.spec.image}"}
                }},
                {"id": "deployment",
                 "readyWhen": ["${deployment.spec.replicas == deployment.status.availableReplicas}"],
                 "template": {
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "${schema.metadata.name}"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "${schema.metadata.name}"}},
                        "template": {
                            "metadata": {"labels": {"app": "${schema.metadata.name}"}},
                            "spec": {"containers": [
                                {"name": "app", "image": "${config.data.image}"}
                            ]}
                        }
                    }
                }},
                {"id": "service", "template": {
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "${deployment.metadata.name}"},
                    "spec": {
                        "selector": {"app": "${schema.metadata.name}"},
                        "ports": [{"port": 80, "targetPort": 80}]
                    }
                }}
            ]
        }
    });
    label_for_test(&mut rgd, TEST);
    rgd
}

/// The running operators of the test, for their logs on failure and for killing.
#[derive(Default)]
struct Operators {
    processes: Vec<(String, OperatorProcess)>,
}

impl Operators {
    fn add(&mut self, role: &str, operator: OperatorProcess) -> usize {
        self.processes.push((role.to_owned(), operator));
        self.processes.len() - 1
    }

    fn get(&self, index: usize) -> &OperatorProcess {
        &self.processes[index].1
    }

    fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        self.processes[index].1.kill()
    }

    fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|(role, operator)| format!("--- {role} operator log:\n{}", operator.log_tail(50)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn kill_all(&mut self) {
        for (_, operator) in &mut self.processes {
            if operator.is_running() {
                let _ = operator.kill();
            }
        }
    }
}

/// What the scenarios share.
struct Scenario {
    client: Client,
    namespace: String,
    rgd: Value,
    instances: Api<DynamicObject>,
    gvr: String,
}

impl Scenario {
    fn instance(&self, name: &str) -> Value {
        json!({
            "apiVersion": format!("{}/v1alpha1", self.rgd["spec"]["schema"]["group"].as_str().unwrap_or_default()),
            "kind": "RestartApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {}
        })
    }

    /// The kro children in the namespace, by kind, as (name, instance-id).
    async fn children(&self) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
        let mut children = Vec::new();
        for kind in CHILD_KINDS {
            let api = dynamic_api(
                &self.client,
                kind.api_version,
                kind.kind,
                kind.plural,
                Some(&self.namespace),
            );
            for object in api
                .list(&ListParams::default().labels(&format!("{OWNED_LABEL}=true")))
                .await?
                .items
            {
                children.push((
                    kind.kind.to_owned(),
                    object.name_any(),
                    object.labels().get(INSTANCE_ID_LABEL).cloned(),
                ));
            }
        }
        Ok(children)
    }

    /// The instance UIDs the kro children in the namespace name.
    async fn owners(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .children()
            .await?
            .into_iter()
            .filter_map(|(_, _, owner)| owner)
            .collect())
    }

    /// Checks that every live instance has exactly one child of each kind and that every kro
    /// child belongs to a live instance.
    async fn assert_children_exact(&self) -> anyhow::Result<()> {
        let live: BTreeMap<String, String> = self
            .instances
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter_map(|instance| Some((instance.uid()?, instance.name_any())))
            .collect();
        let mut by_instance: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (kind, name, owner) in self.children().await? {
            let owner = owner
                .ok_or_else(|| anyhow::anyhow!("{kind} {name} has no {INSTANCE_ID_LABEL} label"))?;
            anyhow::ensure!(
                live.contains_key(&owner),
                "orphan: {kind} {name} belongs to instance {owner}, which does not exist"
            );
            by_instance.entry(owner).or_default().push(kind);
        }
        for (uid, name) in &live {
            let mut kinds = by_instance.remove(uid).unwrap_or_default();
            kinds.sort();
            anyhow::ensure!(
                kinds == ["ConfigMap", "Deployment", "Service"],
                "instance {name} has children {kinds:?}, expected one ConfigMap, Deployment and Service"
            );
        }
        Ok(())
    }

    async fn wait_rgd_active(&self, operator: &OperatorProcess) -> anyhow::Result<()> {
        let name = self.rgd["metadata"]["name"].as_str().unwrap_or_default();
        wait_rgd_active(&self.client, name, TIMEOUT, operator).await?;
        Ok(())
    }

    /// Creates an instance and waits until it is ACTIVE.
    async fn create_active(&self, name: &str) -> anyhow::Result<()> {
        create(&self.instances, &self.instance(name)).await?;
        wait_for(
            TIMEOUT,
            &format!("instance {name} to be ACTIVE"),
            || async { Ok(state_of(&self.instances.get(name).await?) == Some("ACTIVE")) },
        )
        .await
    }

    /// `dynamic_controller_reconcile_total` of this test's kind on one operator.
    fn reconciles(&self, operator: &OperatorProcess) -> anyhow::Result<f64> {
        Ok(counter_value(
            &scrape_metrics(operator)?,
            "dynamic_controller_reconcile_total",
            &format!("gvr=\"{}\"", self.gvr),
        ))
    }
}

/// Scenario 2: SIGKILL while 30 instances are being reconciled, restart, converge.
async fn kill_and_restart(scenario: &Scenario, operators: &mut Operators) -> anyhow::Result<()> {
    let first = operators.add(
        "first",
        start_operator(&scenario.client, &["--allow-crd-deletion"]).await?,
    );
    scenario.wait_rgd_active(operators.get(first)).await?;

    let before = scenario.owners().await?;
    let names: Vec<String> = (0..INSTANCES).map(|i| format!("app-{i:02}")).collect();
    for name in &names {
        create(&scenario.instances, &scenario.instance(name)).await?;
    }
    // Kill once a third of the instances have children: the rest are still to do.
    wait_for(
        TIMEOUT,
        "a third of the instances to have children",
        || async {
            let owners = scenario.owners().await?;
            Ok(owners.difference(&before).count() >= INSTANCES / 3)
        },
    )
    .await?;
    operators.kill(first)?;
    let states: Vec<Option<String>> = scenario
        .instances
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|instance| names.contains(&instance.name_any()))
        .map(|instance| state_of(instance).map(str::to_owned))
        .collect();
    let active = states
        .iter()
        .filter(|state| state.as_deref() == Some("ACTIVE"))
        .count();
    anyhow::ensure!(
        active < INSTANCES,
        "every instance was ACTIVE before the kill: nothing was interrupted"
    );
    eprintln!("killed the operator with {active}/{INSTANCES} instances ACTIVE");

    let second = operators.add(
        "restarted",
        start_operator(&scenario.client, &["--allow-crd-deletion"]).await?,
    );
    wait_for(
        TIMEOUT,
        "every instance to be ACTIVE after the restart",
        || async {
            for name in &names {
                if state_of(&scenario.instances.get(name).await?) != Some("ACTIVE") {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    scenario.assert_children_exact().await?;

    // The restarted operator deletes too: the instance goes, and its children with it.
    let deleted = &names[0];
    let uid = scenario.instances.get(deleted).await?.uid();
    if let Err(error) = delete_and_wait(&scenario.instances, deleted, DELETE_TIMEOUT).await {
        let stuck = scenario.instances.get_opt(deleted).await?;
        let children: Vec<(String, String)> = scenario
            .children()
            .await?
            .into_iter()
            .filter(|(_, _, owner)| *owner == uid)
            .map(|(kind, name, _)| (kind, name))
            .collect();
        anyhow::bail!(
            "deleting instance {deleted} after the restart: {error:#}\nits status: {}\nits finalizers: {:?}\nits children left: {children:?}",
            stuck
                .as_ref()
                .map(|instance| instance.data["status"].to_string())
                .unwrap_or_default(),
            stuck.map(|instance| instance.finalizers().to_vec())
        );
    }
    scenario.assert_children_exact().await?;
    operators.kill(second)
}

/// Scenario 1: two replicas under leader election; only the leader acts, the standby takes over.
async fn leader_election(scenario: &Scenario, operators: &mut Operators) -> anyhow::Result<()> {
    let mut args = vec![
        "--allow-crd-deletion",
        "--leader-elect",
        "--leader-election-namespace",
        &scenario.namespace,
    ];
    args.extend(ELECTION_TIMINGS);
    let leader = operators.add("leader", start_operator(&scenario.client, &args).await?);
    wait_for(TIMEOUT, "the first replica to become leader", || async {
        Ok(operator_log(operators.get(leader)).contains("became leader"))
    })
    .await?;
    scenario.wait_rgd_active(operators.get(leader)).await?;
    let standby = operators.add("standby", start_operator(&scenario.client, &args).await?);
    wait_for(
        TIMEOUT,
        "the second replica to wait for leadership",
        || async { Ok(operator_log(operators.get(standby)).contains("waiting for leadership")) },
    )
    .await?;

    scenario.create_active("elected-a").await?;
    scenario.assert_children_exact().await?;
    let standby_log = operator_log(operators.get(standby));
    for acting in [
        "became leader",
        "leading: starting the controllers",
        "instance controller started",
    ] {
        anyhow::ensure!(
            !standby_log.contains(acting),
            "the standby acted ({acting}) while the leader was alive"
        );
    }
    let leader_reconciles = scenario.reconciles(operators.get(leader))?;
    let standby_reconciles = scenario.reconciles(operators.get(standby))?;
    anyhow::ensure!(
        leader_reconciles >= 1.0 && standby_reconciles == 0.0,
        "reconciles: leader {leader_reconciles}, standby {standby_reconciles}"
    );

    operators.kill(leader)?;
    wait_for(TIMEOUT, "the standby to take over", || async {
        Ok(operator_log(operators.get(standby)).contains("became leader"))
    })
    .await?;
    scenario.create_active("elected-b").await?;
    scenario.assert_children_exact().await?;
    let taken_over = scenario.reconciles(operators.get(standby))?;
    anyhow::ensure!(
        taken_over >= 1.0,
        "the new leader reconciled nothing ({taken_over})"
    );
    Ok(())
}

/// Scenario 3: an instance deleted without kro while no operator runs; the next operator deletes
/// the children it left.
async fn deleted_while_stopped(
    scenario: &Scenario,
    operators: &mut Operators,
) -> anyhow::Result<()> {
    let first = operators.add("before-stop", start_operator(&scenario.client, &[]).await?);
    scenario.wait_rgd_active(operators.get(first)).await?;
    scenario.create_active("gone-while-stopped").await?;
    let uid = scenario
        .instances
        .get("gone-while-stopped")
        .await?
        .uid()
        .ok_or_else(|| anyhow::anyhow!("the instance has no uid"))?;
    operators.kill(first)?;

    let unfinalized = json!({"metadata": {"finalizers": null}});
    scenario
        .instances
        .patch(
            "gone-while-stopped",
            &PatchParams::default(),
            &Patch::Merge(&unfinalized),
        )
        .await?;
    scenario
        .instances
        .delete("gone-while-stopped", &DeleteParams::default())
        .await?;
    wait_for(TIMEOUT, "the unfinalized instance to be gone", || async {
        Ok(scenario
            .instances
            .get_opt("gone-while-stopped")
            .await?
            .is_none())
    })
    .await?;
    let left = |owners: &[(String, String, Option<String>)]| {
        owners
            .iter()
            .filter(|(_, _, owner)| owner.as_deref() == Some(uid.as_str()))
            .count()
    };
    let left_behind = left(&scenario.children().await?);
    anyhow::ensure!(
        left_behind == CHILD_KINDS.len(),
        "with no operator running, the deleted instance should still have its {} children; found {left_behind}",
        CHILD_KINDS.len()
    );

    let second = operators.add("after-stop", start_operator(&scenario.client, &[]).await?);
    wait_for(
        TIMEOUT,
        "the restarted operator to delete the orphaned children",
        || async { Ok(left(&scenario.children().await?) == 0) },
    )
    .await?;
    anyhow::ensure!(
        operators
            .get(second)
            .log_tail(200)
            .contains("no longer exist"),
        "the operator did not report the orphan sweep"
    );
    scenario.assert_children_exact().await
}

#[tokio::test]
async fn operator_recovers_from_sigkill_and_elects_one_leader() -> anyhow::Result<()> {
    let client = client().await?;
    let janitor = start_operator(&client, &["--allow-crd-deletion"]).await?;
    if let Err(error) =
        remove_test_objects(&client, TEST, no_unlabelled, &CHILD_KINDS, CLEANUP_TIMEOUT).await
    {
        eprintln!("warning: removing leftovers of earlier runs: {error:#}");
    }
    drop(janitor);

    let namespace = create_test_namespace(&client, TEST, "kro-e2e-restart").await?;
    let group = format!("{}.e2e.kro.run", unique_name("restart"));
    let rgd = restart_rgd(&unique_name("restart"), &group);
    let scenario = Scenario {
        instances: instance_api(&client, &rgd, Some(&namespace)),
        gvr: format!("{group}/v1alpha1/restartapps"),
        client: client.clone(),
        namespace,
        rgd,
    };
    create(&rgd_api(&client), &scenario.rgd).await?;
    // Each scenario runs even when the other failed, so one failure cannot hide another; the
    // election comes first, so its replicas start before any child exists.
    let mut replicas = Operators::default();
    let election = leader_election(&scenario, &mut replicas).await;
    let election_logs = replicas.logs();
    replicas.kill_all();
    let mut restarted = Operators::default();
    let restart = kill_and_restart(&scenario, &mut restarted).await;
    let restart_logs = restarted.logs();
    restarted.kill_all();
    let mut stopped = Operators::default();
    let orphans = deleted_while_stopped(&scenario, &mut stopped).await;
    let orphan_logs = stopped.logs();
    stopped.kill_all();
    // A fresh operator without election cleans up: the scenarios' replicas may be gone.
    let janitor = start_operator(&client, &["--allow-crd-deletion"]).await?;
    let cleaned =
        remove_test_objects(&client, TEST, no_unlabelled, &CHILD_KINDS, CLEANUP_TIMEOUT).await;
    match (election, restart, orphans) {
        (Ok(()), Ok(()), Ok(())) => {}
        (election, restart, orphans) => {
            let mut report = String::new();
            if let Err(error) = election {
                report.push_str(&format!("leader election: {error:#}\n{election_logs}\n"));
            }
            if let Err(error) = restart {
                report.push_str(&format!("kill and restart: {error:#}\n{restart_logs}\n"));
            }
            if let Err(error) = orphans {
                report.push_str(&format!(
                    "deleted while stopped: {error:#}\n{orphan_logs}\n"
                ));
            }
            panic!("{report}");
        }
    }
    // Deletion by a restarted operator is asserted above; here a forced clean-up is only noted.
    if let Err(error) = cleaned {
        eprintln!(
            "warning: clean-up: {error:#}\n--- janitor log:\n{}",
            janitor.log_tail(20)
        );
    }
    Ok(())
}
