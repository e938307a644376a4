//! The ApplySet inventory a parent persists: which group-kinds and namespaces its members may
//! live in. Parsing, formatting, the tamper hash and parent validation.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::InventoryError;
use crate::id::ParentRef;
use crate::labels::{
    ADDITIONAL_NAMESPACES_ANNOTATION, APPLYSET_ID_LABEL, CONTAINS_GROUP_KINDS_ANNOTATION,
    INVENTORY_HASH_ANNOTATION, TOOLING_ANNOTATION, TOOLING_PREFIX,
};
use crate::object::{GroupKind, ObjectKey, default_child_namespace};

/// The group-kinds and namespaces an ApplySet's members may live in.
///
/// `additional_namespaces` never contains the parent's own namespace (KEP-3659); for a
/// cluster-scoped parent every namespace a member lives in is "additional", including `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Group-kinds of members.
    pub group_kinds: BTreeSet<GroupKind>,
    /// Namespaces of members other than the parent's namespace.
    pub additional_namespaces: BTreeSet<String>,
}

impl Inventory {
    /// The inventory of the objects applied in one pass for a parent in `parent_namespace`.
    ///
    /// Every object contributes its group-kind; namespaced objects contribute their namespace
    /// unless it is the parent's. A namespaced key with an empty namespace is counted in the
    /// namespace kro would create it in ([`default_child_namespace`]).
    pub fn from_applied<'a>(
        parent_namespace: Option<&str>,
        applied: impl IntoIterator<Item = &'a ObjectKey>,
    ) -> Self {
        let parent_namespace = parent_namespace.unwrap_or("");
        let mut inventory = Self::default();
        for key in applied {
            inventory.group_kinds.insert(key.group_kind());
            if let Some(namespace) = key.namespace.as_deref() {
                let namespace = if namespace.is_empty() {
                    default_child_namespace(Some(parent_namespace))
                } else {
                    namespace
                };
                if namespace != parent_namespace {
                    inventory.additional_namespaces.insert(namespace.to_owned());
                }
            }
        }
        inventory
    }

    /// The inventory remembered in a parent's annotations. Absent annotations read as empty (a
    /// parent kro has not written yet); present ones must parse.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Self, InventoryError> {
        let group_kinds = annotations
            .get(CONTAINS_GROUP_KINDS_ANNOTATION)
            .map_or(Ok(BTreeSet::new()), |raw| parse_group_kinds(raw))?;
        let additional_namespaces = annotations
            .get(ADDITIONAL_NAMESPACES_ANNOTATION)
            .map_or(Ok(BTreeSet::new()), |raw| parse_namespaces(raw))?;
        Ok(Self {
            group_kinds,
            additional_namespaces,
        })
    }

    /// Both inventories together: the prune scope while a prune is pending.
    pub fn union(&self, other: &Self) -> Self {
        Self {
            group_kinds: self
                .group_kinds
                .union(&other.group_kinds)
                .cloned()
                .collect(),
            additional_namespaces: self
                .additional_namespaces
                .union(&other.additional_namespaces)
                .cloned()
                .collect(),
        }
    }

    /// Whether no group-kind and no namespace is recorded.
    pub fn is_empty(&self) -> bool {
        self.group_kinds.is_empty() && self.additional_namespaces.is_empty()
    }

    /// The `contains-group-kinds` value: sorted `Kind.group` (`Kind` for core) joined by commas.
    pub fn group_kinds_annotation(&self) -> String {
        let mut rendered: Vec<String> = self.group_kinds.iter().map(ToString::to_string).collect();
        // `GroupKind` orders by group first; the annotation is sorted by its rendered text.
        rendered.sort();
        rendered.join(",")
    }

    /// The `additional-namespaces` value: sorted namespaces joined by commas.
    pub fn namespaces_annotation(&self) -> String {
        self.additional_namespaces
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `internal.kro.run/applyset-inventory-hash` value for ApplySet `id`.
    pub fn hash(&self, id: &str) -> String {
        inventory_hash(
            id,
            &self.group_kinds_annotation(),
            &self.namespaces_annotation(),
        )
    }
}

/// `sha256:` followed by the unpadded base64url SHA-256 of `id`, the group-kinds annotation and
/// the namespaces annotation joined by NUL bytes.
///
/// Upstream kro encodes with Go's `base64.RawURLEncoding`, i.e. without `=` padding; so does this
/// function, which keeps hashes written by upstream valid here and vice versa.
pub fn inventory_hash(id: &str, group_kinds: &str, namespaces: &str) -> String {
    let digest = Sha256::digest(format!("{id}\0{group_kinds}\0{namespaces}").as_bytes());
    format!("sha256:{}", URL_SAFE_NO_PAD.encode(digest))
}

