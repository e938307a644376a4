//! Every RGD of the corpus (upstream kro's examples and fixtures) converts, deterministically.

use kro_schema::{CrdOptions, CrdSpec, crd_from_rgd_schema, diff_crds, generate_crd};
use serde_json::json;

#[test]
fn corpus_has_the_expected_rgds() {
    let rgds = kro_test_support::rgd_documents();
    assert!(rgds.len() >= 30, "found {} RGDs", rgds.len());
}

#[test]
fn every_corpus_rgd_converts() {
    let mut failures = Vec::new();
    for rgd in kro_test_support::rgd_documents() {
        if let Err(errors) = crd_from_rgd_schema(&rgd.value["spec"]["schema"]) {
            failures.push(format!("{} ({}): {errors}", rgd.name(), rgd.path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn output_is_byte_identical_across_runs() {
    let options = CrdOptions::kro_owned("rgd", "uid", "v1.0.0");
    for rgd in kro_test_support::rgd_documents() {
        let render = || {
            let spec = CrdSpec::from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
            serde_saphyr::to_string(&generate_crd(&spec, None, &options)).expect("serializes")
        };
        let first = render();
        assert_eq!(first, render(), "{}", rgd.name());
        assert!(first.contains("openAPIV3Schema"), "{}", rgd.name());
    }
}

#[test]
fn regenerating_a_corpus_crd_reports_no_changes() {
    for rgd in kro_test_support::rgd_documents() {
        let a = crd_from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
        let b = crd_from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
        let diff = diff_crds(&a, &b);
        assert!(!diff.has_changes(), "{}: {diff}", rgd.name());
    }
}

fn rgd_named(name: &str) -> kro_test_support::Document {
    kro_test_support::rgd_documents()
        .into_iter()
        .find(|rgd| rgd.name() == name)
        .unwrap_or_else(|| panic!("corpus RGD {name}"))
}

#[test]
fn group_defaults_to_kro_run_and_explicit_group_is_kept() {
    for rgd in kro_test_support::rgd_documents() {
        let spec = CrdSpec::from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
        match rgd.value["spec"]["schema"]
            .get("group")
            .and_then(|g| g.as_str())
        {
            Some(group) => assert_eq!(spec.group, group),
            None => assert_eq!(spec.group, "kro.run"),
        }
        assert_eq!(spec.crd_name(), format!("{}.{}", spec.plural(), spec.group));
    }
}

#[test]
fn coredns_map_defaults_are_json_objects() {
    let rgd = rgd_named("coredns.kro.run");
    let spec = CrdSpec::from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
    let spec_json = serde_json::to_value(&spec.spec_schema).expect("serializes");
    let deployment = &spec_json["properties"]["values"]["properties"]["deployment"];
    assert_eq!(
        deployment["properties"]["annotations"],
        json!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {"deployment.kubernetes.io/revision": "\"1\""}
        })
    );
    assert_eq!(
        deployment["properties"]["replicas"],
        json!({"type": "integer", "default": 2})
    );
    // Children with defaults and no required sibling give every parent a `{}` default.
    assert_eq!(deployment["default"], json!({}));
    assert_eq!(spec_json["properties"]["values"]["default"], json!({}));
    assert_eq!(spec_json["default"], json!({}));
    assert_eq!(
        spec_json["properties"]["values"]["properties"]["service"]["properties"]["clusterIPs"],
        json!({"type": "array", "items": {"type": "string"}, "default": ["10.100.123.45"]})
    );
}

#[test]
fn additional_printer_columns_replace_the_defaults() {
    let rgd = kro_test_support::rgd_documents()
        .into_iter()
        .find(|rgd| {
            rgd.value["spec"]["schema"]
                .get("additionalPrinterColumns")
                .is_some()
        })
        .expect("an RGD with printer columns");
    let crd = crd_from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
    let columns = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Available replicas", "Image", "Enabled Ingress"]);
}
