//! The executor against the real control plane (`scripts/testenv-up.sh`, `KRO_TEST_KUBECONFIG`).
//!
//! The engine is driven directly, without the operator: install the generated CRD, create an
//! instance, reconcile in a loop (waiting for child watch events between reconciles) until the
//! expected state.

mod executor_support;

use std::time::Duration;

use executor_support::{Harness, builtin, config_maps, corpus_file, get_json, yaml};
use kro_integration_tests::create_namespace;
use kro_runtime::core::InstanceState;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

fn deployments() -> kro_controller::executor::KindMapping {
    builtin("apps", "v1", "Deployment", "deployments")
}

fn services() -> kro_controller::executor::KindMapping {
    builtin("", "v1", "Service", "services")
}

fn ingresses() -> kro_controller::executor::KindMapping {
    builtin("networking.k8s.io", "v1", "Ingress", "ingresses")
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

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

    let deployment = get_json(&harness.client, &deployments(), &ns, "test-app")
        .await?
        .expect("deployment exists");
    let service = get_json(&harness.client, &services(), &ns, "test-app")
        .await?
        .expect("service exists");
    let ingress = get_json(&harness.client, &ingresses(), &ns, "test-app")
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
        assert_eq!(
            label(object, "kro.run/instance-namespace"),
            Some(ns.as_str())
        );
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

    let instance = get_json(&harness.client, &engine.kind, &ns, "test-app")
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

    // Steady state: nothing to write.
    let steady = engine.reconcile_once(&ns, "test-app").await?;
    assert_eq!(steady.state, InstanceState::Active);
    assert_eq!(steady.stats.applies, 0, "{steady:?}");
    assert_eq!(steady.stats.instance_writes, 0, "{steady:?}");
    assert_eq!(steady.stats.deletes, 0, "{steady:?}");
    assert!(!steady.stats.status_written, "{steady:?}");

    // The cache watches metadata only, but keeps the bodies it last read or applied: once its
    // watch has caught up with them, a steady pass reads nothing live.
    let mut live_reads = Vec::new();
    for _ in 0..10 {
        let pass = engine.reconcile_once(&ns, "test-app").await?;
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

const CONFIG_RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: exec-config
spec:
  schema:
    apiVersion: v1alpha1
    kind: ExecConfig
    spec:
      value: string | default=one
      image: string | default=nginx:1.25
      withExtra: boolean | default=false
      names: "[]string"
    status:
      value: ${config.data.value}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        value: ${schema.spec.value}
  - id: extra
    includeWhen:
    - ${schema.spec.withExtra}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${config.metadata.name}-extra
      data:
        from: ${config.data.value}
  - id: entries
    forEach:
    - entry: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-item-${entry}
      data:
        entry: ${entry}
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}-app
      spec:
        selector:
          matchLabels:
            app: ${schema.metadata.name}
        template:
          metadata:
            labels:
              app: ${schema.metadata.name}
          spec:
            containers:
            - name: app
              image: ${schema.spec.image}
"#;

fn config_instance(name: &str, spec: &Value) -> Value {
    json!({"kind": "ExecConfig", "metadata": {"name": name}, "spec": spec})
}

/// Drift: an edited child is put back, a deleted child is recreated, and a field the template
/// does not set (replicas, as an autoscaler would own it) survives a re-apply.
#[tokio::test]
async fn drift_is_repaired_and_fields_owned_by_others_are_left_alone() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-drift").await?;
    engine
        .apply_instance(&ns, config_instance("drift", &json!({"names": []})))
        .await?;
    engine.converge_active(&ns, "drift").await?;

    // An edit of a templated field is reverted. The cache keeps metadata only: it has seen the
    // edit when it holds the edited resourceVersion.
    let edited = config_maps()
        .api(harness.client.clone(), Some(&ns))
        .patch(
            "drift-config",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "drift-config"}, "data": {"value": "edited"}})),
        )
        .await?;
    let edited_version = edited.metadata.resource_version.unwrap_or_default();
    engine
        .wait_cached(&config_maps(), &ns, "drift-config", |o| {
            o.is_some_and(|o| o["metadata"]["resourceVersion"] == edited_version.as_str())
        })
        .await?;
    let repaired = engine.reconcile_once(&ns, "drift").await?;
    assert_eq!(repaired.stats.applies, 1, "{repaired:?}");
    let config = get_json(&harness.client, &config_maps(), &ns, "drift-config").await?;
    assert_eq!(config.expect("exists")["data"]["value"], "one");

    // A deleted child is recreated.
    config_maps()
        .api(harness.client.clone(), Some(&ns))
        .delete("drift-config", &DeleteParams::default())
        .await?;
    engine
        .wait_cached(&config_maps(), &ns, "drift-config", |o| o.is_none())
        .await?;
    engine.converge_active(&ns, "drift").await?;
    let config = get_json(&harness.client, &config_maps(), &ns, "drift-config").await?;
    assert_eq!(config.expect("recreated")["data"]["value"], "one");

    // replicas is not in the template: another manager's value survives kro's re-apply.
    deployments()
        .api(harness.client.clone(), Some(&ns))
        .patch(
            "drift-app",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "drift-app"}, "spec": {"replicas": 3}})),
        )
        .await?;
    engine
        .apply_instance(
            &ns,
            config_instance("drift", &json!({"names": [], "image": "nginx:1.27"})),
        )
        .await?;
    let reapplied = engine.reconcile_once(&ns, "drift").await?;
    assert!(reapplied.stats.applies >= 1, "{reapplied:?}");
    let deployment = get_json(&harness.client, &deployments(), &ns, "drift-app")
        .await?
        .expect("deployment exists");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    Ok(())
}

