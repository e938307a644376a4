//! Ownership checks before applying: an object that belongs to another ApplySet is never taken
//! over, and two graph nodes must not render the same object.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use thiserror::Error;

use crate::labels::{
    INSTANCE_GROUP_LABEL, INSTANCE_KIND_LABEL, INSTANCE_NAME_LABEL, INSTANCE_NAMESPACE_LABEL,
    PART_OF_LABEL,
};
use crate::object::{ChildMeta, ObjectIdentity, ObjectKey};

/// What applying a desired object means for ApplySet membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Membership {
    /// The object does not exist yet; applying creates it as a member.
    Create,
    /// The object already belongs to this ApplySet.
    Member,
    /// The object exists without a `part-of` label; a forced apply adopts it.
    Adopt,
}

/// Who owns an object, as far as the object's own labels tell.
///
/// Children carry no RGD label upstream, so the RGD is identified by the instance kind and group
/// it serves (`kro.run/instance-kind`, `kro.run/instance-group`), not by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OwnerHint {
    /// `kro.run/instance-name`.
    pub instance_name: Option<String>,
    /// `kro.run/instance-namespace` (absent for cluster-scoped instances).
    pub instance_namespace: Option<String>,
    /// `kro.run/instance-kind`.
    pub instance_kind: Option<String>,
    /// `kro.run/instance-group`.
    pub instance_group: Option<String>,
}

impl OwnerHint {
    /// Reads the owner hint from an object's labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let read = |key: &str| labels.get(key).filter(|value| !value.is_empty()).cloned();
        Self {
            instance_name: read(INSTANCE_NAME_LABEL),
            instance_namespace: read(INSTANCE_NAMESPACE_LABEL),
            instance_kind: read(INSTANCE_KIND_LABEL),
            instance_group: read(INSTANCE_GROUP_LABEL),
        }
    }
}

/// Renders e.g. `WebApp instance team/web (of the RGD serving kind WebApp.kro.run)`.
impl fmt::Display for OwnerHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(name) = &self.instance_name else {
            return f
                .write_str("an owner without kro.run/instance-name label (not a kro instance)");
        };
        let kind = self.instance_kind.as_deref().unwrap_or("unknown-kind");
        match &self.instance_namespace {
            Some(namespace) => write!(f, "{kind} instance {namespace}/{name}")?,
            None => write!(f, "{kind} instance {name}")?,
        }
        match (&self.instance_kind, self.instance_group.as_deref()) {
            (Some(kind), Some(group)) if !group.is_empty() => {
                write!(f, " (of the RGD serving kind {kind}.{group})")
            }
            (Some(kind), _) => write!(f, " (of the RGD serving kind {kind})"),
            (None, _) => Ok(()),
        }
    }
}

/// A desired object already belongs to a different ApplySet; kro never takes it over.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error(
    "resource belongs to a different ApplySet: {key} is labelled {PART_OF_LABEL}={current_applyset:?}, owned by {owner}; cannot reassign it to ApplySet {desired_applyset:?}"
)]
pub struct OwnershipConflict {
    /// The contested object.
    pub key: ObjectKey,
    /// The ApplySet the object belongs to.
    pub current_applyset: String,
    /// The ApplySet that wanted to apply it.
    pub desired_applyset: String,
    /// The owning instance, read from the object's labels.
    pub owner: OwnerHint,
}

/// Decides whether `key` may be applied as a member of ApplySet `applyset_id`, given the object
/// currently in the cluster (`None` when it does not exist).
///
/// A non-empty `part-of` label naming another ApplySet is a conflict; an absent or empty label
/// means the object is adopted by the forced apply. The conflict is boxed to keep the `Ok` path
/// small; it is the rare case.
pub fn check_membership(
    applyset_id: &str,
    key: &ObjectKey,
    current: Option<&ChildMeta>,
) -> Result<Membership, Box<OwnershipConflict>> {
    let Some(current) = current else {
        return Ok(Membership::Create);
    };
    match current.labels.get(PART_OF_LABEL).map(String::as_str) {
        None | Some("") => Ok(Membership::Adopt),
        Some(owner) if owner == applyset_id => Ok(Membership::Member),
        Some(owner) => Err(Box::new(OwnershipConflict {
            key: key.clone(),
            current_applyset: owner.to_owned(),
            desired_applyset: applyset_id.to_owned(),
            owner: OwnerHint::from_labels(&current.labels),
        })),
    }
}

/// Two graph nodes rendered the same object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateRender {
    /// The object both nodes render (as first seen).
    pub key: ObjectKey,
    /// The node id that rendered it first.
    pub first_node: String,
    /// The node id that rendered it again.
    pub second_node: String,
}

/// One or more objects are rendered by more than one graph node.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("found resources with conflicts: {}", describe_duplicates(.duplicates))]
pub struct DuplicateResources {
    /// Every duplicate, in input order.
    pub duplicates: Vec<DuplicateRender>,
}

