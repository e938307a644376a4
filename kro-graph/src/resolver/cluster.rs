//! A bounded cache of the API server's OpenAPI v3 group-version documents.
//!
//! Upstream's resolver kept every resolved schema of every CRD and used gigabytes on large
//! clusters. This cache holds at most `max_documents` documents and `max_kinds` resolved kinds,
//! evicting the least recently used. Documents are keyed by group version and the server's hash
//! (from `/openapi/v3`'s `serverRelativeURL`), so a changed group version is refetched.
//!
//! Fetching needs an HTTP client, which this pure crate does not have. The operator either
//! implements [`SchemaSource`] and calls [`ClusterSchemaCache::ensure`], or fetches on its own
//! (asynchronously) the group versions [`ClusterSchemaCache::is_fresh`] reports stale and
//! [`ClusterSchemaCache::insert`]s them before compiling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use super::inline::inline_component;
use super::{Gvk, ResolveError, ResolvedKind, SchemaResolver};

/// Where a kind lives in the REST API, from discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResourceMapping {
    /// The kind.
    pub kind: String,
    /// The plural resource name.
    pub plural: String,
    /// Whether objects are namespaced.
    pub namespaced: bool,
}

/// One group version's OpenAPI v3 document and discovery data.
#[derive(Clone, Debug)]
pub struct GroupVersionDocument {
    /// `apps/v1`, or `v1` for the core group.
    pub group_version: String,
    /// The server's content hash of the document.
    pub hash: String,
    /// The document (`GET /openapi/v3/apis/<group>/<version>`).
    pub document: Value,
    /// The kinds served in this group version.
    pub resources: Vec<ApiResourceMapping>,
}

/// Fetches group-version documents (implemented by the operator over its Kubernetes client).
pub trait SchemaSource {
    /// The current hash of `group_version`'s document, or `None` if the server does not serve it.
    ///
    /// # Errors
    /// The server could not be asked.
    fn current_hash(&self, group_version: &str) -> Result<Option<String>, ResolveError>;

    /// The document of `group_version`.
    ///
    /// # Errors
    /// The server could not be asked or the group version is not served.
    fn fetch(&self, group_version: &str) -> Result<GroupVersionDocument, ResolveError>;
}

struct StoredDocument {
    hash: String,
    components: Arc<Map<String, Value>>,
    resources: Vec<ApiResourceMapping>,
    last_used: u64,
}

#[derive(Default)]
struct CacheState {
    documents: HashMap<String, StoredDocument>,
    kinds: HashMap<Gvk, (ResolvedKind, u64)>,
    clock: u64,
}

/// The bounded, thread-safe cache; also a [`SchemaResolver`] over what it holds.
pub struct ClusterSchemaCache {
    state: Mutex<CacheState>,
    max_documents: usize,
    max_kinds: usize,
}

impl std::fmt::Debug for ClusterSchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ClusterSchemaCache")
            .field("documents", &state.documents.len())
            .field("kinds", &state.kinds.len())
            .field("max_documents", &self.max_documents)
            .field("max_kinds", &self.max_kinds)
            .finish()
    }
}

impl Default for ClusterSchemaCache {
    /// 64 documents and 500 resolved kinds (upstream's LRU size).
    fn default() -> Self {
        Self::new(64, 500)
    }
}

impl ClusterSchemaCache {
    /// A cache of at most `max_documents` documents and `max_kinds` resolved kinds (each at
    /// least 1).
    pub fn new(max_documents: usize, max_kinds: usize) -> Self {
        Self {
            state: Mutex::new(CacheState::default()),
            max_documents: max_documents.max(1),
            max_kinds: max_kinds.max(1),
        }
    }

    /// Whether the cache holds `group_version` at `hash`.
    pub fn is_fresh(&self, group_version: &str, hash: &str) -> bool {
        self.lock()
            .documents
            .get(group_version)
            .is_some_and(|stored| stored.hash == hash)
    }

    /// Stores a document, dropping kinds resolved from an older version of it and evicting the
    /// least recently used document when full.
    pub fn insert(&self, document: GroupVersionDocument) {
        let components = document
            .document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let group_version = document.group_version;
        state
            .kinds
            .retain(|gvk, _| gvk.api_version() != group_version);
        state.documents.insert(
            group_version,
            StoredDocument {
                hash: document.hash,
                components: Arc::new(components),
                resources: document.resources,
                last_used: now,
            },
        );
        while state.documents.len() > self.max_documents {
            let Some(oldest) = state
                .documents
                .iter()
                .min_by_key(|(name, stored)| (stored.last_used, (*name).clone()))
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            state.documents.remove(&oldest);
        }
    }