/// Parses a `contains-group-kinds` value. The empty string is the empty set; otherwise every
/// comma-separated entry (surrounding whitespace ignored) must be `Kind` or `Kind.group`, where
/// the kind has no whitespace and the group is a DNS-1123 subdomain.
pub fn parse_group_kinds(raw: &str) -> Result<BTreeSet<GroupKind>, InventoryError> {
    if raw.is_empty() {
        return Ok(BTreeSet::new());
    }
    raw.split(',')
        .map(|entry| {
            let entry = entry.trim();
            let invalid = |expected: String| InventoryError::GroupKind {
                entry: entry.to_owned(),
                expected,
            };
            if entry.is_empty() {
                return Err(invalid("a non-empty `Kind` or `Kind.group` entry".to_owned()));
            }
            let (kind, group) = match entry.split_once('.') {
                Some((kind, group)) => (kind, Some(group)),
                None => (entry, None),
            };
            if kind.is_empty() || kind.chars().any(char::is_whitespace) {
                return Err(invalid(format!("a kind without whitespace before the first '.', found {kind:?}")));
            }
            match group {
                Some(group) if !is_dns1123_subdomain(group) => Err(invalid(format!(
                    "a group that is a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters), found {group:?}"
                ))),
                Some(group) => Ok(GroupKind::new(group, kind)),
                None => Ok(GroupKind::new("", kind)),
            }
        })
        .collect()
}

/// Parses an `additional-namespaces` value. The empty string is the empty set; otherwise every
/// comma-separated entry (surrounding whitespace ignored) must be a DNS-1123 label.
pub fn parse_namespaces(raw: &str) -> Result<BTreeSet<String>, InventoryError> {
    if raw.is_empty() {
        return Ok(BTreeSet::new());
    }
    raw.split(',')
        .map(|entry| {
            let entry = entry.trim();
            if is_dns1123_label(entry) {
                Ok(entry.to_owned())
            } else {
                Err(InventoryError::Namespace {
                    entry: entry.to_owned(),
                    expected: "a namespace that is a DNS-1123 label (lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63 characters)".to_owned(),
                })
            }
        })
        .collect()
}

fn is_dns1123_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'-')
        && bytes.first().is_some_and(|byte| *byte != b'-')
        && bytes.last().is_some_and(|byte| *byte != b'-')
}

fn is_dns1123_subdomain(value: &str) -> bool {
    // Kubernetes' subdomain regex does not cap individual segments, only the total length.
    value.len() <= 253
        && value.split('.').all(|segment| {
            let bytes = segment.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && bytes.first().is_some_and(|byte| *byte != b'-')
                && bytes.last().is_some_and(|byte| *byte != b'-')
        })
}

/// The ApplySet labels and annotations of a parent, as written by field manager
/// `kro.run/applyset-parent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentMetadata {
    /// `applyset.kubernetes.io/id`.
    pub labels: BTreeMap<String, String>,
    /// Tooling, contains-group-kinds, additional-namespaces and the inventory hash.
    pub annotations: BTreeMap<String, String>,
}

impl ParentMetadata {
    /// The metadata recording `inventory` for ApplySet `id`, managed by `tooling` (e.g.
    /// `kro/v0.9.0`, see [`crate::labels::KroVersion::tooling`]).
    ///
    /// Both inventory annotations are always written, empty or not, because deletion requires
    /// them to be present.
    pub fn new(id: &str, tooling: &str, inventory: &Inventory) -> Self {
        Self {
            labels: BTreeMap::from([(APPLYSET_ID_LABEL.to_owned(), id.to_owned())]),
            annotations: BTreeMap::from([
                (TOOLING_ANNOTATION.to_owned(), tooling.to_owned()),
                (
                    CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
                    inventory.group_kinds_annotation(),
                ),
                (
                    ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
                    inventory.namespaces_annotation(),
                ),
                (INVENTORY_HASH_ANNOTATION.to_owned(), inventory.hash(id)),
            ]),
        }
    }

    /// The metadata of `parent` after applying exactly `applied` (no remembered inventory).
    pub fn for_applied<'a>(
        parent: &ParentRef,
        tooling: &str,
        applied: impl IntoIterator<Item = &'a ObjectKey>,
    ) -> Self {
        let inventory = Inventory::from_applied(parent.namespace.as_deref(), applied);
        Self::new(&parent.applyset_id(), tooling, &inventory)
    }
}

