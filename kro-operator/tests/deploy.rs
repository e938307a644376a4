//! Render-free checks of `deploy/`: the plain manifests parse, carry the security settings, and
//! agree with the Helm chart's values and templates; every flag they pass exists in
//! `OperatorConfig`; the chart's CRD copies match `kro-graph/crds`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use kro_operator::config::OperatorConfig;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|error| panic!("{relative} is not valid YAML: {error}"));
    documents
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

fn manifest_files() -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(workspace().join("deploy/manifests"))
        .expect("deploy/manifests exists")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

fn manifest_objects() -> Vec<Value> {
    manifest_files()
        .iter()
        .filter(|name| name.as_str() != "kustomization.yaml")
        .flat_map(|name| yaml_documents(&format!("deploy/manifests/{name}")))
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/manifests"))
}

fn deployment() -> Value {
    find(&manifest_objects(), "Deployment", "kro").clone()
}

fn controller_container(deployment: &Value) -> Value {
    deployment["spec"]["template"]["spec"]["containers"][0].clone()
}

/// `--flag=value` arguments of the manifest's container, by flag.
fn manifest_args() -> BTreeMap<String, String> {
    let container = controller_container(&deployment());
    container["args"]
        .as_array()
        .expect("args is a list")
        .iter()
        .map(|arg| {
            let arg = arg.as_str().expect("args are strings");
            let (flag, value) = arg
                .strip_prefix("--")
                .and_then(|rest| rest.split_once('='))
                .unwrap_or_else(|| panic!("argument `{arg}` is not --flag=value"));
            (flag.to_owned(), value.to_owned())
        })
        .collect()
}

fn values() -> Value {
    yaml_documents("deploy/helm/kro-rs/values.yaml").remove(0)
}

fn value_at<'a>(root: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(root, |node, key| &node[key])
}

/// Helm `config.*` value paths and the flag each one feeds.
const VALUE_FLAGS: [(&str, &str); 29] = [
    ("config.enableControllerWarmup", "enable-controller-warmup"),
    (
        "config.graphRevisionConcurrentReconciles",
        "graph-revision-concurrent-reconciles",
    ),
    (
        "config.dynamicControllerRateLimiterRateLimit",
        "dynamic-controller-rate-limiter-rate-limit",
    ),
    (
        "config.dynamicControllerRateLimiterBurstLimit",
        "dynamic-controller-rate-limiter-burst-limit",
    ),
    (
        "config.dynamicControllerDefaultQueueMaxRetries",
        "dynamic-controller-default-queue-max-retries",
    ),
    ("config.development", "zap-devel"),
    ("config.metricsBindAddress", "metrics-bind-address"),
    ("config.healthProbeBindAddress", "health-probe-bind-address"),
    ("config.enableLeaderElection", "leader-elect"),
    (
        "config.leaderElectionNamespace",
        "leader-election-namespace",
    ),
    (
        "config.leaderElectionLeaseDuration",
        "leader-election-lease-duration",
    ),
    (
        "config.leaderElectionRenewDeadline",
        "leader-election-renew-deadline",
    ),
    (
        "config.leaderElectionRetryPeriod",
        "leader-election-retry-period",
    ),
    ("config.allowCRDDeletion", "allow-crd-deletion"),
    (
        "config.gracefulShutdownTimeout",
        "graceful-shutdown-timeout",
    ),
    (
        "config.resourceGraphDefinitionConcurrentReconciles",
        "resource-graph-definition-concurrent-reconciles",
    ),
    (
        "config.dynamicControllerConcurrentReconciles",
        "dynamic-controller-concurrent-reconciles",
    ),
    (
        "config.dynamicControllerRateLimiterMinDelay",
        "dynamic-controller-rate-limiter-min-delay",
    ),
    (
        "config.dynamicControllerRateLimiterMaxDelay",
        "dynamic-controller-rate-limiter-max-delay",
    ),
    (
        "config.dynamicControllerDefaultResyncPeriod",
        "dynamic-controller-default-resync-period",
    ),
    (
        "config.instance.requeueInterval",
        "instance-requeue-interval",
    ),
    ("config.clientQps", "client-qps"),
    ("config.clientBurst", "client-burst"),
    ("config.rgd.maxCollectionSize", "rgd-max-collection-size"),
    (
        "config.rgd.maxCollectionDimensionSize",
        "rgd-max-collection-dimension-size",
    ),
    ("config.rgd.maxGraphRevisions", "rgd-max-graph-revisions"),
    (
        "config.resourceGraphDefinitionProgressRequeueDelay",
        "rgd-progress-requeue-delay",
    ),
    ("config.logLevel", "log-level"),
    ("config.logEncoder", "log-format"),
];

