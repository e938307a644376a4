//! Fuzzes expression compilation and evaluation against a fixed activation: no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let env = kro_cel::Environment::new().with_omit(true);
    let mut activation = kro_cel::Activation::new();
    let fixture = serde_json::json!({
        "metadata": {"name": "demo", "labels": {"app": "demo"}},
        "spec": {"name": "web", "replicas": 3, "tags": ["a", "b"], "nested": {"x": 1.5}, "nil": null}
    });
    if activation.bind("schema", &fixture).is_err() {
        return;
    }
    if let Ok(program) = env.compile(source) {
        let _ = program.references();
        let _ = program.evaluate(&activation);
    }
});
