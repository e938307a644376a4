//! Label, annotation, finalizer and field-manager names, and the builders that stamp them on
//! instances and children exactly as upstream kro does, so objects kro created are adopted
//! without a diff.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ObjectError;
use crate::id::InstanceRef;

pub use kro_api::labels::*;

/// The kro controller version, in the two renderings kro writes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct KroVersion {
    raw: String,
}

impl KroVersion {
    /// Wraps a version string such as `v0.9.0` or `v0.9.0+dirty`.
    pub fn new(raw: impl Into<String>) -> Self {
        Self { raw: raw.into() }
    }

    /// The version as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The `kro.run/kro-version` label value: the version itself when it is a valid label value,
    /// otherwise the version with every `+` replaced by `-` (build metadata such as `+dirty`).
    pub fn label_value(&self) -> String {
        if is_valid_label_value(&self.raw) {
            self.raw.clone()
        } else {
            self.raw.replace('+', "-")
        }
    }

    /// The `applyset.kubernetes.io/tooling` value: `kro/<version>` (annotations take any text,
    /// so the version is not sanitised here).
    pub fn tooling(&self) -> String {
        format!("{TOOLING_PREFIX}{}", self.raw)
    }
}

/// The ResourceGraphDefinition an instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RgdRef {
    /// RGD name.
    pub name: String,
    /// RGD `metadata.uid`.
    pub uid: String,
}

/// Position of a forEach item in its collection's expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CollectionPosition {
    /// Zero-based position in the expansion.
    pub index: usize,
    /// Number of items in the expansion.
    pub size: usize,
}

/// Whether `value` is a valid Kubernetes label value: at most 63 characters, empty or starting
/// and ending with an alphanumeric, with `-`, `_`, `.` and alphanumerics in between.
pub fn is_valid_label_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= LABEL_VALUE_MAX_LENGTH
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

/// Bounds an identity copied into a label value: values of at most 63 characters are returned
/// unchanged; longer ones (names and API groups may reach 253) become `h-` followed by the hex of
/// the first 20 bytes of their SHA-256 (42 characters).
///
/// This is the encoding newer upstream kro uses. Older kro wrote such values verbatim, which the
/// API server rejects, so no existing object can carry a long value this would change.
pub fn label_value_token(value: &str) -> Cow<'_, str> {
    if value.len() <= LABEL_VALUE_MAX_LENGTH {
        return Cow::Borrowed(value);
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest[..20]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Cow::Owned(format!("{HASHED_LABEL_VALUE_PREFIX}{hex}"))
}

/// The labels kro's labeller (field manager [`LABELLER_FIELD_MANAGER`]) owns on an instance:
/// `kro.run/owned`, `kro.run/kro-version` and the two RGD labels.
pub fn instance_labeller_labels(rgd: &RgdRef, version: &KroVersion) -> BTreeMap<String, String> {
    BTreeMap::from([
        (OWNED_LABEL.to_owned(), "true".to_owned()),
        (KRO_VERSION_LABEL.to_owned(), version.label_value()),
        (
            RGD_ID_LABEL.to_owned(),
            label_value_token(&rgd.uid).into_owned(),
        ),
        (
            RGD_NAME_LABEL.to_owned(),
            label_value_token(&rgd.name).into_owned(),
        ),
    ])
}

/// Every kro label on an instance: the labeller labels plus the ApplySet id label.
///
/// User labels are not part of the result; merge with [`merge_labels`] to keep them.
pub fn instance_labels(
    instance: &InstanceRef,
    rgd: &RgdRef,
    version: &KroVersion,
) -> BTreeMap<String, String> {
    let mut labels = instance_labeller_labels(rgd, version);
    labels.insert(APPLYSET_ID_LABEL.to_owned(), instance.applyset_id());
    labels
}

