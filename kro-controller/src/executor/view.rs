//! What the shared watch cache tells the reconcile machine before any request: the
//! [`KnownState`] a reconcile plans against.
//!
//! The cache holds kro's own children only, so "not in the cache" means "no object kro owns
//! has that name" ([`Known::NoKroObject`]): enough for a template, not for an external
//! reference, which the machine then asks to read live. Lists are answered only for selectors
//! on kro's bookkeeping labels; a member whose body the cache did not keep is read on its own.

use kro_api::ObjectKey;
use kro_runtime::core::LabelSelector;
use kro_runtime::machine::{Known, KnownState, Listing, selects_only_kro_children};
use serde_json::Value;

use super::cache::{CacheAnswer, KindMapping, Lookup, ObjectCache};
use super::memo::{AppliedMemo, body_hash};

/// The watch cache as the machine's knowledge, with the executor's memory of applied bodies.
pub(crate) struct CacheState<'a> {
    pub(crate) cache: &'a ObjectCache,
    pub(crate) memo: &'a AppliedMemo,
}

impl KnownState for CacheState<'_> {
    fn get(&self, target: &KindMapping, namespace: Option<&str>, name: &str) -> Known {
        match self.cache.lookup(target, namespace, name) {
            CacheAnswer::Answered(Lookup::Body(object)) => Known::Object(object),
            CacheAnswer::Answered(Lookup::Absent) => Known::NoKroObject,
            CacheAnswer::Answered(Lookup::MetadataOnly(_)) | CacheAnswer::NotSynced => {
                Known::Unknown
            }
        }
    }

    fn list(
        &self,
        target: &KindMapping,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Listing {
        if !selects_only_kro_children(selector) {
            return Listing::Unknown;
        }
        match self
            .cache
            .list(target, namespace, |labels| selector.matches(labels))
        {
            CacheAnswer::Answered(listed) => Listing::Names(
                listed
                    .iter()
                    .filter_map(|metadata| {
                        let name = metadata.pointer("/metadata/name").and_then(Value::as_str)?;
                        let namespace = metadata
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        Some((namespace, name.to_owned()))
                    })
                    .collect(),
            ),
            CacheAnswer::NotSynced => Listing::Unknown,
        }
    }

    fn applied_before(&self, key: &ObjectKey, uid: &str, body: &Value) -> bool {
        self.memo.matches(key, uid, body_hash(body))
    }
}
