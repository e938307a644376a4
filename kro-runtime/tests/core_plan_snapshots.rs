//! Snapshots of the planning core over the upstream corpus: for every instance of every case
//! whose RGD compiles on its own, the first pass on an empty cluster and the plan once the
//! simulated cluster has settled (`Cluster::settle`, as `core_corpus.rs` runs it), rendered as
//! YAML under `tests/snapshots/`. A change in what kro-rs applies, in which order, or in the
//! status it writes shows up as a reviewable diff.
//!
//! Accept a deliberate change with `INSTA_UPDATE=always cargo test -p kro-runtime --test
//! core_plan_snapshots` (or `cargo insta review`) and commit the `.snap` files. CI runs with
//! `INSTA_UPDATE=no`: a missing or different snapshot fails the test.

mod core_support;

use core_support::{Cluster, corpus, corpus_graph, documents, render_plan, stored_instance};
use kro_runtime::core::InstanceState;
use kro_test_support::Origin;
use serde_json::json;

#[test]
fn corpus_plans_match_their_snapshots() {
    let mut settings = insta::Settings::clone_current();
    // The header would repeat this file's source in every snapshot.
    settings.set_omit_expression(true);
    let mut snapshots = 0;
    for case in kro_test_support::cases() {
        // The tenant RGD instantiates the kinds of the other two, which only an operator that
        // reconciles all three plans; each of those two has no instance of its own.
        if case.name == "saas-multi-tenant" {
            continue;
        }
        let origin = match case.origin {
            Origin::Example => "example",
            Origin::Fixture => "fixture",
        };
        for rgd in &case.rgds {
            let Some(instances) = case.instance_for(rgd) else {
                panic!("{}: no instance for {}", case.name, rgd.display());
            };
            let graph = corpus_graph(rgd);
            for (index, raw) in documents(&corpus(instances)).into_iter().enumerate() {
                let instance = stored_instance(&graph, raw);
                let mut cluster = Cluster::new();
                // Upstream's upgrade test applies the fixtures' prerequisites before any fixture.
                if case.origin == Origin::Fixture {
                    for file in kro_test_support::prerequisites().files() {
                        documents(&corpus(file))
                            .into_iter()
                            .filter(|object| object["kind"] != "Namespace")
                            .for_each(|object| cluster.create(object));
                    }
                }
                let first = cluster.plan(&graph, &instance, None);
                let settled = cluster.settle(&graph, &instance);
                assert_eq!(
                    settled.instance_state,
                    InstanceState::Active,
                    "{} #{index}: {:#}",
                    case.name,
                    settled.status
                );
                let name = format!("{origin}-{}-{index}", case.name.replace('/', "-"));
                let rendered = json!({
                    "instance": kro_test_support::relative(instances),
                    "document": index,
                    "firstPass": render_plan(&first),
                    "settled": render_plan(&settled),
                });
                settings.bind(|| insta::assert_yaml_snapshot!(name, rendered));
                snapshots += 1;
            }
        }
    }
    // 18 fixtures (conditional has two instances) and the 9 examples besides saas-multi-tenant.
    assert_eq!(snapshots, 28);
}
