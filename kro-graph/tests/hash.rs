//! The spec hash: Go's JSON encoding of the normalized spec, stable under reorderings and
//! nil/empty variants.

use kro_api::ResourceGraphDefinition;
use kro_graph::hash::{canonical_json, fnv64a, spec_hash};

fn spec(text: &str) -> kro_api::ResourceGraphDefinitionSpec {
    let rgd = format!(
        "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nmetadata:\n  name: h\nspec:\n{text}"
    );
    ResourceGraphDefinition::from_yaml(&rgd)
        .expect("parses")
        .spec
}

const BASE: &str = r#"
  schema:
    apiVersion: v1alpha1
    kind: App
    spec:
      name: string
  resources:
  - id: web
    readyWhen:
      - ${web.status.ready == true}
      - ${web.metadata.name != ""}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        size: "3"
  - id: db
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata:
        name: db & <co>
"#;

#[test]
fn canonical_json_follows_go_field_order_and_escaping() {
    assert_eq!(
        canonical_json(&spec(BASE)),
        concat!(
            r#"{"schema":{"kind":"App","apiVersion":"v1alpha1","group":"kro.run","#,
            r#""spec":{"name":"string"},"types":null,"status":null,"scope":"Namespaced"},"#,
            r#""resources":["#,
            r#"{"id":"db","template":null,"externalRef":{"apiVersion":"v1","kind":"Secret","#,
            r#""metadata":{"name":"db \u0026 \u003cco\u003e","selector":null}}},"#,
            r#"{"id":"web","template":{"apiVersion":"v1","data":{"size":"3"},"kind":"ConfigMap","#,
            r#""metadata":{"name":"${schema.spec.name}"}},"#,
            r#""readyWhen":["${web.metadata.name != \"\"}","${web.status.ready == true}"]}]}"#,
        )
    );
    let text = canonical_json(&spec(BASE));
    assert_eq!(
        spec_hash(&spec(BASE)),
        format!("{:016x}", fnv64a(text.as_bytes()))
    );
}

#[test]
fn defaults_and_empty_lists_do_not_change_the_hash() {
    let base = spec_hash(&spec(BASE));
    let explicit = BASE.replace(
        "    kind: App\n",
        "    kind: App\n    group: kro.run\n    scope: Namespaced\n    shortNames: []\n",
    );
    assert_eq!(spec_hash(&spec(&explicit)), base);
    // Raw extensions keep `{}` and a present `metadata` is written, as upstream's Go types do.
    for present in [
        "    status: {}\n",
        "    types: {}\n",
        "    metadata:\n      labels: {}\n",
    ] {
        let with = BASE.replace("    kind: App\n", &format!("    kind: App\n{present}"));
        assert_ne!(spec_hash(&spec(&with)), base, "{present}");
    }
    let empty_lists = BASE.replace(
        "  - id: db\n",
        "  - id: db\n    includeWhen: []\n    readyWhen: []\n    forEach: []\n",
    );
    assert_eq!(spec_hash(&spec(&empty_lists)), base);
    let cluster = BASE.replace("    kind: App\n", "    kind: App\n    scope: Cluster\n");
    assert_ne!(spec_hash(&spec(&cluster)), base);
}

#[test]
fn reordering_resources_and_conditions_keeps_the_hash() {
    let mut reordered = spec(BASE);
    let base = spec_hash(&reordered);
    reordered.resources.reverse();
    reordered.resources[1].ready_when.reverse();
    assert_eq!(spec_hash(&reordered), base);
}

#[test]
fn raw_extensions_are_canonicalised_like_a_go_round_trip() {
    let integer = BASE.replace(
        "        size: \"3\"",
        "        size: \"3\"\n      immutable: 1",
    );
    let float = BASE.replace(
        "        size: \"3\"",
        "        size: \"3\"\n      immutable: 1.0",
    );
    assert_eq!(spec_hash(&spec(&integer)), spec_hash(&spec(&float)));
    assert!(canonical_json(&spec(&integer)).contains(r#""immutable":1,"#));
    let large = BASE.replace(
        "        size: \"3\"",
        "        size: \"3\"\n      immutable: 1e21",
    );
    assert!(canonical_json(&spec(&large)).contains(r#""immutable":1e+21,"#));
}

#[test]
fn for_each_order_matters() {
    let dims = |a: &str, b: &str| {
        BASE.replace(
            "  - id: web\n",
            &format!("  - id: web\n    forEach:\n      - {a}: ${{[1]}}\n      - {b}: ${{[2]}}\n"),
        )
    };
    assert_ne!(
        spec_hash(&spec(&dims("x", "y"))),
        spec_hash(&spec(&dims("y", "x")))
    );
}