/// Creations are applied without force first: an object that already exists as a member of
/// another ApplySet (which kro's watch never sees) is refused and left untouched, and an
/// unlabelled one with other values is taken over, as upstream's forced apply does.
#[tokio::test]
async fn creations_refuse_foreign_applysets_and_take_over_unlabelled_objects() -> anyhow::Result<()>
{
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-create").await?;
    let configs = config_maps().api(harness.client.clone(), Some(&ns));
    let precreate = |name: &str, labels: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"value": "before"}})
    };
    configs
        .patch(
            "foreign-config",
            &PatchParams::apply("other-tool"),
            &Patch::Apply(precreate(
                "foreign-config",
                json!({"applyset.kubernetes.io/part-of": "applyset-other-tool"}),
            )),
        )
        .await?;
    configs
        .patch(
            "adopted-config",
            &PatchParams::apply("someone"),
            &Patch::Apply(precreate("adopted-config", json!({}))),
        )
        .await?;

    engine
        .apply_instance(&ns, config_instance("foreign", &json!({"names": []})))
        .await?;
    let refused = engine
        .converge(&ns, "foreign", Duration::from_secs(30), |o| {
            o.state == InstanceState::Error
        })
        .await?
        .outcome;
    let config = refused
        .waiting_on
        .iter()
        .find(|w| w.id == "config")
        .expect("config is reported");
    assert!(config.reason.contains("applyset-other-tool"), "{config:?}");
    let foreign = get_json(&harness.client, &config_maps(), &ns, "foreign-config")
        .await?
        .expect("still there");
    assert_eq!(foreign["data"]["value"], "before");
    assert_eq!(
        foreign["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        "applyset-other-tool"
    );

    engine
        .apply_instance(&ns, config_instance("adopted", &json!({"names": []})))
        .await?;
    engine.converge_active(&ns, "adopted").await?;
    let adopted = get_json(&harness.client, &config_maps(), &ns, "adopted-config")
        .await?
        .expect("exists");
    assert_eq!(adopted["data"]["value"], "one");
    assert_eq!(adopted["metadata"]["labels"]["kro.run/owned"], "true");
    Ok(())
}

