//! Every RGD of the corpus (upstream kro's examples and fixtures) compiles offline with the
//! expected topological order.

use kro_api::ResourceGraphDefinition;
use kro_graph::{Graph, OfflineResolver, compile};

/// An RGD of the corpus by its path in upstream kro's module.
fn load(path: &str) -> ResourceGraphDefinition {
    let text = std::fs::read_to_string(kro_test_support::module_dir().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    ResourceGraphDefinition::from_yaml(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compile_with(resolver: &OfflineResolver, path: &str, expected: &[&str]) -> Graph {
    let graph = compile(&load(path), resolver).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(graph.topological_ids(), expected, "{path}");
    graph
}

fn assert_order(path: &str, expected: &[&str]) -> Graph {
    compile_with(&OfflineResolver::new(), path, expected)
}

#[test]
fn upstream_examples_compile_with_expected_order() {
    let webapp = assert_order(
        "examples/kubernetes/webapp/rg.yaml",
        &["deployment", "service", "ingress"],
    );
    assert_eq!(
        webapp.waves(),
        vec![vec!["deployment"], vec!["service"], vec!["ingress"]]
    );
    assert_order(
        "examples/kubernetes/additionalPrinterColumns/rg.yaml",
        &["deployment", "service"],
    );
    assert_order(
        "examples/kubernetes/cel-functions/rg.yaml",
        &["deployment", "service"],
    );
    assert_order("examples/kubernetes/defaults/rg.yaml", &[]);
    let core_dns = assert_order(
        "examples/kubernetes/core-dns/core-dns.yaml",
        &[
            "clusterRole",
            "configMap",
            "service",
            "serviceAccount",
            "clusterRoleBinding",
            "deployment",
        ],
    );
    assert_eq!(
        core_dns
            .resource("clusterRoleBinding")
            .map(|n| n.dependencies().to_vec()),
        Some(vec!["clusterRole".to_owned(), "serviceAccount".to_owned()])
    );
    assert_order(
        "examples/kubernetes/job-example/rgd.yaml",
        &["job", "deployment"],
    );
    for app in ["vote-app", "result-app"] {
        assert_order(
            &format!("examples/kubernetes/dogsvscats/{app}/rg.yaml"),
            &["deployment", "service", "ingress"],
        );
    }
    assert_order(
        "examples/kubernetes/dogsvscats/worker-app/rg.yaml",
        &["deployment"],
    );
}

#[test]
fn saas_multi_tenant_chains_the_generated_kinds() {
    let resolver = OfflineResolver::new();
    let environment = compile_with(
        &resolver,
        "examples/kubernetes/saas-multi-tenant/tenant-environment-rgd.yaml",
        &["tenantNamespace", "tenantQuota", "tenantNetworkpolicy"],
    );
    let application = compile_with(
        &resolver,
        "examples/kubernetes/saas-multi-tenant/tenant-application-rgd.yaml",
        &["deployment", "service"],
    );
    let tenant_path = "examples/kubernetes/saas-multi-tenant/tenant-rgd.yaml";
    let error = compile(&load(tenant_path), &resolver).expect_err("kinds not registered yet");
    assert_eq!(error.problems().len(), 2, "{error}");
    for graph in [&environment, &application] {
        resolver.register_crd(graph.crd()).expect("registers");
    }
    let tenant = compile_with(
        &resolver,
        tenant_path,
        &["tenantEnvironment", "tenantApplication"],
    );
    let node = tenant.resource("tenantEnvironment").expect("node");
    assert_eq!(node.gvk().kind, "TenantEnvironment");
    assert_eq!(node.plural(), "tenantenvironments");
    assert!(node.namespaced());
}

#[test]
fn upstream_fixtures_compile_with_expected_order() {
    let single = [
        "deletion-target",
        "foreach-empty",
        "foreach-nil",
        "group-default",
        "group-explicit",
        "includewhen-empty",
        "includewhen-nil",
        "metadata-empty",
        "metadata-nil",
        "readywhen-empty",
        "readywhen-nil",
        "validation-markers",
    ];
    for fixture in single {
        assert_order(
            &format!("test/upgrade/fixtures/{fixture}/rgd.yaml"),
            &["configmap"],
        );
    }
    assert_order(
        "test/upgrade/fixtures/conditional/rgd.yaml",
        &["configmap", "monitoring"],
    );
    let external = assert_order(
        "test/upgrade/fixtures/external-ref/rgd.yaml",
        &["extconfig", "configmap"],
    );
    assert!(matches!(
        external.resource("extconfig").map(|n| n.kind()),
        Some(kro_graph::NodeKind::External(
            kro_graph::ExternalSelection::ByName
        ))
    ));
    assert_order(
        "test/upgrade/fixtures/mixed-nil-empty/rgd.yaml",
        &["full", "minimal"],
    );
    assert_order(
        "test/upgrade/fixtures/multi-dependency/rgd.yaml",
        &["config", "deployment", "service"],
    );
    assert_order(
        "test/upgrade/fixtures/resources-reverse-order/rgd.yaml",
        &["zzsecond", "aafirst"],
    );
    assert_order(
        "test/upgrade/fixtures/simple-deployment/rgd.yaml",
        &["deployment", "service"],
    );
}

#[test]
fn nil_and_empty_fixtures_hash_as_upstream_does() {
    let hash = |fixture: &str| {
        let mut rgd = load(&format!("test/upgrade/fixtures/{fixture}/rgd.yaml"));
        // The fixtures differ in their names and kinds; only the nil/empty field matters here.
        rgd.spec.schema.kind = "Same".to_owned();
        if let Some(template) = rgd.spec.resources[0].template.as_mut() {
            template["data"]["test"] = "same".into();
        }
        kro_graph::hash::spec_hash(&rgd.spec)
    };
    for (nil, empty) in [
        ("foreach-nil", "foreach-empty"),
        ("includewhen-nil", "includewhen-empty"),
        ("readywhen-nil", "readywhen-empty"),
    ] {
        assert_eq!(hash(nil), hash(empty), "{nil} vs {empty}");
    }
    // `schema.metadata` is a pointer in upstream's types: present but empty is written as `{}`,
    // so upstream hashes it apart from an absent one (tests/tests/upstream_spec_hash.rs checks
    // the values against upstream's Go code).
    assert_ne!(hash("metadata-nil"), hash("metadata-empty"));
    assert_eq!(hash("group-default"), hash("group-explicit"));
}
