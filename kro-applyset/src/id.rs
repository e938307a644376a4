//! ApplySet parent identities and the KEP-3659 ApplySet id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The identity of an ApplySet parent: what KEP-3659 hashes into the ApplySet id.
///
/// For kro the parent is the instance, whose group is the instance's API group (the RGD's
/// `spec.schema.group`). Any other object can be a parent too, e.g. the ConfigMap parent
/// `kubectl apply --applyset=configmap/NAME` uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ParentRef {
    /// API group of the parent's kind; empty for the core group.
    pub group: String,
    /// Kind of the parent.
    pub kind: String,
    /// Namespace of the parent; `None` when the parent is cluster-scoped.
    pub namespace: Option<String>,
    /// Name of the parent.
    pub name: String,
}

impl ParentRef {
    /// The KEP-3659 ApplySet id of this parent (see [`applyset_id`]).
    pub fn applyset_id(&self) -> String {
        applyset_id(
            &self.name,
            self.namespace.as_deref().unwrap_or(""),
            &self.kind,
            &self.group,
        )
    }

    /// The parent's namespace, or the empty string when it is cluster-scoped.
    pub fn namespace_or_empty(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// The object `key` names as an ApplySet parent (the parent id has no version).
impl From<&kro_api::ObjectKey> for ParentRef {
    fn from(key: &kro_api::ObjectKey) -> Self {
        Self {
            group: key.group.clone(),
            kind: key.kind.clone(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }
    }
}

/// A kro instance: the ApplySet parent plus what children record about it in their labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct InstanceRef {
    /// API group of the instance kind (the RGD's schema group).
    pub group: String,
    /// API version of the instance kind.
    pub version: String,
    /// Instance kind.
    pub kind: String,
    /// Instance namespace; `None` for cluster-scoped instance kinds.
    pub namespace: Option<String>,
    /// Instance name.
    pub name: String,
    /// Instance `metadata.uid`.
    pub uid: String,
}

impl InstanceRef {
    /// The instance viewed as an ApplySet parent.
    pub fn parent(&self) -> ParentRef {
        ParentRef {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The ApplySet id of this instance.
    pub fn applyset_id(&self) -> String {
        applyset_id(
            &self.name,
            self.namespace.as_deref().unwrap_or(""),
            &self.kind,
            &self.group,
        )
    }
}

/// Computes a KEP-3659 v1 ApplySet id:
/// `applyset-<base64url-nopad(sha256("<name>.<namespace>.<kind>.<group>"))>-v1`.
///
/// `namespace` is empty for cluster-scoped parents and `group` empty for core-group parents; the
/// dots stay in place either way, exactly as kubectl joins the four parts.
pub fn applyset_id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    format!("applyset-{}-v1", URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_id(input: &str) -> String {
        // Independent computation: hex digest converted to base64url by hand, so the test does
        // not just repeat the implementation.
        let digest = Sha256::digest(input.as_bytes());
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut bit_count = 0u32;
        let mut encoded = String::new();
        for byte in digest {
            bits = (bits << 8) | u32::from(byte);
            bit_count += 8;
            while bit_count >= 6 {
                bit_count -= 6;
                encoded.push(char::from(ALPHABET[((bits >> bit_count) & 0x3f) as usize]));
            }
        }
        if bit_count > 0 {
            encoded.push(char::from(
                ALPHABET[((bits << (6 - bit_count)) & 0x3f) as usize],
            ));
        }
        format!("applyset-{encoded}-v1")
    }

    #[test]
    fn id_hashes_name_namespace_kind_group_joined_by_dots() {
        let id = applyset_id("my-app", "default", "WebApp", "kro.run");
        assert_eq!(id, reference_id("my-app.default.WebApp.kro.run"));
        // 32-byte digest → 43 unpadded base64 characters.
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert!(!id.contains('='));
    }

    #[test]
    fn id_matches_known_vector() {
        // sha256("test.default.ConfigMap.") rendered base64url without padding; checked with
        // `printf 'test.default.ConfigMap.' | openssl dgst -sha256 -binary | basenc --base64url`
        // (trailing `=` dropped).
        assert_eq!(
            applyset_id("test", "default", "ConfigMap", ""),
            "applyset-XYWvxXDUlCqMdjmmY1arThcdGiF0cvBW6sAfSMWYUdE-v1"
        );
    }

    #[test]
    fn cluster_scoped_parent_keeps_empty_namespace_segment() {
        let parent = ParentRef {
            group: "kro.run".into(),
            kind: "Tenant".into(),
            namespace: None,
            name: "acme".into(),
        };
        assert_eq!(parent.applyset_id(), reference_id("acme..Tenant.kro.run"));
    }

    #[test]
    fn instance_and_parent_ids_agree() {
        let instance = InstanceRef {
            group: "kro.run".into(),
            version: "v1alpha1".into(),
            kind: "WebApp".into(),
            namespace: Some("team".into()),
            name: "web".into(),
            uid: "uid-1".into(),
        };
        assert_eq!(instance.applyset_id(), instance.parent().applyset_id());
        assert_eq!(
            instance.applyset_id(),
            reference_id("web.team.WebApp.kro.run")
        );
    }

    #[test]
    fn every_part_changes_the_id() {
        let base = applyset_id("a", "b", "C", "d");
        assert_ne!(base, applyset_id("x", "b", "C", "d"));
        assert_ne!(base, applyset_id("a", "x", "C", "d"));
        assert_ne!(base, applyset_id("a", "b", "X", "d"));
        assert_ne!(base, applyset_id("a", "b", "C", "x"));
    }
}
