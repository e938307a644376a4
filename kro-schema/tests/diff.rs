//! Schema evolution: every change has a path and a breaking/safe classification.

// Helpers take `json!` literals by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

use kro_schema::{
    ChangeKind, CrdOptions, CrdSpec, CustomResourceDefinition, SchemaChange, SimpleSchema,
    crd_from_rgd_schema, diff_crds, diff_schemas, generate_crd,
};
use serde_json::{Value, json};

fn rgd(spec: Value) -> Value {
    json!({"apiVersion": "v1alpha1", "kind": "App", "spec": spec})
}

fn crd(schema: &Value) -> CustomResourceDefinition {
    crd_from_rgd_schema(schema).unwrap_or_else(|errors| panic!("{errors}"))
}

/// Changes between two `spec` maps, as (path, kind, breaking).
fn spec_changes(old: Value, new: Value) -> Vec<(String, ChangeKind, bool)> {
    let old = SimpleSchema::to_openapi(&old, None).expect("old converts");
    let new = SimpleSchema::to_openapi(&new, None).expect("new converts");
    diff_schemas("spec", &old, &new)
        .changes
        .into_iter()
        .map(
            |SchemaChange {
                 path,
                 kind,
                 breaking,
                 ..
             }| (path, kind, breaking),
        )
        .collect()
}

fn one(path: &str, kind: ChangeKind, breaking: bool) -> Vec<(String, ChangeKind, bool)> {
    vec![(path.to_owned(), kind, breaking)]
}

#[test]
fn identical_schemas_have_no_changes() {
    let schema = rgd(json!({"a": "string | default=x", "b": "[]integer | maxItems=3"}));
    let diff = diff_crds(&crd(&schema), &crd(&schema));
    assert!(!diff.has_changes());
    assert!(!diff.is_breaking());
    assert_eq!(diff.to_string(), "no changes");
}

#[test]
fn property_added_and_removed() {
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string", "b": "string"})
        ),
        one("spec.b", ChangeKind::PropertyAdded, false)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string", "b": "string | required=true"})
        ),
        one("spec.b", ChangeKind::PropertyAdded, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string", "b": "string | required=true default=x"})
        ),
        one("spec.b", ChangeKind::PropertyAdded, false)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string", "b": "string"}),
            json!({"a": "string"})
        ),
        one("spec.b", ChangeKind::PropertyRemoved, true)
    );
}

#[test]
fn type_and_required_changes() {
    assert_eq!(
        spec_changes(json!({"a": "string"}), json!({"a": "integer"})),
        one("spec.a", ChangeKind::TypeChanged, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string | required=true"})
        ),
        one("spec.a", ChangeKind::RequiredAdded, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | required=true"}),
            json!({"a": "string"})
        ),
        one("spec.a", ChangeKind::RequiredRemoved, false)
    );
}

#[test]
fn default_changes() {
    assert_eq!(
        spec_changes(json!({"a": "string"}), json!({"a": "string | default=x"})),
        vec![
            ("spec".to_owned(), ChangeKind::DefaultAdded, false),
            ("spec.a".to_owned(), ChangeKind::DefaultAdded, false),
        ]
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | default=x", "b": "string | default=y"}),
            json!({"a": "string | default=z", "b": "string | default=y"})
        ),
        one("spec.a", ChangeKind::DefaultChanged, false)
    );
    // Losing the default of a required field breaks clients that omitted it.
    let changes = spec_changes(
        json!({"a": "string | required=true default=x"}),
        json!({"a": "string | required=true"}),
    );
    assert_eq!(changes, one("spec.a", ChangeKind::DefaultRemoved, true));
    assert_eq!(
        spec_changes(json!({"a": "string | default=x"}), json!({"a": "string"})),
        vec![
            ("spec".to_owned(), ChangeKind::DefaultRemoved, false),
            ("spec.a".to_owned(), ChangeKind::DefaultRemoved, false),
        ]
    );
}

#[test]
fn enum_changes() {
    assert_eq!(
        spec_changes(
            json!({"a": "string | enum=\"x,y\""}),
            json!({"a": "string | enum=\"x\""})
        ),
        one("spec.a", ChangeKind::EnumNarrowed, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | enum=\"x\""}),
            json!({"a": "string | enum=\"x,y\""})
        ),
        one("spec.a", ChangeKind::EnumWidened, false)
    );
    assert_eq!(
        spec_changes(json!({"a": "string"}), json!({"a": "string | enum=\"x\""})),
        one("spec.a", ChangeKind::EnumNarrowed, true)
    );
    assert_eq!(
        spec_changes(json!({"a": "string | enum=\"x\""}), json!({"a": "string"})),
        one("spec.a", ChangeKind::EnumWidened, false)
    );
}