/// includeWhen flipping to false prunes the resource; a forEach list grows and shrinks.
#[tokio::test]
async fn include_when_flip_prunes_and_collections_grow_and_shrink() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CONFIG_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-prune").await?;
    let exists = |name: &'static str| {
        let client = harness.client.clone();
        let ns = ns.clone();
        async move {
            anyhow::Ok(
                get_json(&client, &config_maps(), &ns, name)
                    .await?
                    .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_null()),
            )
        }
    };

    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": true, "names": ["a", "b"]})),
        )
        .await?;
    engine.converge_active(&ns, "p").await?;
    assert!(exists("p-config-extra").await?);
    assert!(exists("p-item-a").await? && exists("p-item-b").await?);
    let item_a = get_json(&harness.client, &config_maps(), &ns, "p-item-a")
        .await?
        .expect("item a");
    assert_eq!(label(&item_a, "kro.run/collection-index"), Some("0"));
    assert_eq!(label(&item_a, "kro.run/collection-size"), Some("2"));

    // Grow.
    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": true, "names": ["a", "b", "c"]})),
        )
        .await?;
    engine.converge_active(&ns, "p").await?;
    assert!(exists("p-item-c").await?);
    let item_c = get_json(&harness.client, &config_maps(), &ns, "p-item-c")
        .await?
        .expect("item c");
    assert_eq!(label(&item_c, "kro.run/collection-size"), Some("3"));

    // Shrink and flip includeWhen in one edit.
    engine
        .apply_instance(
            &ns,
            config_instance("p", &json!({"withExtra": false, "names": ["a"]})),
        )
        .await?;
    let pruned = engine.converge_active(&ns, "p").await?;
    assert!(
        pruned
            .history
            .iter()
            .map(|o| o.stats.deletes)
            .sum::<usize>()
            >= 3,
        "{pruned:?}"
    );
    assert!(!exists("p-config-extra").await?);
    assert!(!exists("p-item-b").await? && !exists("p-item-c").await?);
    assert!(exists("p-item-a").await? && exists("p-config").await?);
    let instance = get_json(&harness.client, &engine.kind, &ns, "p")
        .await?
        .expect("instance");
    assert_eq!(
        instance["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps"
    );
    Ok(())
}

const CHAIN_RGD: &str = r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: exec-chain
spec:
  schema:
    apiVersion: v1alpha1
    kind: ExecChain
    spec:
      target: string
  resources:
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.target}
      data:
        owner: ${schema.metadata.name}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${first.metadata.name}-second
      data:
        from: ${first.data.owner}
  - id: third
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${second.metadata.name}-third
      data:
        from: ${second.data.from}
"#;

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
    use kro_controller::executor::VanishedInstance;

    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-vanished").await?;
    let instance = json!({"kind": "ExecChain", "metadata": {"name": "gone"},
                          "spec": {"target": "v"}});
    let children: &'static [&'static str] = &["v", "v-second", "v-second-third"];
    let existing = |names: &'static [&'static str]| {
        let client = harness.client.clone();
        let ns = ns.clone();
        async move {
            let mut found = Vec::new();
            for name in names {
                if get_json(&client, &config_maps(), &ns, name)
                    .await?
                    .is_some()
                {
                    found.push(*name);
                }
            }
            anyhow::Ok(found)
        }
    };
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
    let remove_past_kro = || async {
        let api = engine.api(&ns);
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
    };
    remove_past_kro().await?;
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
    remove_past_kro().await?;

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

