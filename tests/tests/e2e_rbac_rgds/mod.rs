//! The three RGDs of the least-privilege test, apart from the test so that its file stays short.

use serde_json::{Value, json};

use super::{KINDS, SOURCE_SECRET, TEST};
use crate::e2e_support::label_for_test;

fn config_map(id: &str, data: &Value) -> Value {
    json!({"id": id, "template": {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("${{schema.metadata.name}}-{id}")},
        "data": data
    }})
}

/// An RGD of this test: kind `kind` in `group` with `resources`.
fn rgd(run: &str, suffix: &str, group: &str, kind: &str, resources: &Value) -> Value {
    let mut rgd = json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": format!("{run}-{suffix}")},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "group": group,
                "kind": kind,
                "spec": {"color": "string | default=blue"}
            },
            "resources": resources
        }
    });
    label_for_test(&mut rgd, TEST);
    rgd
}

/// ConfigMaps only; a ConfigMap and a Secret; a ConfigMap copied from an external Secret.
pub fn rgds(run: &str, group: &str) -> Vec<Value> {
    let [
        (config, config_kind),
        (secret, secret_kind),
        (external, external_kind),
    ] = KINDS;
    let color = config_map("config", &json!({"color": "${schema.spec.color}"}));
    let secret_child = json!({"id": "secret", "template": {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "${schema.metadata.name}-secret"},
        "data": {"token": "c2VjcmV0"}
    }});
    let source = json!({"id": "source", "externalRef": {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SOURCE_SECRET}
    }});
    let copy = config_map("copy", &json!({"type": "${source.type}"}));
    vec![
        rgd(run, config, group, config_kind, &json!([color])),
        rgd(
            run,
            secret,
            group,
            secret_kind,
            &json!([color, secret_child]),
        ),
        rgd(run, external, group, external_kind, &json!([source, copy])),
    ]
}