fn describe_duplicates(duplicates: &[DuplicateRender]) -> String {
    duplicates
        .iter()
        .map(|d| {
            format!(
                "resource ids {:?} and {:?} both render {}",
                d.first_node, d.second_node, d.key
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks that no two entries of `(node id, object)` name the same object (group, kind,
/// namespace, name; the version is ignored). Callers pass namespaces already defaulted, so that
/// an empty namespace and the instance namespace compare equal.
pub fn check_duplicates<'a>(
    rendered: impl IntoIterator<Item = (&'a str, &'a ObjectKey)>,
) -> Result<(), DuplicateResources> {
    let mut seen: BTreeMap<ObjectIdentity<'a>, &'a str> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for (node_id, key) in rendered {
        match seen.get(&key.identity()) {
            Some(first) => duplicates.push(DuplicateRender {
                key: key.clone(),
                first_node: (*first).to_owned(),
                second_node: node_id.to_owned(),
            }),
            None => {
                seen.insert(key.identity(), node_id);
            }
        }
    }
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(DuplicateResources { duplicates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(labels: &[(&str, &str)]) -> ChildMeta {
        ChildMeta {
            key: ObjectKey::namespaced("apps", "v1", "Deployment", "team", "web"),
            uid: "uid".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            annotations: BTreeMap::new(),
            terminating: false,
        }
    }

    fn key() -> ObjectKey {
        ObjectKey::namespaced("apps", "v1", "Deployment", "team", "web")
    }

    #[test]
    fn absent_object_is_created() {
        assert_eq!(
            check_membership("applyset-a-v1", &key(), None),
            Ok(Membership::Create)
        );
    }

    #[test]
    fn own_member_is_kept_and_unlabelled_object_adopted() {
        let mine = current(&[(PART_OF_LABEL, "applyset-a-v1")]);
        assert_eq!(
            check_membership("applyset-a-v1", &key(), Some(&mine)),
            Ok(Membership::Member)
        );
        let bare = current(&[("app", "web")]);
        assert_eq!(
            check_membership("applyset-a-v1", &key(), Some(&bare)),
            Ok(Membership::Adopt)
        );
        let empty = current(&[(PART_OF_LABEL, "")]);
        assert_eq!(
            check_membership("applyset-a-v1", &key(), Some(&empty)),
            Ok(Membership::Adopt)
        );
    }

    #[test]
    fn foreign_member_is_a_conflict_naming_the_owner() {
        let foreign = current(&[
            (PART_OF_LABEL, "applyset-b-v1"),
            (INSTANCE_NAME_LABEL, "other"),
            (INSTANCE_NAMESPACE_LABEL, "team"),
            (INSTANCE_KIND_LABEL, "WebApp"),
            (INSTANCE_GROUP_LABEL, "kro.run"),
        ]);
        let conflict = check_membership("applyset-a-v1", &key(), Some(&foreign))
            .expect_err("owned by another applyset");
        assert_eq!(conflict.current_applyset, "applyset-b-v1");
        assert_eq!(
            conflict.to_string(),
            "resource belongs to a different ApplySet: apps/v1 Deployment team/web is labelled \
             applyset.kubernetes.io/part-of=\"applyset-b-v1\", owned by WebApp instance team/other \
             (of the RGD serving kind WebApp.kro.run); cannot reassign it to ApplySet \"applyset-a-v1\""
        );
    }

    #[test]
    fn foreign_member_without_kro_labels_says_so() {
        let kubectl = current(&[(PART_OF_LABEL, "applyset-k-v1")]);
        let conflict = check_membership("applyset-a-v1", &key(), Some(&kubectl))
            .expect_err("owned by kubectl");
        assert!(conflict.to_string().contains(
            "owned by an owner without kro.run/instance-name label (not a kro instance)"
        ));
    }

    #[test]
    fn cluster_scoped_owner_and_core_group() {
        let hint = OwnerHint {
            instance_name: Some("acme".into()),
            instance_namespace: None,
            instance_kind: Some("Tenant".into()),
            instance_group: Some(String::new()),
        };
        assert_eq!(
            hint.to_string(),
            "Tenant instance acme (of the RGD serving kind Tenant)"
        );
    }

    #[test]
    fn duplicates_list_both_node_ids() {
        let a = ObjectKey::namespaced("", "v1", "ConfigMap", "team", "cfg");
        let b = ObjectKey::namespaced("", "v1", "ConfigMap", "team", "other");
        let a_again = ObjectKey::namespaced("", "v2", "ConfigMap", "team", "cfg");
        assert!(check_duplicates([("first", &a), ("second", &b)]).is_ok());
        let error = check_duplicates([("first", &a), ("second", &b), ("third", &a_again)])
            .expect_err("same object twice");
        assert_eq!(error.duplicates.len(), 1);
        assert_eq!(
            error.to_string(),
            "found resources with conflicts: resource ids \"first\" and \"third\" both render v2 ConfigMap team/cfg"
        );
    }

    #[test]
    fn different_namespaces_are_not_duplicates() {
        let a = ObjectKey::namespaced("", "v1", "ConfigMap", "one", "cfg");
        let b = ObjectKey::namespaced("", "v1", "ConfigMap", "two", "cfg");
        let c = ObjectKey::cluster_scoped("", "v1", "ConfigMap", "cfg");
        assert!(check_duplicates([("a", &a), ("b", &b), ("c", &c)]).is_ok());
    }
}
