//! The operator's /metrics after real work, against the test control plane
//! (`KRO_TEST_KUBECONFIG`, see scripts/testenv-up.sh): an RGD goes Active, one instance ACTIVE
//! and one waiting on a readyWhen, the RGD is updated, the instances and then the RGD are
//! deleted. The families served must be upstream's list (tests/fixtures/metrics) minus the
//! committed gaps, exactly, and every counter and histogram must have counted something unless
//! the committed list of paths the scenario does not take names it.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use kro_operator::metrics::exposition::{families, samples, total};
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn scrape(port: u16) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => bail!("unexpected /metrics answer: {response}"),
    }
}

/// A committed name list: one name per line, `#` comments.
fn name_list(file: &str) -> anyhow::Result<BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// `name` is in `list`, directly or through a `prefix*` entry.
fn listed(list: &BTreeSet<String>, name: &str) -> bool {
    list.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => entry == name,
    })
}

struct Operator {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn start(kubeconfig: &str, metrics_port: u16, lease_namespace: &str) -> anyhow::Result<Self> {
        let health_port = free_port()?;
        let log = std::env::temp_dir().join(format!("kro-metrics-{}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_kro-operator"))
            .arg(format!("--kubeconfig={kubeconfig}"))
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
            .arg(format!(
                "--health-probe-bind-address=127.0.0.1:{health_port}"
            ))
            .args([
                "--leader-elect",
                &format!("--leader-election-namespace={lease_namespace}"),
                "--rgd-max-graph-revisions=1",
                "--feature-gates=InstanceConditionMetrics=true",
                "--graceful-shutdown-timeout=5s",
            ])
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .spawn()?;
        Ok(Self { child, log })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(120) {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    bail!("timed out waiting for {what}; last error: {last:?}")
}

fn rgd_body(name: &str, kind: &str, note: &str) -> Value {
    json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": kind,
                "spec": {"waiting": "boolean | default=false", "note": "string | default=a"}
            },
            "resources": [
                {"id": "config", "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-config"},
                    "data": {"note": "${schema.spec.note}", "version": note}}},
                {"id": "copies", "forEach": [{"entry": "${['x', 'y']}"}], "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-${entry}"},
                    "data": {"entry": "${entry}"}}},
                {"id": "blocked", "includeWhen": ["${schema.spec.waiting}"],
                 "readyWhen": ["${blocked.data.ready == 'yes'}"], "template": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "${schema.metadata.name}-blocked"},
                    "data": {"ready": "no"}}}
            ]
        }
    })
}

fn state(object: &DynamicObject) -> &str {
    object
        .data
        .pointer("/status/state")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The scenario; returns the scrape taken while the instances existed and the final one.
async fn exercise(client: &Client, port: u16) -> anyhow::Result<(String, String)> {
    let suffix = format!("{:x}", std::process::id());
    let (rgd_name, kind) = (format!("metrics-{suffix}"), format!("MetricsProbe{suffix}"));
    let rgds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("kro.run", "v1alpha1", "ResourceGraphDefinition"),
            "resourcegraphdefinitions",
        ),
    );
    let rgd: DynamicObject = serde_json::from_value(rgd_body(&rgd_name, &kind, "1"))?;
    // The operator installs the RGD CRD once it leads.
    wait_until("the RGD to be created", || async {
        Ok(rgds.create(&PostParams::default(), &rgd).await.is_ok())
    })
    .await?;
    wait_until("the RGD to be Active", || async {
        Ok(state(&rgds.get(&rgd_name).await?) == "Active")
    })
    .await?;

    let plural = format!("{}s", kind.to_lowercase());
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kro.run", "v1alpha1", &kind),
        &plural,
    );
    let instances: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    for (name, waiting) in [("ready", false), ("waiting", true)] {
        let body = json!({"apiVersion": "kro.run/v1alpha1", "kind": kind,
            "metadata": {"name": format!("{name}-{suffix}")}, "spec": {"waiting": waiting}});
        instances
            .create(&PostParams::default(), &serde_json::from_value(body)?)
            .await?;
    }
    let ready = format!("ready-{suffix}");
    wait_until("the instance to be ACTIVE", || async {
        Ok(state(&instances.get(&ready).await?) == "ACTIVE")
    })
    .await?;

    let mut updated = rgds.get(&rgd_name).await?;
    updated.data["spec"] = rgd_body(&rgd_name, &kind, "2")["spec"].clone();
    rgds.replace(&rgd_name, &PostParams::default(), &updated)
        .await?;
    wait_until(
        "the update's revision and its garbage collection",
        || async {
            let text = scrape(port)?;
            let samples = samples(&text);
            Ok(
                total(&samples, "rgd_graph_revision_gc_deleted_total", "counter") >= 1.0
                    && text.contains("rgd_graph_revision_issue_total{reason=\"spec_changed\"}"),
            )
        },
    )
    .await?;
    wait_until("the waiting instance's requeue", || async {
        Ok(total(
            &samples(&scrape(port)?),
            "dynamic_controller_requeue_total",
            "counter",
        ) >= 1.0)
    })
    .await?;
    let during = scrape(port)?;

    for name in [ready.clone(), format!("waiting-{suffix}")] {
        instances.delete(&name, &DeleteParams::default()).await?;
    }
    wait_until("the instances to be gone", || async {
        Ok(instances.list(&Default::default()).await?.items.is_empty())
    })
    .await?;
    rgds.delete(&rgd_name, &DeleteParams::default()).await?;
    wait_until("the RGD to be gone", || async {
        Ok(rgds.get_opt(&rgd_name).await?.is_none())
    })
    .await?;
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let _ = crds
        .delete(&format!("{plural}.kro.run"), &DeleteParams::default())
        .await;
    Ok((during, scrape(port)?))
}

