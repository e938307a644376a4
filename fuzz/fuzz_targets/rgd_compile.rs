//! Compiling arbitrary RGD YAML never panics: it either compiles or returns located problems.
#![no_main]

use kro_api::ResourceGraphDefinition;
use kro_graph::{OfflineResolver, compile};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RESOLVER: LazyLock<OfflineResolver> = LazyLock::new(OfflineResolver::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rgd) = ResourceGraphDefinition::from_yaml(text) else {
        return;
    };
    match compile(&rgd, &*RESOLVER) {
        Ok(graph) => {
            assert_eq!(graph.topological_ids().len(), graph.resources().len());
            assert_eq!(graph.spec_hash().len(), 16);
        }
        Err(error) => assert!(!error.problems().is_empty()),
    }
});
