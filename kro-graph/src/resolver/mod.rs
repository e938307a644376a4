//! Schema resolution: from a Gvk to its `$ref`-free OpenAPI schema and REST mapping.
//!
//! - [`OfflineResolver`]: the built-in kinds of one pinned Kubernetes version (data embedded in
//!   the crate) plus CRDs registered from files or from other RGDs (chaining).
//! - [`ClusterSchemaCache`]: a bounded cache of the API server's `/openapi/v3` group-version
//!   documents. Fetching is left to the caller (the operator owns the HTTP client): it asks
//!   which group versions are missing or stale, fetches them, and inserts them.
//! - [`ChainResolver`]: tries resolvers in order (built-ins first, like upstream).

mod cluster;
mod inline;
mod offline;

use std::fmt;
use std::sync::{Arc, OnceLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use kro_cel::{CelType, FieldType, object_meta_type};

pub use cluster::{ApiResourceMapping, ClusterSchemaCache, GroupVersionDocument, SchemaSource};
pub use inline::MAX_DEPTH as MAX_SCHEMA_DEPTH;
pub use kro_api::Gvk;
pub use offline::{BUILTIN_KUBERNETES_VERSION, OfflineResolver};

/// Why a kind could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No resolver knows the kind.
    #[error("schema not found for {gvk}")]
    NotFound {
        /// The kind looked up.
        gvk: Gvk,
    },
    /// The kind is known but its schema is unusable.
    #[error("invalid schema for {gvk}: {message}")]
    InvalidSchema {
        /// The kind looked up.
        gvk: Gvk,
        /// What is wrong.
        message: String,
    },
    /// A registered document or CRD is malformed.
    #[error("invalid schema source: {message}")]
    InvalidSource {
        /// What is wrong.
        message: String,
    },
}

/// A resolved kind: its schema (free of `$ref`) and REST mapping. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ResolvedKind {
    inner: Arc<ResolvedInner>,
}

#[derive(Debug)]
struct ResolvedInner {
    gvk: Gvk,
    schema: JSONSchemaProps,
    plural: String,
    namespaced: bool,
    cel_type: OnceLock<CelType>,
}

impl ResolvedKind {
    /// A resolved kind.
    pub fn new(
        gvk: Gvk,
        schema: JSONSchemaProps,
        plural: impl Into<String>,
        namespaced: bool,
    ) -> Self {
        Self {
            inner: Arc::new(ResolvedInner {
                gvk,
                schema,
                plural: plural.into(),
                namespaced,
                cel_type: OnceLock::new(),
            }),
        }
    }

    /// The kind.
    pub fn gvk(&self) -> &Gvk {
        &self.inner.gvk
    }

    /// The object's OpenAPI schema, free of `$ref`.
    pub fn schema(&self) -> &JSONSchemaProps {
        &self.inner.schema
    }

    /// The resource name in URLs (`deployments`).
    pub fn plural(&self) -> &str {
        &self.inner.plural
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(&self) -> bool {
        self.inner.namespaced
    }

    /// The CEL type of a stored object of this kind (computed once, shared by clones): the
    /// schema's type with `metadata` typed as a full ObjectMeta.
    pub fn cel_type(&self) -> &CelType {
        self.inner.cel_type.get_or_init(|| {
            let name = &self.inner.gvk.kind;
            let mut ty = CelType::from_schema_named(name, &self.inner.schema);
            if let CelType::Struct(object) = &mut ty {
                Arc::make_mut(object).fields.insert(
                    "metadata".to_owned(),
                    FieldType::required(object_meta_type(
                        &format!("{name}.metadata"),
                        self.inner.namespaced,
                    )),
                );
            }
            ty
        })
    }
}

/// Resolves kinds to schemas and REST mappings.
pub trait SchemaResolver: Send + Sync {
    /// The schema and mapping of `gvk`.
    ///
    /// # Errors
    /// [`ResolveError::NotFound`] when the resolver does not know the kind.
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError>;
}

impl<T: SchemaResolver + ?Sized> SchemaResolver for Arc<T> {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        (**self).resolve(gvk)
    }
}

impl<T: SchemaResolver + ?Sized> SchemaResolver for &T {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        (**self).resolve(gvk)
    }
}

/// Tries resolvers in order; the first that knows the kind answers.
#[derive(Clone, Default)]
pub struct ChainResolver {
    resolvers: Vec<Arc<dyn SchemaResolver>>,
}

impl ChainResolver {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a resolver, consulted after those already in the chain.
    pub fn with(mut self, resolver: Arc<dyn SchemaResolver>) -> Self {
        self.resolvers.push(resolver);
        self
    }
}

impl fmt::Debug for ChainResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainResolver")
            .field("resolvers", &self.resolvers.len())
            .finish()
    }
}

impl SchemaResolver for ChainResolver {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        for resolver in &self.resolvers {
            match resolver.resolve(gvk) {
                Err(ResolveError::NotFound { .. }) => continue,
                other => return other,
            }
        }
        Err(ResolveError::NotFound { gvk: gvk.clone() })
    }
}