#[test]
fn pattern_and_bounds() {
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string | pattern=\"^a\""})
        ),
        one("spec.a", ChangeKind::PatternTightened, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | pattern=\"^a\""}),
            json!({"a": "string | pattern=\"^b\""})
        ),
        one("spec.a", ChangeKind::PatternTightened, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | pattern=\"^a\""}),
            json!({"a": "string"})
        ),
        one("spec.a", ChangeKind::PatternRemoved, false)
    );
    let bound_cases = [
        ("integer", "integer | minimum=1", true),
        ("integer | minimum=1", "integer | minimum=2", true),
        ("integer | minimum=2", "integer | minimum=1", false),
        ("integer | maximum=5", "integer | maximum=4", true),
        ("integer | maximum=5", "integer", false),
        ("string | minLength=1", "string | minLength=2", true),
        ("string | maxLength=9", "string | maxLength=10", false),
        ("[]string | minItems=1", "[]string | minItems=0", false),
        ("[]string", "[]string | maxItems=3", true),
    ];
    for (old, new, breaking) in bound_cases {
        let kind = if breaking {
            ChangeKind::BoundTightened
        } else {
            ChangeKind::BoundRelaxed
        };
        assert_eq!(
            spec_changes(json!({"a": old}), json!({"a": new})),
            one("spec.a", kind, breaking),
            "{old} -> {new}"
        );
    }
}

#[test]
fn items_and_nested_paths() {
    assert_eq!(
        spec_changes(json!({"a": "[]string"}), json!({"a": "[]integer"})),
        one("spec.a[]", ChangeKind::TypeChanged, true)
    );
    assert_eq!(
        spec_changes(
            json!({"o": {"p": {"q": "string"}}}),
            json!({"o": {"p": {"q": "boolean"}}})
        ),
        one("spec.o.p.q", ChangeKind::TypeChanged, true)
    );
    assert_eq!(
        spec_changes(json!({"a": "[]string"}), json!({"a": "object"})),
        vec![
            ("spec.a".to_owned(), ChangeKind::TypeChanged, true),
            (
                "spec.a".to_owned(),
                ChangeKind::PreserveUnknownFieldsChanged,
                false
            ),
            ("spec.a[]".to_owned(), ChangeKind::ItemsRemoved, true),
        ]
    );
}

// The changes upstream's detector misses (and so leaves CRDs stale).

#[test]
fn validation_rules_are_compared() {
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string | immutable=true"})
        ),
        one("spec.a", ChangeKind::ValidationAdded, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "string | validation=\"self != ''\""}),
            json!({"a": "string"})
        ),
        one("spec.a", ChangeKind::ValidationRemoved, false)
    );
}

#[test]
fn list_types_and_map_keys_are_compared() {
    assert_eq!(
        spec_changes(
            json!({"a": "[]string"}),
            json!({"a": "[]string | uniqueItems=true"})
        ),
        one("spec.a", ChangeKind::ListTypeChanged, true)
    );
    assert_eq!(
        spec_changes(
            json!({"a": "[]string | listType=set"}),
            json!({"a": "[]string | listType=atomic"})
        ),
        one("spec.a", ChangeKind::ListTypeChanged, false)
    );
    let types = json!({"P": {"n": "string | required=true", "m": "string | required=true"}});
    let old = SimpleSchema::to_openapi(
        &json!({"a": "[]P | listType=map listMapKey=n"}),
        Some(&types),
    )
    .expect("old");
    let new = SimpleSchema::to_openapi(
        &json!({"a": "[]P | listType=map listMapKey=n listMapKey=m"}),
        Some(&types),
    )
    .expect("new");
    let diff = diff_schemas("spec", &old, &new);
    assert_eq!(diff.changes.len(), 1);
    assert_eq!(diff.changes[0].kind, ChangeKind::ListMapKeysChanged);
    assert_eq!(
        diff.changes[0].detail,
        "x-kubernetes-list-map-keys [n] -> [n, m]"
    );
}

#[test]
fn map_values_are_compared() {
    assert_eq!(
        spec_changes(
            json!({"a": "map[string]string"}),
            json!({"a": "map[string]integer"})
        ),
        one("spec.a{}", ChangeKind::TypeChanged, true)
    );
    assert_eq!(
        spec_changes(json!({"a": "map[string]string"}), json!({"a": "object"})),
        vec![
            (
                "spec.a".to_owned(),
                ChangeKind::PreserveUnknownFieldsChanged,
                false
            ),
            (
                "spec.a{}".to_owned(),
                ChangeKind::AdditionalPropertiesRemoved,
                true
            ),
        ]
    );
    assert_eq!(
        spec_changes(json!({"a": "object"}), json!({"a": "map[string]string"})),
        vec![
            (
                "spec.a".to_owned(),
                ChangeKind::PreserveUnknownFieldsChanged,
                true
            ),
            (
                "spec.a{}".to_owned(),
                ChangeKind::AdditionalPropertiesAdded,
                true
            ),
        ]
    );
}