/// Flags the chart passes only when a value turns them on.
const CONDITIONAL_FLAGS: [&str; 2] = ["feature-gates", "pprof-bind-address"];

/// A scalar value as Helm prints it into an argument.
fn as_argument(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number
            .as_f64()
            .filter(|float| float.fract() == 0.0)
            .map_or_else(|| number.to_string(), |whole| format!("{whole:.0}")),
        other => panic!("not a scalar: {other}"),
    }
}

fn port_of(bind_address: &str) -> u64 {
    bind_address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {bind_address}"))
}

#[test]
fn every_manifest_parses_and_has_kind_and_name() {
    let files = manifest_files();
    for required in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "rbac-unrestricted.yaml",
        "rbac-aggregated.yaml",
        "rbac-binding.yaml",
        "deployment.yaml",
        "service.yaml",
        "kustomization.yaml",
    ] {
        assert!(
            files.iter().any(|file| file == required),
            "deploy/manifests/{required} is missing"
        );
    }
    for object in manifest_objects() {
        assert!(
            object["apiVersion"].is_string() && object["kind"].is_string(),
            "{object}"
        );
        assert!(object["metadata"]["name"].is_string(), "{object}");
        let namespaced = !matches!(
            object["kind"].as_str(),
            Some("Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition")
        );
        if namespaced {
            assert_eq!(object["metadata"]["namespace"], "kro-system", "{object}");
        }
    }
    let values = values();
    assert!(values.is_object(), "values.yaml is a mapping");
    yaml_documents("deploy/helm/kro-rs/Chart.yaml");
}

#[test]
fn the_deployment_is_locked_down() {
    let deployment = deployment();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "kro");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period set");
    let shutdown = manifest_args()["graceful-shutdown-timeout"].clone();
    let shutdown = kro_operator::duration::parse_go_duration(&shutdown).expect("valid duration");
    assert!(
        grace > shutdown.as_secs(),
        "the pod must outlive --graceful-shutdown-timeout"
    );
    let containers = pod["containers"].as_array().expect("containers");
    assert!(!containers.is_empty());
    for container in containers {
        let security = &container["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"], false, "{container}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{container}");
        assert_eq!(security["runAsNonRoot"], true, "{container}");
        assert_eq!(
            security["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{container}"
        );
        assert_eq!(
            security["seccompProfile"]["type"], "RuntimeDefault",
            "{container}"
        );
        for section in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    container["resources"][section][resource].is_string(),
                    "{section}.{resource} in {container}"
                );
            }
        }
    }
}

#[test]
fn probes_ports_and_service_agree_with_the_flags_and_values() {
    let args = manifest_args();
    let values = values();
    let metrics_port = port_of(&args["metrics-bind-address"]);
    let health_port = port_of(&args["health-probe-bind-address"]);
    assert_eq!((metrics_port, health_port), (8078, 8079));
    let values_metrics = value_at(&values, "config.metricsBindAddress")
        .as_str()
        .expect("string");
    let values_health = value_at(&values, "config.healthProbeBindAddress")
        .as_str()
        .expect("string");
    assert_eq!(port_of(values_metrics), metrics_port);
    assert_eq!(port_of(values_health), health_port);
    assert_eq!(
        value_at(&values, "metrics.service.port").as_u64(),
        Some(metrics_port)
    );

    let container = controller_container(&deployment());
    let ports: BTreeMap<String, u64> = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|port| {
            (
                port["name"].as_str().expect("name").to_owned(),
                port["containerPort"].as_u64().expect("port"),
            )
        })
        .collect();
    assert_eq!(ports.get("metrics"), Some(&metrics_port));
    assert_eq!(ports.get("health"), Some(&health_port));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        container["livenessProbe"]["httpGet"]["port"].as_u64(),
        Some(health_port)
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        container["readinessProbe"]["httpGet"]["port"].as_u64(),
        Some(health_port)
    );

    let service = find(&manifest_objects(), "Service", "kro-metrics").clone();
    assert_eq!(
        service["spec"]["ports"][0]["port"].as_u64(),
        Some(metrics_port)
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/name"],
        deployment()["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
    );
}

