//! The executor against the real control plane (`scripts/testenv-up.sh`, `KRO_TEST_KUBECONFIG`):
//! the webapp example.
//!
//! The engine is driven directly, without the operator: install the generated CRD, create an
//! instance, reconcile in a loop (waiting for child watch events between reconciles) until the
//! expected state.

mod executor_support;

use std::time::Duration;

use executor_support::{
    Engine, Harness, corpus_file, deployments, get_json, ingresses, label, services,
};
use kro_integration_tests::create_namespace;
use kro_runtime::core::InstanceState;
use serde_json::json;

/// The webapp example reaches ACTIVE with its three children, kro's labels and annotations, and
/// a second reconcile in the steady state writes nothing.
#[tokio::test]
async fn webapp_converges_with_labels_and_a_steady_state_makes_no_writes() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness
        .install(corpus_file("examples/kubernetes/webapp/rg.yaml"))
        .await?;
    let ns = create_namespace(&harness.client, "exec-webapp").await?;
    let mut instance = corpus_file("examples/kubernetes/webapp/instance.yaml");
    instance["spec"]["namespace"] = json!(ns);
    engine.apply_instance(&ns, instance).await?;

    let converged = engine.converge_active(&ns, "test-app").await?;
    eprintln!(
        "webapp to ACTIVE: {} reconciles ({} triggered by child watch events), {:?} wall time; per reconcile: {:?}",
        converged.reconciles,
        converged.event_triggers,
        converged.elapsed,
        converged
            .history
            .iter()
            .map(|o| (o.state, o.stats.applies, o.stats.plan_passes, o.elapsed))
            .collect::<Vec<_>>()
    );
    assert!(
        converged.outcome.waiting_on.is_empty(),
        "{:?}",
        converged.outcome
    );

    webapp_children_carry_kros_labels(&harness, &ns).await?;
    webapp_instance_is_an_active_applyset_parent(&harness, &engine, &ns).await?;
    a_steady_state_makes_no_writes_and_no_live_reads(&engine, &ns).await
}

/// A resource that waits for a controller wakes the instance through its watch events: the
/// webapp reaches ACTIVE with every reconcile after the first woken by a child's event, the
/// timed retries the outcomes ask for (a safety net for pending data) never taken.
#[tokio::test]
async fn waiting_resources_converge_from_watch_events_not_timers() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness
        .install(corpus_file("examples/kubernetes/webapp/rg.yaml"))
        .await?;
    let ns = create_namespace(&harness.client, "exec-events").await?;
    let mut instance = corpus_file("examples/kubernetes/webapp/instance.yaml");
    instance["spec"]["namespace"] = json!(ns);
    engine.apply_instance(&ns, instance).await?;
    let converged = engine
        .converge_from_events(&ns, "test-app", Duration::from_secs(90), |outcome| {
            outcome.state == InstanceState::Active
        })
        .await?;
    // The Deployment is not available when it is created: at least one event was needed.
    assert!(converged.reconciles >= 2, "{:?}", converged.history);
    assert!(
        converged.history[0]
            .waiting_on
            .iter()
            .any(|waiting| waiting.id == "deployment"),
        "{:?}",
        converged.history[0]
    );
    Ok(())
}

/// Every child carries its node id, kro's ownership labels and its apply order.
async fn webapp_children_carry_kros_labels(harness: &Harness, ns: &str) -> anyhow::Result<()> {
    let deployment = get_json(&harness.client, &deployments(), ns, "test-app")
        .await?
        .expect("deployment exists");
    let service = get_json(&harness.client, &services(), ns, "test-app")
        .await?
        .expect("service exists");
    let ingress = get_json(&harness.client, &ingresses(), ns, "test-app")
        .await?
        .expect("ingress exists");
    for (object, node) in [
        (&deployment, "deployment"),
        (&service, "service"),
        (&ingress, "ingress"),
    ] {
        assert_eq!(label(object, "kro.run/node-id"), Some(node));
        assert_eq!(label(object, "kro.run/owned"), Some("true"));
        assert_eq!(label(object, "kro.run/instance-name"), Some("test-app"));
        assert_eq!(label(object, "kro.run/instance-namespace"), Some(ns));
        assert_eq!(label(object, "app.kubernetes.io/managed-by"), Some("kro"));
        assert!(label(object, "applyset.kubernetes.io/part-of").is_some());
        assert!(object["metadata"]["annotations"]["internal.kro.run/apply-order"].is_string());
    }
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert_eq!(
        ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "test-app"
    );

    Ok(())
}

async fn webapp_instance_is_an_active_applyset_parent(
    harness: &Harness,
    engine: &Engine,
    ns: &str,
) -> anyhow::Result<()> {
    let instance = get_json(&harness.client, &engine.kind, ns, "test-app")
        .await?
        .expect("instance exists");
    assert_eq!(instance["status"]["state"], "ACTIVE");
    assert_eq!(instance["status"]["availableReplicas"], 1);
    assert!(
        instance["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "kro.run/finalizer"))
    );
    assert_eq!(label(&instance, "kro.run/owned"), Some("true"));
    assert_eq!(
        instance["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "Deployment.apps,Ingress.networking.k8s.io,Service"
    );

    Ok(())
}

async fn a_steady_state_makes_no_writes_and_no_live_reads(
    engine: &Engine,
    ns: &str,
) -> anyhow::Result<()> {
    // Steady state: nothing to write.
    let steady = engine.reconcile_once(ns, "test-app").await?;
    assert_eq!(steady.state, InstanceState::Active);
    assert_eq!(steady.stats.applies, 0, "{steady:?}");
    assert_eq!(steady.stats.instance_writes, 0, "{steady:?}");
    assert_eq!(steady.stats.deletes, 0, "{steady:?}");
    assert!(!steady.stats.status_written, "{steady:?}");

    // The cache watches metadata only, but keeps the bodies it last read or applied: once its
    // watch has caught up with them, a steady pass reads nothing live.
    let mut live_reads = Vec::new();
    for _ in 0..10 {
        let pass = engine.reconcile_once(ns, "test-app").await?;
        live_reads.push(pass.stats.live_reads);
        if pass.stats.live_reads == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        live_reads.last(),
        Some(&0),
        "live reads per pass: {live_reads:?}"
    );
    Ok(())
}