#[test]
fn format_and_description_are_compared() {
    let mut old = SimpleSchema::to_openapi(&json!({"a": "string"}), None).expect("converts");
    let mut new = old.clone();
    if let Some(props) = new.properties.as_mut() {
        props
            .entry("a".to_owned())
            .and_modify(|a| a.format = Some("date-time".into()));
    }
    let diff = diff_schemas("spec", &old, &new);
    assert_eq!(diff.changes[0].kind, ChangeKind::FormatChanged);
    assert!(diff.is_breaking());
    std::mem::swap(&mut old, &mut new);
    assert!(!diff_schemas("spec", &old, &new).is_breaking());
    assert_eq!(
        spec_changes(
            json!({"a": "string"}),
            json!({"a": "string | description=\"x\""})
        ),
        one("spec.a", ChangeKind::DescriptionChanged, false)
    );
}

#[test]
fn crd_level_changes() {
    let base = rgd(json!({"a": "string"}));
    let old = crd(&base);

    let mut columns = base.clone();
    columns["additionalPrinterColumns"] =
        json!([{"name": "A", "type": "string", "jsonPath": ".spec.a"}]);
    let diff = diff_crds(&old, &crd(&columns));
    assert_eq!(diff.changes.len(), 1);
    assert_eq!(diff.changes[0].kind, ChangeKind::PrinterColumnsChanged);
    assert_eq!(
        diff.changes[0].path,
        "spec.versions[v1alpha1].additionalPrinterColumns"
    );
    assert!(!diff.is_breaking());

    let mut names = base.clone();
    names["shortNames"] = json!(["ap"]);
    let diff = diff_crds(&old, &crd(&names));
    assert_eq!(
        diff.changes[0].kind,
        ChangeKind::ShortNamesOrCategoriesChanged
    );
    assert_eq!(diff.changes[0].detail, "[] -> [ap]");

    let mut version = base.clone();
    version["apiVersion"] = json!("v1beta1");
    let diff = diff_crds(&old, &crd(&version));
    let kinds: Vec<ChangeKind> = diff.changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [ChangeKind::VersionRemoved, ChangeKind::VersionAdded]
    );
    assert!(diff.is_breaking());

    let mut kind = base.clone();
    kind["kind"] = json!("Application");
    let diff = diff_crds(&old, &crd(&kind));
    assert!(
        diff.changes
            .iter()
            .all(|c| c.kind == ChangeKind::NamesChanged && c.breaking)
    );
    assert_eq!(diff.changes.len(), 4);

    let mut scope = base;
    scope["scope"] = json!("Cluster");
    assert_eq!(
        diff_crds(&old, &crd(&scope)).changes[0].kind,
        ChangeKind::ScopeChanged
    );
}

#[test]
fn subresource_and_served_changes() {
    let old = crd(&rgd(json!({})));
    let mut new = old.clone();
    new.spec.versions[0].subresources = None;
    new.spec.versions[0].served = false;
    let diff = diff_crds(&old, &new);
    let summary: Vec<(ChangeKind, bool)> =
        diff.changes.iter().map(|c| (c.kind, c.breaking)).collect();
    assert_eq!(
        summary,
        [
            (ChangeKind::ServedChanged, true),
            (ChangeKind::StatusSubresourceChanged, true)
        ]
    );
}

#[test]
fn labels_kro_sets_are_compared_but_foreign_labels_are_not() {
    let schema = rgd(json!({}));
    let spec = CrdSpec::from_rgd_schema(&schema).expect("converts");
    let desired = generate_crd(&spec, None, &CrdOptions::kro_owned("app", "uid-1", "v1"));
    let mut existing = desired.clone();
    existing
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("someone-else".into(), "x".into());
    assert!(!diff_crds(&existing, &desired).has_changes());

    let upgraded = generate_crd(&spec, None, &CrdOptions::kro_owned("app", "uid-1", "v2"));
    let diff = diff_crds(&existing, &upgraded);
    assert_eq!(diff.changes.len(), 1);
    assert_eq!(diff.changes[0].path, "metadata.labels[kro.run/kro-version]");
    assert_eq!(diff.changes[0].detail, "`v1` -> `v2`");
    assert!(!diff.is_breaking());
}

#[test]
fn api_server_defaults_are_not_changes() {
    let desired = crd(&rgd(json!({"a": "string"})));
    let mut existing = desired.clone();
    existing.spec.conversion = Some(Default::default());
    existing.spec.preserve_unknown_fields = Some(false);
    existing.status = Some(Default::default());
    assert!(!diff_crds(&existing, &desired).has_changes());
}

#[test]
fn breaking_summary_limits_the_list() {
    let old = crd(&rgd(
        json!({"a": "string", "b": "string", "c": "string", "d": "string"}),
    ));
    let new = crd(&rgd(json!({})));
    let diff = diff_crds(&old, &new);
    assert_eq!(diff.breaking_changes().count(), 4);
    assert_eq!(
        diff.breaking_summary(3),
        "spec.versions[v1alpha1].schema.spec.a: property `a` removed (breaking); \
         spec.versions[v1alpha1].schema.spec.b: property `b` removed (breaking); \
         spec.versions[v1alpha1].schema.spec.c: property `c` removed (breaking); and 1 more"
    );
}