#[test]
fn manifest_flags_exist_and_parse_with_the_real_parser() {
    let args = manifest_args();
    let known: Vec<String> = OperatorConfig::command()
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect();
    for flag in args.keys() {
        assert!(
            known.contains(flag),
            "--{flag} in deployment.yaml is not an OperatorConfig flag"
        );
    }
    let argv = std::iter::once("kro-operator".to_owned())
        .chain(args.iter().map(|(flag, value)| format!("--{flag}={value}")));
    let config = OperatorConfig::try_from_args(argv)
        .unwrap_or_else(|error| panic!("manifest flags rejected: {error}"));
    assert!(
        config.leader_elect,
        "the manifests run with leader election like upstream's chart"
    );
}

#[test]
fn helm_values_and_manifest_flags_agree() {
    let args = manifest_args();
    let values = values();
    for (path, flag) in VALUE_FLAGS {
        let expected = as_argument(value_at(&values, path));
        assert_eq!(
            args.get(flag),
            Some(&expected),
            "--{flag} in deployment.yaml vs {path} in values.yaml"
        );
    }
    let gates = value_at(&values, "config.featureGates")
        .as_object()
        .expect("featureGates is a mapping");
    assert!(
        gates.is_empty(),
        "no gate is switched by default, as upstream"
    );
    assert!(!args.contains_key("feature-gates"));
    let mapped: Vec<&str> = VALUE_FLAGS.iter().map(|(_, flag)| *flag).collect();
    for flag in args.keys() {
        assert!(
            mapped.contains(&flag.as_str()),
            "--{flag} has no Helm value"
        );
    }
    for (path, expected) in [
        (
            "deployment.podSecurityContext",
            &deployment()["spec"]["template"]["spec"]["securityContext"],
        ),
        (
            "deployment.securityContext",
            &controller_container(&deployment())["securityContext"],
        ),
        (
            "deployment.resources",
            &controller_container(&deployment())["resources"],
        ),
    ] {
        assert_eq!(
            value_at(&values, path),
            expected,
            "{path} in values.yaml vs deployment.yaml"
        );
    }
    assert_eq!(value_at(&values, "rbac.mode"), "unrestricted");
    assert_eq!(value_at(&values, "config.enableLeaderElection"), true);
}

#[test]
fn the_helm_template_passes_the_same_flags_from_values() {
    let template = read("deploy/helm/kro-rs/templates/deployment.yaml");
    let mut template_flags = Vec::new();
    for line in template.lines().map(str::trim) {
        let Some(arg) = line.strip_prefix("- --") else {
            continue;
        };
        let (flag, value) = arg
            .split_once('=')
            .unwrap_or_else(|| panic!("template arg `{line}` is not --flag=value"));
        template_flags.push(flag.to_owned());
        if let Some((path, _)) = VALUE_FLAGS.iter().find(|(_, mapped)| *mapped == flag) {
            let key = path.trim_start_matches("config.");
            assert!(
                value.contains(&format!("$config.{key}")),
                "--{flag} must come from {path}: `{line}`"
            );
        }
    }
    let manifest_flags: Vec<String> = manifest_args().into_keys().collect();
    template_flags.retain(|flag| !CONDITIONAL_FLAGS.contains(&flag.as_str()));
    template_flags.sort();
    assert_eq!(
        template_flags, manifest_flags,
        "templates/deployment.yaml and deployment.yaml pass different flags"
    );
    for needle in [
        "path: /healthz",
        "path: /readyz",
        "readOnlyRootFilesystem",
        "POD_NAME",
    ] {
        assert!(
            template.contains(needle) || read("deploy/helm/kro-rs/values.yaml").contains(needle),
            "`{needle}` missing from the chart"
        );
    }
}

fn base_rules_of_manifest() -> Value {
    find(&manifest_objects(), "ClusterRole", "kro:controller:base")["rules"].clone()
}

