//! The corpus the loader finds: the cases the workspace's tests were written against, each with
//! its RGDs and the instances of their kinds.

use kro_test_support::{Origin, cases, example, fixture, relative};

#[test]
fn the_corpus_has_the_listed_cases() {
    let names: Vec<(Origin, &str)> = cases()
        .iter()
        .map(|case| (case.origin, case.name.as_str()))
        .collect();
    let examples: Vec<&str> = names
        .iter()
        .filter(|(origin, _)| *origin == Origin::Example)
        .map(|(_, name)| *name)
        .collect();
    assert_eq!(
        examples,
        [
            "additionalPrinterColumns",
            "cel-functions",
            "core-dns",
            "defaults",
            "dogsvscats/result-app",
            "dogsvscats/vote-app",
            "dogsvscats/worker-app",
            "job-example",
            "saas-multi-tenant",
            "webapp",
        ]
    );
    let fixtures = names
        .iter()
        .filter(|(origin, _)| *origin == Origin::Fixture)
        .count();
    assert_eq!(fixtures, kro_test_support::FIXTURES.len());
}

#[test]
fn every_case_has_rgds_and_every_instance_a_kind_of_its_case() {
    let mut rgds = 0;
    for case in cases() {
        assert!(!case.rgds.is_empty(), "{}: no RGD", case.name);
        assert!(!case.instances.is_empty(), "{}: no instance", case.name);
        rgds += case.rgds.len();
        for instance in &case.instances {
            assert!(
                case.rgds
                    .iter()
                    .any(|rgd| case.instance_for(rgd) == Some(instance.as_path())),
                "{}: {} instantiates none of the case's RGDs",
                case.name,
                instance.display()
            );
        }
    }
    assert_eq!(rgds, 30);
}

#[test]
fn named_files_resolve_inside_the_module() {
    assert_eq!(
        relative(example("webapp").rgd()),
        "examples/kubernetes/webapp/rg.yaml"
    );
    assert_eq!(
        relative(fixture("external-ref").instance()),
        "test/upgrade/fixtures/external-ref/instance.yaml"
    );
    let saas = example("saas-multi-tenant");
    let tenant = saas.file("tenant-rgd.yaml");
    assert_eq!(saas.instance_for(&tenant), Some(saas.instance()));
    assert_eq!(
        saas.instance_for(&saas.file("tenant-environment-rgd.yaml")),
        None
    );
    let prerequisites = kro_test_support::prerequisites();
    let kinds: Vec<String> = prerequisites
        .files()
        .iter()
        .flat_map(|file| kro_test_support::read_documents(file))
        .map(|document| document["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["Namespace", "ConfigMap"]);
}

#[test]
fn documents_cover_every_file_in_path_order() {
    let files = kro_test_support::files();
    assert_eq!(
        files.len(),
        2 + cases()
            .iter()
            .map(|c| c.rgds.len() + c.instances.len())
            .sum::<usize>()
    );
    let documents = kro_test_support::documents();
    let mut paths: Vec<_> = documents.iter().map(|d| d.path.clone()).collect();
    paths.dedup();
    assert_eq!(paths, files);
    // core-dns repeats a key: the last one wins, as in the API server.
    assert!(
        documents
            .iter()
            .any(|d| d.value["kind"] == "CoreDNSDeployment")
    );
}
