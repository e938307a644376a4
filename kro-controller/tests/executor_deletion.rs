//! The executor against the real control plane (`scripts/testenv-up.sh`, `KRO_TEST_KUBECONFIG`):
//! deletion waves, vanished instances and conflicting claims.
//!
//! The engine is driven directly, without the operator: install the generated CRD, create an
//! instance, reconcile in a loop (waiting for child watch events between reconciles) until the
//! expected state.

mod executor_support;

use std::time::Duration;

use executor_support::{CHAIN_RGD, Engine, Harness, config_maps, get_json, yaml};
use kro_controller::executor::VanishedInstance;
use kro_integration_tests::create_namespace;
use kro_runtime::core::InstanceState;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

/// Deletion goes wave by wave, highest apply order first, then the finalizer is removed.
#[tokio::test]
async fn deletion_goes_in_reverse_waves() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-delete").await?;
    engine
        .apply_instance(
            &ns,
            json!({"kind": "ExecChain", "metadata": {"name": "chain"}, "spec": {"target": "c"}}),
        )
        .await?;
    let converged = engine.converge_active(&ns, "chain").await?;
    assert_eq!(
        converged.reconciles, 1,
        "a graph without readiness gates converges in one reconcile: {converged:?}"
    );
    for name in ["c", "c-second", "c-second-third"] {
        assert!(
            get_json(&harness.client, &config_maps(), &ns, name)
                .await?
                .is_some(),
            "{name} missing after {converged:#?}"
        );
    }

    engine
        .api(&ns)
        .delete("chain", &DeleteParams::default())
        .await?;
    let mut remaining_per_step = Vec::new();
    let mut finalized = false;
    for _ in 0..20 {
        let Some(instance) = engine.api(&ns).get_opt("chain").await? else {
            finalized = true;
            break;
        };
        let outcome = engine.executor.reconcile(&engine.graph, &instance).await?;
        assert_eq!(outcome.state, InstanceState::Deleting);
        let mut remaining = Vec::new();
        for name in ["c", "c-second", "c-second-third"] {
            if get_json(&harness.client, &config_maps(), &ns, name)
                .await?
                .is_some()
            {
                remaining.push(name);
            }
        }
        remaining_per_step.push(remaining);
        if outcome.finalized {
            finalized = true;
            break;
        }
        // Wait for the cache to see the wave disappear (the operator waits for the event).
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(finalized, "{remaining_per_step:?}");
    // Each step removed exactly the highest remaining wave.
    let distinct: Vec<&Vec<&str>> = remaining_per_step
        .iter()
        .fold(Vec::new(), |mut seen, step| {
            if seen.last() != Some(&step) {
                seen.push(step);
            }
            seen
        });
    assert_eq!(
        distinct,
        [&vec!["c", "c-second"], &vec!["c"], &Vec::<&str>::new()],
        "{remaining_per_step:?}"
    );
    kro_integration_tests::wait_for(Duration::from_secs(20), "instance gone", || async {
        Ok(engine.api(&ns).get_opt("chain").await?.is_none())
    })
    .await?;
    Ok(())
}