/// Validates the inventory a parent persisted, the sole source of truth during deletion, and
/// returns it.
///
/// Checks, in order: the id label equals the id computed from `parent`; the tooling annotation
/// starts with `kro/`; both inventory annotations are present (possibly empty) and parse; the
/// hash annotation, when present, matches. A missing hash is accepted, as upstream does, because
/// parents written by kro releases before the hash existed lack it (reconciliation backfills it).
pub fn validate_parent_inventory(
    parent: &ParentRef,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<Inventory, InventoryError> {
    let expected_id = parent.applyset_id();
    match labels.get(APPLYSET_ID_LABEL) {
        Some(found) if *found == expected_id => {}
        found => {
            return Err(InventoryError::IdLabel {
                expected: expected_id,
                found: found.cloned(),
            });
        }
    }
    match annotations.get(TOOLING_ANNOTATION) {
        Some(tooling) if tooling.starts_with(TOOLING_PREFIX) => {}
        found => {
            return Err(InventoryError::Tooling {
                found: found.cloned(),
            });
        }
    }
    let group_kinds = annotations.get(CONTAINS_GROUP_KINDS_ANNOTATION).ok_or(
        InventoryError::MissingAnnotation {
            annotation: CONTAINS_GROUP_KINDS_ANNOTATION,
        },
    )?;
    let namespaces = annotations.get(ADDITIONAL_NAMESPACES_ANNOTATION).ok_or(
        InventoryError::MissingAnnotation {
            annotation: ADDITIONAL_NAMESPACES_ANNOTATION,
        },
    )?;
    let inventory = Inventory {
        group_kinds: parse_group_kinds(group_kinds)?,
        additional_namespaces: parse_namespaces(namespaces)?,
    };
    if let Some(found) = annotations.get(INVENTORY_HASH_ANNOTATION) {
        let expected = inventory.hash(&expected_id);
        if *found != expected {
            return Err(InventoryError::Hash {
                expected,
                found: found.clone(),
            });
        }
    }
    Ok(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::KroVersion;

    fn parent(namespace: Option<&str>) -> ParentRef {
        ParentRef {
            group: "kro.run".into(),
            kind: "WebApp".into(),
            namespace: namespace.map(str::to_owned),
            name: "web".into(),
        }
    }

    fn applied() -> Vec<ObjectKey> {
        vec![
            ObjectKey::namespaced("apps", "v1", "Deployment", "team", "web"),
            ObjectKey::namespaced("", "v1", "Service", "team", "web"),
            ObjectKey::namespaced("", "v1", "ConfigMap", "other", "cfg"),
            ObjectKey::namespaced("", "v1", "ConfigMap", "", "defaulted"),
            ObjectKey::cluster_scoped("rbac.authorization.k8s.io", "v1", "ClusterRole", "r"),
            ObjectKey::namespaced("networking.k8s.io", "v1", "Ingress", "alpha", "web"),
        ]
    }

    #[test]
    fn applied_inventory_excludes_parent_namespace() {
        let inventory = Inventory::from_applied(Some("team"), &applied());
        assert_eq!(
            inventory.group_kinds_annotation(),
            "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Ingress.networking.k8s.io,Service"
        );
        assert_eq!(inventory.namespaces_annotation(), "alpha,other");
    }

    #[test]
    fn cluster_scoped_parent_lists_default_namespace() {
        let inventory = Inventory::from_applied(None, &applied());
        assert_eq!(
            inventory.namespaces_annotation(),
            "alpha,default,other,team"
        );
    }

    #[test]
    fn group_kinds_sort_by_rendered_text_not_by_group() {
        // By group "" < "apps", but rendered "Deployment.apps" < "Service".
        let keys = [
            ObjectKey::namespaced("", "v1", "Service", "ns", "s"),
            ObjectKey::namespaced("apps", "v1", "Deployment", "ns", "d"),
        ];
        let inventory = Inventory::from_applied(Some("ns"), &keys);
        assert_eq!(
            inventory.group_kinds_annotation(),
            "Deployment.apps,Service"
        );
    }

    #[test]
    fn hash_is_sha256_base64url_without_padding() {
        // printf 'applyset-x-v1\0ConfigMap\0' | openssl dgst -sha256 -binary | basenc --base64url
        assert_eq!(
            inventory_hash("applyset-x-v1", "ConfigMap", ""),
            "sha256:FQNVZrLYkWyOQq7xmL_wgHFGJREBGsb5r_4F4WN6cPU"
        );
    }

    #[test]
    fn parent_metadata_for_applied_children() {
        let version = KroVersion::new("v0.9.0");
        let meta =
            ParentMetadata::for_applied(&parent(Some("team")), &version.tooling(), &applied());
        let id = parent(Some("team")).applyset_id();
        assert_eq!(
            meta.labels,
            BTreeMap::from([(APPLYSET_ID_LABEL.to_owned(), id.clone())])
        );
        assert_eq!(meta.annotations[TOOLING_ANNOTATION], "kro/v0.9.0");
        assert_eq!(
            meta.annotations[ADDITIONAL_NAMESPACES_ANNOTATION],
            "alpha,other"
        );
        assert_eq!(
            meta.annotations[INVENTORY_HASH_ANNOTATION],
            inventory_hash(
                &id,
                &meta.annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
                &meta.annotations[ADDITIONAL_NAMESPACES_ANNOTATION]
            )
        );
        assert_eq!(meta.annotations.len(), 4);
    }

    #[test]
    fn empty_inventory_still_writes_both_annotations() {
        let meta = ParentMetadata::new("applyset-a-v1", "kro/v1", &Inventory::default());
        assert_eq!(meta.annotations[CONTAINS_GROUP_KINDS_ANNOTATION], "");
        assert_eq!(meta.annotations[ADDITIONAL_NAMESPACES_ANNOTATION], "");
        assert_eq!(
            meta.annotations[INVENTORY_HASH_ANNOTATION],
            inventory_hash("applyset-a-v1", "", "")
        );
    }

    #[test]
    fn parse_round_trips_and_tolerates_whitespace() {
        let parsed = parse_group_kinds(" Deployment.apps , ConfigMap,Ingress.networking.k8s.io")
            .expect("valid");
        let inventory = Inventory {
            group_kinds: parsed,
            additional_namespaces: BTreeSet::new(),
        };
        assert_eq!(
            inventory.group_kinds_annotation(),
            "ConfigMap,Deployment.apps,Ingress.networking.k8s.io"
        );
        assert_eq!(
            parse_namespaces("b, a").expect("valid"),
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        assert!(parse_group_kinds("").expect("empty is valid").is_empty());
        assert!(parse_namespaces("").expect("empty is valid").is_empty());
    }

    #[test]
    fn malformed_group_kinds_are_rejected_with_the_entry() {
        let cases = [
            ("ConfigMap,,Service", ""),
            ("ConfigMap,", ""),
            ("Config Map", "Config Map"),
            (".apps", ".apps"),
            ("Deployment.", "Deployment."),
            ("Deployment.Apps", "Deployment.Apps"),
            ("Deployment.-apps", "Deployment.-apps"),
            ("Deployment.apps..io", "Deployment.apps..io"),
        ];
        for (raw, entry) in cases {
            match parse_group_kinds(raw) {
                Err(InventoryError::GroupKind { entry: found, .. }) => {
                    assert_eq!(found, entry, "{raw}");
                }
                other => panic!("{raw:?} should be rejected, got {other:?}"),
            }
        }
        let error = parse_group_kinds("Deployment.Apps").expect_err("uppercase group");
        assert!(error.to_string().starts_with(
            "annotation applyset.kubernetes.io/contains-group-kinds: entry \"Deployment.Apps\" is invalid: expected a group that is a DNS-1123 subdomain"
        ));
    }

    #[test]
    fn malformed_namespaces_are_rejected_with_the_entry() {
        for raw in ["a,,b", "Team", "-a", "a_b", &"n".repeat(64)] {
            assert!(
                matches!(parse_namespaces(raw), Err(InventoryError::Namespace { .. })),
                "{raw:?} should be rejected"
            );
        }
        assert!(parse_namespaces(&"n".repeat(63)).is_ok());
    }

    #[test]
    fn remembered_inventory_reads_absent_as_empty_and_unions() {
        let remembered = Inventory::from_annotations(&BTreeMap::from([(
            CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            "Secret".to_owned(),
        )]))
        .expect("valid memory");
        assert!(remembered.additional_namespaces.is_empty());
        let current = Inventory::from_applied(Some("team"), &applied()[..1]);
        let union = current.union(&remembered);
        assert_eq!(union.group_kinds_annotation(), "Deployment.apps,Secret");
        assert!(
            Inventory::from_annotations(&BTreeMap::new())
                .expect("empty")
                .is_empty()
        );
        assert!(
            Inventory::from_annotations(&BTreeMap::from([(
                ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
                "Bad".to_owned()
            )]))
            .is_err()
        );
    }

    fn valid_parent_metadata(p: &ParentRef) -> ParentMetadata {
        ParentMetadata::for_applied(p, "kro/v0.9.0", &applied())
    }

    #[test]
    fn validation_accepts_what_kro_writes() {
        let p = parent(Some("team"));
        let meta = valid_parent_metadata(&p);
        let inventory =
            validate_parent_inventory(&p, &meta.labels, &meta.annotations).expect("valid");
        assert_eq!(inventory, Inventory::from_applied(Some("team"), &applied()));
    }

    #[test]
    fn validation_accepts_missing_hash_from_older_kro() {
        let p = parent(Some("team"));
        let mut meta = valid_parent_metadata(&p);
        meta.annotations.remove(INVENTORY_HASH_ANNOTATION);
        assert!(validate_parent_inventory(&p, &meta.labels, &meta.annotations).is_ok());
    }

    #[test]
    fn validation_rejects_wrong_or_missing_id() {
        let p = parent(Some("team"));
        let meta = valid_parent_metadata(&p);
        let other = parent(Some("elsewhere"));
        let error = validate_parent_inventory(&other, &meta.labels, &meta.annotations)
            .expect_err("id computed for another namespace");
        assert!(matches!(
            error,
            InventoryError::IdLabel { found: Some(_), .. }
        ));
        let error = validate_parent_inventory(&p, &BTreeMap::new(), &meta.annotations)
            .expect_err("missing id");
        assert_eq!(
            error.to_string(),
            format!(
                "label applyset.kubernetes.io/id: expected {:?} (computed from the parent's name, namespace, kind and group), found no value (absent)",
                p.applyset_id()
            )
        );
    }

    #[test]
    fn validation_rejects_foreign_tooling() {
        let p = parent(Some("team"));
        let mut meta = valid_parent_metadata(&p);
        meta.annotations
            .insert(TOOLING_ANNOTATION.to_owned(), "kubectl/v1.36".to_owned());
        let error = validate_parent_inventory(&p, &meta.labels, &meta.annotations)
            .expect_err("kubectl tooling");
        assert_eq!(
            error.to_string(),
            "annotation applyset.kubernetes.io/tooling: expected a value starting with \"kro/\", found \"kubectl/v1.36\""
        );
        meta.annotations.remove(TOOLING_ANNOTATION);
        assert_eq!(
            validate_parent_inventory(&p, &meta.labels, &meta.annotations),
            Err(InventoryError::Tooling { found: None })
        );
    }

    #[test]
    fn validation_requires_both_inventory_annotations() {
        let p = parent(Some("team"));
        for annotation in [
            CONTAINS_GROUP_KINDS_ANNOTATION,
            ADDITIONAL_NAMESPACES_ANNOTATION,
        ] {
            let mut meta = valid_parent_metadata(&p);
            meta.annotations.remove(annotation);
            assert_eq!(
                validate_parent_inventory(&p, &meta.labels, &meta.annotations),
                Err(InventoryError::MissingAnnotation { annotation })
            );
        }
    }

    #[test]
    fn validation_rejects_unparseable_and_tampered_inventories() {
        let p = parent(Some("team"));
        let mut meta = valid_parent_metadata(&p);
        meta.annotations.insert(
            CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
            "Config Map".to_owned(),
        );
        assert!(matches!(
            validate_parent_inventory(&p, &meta.labels, &meta.annotations),
            Err(InventoryError::GroupKind { .. })
        ));

        let mut meta = valid_parent_metadata(&p);
        meta.annotations.insert(
            ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
            "alpha".to_owned(),
        );
        let error = validate_parent_inventory(&p, &meta.labels, &meta.annotations)
            .expect_err("namespace removed by hand");
        assert!(matches!(error, InventoryError::Hash { .. }));
        assert!(error.to_string().starts_with(
            "annotation internal.kro.run/applyset-inventory-hash: expected \"sha256:"
        ));
    }

    #[test]
    fn hash_ignores_whitespace_and_order_of_the_recorded_text() {
        let p = parent(Some("team"));
        let mut meta = valid_parent_metadata(&p);
        meta.annotations.insert(
            ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
            "other, alpha".to_owned(),
        );
        assert!(validate_parent_inventory(&p, &meta.labels, &meta.annotations).is_ok());
    }
}
