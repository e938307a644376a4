//! Golden YAML of the CRDs generated for a few corpus RGDs. A change in the output (field
//! order, defaults, names) shows up as a diff here. Regenerate deliberately with
//! `UPDATE_SNAPSHOTS=1 cargo test -p kro-schema --test snapshots`.

use std::path::PathBuf;

use kro_schema::{CrdOptions, CrdSpec, generate_crd};

fn check(rgd_name: &str, snapshot: &str) {
    let rgd = kro_test_support::rgd_documents()
        .into_iter()
        .find(|rgd| rgd.name() == rgd_name)
        .unwrap_or_else(|| panic!("corpus RGD {rgd_name}"));
    let spec = CrdSpec::from_rgd_schema(&rgd.value["spec"]["schema"]).expect("converts");
    let crd = generate_crd(
        &spec,
        None,
        &CrdOptions::kro_owned(rgd_name, "uid-0", "v0.0.0"),
    );
    let actual = serde_saphyr::to_string(&crd).expect("serializes");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(snapshot);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).expect("snapshot written");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs from its snapshot",
        path.display()
    );
}

#[test]
fn webapp() {
    check("webapp.kro.run", "webapp.crd.yaml");
}

#[test]
fn coredns() {
    check("coredns.kro.run", "coredns.crd.yaml");
}

#[test]
fn printer_columns_example() {
    check("application", "application.crd.yaml");
}