/// An instance that disappeared with kro's finalizer on (the API server can hard-delete it past
/// a finalizer added concurrently): the sweep deletes its children, and leaves them to a new
/// instance of the same name.
#[tokio::test]
async fn a_vanished_instance_loses_its_children_unless_it_is_back() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-vanished").await?;
    let instance = json!({"kind": "ExecChain", "metadata": {"name": "gone"},
                          "spec": {"target": "v"}});
    let children: &'static [&'static str] = &["v", "v-second", "v-second-third"];
    let existing = |names| existing_config_maps(&harness.client, &ns, names);
    engine.apply_instance(&ns, instance.clone()).await?;
    engine.converge_active(&ns, "gone").await?;
    let last_state = engine.api(&ns).get("gone").await?;
    assert!(
        last_state
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "kro.run/finalizer")
    );

    // While the instance exists, nothing is swept.
    let found = engine
        .executor
        .sweep_vanished_instance(&engine.graph, &last_state)
        .await?;
    assert_eq!(found, VanishedInstance::StillThere);
    assert_eq!(existing(children).await?, children);

    // The instance goes without kro's deletion running: its finalizer is stripped by hand first.
    remove_past_kro(&engine, &ns).await?;
    assert_eq!(
        existing(children).await?,
        children,
        "nothing deleted them yet"
    );

    // A new instance of that name owns the ApplySet again: the sweep leaves it alone.
    engine.apply_instance(&ns, instance).await?;
    let found = engine
        .executor
        .sweep_vanished_instance(&engine.graph, &last_state)
        .await?;
    assert_eq!(found, VanishedInstance::StillThere);
    remove_past_kro(&engine, &ns).await?;

    // Gone for good: every member is deleted, the top of the chain first.
    let VanishedInstance::Swept(keys) = engine
        .executor
        .sweep_vanished_instance(&engine.graph, &last_state)
        .await?
    else {
        panic!("expected a sweep");
    };
    let names: Vec<&str> = keys.iter().map(|key| key.name.as_str()).collect();
    assert_eq!(names, ["v-second-third", "v-second", "v"]);
    kro_integration_tests::wait_for(Duration::from_secs(20), "children gone", || async {
        Ok(existing(children).await?.is_empty())
    })
    .await?;

    finalized_last_states_are_not_swept(&engine, &last_state).await
}

/// Which of the ConfigMaps `names` exist in `ns`.
async fn existing_config_maps(
    client: &kube::Client,
    ns: &str,
    names: &'static [&'static str],
) -> anyhow::Result<Vec<&'static str>> {
    let mut found = Vec::new();
    for name in names {
        if get_json(client, &config_maps(), ns, name).await?.is_some() {
            found.push(*name);
        }
    }
    Ok(found)
}

/// Deletes the instance `gone` with its finalizer stripped first, so kro's deletion never runs.
async fn remove_past_kro(engine: &Engine, ns: &str) -> anyhow::Result<()> {
    let api = engine.api(ns);
    api.patch(
        "gone",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    api.delete("gone", &DeleteParams::default()).await?;
    kro_integration_tests::wait_for(Duration::from_secs(20), "instance gone", || async {
        Ok(api.get_opt("gone").await?.is_none())
    })
    .await
}

async fn finalized_last_states_are_not_swept(
    engine: &Engine,
    last_state: &kube::api::DynamicObject,
) -> anyhow::Result<()> {
    // A last state without kro's finalizer, or marked for deletion (what the deletion event of
    // an instance kro finalized shows), is not a vanished instance: nothing to do.
    let mut stripped = last_state.clone();
    stripped.metadata.finalizers = None;
    let mut marked = last_state.clone();
    marked.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    for finalized in [stripped, marked] {
        assert_eq!(
            engine
                .executor
                .sweep_vanished_instance(&engine.graph, &finalized)
                .await?,
            VanishedInstance::Finalized
        );
    }
    Ok(())
}

/// Two instances rendering the same object: the first keeps it, the second is ERROR and names
/// the first as the owner.
#[tokio::test]
async fn two_instances_claiming_one_object_conflict() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-conflict").await?;
    let chain = |name: &str| json!({"kind": "ExecChain", "metadata": {"name": name}, "spec": {"target": "shared"}});
    engine.apply_instance(&ns, chain("owner")).await?;
    engine.converge_active(&ns, "owner").await?;
    engine.apply_instance(&ns, chain("intruder")).await?;
    let outcome = engine
        .converge(&ns, "intruder", Duration::from_secs(30), |o| {
            o.state == InstanceState::Error
        })
        .await?
        .outcome;
    let first = outcome
        .waiting_on
        .iter()
        .find(|w| w.id == "first")
        .expect("first is reported");
    assert_eq!(first.state, "ERROR");
    assert!(first.reason.contains("owner"), "{first:?}");
    let shared = get_json(&harness.client, &config_maps(), &ns, "shared")
        .await?
        .expect("shared exists");
    assert_eq!(shared["data"]["owner"], "owner");
    let status = get_json(&harness.client, &engine.kind, &ns, "intruder")
        .await?
        .expect("intruder")["status"]
        .clone();
    assert_eq!(status["state"], "ERROR");
    Ok(())
}