/// The kro labels on a child of `instance` produced by graph node `node_id`: ownership, version,
/// instance identity (namespace only for namespaced instances), `managed-by`, `node-id`,
/// `part-of`, and the collection labels for forEach items.
pub fn child_labels(
    instance: &InstanceRef,
    version: &KroVersion,
    node_id: &str,
    collection: Option<CollectionPosition>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (OWNED_LABEL.to_owned(), "true".to_owned()),
        (KRO_VERSION_LABEL.to_owned(), version.label_value()),
        (
            INSTANCE_ID_LABEL.to_owned(),
            label_value_token(&instance.uid).into_owned(),
        ),
        (
            INSTANCE_NAME_LABEL.to_owned(),
            label_value_token(&instance.name).into_owned(),
        ),
        (
            INSTANCE_GROUP_LABEL.to_owned(),
            label_value_token(&instance.group).into_owned(),
        ),
        (
            INSTANCE_VERSION_LABEL.to_owned(),
            label_value_token(&instance.version).into_owned(),
        ),
        (
            INSTANCE_KIND_LABEL.to_owned(),
            label_value_token(&instance.kind).into_owned(),
        ),
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY_KRO.to_owned()),
        (
            NODE_ID_LABEL.to_owned(),
            label_value_token(node_id).into_owned(),
        ),
        (PART_OF_LABEL.to_owned(), instance.applyset_id()),
    ]);
    if let Some(namespace) = instance.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        labels.insert(
            INSTANCE_NAMESPACE_LABEL.to_owned(),
            label_value_token(namespace).into_owned(),
        );
    }
    if let Some(position) = collection {
        labels.insert(
            COLLECTION_INDEX_LABEL.to_owned(),
            position.index.to_string(),
        );
        labels.insert(COLLECTION_SIZE_LABEL.to_owned(), position.size.to_string());
    }
    labels
}

/// The kro annotations on a child: `internal.kro.run/apply-order` with the apply wave.
pub fn child_annotations(apply_order: u32) -> BTreeMap<String, String> {
    BTreeMap::from([(APPLY_ORDER_ANNOTATION.to_owned(), apply_order.to_string())])
}

/// Overlays `kro` onto `existing`: every key of `existing` (user labels) is kept unless kro
/// writes the same key, in which case kro's value wins.
pub fn merge_labels(
    existing: &BTreeMap<String, String>,
    kro: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut merged = existing.clone();
    merged.extend(kro.iter().map(|(key, value)| (key.clone(), value.clone())));
    merged
}

/// Writes `labels` and `annotations` into `metadata.labels` / `metadata.annotations` of a JSON
/// object (creating the maps when absent), overriding keys the template already set and keeping
/// the others.
pub fn stamp_metadata(
    object: &mut Value,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), ObjectError> {
    let Value::Object(root) = object else {
        return Err(ObjectError::WrongType {
            path: "(object)".to_owned(),
            expected: "an object",
            found: "another JSON value",
        });
    };
    let metadata = child_object(root, "metadata", "metadata")?;
    for (field, entries) in [("labels", labels), ("annotations", annotations)] {
        if entries.is_empty() {
            continue;
        }
        let map = child_object(metadata, field, &format!("metadata.{field}"))?;
        for (key, value) in entries {
            map.insert(key.clone(), Value::String(value.clone()));
        }
    }
    Ok(())
}

fn child_object<'a>(
    parent: &'a mut Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a mut Map<String, Value>, ObjectError> {
    let slot = parent
        .entry(field.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => Ok(map),
        _ => Err(ObjectError::WrongType {
            path: path.to_owned(),
            expected: "an object",
            found: "a non-object value",
        }),
    }
}

/// Whether an instance's annotations suspend reconciliation: `kro.run/reconcile` equal to
/// `suspended` or the legacy `disabled`, compared case-insensitively.
pub fn is_suspended(annotations: &BTreeMap<String, String>) -> bool {
    annotations.get(RECONCILE_ANNOTATION).is_some_and(|value| {
        value.eq_ignore_ascii_case(RECONCILE_SUSPENDED)
            || value.eq_ignore_ascii_case(RECONCILE_DISABLED_LEGACY)
    })
}

/// Whether labels mark an object as kro-owned: `kro.run/owned=true`, or, when that label is
/// absent, `app.kubernetes.io/managed-by=kro`.
pub fn is_kro_owned(labels: &BTreeMap<String, String>) -> bool {
    match labels.get(OWNED_LABEL) {
        Some(value) => value == "true",
        None => labels
            .get(MANAGED_BY_LABEL)
            .is_some_and(|value| value == MANAGED_BY_KRO),
    }
}