/// The served families must be upstream's minus the gaps, exactly.
fn check_family_list(text: &str) -> anyhow::Result<()> {
    let upstream = name_list("upstream-families.txt")?;
    let gaps = name_list("gaps.txt")?;
    let served: BTreeSet<String> = families(text).into_keys().collect();
    let unknown: Vec<&String> = served
        .iter()
        .filter(|name| !listed(&upstream, name))
        .collect();
    let gapped_but_served: Vec<&String> =
        served.iter().filter(|name| listed(&gaps, name)).collect();
    let missing: Vec<&String> = upstream
        .iter()
        .filter(|name| !name.ends_with('*') && !served.contains(*name) && !gaps.contains(*name))
        .collect();
    let gaps_not_upstream: Vec<&String> = gaps
        .iter()
        .filter(|name| !upstream.contains(*name))
        .collect();
    if !(unknown.is_empty()
        && gapped_but_served.is_empty()
        && missing.is_empty()
        && gaps_not_upstream.is_empty())
    {
        bail!(
            "family list differs from upstream's minus the gaps:\n served but not upstream's: \
             {unknown:?}\n served but listed as gaps: {gapped_but_served:?}\n upstream's, \
             neither served nor a gap: {missing:?}\n gaps that are not upstream's: \
             {gaps_not_upstream:?}"
        );
    }
    Ok(())
}

/// Every counter and histogram counted something, unless committed as not exercised.
fn check_counted(text: &str) -> anyhow::Result<()> {
    let not_exercised = name_list("not-exercised.txt")?;
    let kinds = families(text);
    let samples = samples(text);
    let mut silent = Vec::new();
    for (name, kind) in &kinds {
        if (kind == "counter" || kind == "histogram")
            && total(&samples, name, kind) <= 0.0
            && !not_exercised.contains(name)
        {
            silent.push(name.clone());
        }
    }
    let unknown: Vec<&String> = not_exercised
        .iter()
        .filter(|name| !kinds.contains_key(*name))
        .collect();
    if !silent.is_empty() || !unknown.is_empty() {
        bail!("never counted: {silent:?}; listed as not exercised but not served: {unknown:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_upstreams_families_and_count_the_work_done() -> anyhow::Result<()> {
    let Ok(kubeconfig) = std::env::var("KRO_TEST_KUBECONFIG") else {
        bail!("KRO_TEST_KUBECONFIG is not set: start a control plane with scripts/testenv-up.sh");
    };
    let config = kro_operator::client::load_config(Some(Path::new(&kubeconfig))).await?;
    let client = Client::try_from(config)?;
    let port = free_port()?;
    // The lease lives in a namespace of its own, away from other tests' operators.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let lease_namespace = format!("kro-metrics-{:x}", std::process::id());
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": lease_namespace}}))?;
    namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    let operator = Operator::start(&kubeconfig, port, &lease_namespace)?;
    let scenario = exercise(&client, port).await;
    let _ = namespaces
        .delete(&lease_namespace, &DeleteParams::default())
        .await;
    let (during, after) = match scenario {
        Ok(scrapes) => scrapes,
        Err(error) => bail!("{error:#}\noperator log:\n{}", operator.log_tail()),
    };
    check_family_list(&after)?;
    check_counted(&after)?;
    // InstanceConditionMetrics: the live instances' conditions had durations.
    let conditions = samples(&during)
        .into_iter()
        .filter(|sample| sample.name == "instance_condition_current_status_seconds")
        .count();
    assert!(conditions >= 2, "no condition durations:\n{during}");
    assert!(
        during.contains("leader_election_master_status{name=\"controller.kro.run\"} 1"),
        "{during}"
    );
    // Gone with the instances: the condition series are evicted.
    assert!(
        !after.contains("instance_condition_current_status_seconds{"),
        "{after}"
    );
    drop(operator);
    Ok(())
}
