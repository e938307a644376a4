//! Fuzzes the SimpleSchema field parser and the schema/CRD conversion: no input may panic.
//!
//! The bytes are tried three ways: as one field string (`"integer | default=3"`), and, when
//! they parse as JSON or YAML, as an RGD `spec.schema` (or as a bare `spec` map).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = kro_schema::parse_field(text);

    let document = serde_json::from_str::<Value>(text)
        .ok()
        .or_else(|| serde_saphyr::from_str::<Value>(text).ok());
    let Some(document) = document else {
        return;
    };
    let _ = kro_schema::SimpleSchema::to_openapi(&document, None);
    let _ = kro_schema::SimpleSchema::to_openapi(
        document.get("spec").unwrap_or(&Value::Null),
        document.get("types"),
    );
    if let Ok(crd) = kro_schema::crd_from_rgd_schema(&document) {
        // A CRD compared with itself has no changes.
        assert!(!kro_schema::diff_crds(&crd, &crd).has_changes());
    }
});