/// Whether a label or annotation key is reserved for kro (`kro.run/` or `internal.kro.run/`);
/// templates must not set such keys.
pub fn is_reserved_key(key: &str) -> bool {
    key.starts_with(KRO_PREFIX) || key.starts_with(INTERNAL_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn instance(namespace: Option<&str>) -> InstanceRef {
        InstanceRef {
            group: "kro.run".into(),
            version: "v1alpha1".into(),
            kind: "WebApp".into(),
            namespace: namespace.map(str::to_owned),
            name: "web".into(),
            uid: "0b6c-uid".into(),
        }
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn constants_match_upstream_names() {
        assert_eq!(APPLYSET_ID_LABEL, "applyset.kubernetes.io/id");
        assert_eq!(PART_OF_LABEL, "applyset.kubernetes.io/part-of");
        assert_eq!(TOOLING_ANNOTATION, "applyset.kubernetes.io/tooling");
        assert_eq!(
            CONTAINS_GROUP_KINDS_ANNOTATION,
            "applyset.kubernetes.io/contains-group-kinds"
        );
        assert_eq!(
            ADDITIONAL_NAMESPACES_ANNOTATION,
            "applyset.kubernetes.io/additional-namespaces"
        );
        assert_eq!(
            INVENTORY_HASH_ANNOTATION,
            "internal.kro.run/applyset-inventory-hash"
        );
        assert_eq!(APPLY_ORDER_ANNOTATION, "internal.kro.run/apply-order");
        assert_eq!(CHILD_FIELD_MANAGER, "kro.run/applyset");
        assert_eq!(LABELLER_FIELD_MANAGER, "kro.run/labeller");
        assert_eq!(PARENT_FIELD_MANAGER, "kro.run/applyset-parent");
        assert_eq!(FINALIZER, "kro.run/finalizer");
    }

    #[test]
    fn kro_version_label_replaces_plus_only_when_needed() {
        assert_eq!(KroVersion::new("v0.9.0").label_value(), "v0.9.0");
        assert_eq!(
            KroVersion::new("v0.9.0+dirty").label_value(),
            "v0.9.0-dirty"
        );
        assert_eq!(
            KroVersion::new("v0.9.0+dirty").tooling(),
            "kro/v0.9.0+dirty"
        );
    }

    #[test]
    fn label_value_validity() {
        assert!(is_valid_label_value(""));
        assert!(is_valid_label_value("a.b_c-d"));
        assert!(!is_valid_label_value("-a"));
        assert!(!is_valid_label_value("a+b"));
        assert!(!is_valid_label_value(&"a".repeat(64)));
        assert!(is_valid_label_value(&"a".repeat(63)));
    }

    #[test]
    fn long_label_values_are_hashed() {
        assert_eq!(label_value_token("short"), "short");
        let exact = "a".repeat(63);
        assert_eq!(label_value_token(&exact), exact.as_str());
        let long = "a".repeat(64);
        let token = label_value_token(&long);
        assert_eq!(token.len(), 42);
        assert!(token.starts_with("h-"));
        assert!(is_valid_label_value(&token));
        assert_ne!(label_value_token(&"b".repeat(64)), token);
    }

    #[test]
    fn instance_labels_carry_ownership_rgd_and_applyset_id() {
        let rgd = RgdRef {
            name: "webapp".into(),
            uid: "rgd-uid".into(),
        };
        let labels = instance_labels(&instance(Some("team")), &rgd, &KroVersion::new("v1.2.3+x"));
        assert_eq!(
            labels,
            map(&[
                (OWNED_LABEL, "true"),
                (KRO_VERSION_LABEL, "v1.2.3-x"),
                (RGD_ID_LABEL, "rgd-uid"),
                (RGD_NAME_LABEL, "webapp"),
                (APPLYSET_ID_LABEL, &instance(Some("team")).applyset_id()),
            ])
        );
    }

    #[test]
    fn child_labels_of_namespaced_instance() {
        let owner = instance(Some("team"));
        let labels = child_labels(&owner, &KroVersion::new("v0.9.0"), "deployment", None);
        assert_eq!(
            labels,
            map(&[
                (OWNED_LABEL, "true"),
                (KRO_VERSION_LABEL, "v0.9.0"),
                (INSTANCE_ID_LABEL, "0b6c-uid"),
                (INSTANCE_NAME_LABEL, "web"),
                (INSTANCE_NAMESPACE_LABEL, "team"),
                (INSTANCE_GROUP_LABEL, "kro.run"),
                (INSTANCE_VERSION_LABEL, "v1alpha1"),
                (INSTANCE_KIND_LABEL, "WebApp"),
                (MANAGED_BY_LABEL, "kro"),
                (NODE_ID_LABEL, "deployment"),
                (PART_OF_LABEL, &owner.applyset_id()),
            ])
        );
    }

    #[test]
    fn child_labels_of_cluster_scoped_instance_omit_namespace_and_add_collection() {
        let owner = instance(None);
        let position = CollectionPosition { index: 2, size: 5 };
        let labels = child_labels(
            &owner,
            &KroVersion::new("v0.9.0"),
            "workers",
            Some(position),
        );
        assert!(!labels.contains_key(INSTANCE_NAMESPACE_LABEL));
        assert_eq!(
            labels.get(COLLECTION_INDEX_LABEL).map(String::as_str),
            Some("2")
        );
        assert_eq!(
            labels.get(COLLECTION_SIZE_LABEL).map(String::as_str),
            Some("5")
        );
        assert_eq!(
            labels.get(NODE_ID_LABEL).map(String::as_str),
            Some("workers")
        );
        assert_eq!(labels.len(), 12);
    }

    #[test]
    fn child_annotations_hold_decimal_apply_order() {
        assert_eq!(child_annotations(3), map(&[(APPLY_ORDER_ANNOTATION, "3")]));
    }

    #[test]
    fn merge_keeps_user_labels_and_overrides_kro_keys() {
        let existing = map(&[("team", "a"), (OWNED_LABEL, "false")]);
        let kro = map(&[(OWNED_LABEL, "true")]);
        assert_eq!(
            merge_labels(&existing, &kro),
            map(&[("team", "a"), (OWNED_LABEL, "true")])
        );
    }

    #[test]
    fn stamp_metadata_creates_and_overrides() {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "x", "kro.run/owned": "no"}}});
        stamp_metadata(
            &mut object,
            &map(&[(OWNED_LABEL, "true")]),
            &child_annotations(2),
        )
        .expect("object metadata");
        assert_eq!(
            object["metadata"],
            json!({"name": "c", "labels": {"app": "x", "kro.run/owned": "true"},
                   "annotations": {"internal.kro.run/apply-order": "2"}})
        );

        let mut bare = json!({"kind": "X"});
        stamp_metadata(&mut bare, &map(&[("a", "b")]), &BTreeMap::new()).expect("creates maps");
        assert_eq!(bare["metadata"], json!({"labels": {"a": "b"}}));
    }

    #[test]
    fn stamp_metadata_rejects_non_object_labels() {
        let mut object = json!({"metadata": {"labels": ["x"]}});
        let error = stamp_metadata(&mut object, &map(&[("a", "b")]), &BTreeMap::new())
            .expect_err("labels must be an object");
        assert_eq!(
            error.to_string(),
            "metadata.labels: expected an object, found a non-object value"
        );
    }

    #[test]
    fn suspension_is_case_insensitive_and_accepts_legacy_value() {
        assert!(is_suspended(&map(&[(RECONCILE_ANNOTATION, "Suspended")])));
        assert!(is_suspended(&map(&[(RECONCILE_ANNOTATION, "DISABLED")])));
        assert!(!is_suspended(&map(&[(RECONCILE_ANNOTATION, "enabled")])));
        assert!(!is_suspended(&BTreeMap::new()));
    }

    #[test]
    fn ownership_falls_back_to_managed_by() {
        assert!(is_kro_owned(&map(&[(OWNED_LABEL, "true")])));
        assert!(!is_kro_owned(&map(&[
            (OWNED_LABEL, "false"),
            (MANAGED_BY_LABEL, "kro")
        ])));
        assert!(is_kro_owned(&map(&[(MANAGED_BY_LABEL, "kro")])));
        assert!(!is_kro_owned(&map(&[(MANAGED_BY_LABEL, "helm")])));
    }

    #[test]
    fn reserved_prefixes() {
        assert!(is_reserved_key("kro.run/anything"));
        assert!(is_reserved_key("internal.kro.run/apply-order"));
        assert!(!is_reserved_key("app.kubernetes.io/name"));
    }
}
