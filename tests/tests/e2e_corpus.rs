//! End to end: every example and fixture of the corpus reaches Active (RGD) and ACTIVE
//! (instance) under the operator binary. Each corpus directory gets its own API group, so the
//! three chained saas-multi-tenant RGDs share one group and reference each other's kinds.

mod e2e_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use e2e_support::{create, delete_and_wait, dynamic_api, rgd_api, start_operator, state_of};
use kro_integration_tests::{client, corpus_documents, create_namespace, unique_name, wait_for};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(150);
const CORPUS_NAMESPACE: &str = "upgrade-test";

/// Rewrites `kro.run/v1alpha1` (the default group) and the corpus namespace everywhere in a
/// document, and makes the RGD name unique.
fn isolate(document: &Value, group: &str, namespace: &str, suffix: &str) -> Value {
    let text = document.to_string();
    let text = text
        .replace("\"kro.run/v1alpha1\"", &format!("\"{group}/v1alpha1\""))
        .replace(
            &format!("\"{CORPUS_NAMESPACE}\""),
            &format!("\"{namespace}\""),
        );
    let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if value["kind"] == "ResourceGraphDefinition" {
        // The RGD itself stays in kro.run.
        value["apiVersion"] = Value::from("kro.run/v1alpha1");
        value["metadata"] = serde_json::json!({"name": format!("rgd-{suffix}-{}", value["spec"]["schema"]["kind"].as_str().unwrap_or("x").to_lowercase())});
        value["spec"]["schema"]["group"] = Value::from(group);
    } else if value["metadata"].get("namespace").is_none() {
        value["metadata"]["namespace"] = Value::from(namespace);
    }
    value
}

/// The state a corpus instance reaches on the test control plane. Two examples cannot become
/// ACTIVE there: core-dns pins a Service clusterIP outside the test cluster's service range (the
/// API server rejects it, so the node is ERROR with the server's message), and job-example waits
/// for a Job's completionTime, which kwok's fake kubelet never sets.
fn expected_state(instance: &kube::api::DynamicObject) -> &'static str {
    match instance.types.as_ref().map(|types| types.kind.as_str()) {
        Some("CoreDNSDeployment") => "ERROR",
        Some("JobDeployment") => "IN_PROGRESS",
        _ => "ACTIVE",
    }
}

#[tokio::test]
async fn every_corpus_rgd_and_instance_becomes_active() -> anyhow::Result<()> {
    let client = client().await?;
    let operator = start_operator(&client, &["--allow-crd-deletion"]).await?;
    let namespace = create_namespace(&client, "kro-e2e-corpus").await?;
    // Short, so that RGD names stay valid label values (63 characters).
    let run: String = unique_name("c").chars().rev().take(8).collect();

    let mut by_directory: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for document in corpus_documents()? {
        let directory = document
            .path
            .parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        by_directory
            .entry(directory)
            .or_default()
            .push(document.value);
    }
    // Prerequisites: the external ConfigMap, in the test namespace.
    let configmaps = dynamic_api(&client, "v1", "ConfigMap", "configmaps", Some(&namespace));
    let mut rgds = Vec::new();
    let mut instances = Vec::new();
    for (directory, documents) in &by_directory {
        let token: String = directory
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let group = format!("{token}-{run}.e2e.kro.run");
        for document in documents {
            let value = isolate(document, &group, &namespace, &format!("{token}-{run}"));
            match value["kind"].as_str() {
                Some("Namespace") => {}
                Some("ConfigMap") => {
                    create(&configmaps, &value).await?;
                }
                Some("ResourceGraphDefinition") => rgds.push(value),
                Some(_) => instances.push(value),
                None => {}
            }
        }
    }
    for rgd in &rgds {
        create(&rgd_api(&client), rgd).await?;
    }
    let api = rgd_api(&client);
    let names: Vec<String> = rgds
        .iter()
        .filter_map(|rgd| rgd["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let all_active = wait_for(TIMEOUT, "every corpus RGD to be Active", || async {
        for name in &names {
            if state_of(&api.get(name).await?) != Some("Active") {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await;
    if all_active.is_err() {
        let mut report = String::new();
        for name in &names {
            let rgd = api.get(name).await?;
            if state_of(&rgd) != Some("Active") {
                report.push_str(&format!("{name}: {}\n", rgd.data["status"]));
            }
        }
        panic!(
            "RGDs not Active:\n{report}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }

    let mut instance_apis = Vec::new();
    for instance in &instances {
        let api_version = instance["apiVersion"].as_str().unwrap_or_default();
        let kind = instance["kind"].as_str().unwrap_or_default();
        let plural = kro_schema::pluralize(&kind.to_lowercase());
        let instance_ns = instance["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&namespace)
            .to_owned();
        let api = dynamic_api(&client, api_version, kind, &plural, Some(&instance_ns));
        create(&api, instance).await?;
        let name = instance["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        instance_apis.push((api, name));
    }
    let converged = wait_for(TIMEOUT, "every corpus instance to be ACTIVE", || async {
        for (api, name) in &instance_apis {
            let instance = api.get(name).await?;
            let expected = expected_state(&instance);
            if state_of(&instance) != Some(expected) {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await;
    if converged.is_err() {
        let mut report = String::new();
        for (api, name) in &instance_apis {
            let instance = api.get(name).await?;
            if state_of(&instance) != Some(expected_state(&instance)) {
                report.push_str(&format!(
                    "{} {name}: {}\n",
                    instance
                        .types
                        .as_ref()
                        .map(|t| t.kind.clone())
                        .unwrap_or_default(),
                    instance.data["status"]
                ));
            }
        }
        panic!(
            "instances not ACTIVE:\n{report}\noperator log:\n{}",
            operator.log_tail(80)
        );
    }

    // Clean up: instances first (their children go with them), then the RGDs and their CRDs.
    for (api, name) in instance_apis.iter().rev() {
        delete_and_wait(api, name, TIMEOUT).await?;
    }
    for name in &names {
        delete_and_wait(&api, name, TIMEOUT).await?;
    }
    Ok(())
}