/// Every corpus RGD + instance pair (except the chained saas-multi-tenant example, whose
/// instances are reconciled by other RGDs' controllers) converges to ACTIVE with one object per
/// synced template node, labelled with its node id and instance.
#[tokio::test]
async fn corpus_fixtures_converge_with_their_children() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let documents = kro_integration_tests::corpus_documents()?;
    // Prerequisites the upstream fixtures expect (00-namespace.yaml, 01-external-configmap.yaml).
    for prerequisite in documents.iter().filter(|d| {
        d.path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("0"))
    }) {
        let kind = &prerequisite.value["kind"];
        let mapping = if kind == "Namespace" {
            kro_controller::executor::KindMapping {
                namespaced: false,
                ..builtin("", "v1", "Namespace", "namespaces")
            }
        } else {
            config_maps()
        };
        let name = prerequisite.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default();
        let namespace = prerequisite.value["metadata"]["namespace"].as_str();
        mapping
            .api(harness.client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply("kro-executor-tests").force(),
                &Patch::Apply(&prerequisite.value),
            )
            .await?;
    }

    let mut by_dir: std::collections::BTreeMap<std::path::PathBuf, (Vec<Value>, Vec<Value>)> =
        Default::default();
    for document in &documents {
        let Some(dir) = document.path.parent() else {
            continue;
        };
        // saas-multi-tenant chains RGDs: its instances create instances of other RGDs, which
        // need those RGDs' controllers (the operator). job-example waits for a Job to complete,
        // and the test control plane runs no job controller.
        if dir.ends_with("test/upgrade/fixtures")
            || dir.ends_with("saas-multi-tenant")
            || dir.ends_with("job-example")
        {
            continue;
        }
        let entry = by_dir.entry(dir.to_path_buf()).or_default();
        if document.value["kind"] == "ResourceGraphDefinition" {
            entry.0.push(document.value.clone());
        } else {
            entry.1.push(document.value.clone());
        }
    }
    let mut failures = Vec::new();
    let mut converged_count = 0;
    for (dir, (rgds, instances)) in &by_dir {
        let case = dir
            .strip_prefix(kro_integration_tests::corpus_root())
            .unwrap_or(dir)
            .display()
            .to_string();
        let [rgd] = rgds.as_slice() else {
            failures.push(format!("{case}: expected one RGD, found {}", rgds.len()));
            continue;
        };
        let result = async {
            let has_namespace_field = rgd["spec"]["schema"]["spec"].get("namespace").is_some();
            let engine = harness.install(rgd.clone()).await?;
            let ns = create_namespace(&harness.client, "exec-corpus").await?;
            for instance in instances {
                let mut instance = instance.clone();
                if has_namespace_field {
                    instance["spec"]["namespace"] = json!(ns);
                }
                if case.ends_with("core-dns") {
                    // Its cluster-scoped RBAC objects are named after spec.name: keep them apart
                    // from other tests' instances of the same example.
                    instance["spec"]["name"] = json!(ns);
                    // The example's fixed cluster IP lies outside the test service range; pick
                    // one per run so earlier runs' services do not hold it.
                    let spread = ns.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                    let ip = format!("10.96.{}.{}", 200 + spread % 50, 2 + (spread / 50) % 250);
                    instance["spec"]["values"]["service"]["clusterIP"] = json!(ip);
                    instance["spec"]["values"]["service"]["clusterIPs"] = json!([ip]);
                }
                let name = instance["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                engine.apply_instance(&ns, instance).await?;
                let converged = engine.converge_active(&ns, &name).await?;
                let status = get_json(&harness.client, &engine.kind, &ns, &name)
                    .await?
                    .map(|i| i["status"].clone())
                    .unwrap_or_default();
                for node in engine.graph.resources() {
                    if !matches!(node.kind(), kro_graph::NodeKind::Template) || node.is_collection()
                    {
                        continue;
                    }
                    let synced = status["resources"].as_array().is_some_and(|entries| {
                        entries
                            .iter()
                            .any(|e| e["id"] == node.id() && e["state"] == "SYNCED")
                    });
                    if !synced {
                        continue;
                    }
                    let kind = kro_controller::executor::KindMapping {
                        group: node.gvk().group.clone(),
                        version: node.gvk().version.clone(),
                        kind: node.gvk().kind.clone(),
                        plural: node.plural().to_owned(),
                        namespaced: node.namespaced(),
                    };
                    let uid = engine
                        .api(&ns)
                        .get(&name)
                        .await?
                        .metadata
                        .uid
                        .unwrap_or_default();
                    let selector =
                        format!("kro.run/node-id={},kro.run/instance-id={uid}", node.id());
                    let listed = kind
                        .api(harness.client.clone(), None)
                        .list(&kube::api::ListParams::default().labels(&selector))
                        .await?;
                    anyhow::ensure!(
                        listed.items.len() == 1,
                        "{name}: node {} has {} objects labelled {selector}",
                        node.id(),
                        listed.items.len()
                    );
                }
                let deleted = engine.delete_and_finalize(&ns, &name).await?;
                let deletes: usize = deleted.history.iter().map(|o| o.stats.deletes).sum();
                eprintln!(
                    "{case} {name}: ACTIVE after {} reconciles in {:?}; deleted ({deletes} deletes) in {} reconciles, {:?}",
                    converged.reconciles, converged.elapsed, deleted.reconciles, deleted.elapsed
                );
            }
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => converged_count += 1,
            Err(error) => failures.push(format!("{case}: {error:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} converged; failures:\n{}",
        converged_count,
        failures.join("\n")
    );
    assert!(converged_count >= 25, "only {converged_count} fixtures ran");
    Ok(())
}

/// An admission rejection shows as ERROR with the server's message, and the instance recovers
/// once the cause is removed.
#[tokio::test]
async fn admission_rejection_is_an_error_that_recovers() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness.install(yaml(CHAIN_RGD)).await?;
    let ns = create_namespace(&harness.client, "exec-admission").await?;
    let policy_name = format!("{ns}-deny");
    let policies = builtin(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
    );
    let policies = kro_controller::executor::KindMapping {
        namespaced: false,
        ..policies
    };
    let bindings = kro_controller::executor::KindMapping {
        kind: "ValidatingAdmissionPolicyBinding".into(),
        plural: "validatingadmissionpolicybindings".into(),
        ..policies.clone()
    };
    let apply = PatchParams::apply("kro-executor-tests").force();
    policies
        .api(harness.client.clone(), None)
        .patch(
            &policy_name,
            &apply,
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": policy_name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": [{
                        "apiGroups": [""], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]
                    }]},
                    "validations": [{
                        "expression": "!has(object.data) || !('from' in object.data)",
                        "message": "derived config maps are frozen by policy"
                    }]
                }
            })),
        )
        .await?;
    bindings
        .api(harness.client.clone(), None)
        .patch(
            &policy_name,
            &apply,
            &Patch::Apply(json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": policy_name},
                "spec": {
                    "policyName": policy_name,
                    "validationActions": ["Deny"],
                    "matchResources": {"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": ns
                    }}}
                }
            })),
        )
        .await?;
    // Policies take effect asynchronously: wait until a dry-run create is denied.
    let probe = config_maps().api(harness.client.clone(), Some(&ns));
    kro_integration_tests::wait_for(Duration::from_secs(30), "the policy to deny", || {
        let probe = probe.clone();
        async move {
            let object: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "probe"}, "data": {"from": "x"}
            }))?;
            let params = kube::api::PostParams {
                dry_run: true,
                ..Default::default()
            };
            Ok(probe.create(&params, &object).await.is_err())
        }
    })
    .await?;

    engine
        .apply_instance(
            &ns,
            json!({"kind": "ExecChain", "metadata": {"name": "denied"}, "spec": {"target": "d"}}),
        )
        .await?;
    let failed = engine
        .converge(&ns, "denied", Duration::from_secs(30), |o| {
            o.state == InstanceState::Error
        })
        .await?
        .outcome;
    let second = failed
        .waiting_on
        .iter()
        .find(|w| w.id == "second")
        .expect("second is reported");
    assert_eq!(second.state, "ERROR");
    assert!(
        second
            .reason
            .contains("derived config maps are frozen by policy"),
        "{second:?}"
    );
    assert!(failed.requeue_after.is_some(), "{failed:?}");
    let status = get_json(&harness.client, &engine.kind, &ns, "denied")
        .await?
        .expect("instance")["status"]
        .clone();
    assert_eq!(status["state"], "ERROR");
    let resources_ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "ResourcesReady"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(resources_ready["status"], "False", "{status:#}");
    assert!(
        resources_ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("frozen by policy")),
        "{status:#}"
    );
    assert!(
        get_json(&harness.client, &config_maps(), &ns, "d")
            .await?
            .is_some()
    );
    assert!(
        get_json(&harness.client, &config_maps(), &ns, "d-second")
            .await?
            .is_none()
    );

    // Remove the cause: the retry (requeue_after) converges.
    bindings
        .api(harness.client.clone(), None)
        .delete(&policy_name, &DeleteParams::default())
        .await?;
    policies
        .api(harness.client.clone(), None)
        .delete(&policy_name, &DeleteParams::default())
        .await?;
    let recovered = engine.converge_active(&ns, "denied").await?;
    assert!(recovered.outcome.waiting_on.is_empty());
    assert!(
        get_json(&harness.client, &config_maps(), &ns, "d-second-third")
            .await?
            .is_some()
    );
    Ok(())
}
