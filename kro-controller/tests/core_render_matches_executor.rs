//! What `kro render` prints is what the operator applies: the executor reconciles the corpus
//! webapp instance on the real control plane (`KRO_TEST_KUBECONFIG`), then the offline loop
//! (`core::settle`, the one `kro render` runs) renders the same instance with the live
//! Deployment as its only observed object, and every rendered field (labels, annotations,
//! spec) must hold the same value on the live object.

mod executor_support;

use executor_support::{Harness, builtin, corpus_file, get_json};
use kro_controller::executor::{ExecutorConfig, contains};
use kro_integration_tests::create_namespace;
use kro_runtime::core::{InMemoryView, Limits, PlanInput, RgdIdentity, settle};
use serde_json::{Value, json};

/// Every leaf of `rendered` that differs on `live`, as `path: rendered != live`.
fn differences(path: &str, live: &Value, rendered: &Value, found: &mut Vec<String>) {
    match (live, rendered) {
        (Value::Object(live), Value::Object(rendered)) => {
            for (key, value) in rendered {
                differences(
                    &format!("{path}.{key}"),
                    live.get(key).unwrap_or(&Value::Null),
                    value,
                    found,
                );
            }
        }
        (Value::Array(live), Value::Array(rendered)) if live.len() == rendered.len() => {
            for (index, (live, rendered)) in live.iter().zip(rendered).enumerate() {
                differences(&format!("{path}[{index}]"), live, rendered, found);
            }
        }
        (live, rendered) if live == rendered => {}
        (live, rendered) => found.push(format!("{path}: rendered {rendered} != live {live}")),
    }
}

/// Every field `rendered` sets (apiVersion, kind, labels, annotations, spec) that holds another
/// value on `live`. Status and server-set metadata are left out: the render does not set them.
fn rendered_differences(live: &Value, rendered: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for section in ["apiVersion", "kind"] {
        differences(section, &live[section], &rendered[section], &mut found);
    }
    differences(
        "metadata.labels",
        &live["metadata"]["labels"],
        &rendered["metadata"]["labels"],
        &mut found,
    );
    differences(
        "metadata.annotations",
        &live["metadata"]["annotations"],
        &rendered["metadata"]["annotations"],
        &mut found,
    );
    differences("spec", &live["spec"], &rendered["spec"], &mut found);
    found
}

#[tokio::test]
async fn rendered_webapp_objects_equal_what_the_executor_applied() -> anyhow::Result<()> {
    let harness = Harness::new().await?;
    let engine = harness
        .install(corpus_file("examples/kubernetes/webapp/rg.yaml"))
        .await?;
    let ns = create_namespace(&harness.client, "render-match").await?;
    // The webapp places its children in `spec.namespace` (default "default"): keep them in
    // this test's namespace, away from other tests' objects of the same name.
    let mut instance = corpus_file("examples/kubernetes/webapp/instance.yaml");
    instance["spec"]["namespace"] = serde_json::json!(ns);
    engine.apply_instance(&ns, instance).await?;
    engine.converge_active(&ns, "test-app").await?;

    let deployments = builtin("apps", "v1", "Deployment", "deployments");
    let live_instance = get_json(&harness.client, &engine.kind, &ns, "test-app")
        .await?
        .expect("instance exists");
    let live_deployment = get_json(&harness.client, &deployments, &ns, "test-app")
        .await?
        .expect("deployment exists");

    // The render: the live instance (server defaults and uid), the live Deployment standing
    // in for the cluster, the executor's RGD identity and kro version.
    let mut observed = InMemoryView::new();
    observed.insert(live_deployment)?;
    let rgd = RgdIdentity {
        name: "webapp.kro.run".to_owned(),
        uid: "uid-webapp.kro.run".to_owned(),
    };
    let kro_version = ExecutorConfig::default().kro_version;
    let input = PlanInput {
        graph: &engine.graph,
        instance: &live_instance,
        view: &observed,
        now: "2025-01-01T00:00:00Z",
        kro_version: &kro_version,
        rgd: &rgd,
        limits: Limits::default(),
        previous_status: None,
        gating: kro_runtime::core::Gating::Readiness,
    };
    let settled = settle(&input, engine.graph.resources().len() + 2);
    assert!(settled.converged);
    assert!(settled.plan.all_ready(), "{:?}", settled.plan.nodes);
    let rendered: Vec<(String, &Value)> = settled
        .plan
        .apply
        .iter()
        .map(|item| (item.key.kind.clone(), &item.body))
        .collect();
    assert_eq!(
        rendered
            .iter()
            .map(|(kind, _)| kind.as_str())
            .collect::<Vec<_>>(),
        ["Deployment", "Service", "Ingress"]
    );

    for item in &settled.plan.apply {
        let mapping = builtin(
            &item.key.group,
            &item.key.version,
            &item.key.kind,
            match item.key.kind.as_str() {
                "Deployment" => "deployments",
                "Service" => "services",
                _ => "ingresses",
            },
        );
        let live = get_json(&harness.client, &mapping, &ns, &item.key.name)
            .await?
            .unwrap_or_else(|| panic!("{} is live", item.key));
        let found = rendered_differences(&live, &item.body);
        assert!(found.is_empty(), "{}: {found:#?}", item.key);
        assert!(contains(&live, &item.body), "{}", item.key);
        // The labels that tie the object to this live instance.
        assert_eq!(
            item.body["metadata"]["labels"]["kro.run/instance-id"],
            live_instance["metadata"]["uid"]
        );
        assert_eq!(
            item.body["metadata"]["labels"]["kro.run/instance-namespace"],
            json!(ns)
        );
    }
    Ok(())
}
