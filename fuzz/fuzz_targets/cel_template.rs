//! Fuzzes the `${...}` template scanner and template compilation: no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(segments) = kro_cel::scan(text) {
        let env = kro_cel::Environment::new();
        let activation = kro_cel::Activation::new();
        if let Ok(template) = kro_cel::Template::compile(&env, text) {
            let _ = template.evaluate(&activation);
        }
        drop(segments);
    }
});