#[test]
fn aggregated_rbac_covers_what_the_operator_needs() {
    let objects = manifest_objects();
    let aggregated = objects
        .iter()
        .find(|object| object["kind"] == "ClusterRole" && object["aggregationRule"].is_object())
        .expect("an aggregated ClusterRole");
    assert_eq!(
        aggregated["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]["rbac.kro.run/aggregate-to-controller"],
        "true"
    );
    let base = find(&objects, "ClusterRole", "kro:controller:base");
    assert_eq!(
        base["metadata"]["labels"]["rbac.kro.run/aggregate-to-controller"],
        "true"
    );
    let rules = base["rules"].as_array().expect("rules");
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|rule| {
            let has = |field: &str, item: &str| {
                rule[field]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|v| v == item))
            };
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for (group, resource, verb) in [
        ("kro.run", "resourcegraphdefinitions", "watch"),
        ("kro.run", "resourcegraphdefinitions/status", "patch"),
        ("kro.run", "resourcegraphdefinitions/finalizers", "update"),
        ("internal.kro.run", "graphrevisions", "create"),
        ("internal.kro.run", "graphrevisions/status", "patch"),
        ("internal.kro.run", "graphrevisions/finalizers", "update"),
        (
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "delete",
        ),
        ("coordination.k8s.io", "leases", "patch"),
        ("coordination.k8s.io", "leases", "create"),
        ("", "events", "create"),
        ("events.k8s.io", "events", "patch"),
        ("", "namespaces", "list"),
    ] {
        assert!(
            allows(group, resource, verb),
            "base role lacks {verb} on {group}/{resource}"
        );
    }
    let unrestricted = yaml_documents("deploy/manifests/rbac-unrestricted.yaml");
    assert_eq!(
        unrestricted[0]["rules"][0]["verbs"],
        serde_json::json!(["*"])
    );
    let binding = find(&objects, "ClusterRoleBinding", "kro:controller");
    assert_eq!(binding["roleRef"]["name"], "kro:controller");
    assert_eq!(binding["subjects"][0]["name"], "kro");
}

#[test]
fn the_helm_cluster_role_template_has_the_manifest_rules() {
    let template = read("deploy/helm/kro-rs/templates/cluster-role.yaml");
    let base_start = template
        .find(":controller:base")
        .expect("base role in the template");
    let rules_start =
        base_start + template[base_start..].find("rules:\n").expect("rules") + "rules:\n".len();
    let rules_end = rules_start
        + template[rules_start..]
            .find("{{- end }}")
            .expect("end of branch");
    let rules: Value =
        serde_saphyr::from_str(&template[rules_start..rules_end]).expect("rules are plain YAML");
    assert_eq!(rules, base_rules_of_manifest());
    assert!(template.contains("rbac.kro.run/aggregate-to-controller: \"true\""));
    assert!(template.contains("eq .Values.rbac.mode \"unrestricted\""));
}

#[test]
fn kustomization_lists_the_manifests_and_references_kro_graph_crds() {
    let kustomization = yaml_documents("deploy/manifests/kustomization.yaml").remove(0);
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|item| item.as_str().expect("string"))
        .collect();
    for file in manifest_files() {
        if file == "kustomization.yaml" || file == "rbac-aggregated.yaml" {
            continue;
        }
        assert!(
            resources.contains(&file.as_str()),
            "kustomization.yaml does not list {file}"
        );
    }
    let crd_refs: Vec<&&str> = resources
        .iter()
        .filter(|item| item.contains("kro-graph/crds/"))
        .collect();
    assert_eq!(
        crd_refs.len(),
        crd_files(&workspace().join("kro-graph/crds")).len()
    );
    for reference in crd_refs {
        assert!(
            workspace()
                .join("deploy/manifests")
                .join(reference)
                .is_file(),
            "{reference} does not exist"
        );
    }
}

fn crd_files(dir: &Path) -> BTreeMap<String, String> {
    fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, fs::read_to_string(&path).expect("readable"))
        })
        .collect()
}

#[test]
fn chart_crds_match_kro_graph() {
    let source = crd_files(&workspace().join("kro-graph/crds"));
    let chart = crd_files(&workspace().join("deploy/helm/kro-rs/crds"));
    assert!(!source.is_empty(), "kro-graph/crds is empty");
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>(),
        "chart CRD files differ from kro-graph/crds: run deploy/helm/sync-crds.sh"
    );
    for (name, content) in &source {
        assert!(
            chart[name] == *content,
            "deploy/helm/kro-rs/crds/{name} is stale: run deploy/helm/sync-crds.sh"
        );
    }
}

#[test]
fn dockerfile_builds_a_static_nonroot_image() {
    let dockerfile = read("deploy/Dockerfile");
    for needle in [
        "x86_64-unknown-linux-musl",
        "cargo build --locked --release -p kro-operator",
        "FROM gcr.io/distroless/static:nonroot",
        "USER 65532:65532",
        "ENTRYPOINT [\"/kro-operator\"]",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks `{needle}`");
    }
    let image = controller_container(&deployment())["image"]
        .as_str()
        .expect("image")
        .to_owned();
    let values = values();
    let repository = value_at(&values, "image.repository")
        .as_str()
        .expect("repository");
    assert!(
        image.starts_with(&format!("{repository}:")),
        "{image} vs {repository}"
    );
}