    /// Makes sure `group_version` is cached at the server's current hash, fetching it from
    /// `source` when missing or stale.
    ///
    /// # Errors
    /// The source's errors; [`ResolveError::NotFound`]-like absence is not an error (nothing is
    /// cached and resolution will report the kind as not found).
    pub fn ensure(
        &self,
        source: &dyn SchemaSource,
        group_version: &str,
    ) -> Result<(), ResolveError> {
        let Some(hash) = source.current_hash(group_version)? else {
            return Ok(());
        };
        if !self.is_fresh(group_version, &hash) {
            self.insert(source.fetch(group_version)?);
        }
        Ok(())
    }

    /// The number of cached documents and resolved kinds.
    pub fn len(&self) -> (usize, usize) {
        let state = self.lock();
        (state.documents.len(), state.kinds.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SchemaResolver for ClusterSchemaCache {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        let group_version = gvk.api_version();
        let (components, mapping) = {
            let mut state = self.lock();
            state.clock += 1;
            let now = state.clock;
            if let Some((kind, last_used)) = state.kinds.get_mut(gvk) {
                *last_used = now;
                return Ok(kind.clone());
            }
            let Some(stored) = state.documents.get_mut(&group_version) else {
                return Err(ResolveError::NotFound { gvk: gvk.clone() });
            };
            stored.last_used = now;
            let Some(mapping) = stored
                .resources
                .iter()
                .find(|r| r.kind == gvk.kind)
                .cloned()
            else {
                return Err(ResolveError::NotFound { gvk: gvk.clone() });
            };
            (Arc::clone(&stored.components), mapping)
        };
        // Inline outside the lock: it is the expensive part.
        let name = components
            .iter()
            .find(|(_, schema)| declares_kind(schema, gvk))
            .map(|(name, _)| name.clone())
            .ok_or_else(|| ResolveError::NotFound { gvk: gvk.clone() })?;
        let schema = inline_component(&components, &name).map_err(|message| {
            ResolveError::InvalidSchema {
                gvk: gvk.clone(),
                message,
            }
        })?;
        let kind = ResolvedKind::new(gvk.clone(), schema, mapping.plural, mapping.namespaced);
        let mut state = self.lock();
        let now = state.clock;
        state.kinds.insert(gvk.clone(), (kind.clone(), now));
        while state.kinds.len() > self.max_kinds {
            let Some(oldest) = state
                .kinds
                .iter()
                .min_by_key(|(gvk, (_, used))| (*used, (*gvk).clone()))
                .map(|(gvk, _)| gvk.clone())
            else {
                break;
            };
            state.kinds.remove(&oldest);
        }
        Ok(kind)
    }
}

/// Whether a component schema is the root schema of `gvk` (`x-kubernetes-group-version-kind`).
fn declares_kind(schema: &Value, gvk: &Gvk) -> bool {
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .is_some_and(|kinds| {
            kinds.iter().any(|entry| {
                entry.get("group").and_then(Value::as_str) == Some(gvk.group.as_str())
                    && entry.get("version").and_then(Value::as_str) == Some(gvk.version.as_str())
                    && entry.get("kind").and_then(Value::as_str) == Some(gvk.kind.as_str())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(group_version: &str, kind: &str, hash: &str) -> GroupVersionDocument {
        let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
        GroupVersionDocument {
            group_version: group_version.to_owned(),
            hash: hash.to_owned(),
            document: json!({"components": {"schemas": {
                format!("{group}.{kind}"): {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
                    "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": kind}],
                }
            }}}),
            resources: vec![ApiResourceMapping {
                kind: kind.to_owned(),
                plural: format!("{}s", kind.to_lowercase()),
                namespaced: true,
            }],
        }
    }

    #[test]
    fn resolves_from_documents_and_evicts_the_least_recently_used() {
        let cache = ClusterSchemaCache::new(2, 10);
        cache.insert(document("a.io/v1", "Apple", "h1"));
        cache.insert(document("b.io/v1", "Berry", "h1"));
        let apple = Gvk::from_api_version("a.io/v1", "Apple");
        let resolved = cache.resolve(&apple).expect("resolves");
        assert_eq!(resolved.plural(), "apples");
        assert!(cache.is_fresh("a.io/v1", "h1"));
        assert!(!cache.is_fresh("a.io/v1", "h2"));
        // b.io/v1 is now the least recently used document.
        cache.insert(document("c.io/v1", "Cherry", "h1"));
        assert!(!cache.is_fresh("b.io/v1", "h1"));
        assert!(cache.is_fresh("a.io/v1", "h1"));
        let berry = Gvk::from_api_version("b.io/v1", "Berry");
        assert!(matches!(
            cache.resolve(&berry),
            Err(ResolveError::NotFound { .. })
        ));
    }
}
