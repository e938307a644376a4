//! Schemas from the API server: OpenAPI v3 group-version documents and discovery, fetched for
//! the kinds an RGD uses that the offline built-ins do not know (CRDs), then the compile.
//!
//! Documents are cached by the server's content hash (`/openapi/v3` lists each group version's
//! `serverRelativeURL` with `?hash=`), so compiling another RGD that uses the same group version
//! costs one index request and no document download.

use std::collections::BTreeSet;
use std::sync::Arc;

use kro_api::ResourceGraphDefinition;
use kro_graph::resolver::{ApiResourceMapping, GroupVersionDocument};
use kro_graph::{
    ChainResolver, ClusterSchemaCache, CompileOptions, Graph, Gvk, OfflineResolver, ResolveError,
    ResolvedKind, SchemaResolver, compile_with,
};
use kube::Client;
use serde_json::Value;

use super::error::Error;

/// Resolves kinds from the offline built-ins first, then from the cluster's documents.
///
/// Cheap to clone; clones share both caches, so one resolver serves every RGD of an operator.
#[derive(Clone, Debug)]
pub struct ClusterResolver {
    offline: Arc<OfflineResolver>,
    cluster: Arc<ClusterSchemaCache>,
    chain: ChainResolver,
}

impl Default for ClusterResolver {
    fn default() -> Self {
        Self::new(
            Arc::new(OfflineResolver::new()),
            Arc::new(ClusterSchemaCache::default()),
        )
    }
}

impl ClusterResolver {
    /// A resolver over `offline` (consulted first, like upstream's built-ins) and `cluster`.
    pub fn new(offline: Arc<OfflineResolver>, cluster: Arc<ClusterSchemaCache>) -> Self {
        let chain = ChainResolver::new()
            .with(offline.clone() as Arc<dyn SchemaResolver>)
            .with(cluster.clone() as Arc<dyn SchemaResolver>);
        Self {
            offline,
            cluster,
            chain,
        }
    }

    /// The offline part (built-ins plus registered CRDs, e.g. other RGDs' generated kinds).
    pub fn offline(&self) -> &Arc<OfflineResolver> {
        &self.offline
    }

    /// The cluster document cache.
    pub fn cluster(&self) -> &Arc<ClusterSchemaCache> {
        &self.cluster
    }

    /// Makes sure every group version in `group_versions` is cached at the server's current
    /// hash. Group versions the server does not serve are skipped: resolution then reports their
    /// kinds as not found, which the compiler turns into an error naming the resource.
    ///
    /// # Errors
    /// A request failed or returned an unexpected shape.
    pub async fn prefetch(
        &self,
        client: &Client,
        group_versions: &BTreeSet<String>,
    ) -> Result<(), Error> {
        if group_versions.is_empty() {
            return Ok(());
        }
        let index = get_json(client, "/openapi/v3").await?;
        for group_version in group_versions {
            let Some(url) = server_relative_url(&index, group_version) else {
                continue;
            };
            let hash = url_hash(url).unwrap_or(url).to_owned();
            if self.cluster.is_fresh(group_version, &hash) {
                continue;
            }
            let document = get_json(client, url).await?;
            let resources = discover(client, group_version).await?;
            self.cluster.insert(GroupVersionDocument {
                group_version: group_version.clone(),
                hash,
                document,
                resources,
            });
        }
        Ok(())
    }

    /// The group versions of `rgd`'s templates and external references whose kinds the offline
    /// resolver does not know, sorted.
    pub fn missing_group_versions(&self, rgd: &ResourceGraphDefinition) -> BTreeSet<String> {
        used_kinds(rgd)
            .into_iter()
            .filter(|gvk| {
                matches!(
                    self.offline.resolve(gvk),
                    Err(ResolveError::NotFound { .. })
                )
            })
            .map(|gvk| gvk.api_version())
            .collect()
    }
}

impl SchemaResolver for ClusterResolver {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        self.chain.resolve(gvk)
    }
}

/// Prefetches the documents `rgd` needs, then compiles it.
///
/// # Errors
/// [`Error::Kube`] when the server could not be asked, [`Error::Compile`] with every problem of
/// the RGD.
pub async fn compile_rgd(
    client: &Client,
    resolver: &ClusterResolver,
    rgd: &ResourceGraphDefinition,
    options: &CompileOptions,
) -> Result<Graph, Error> {
    resolver
        .prefetch(client, &resolver.missing_group_versions(rgd))
        .await?;
    compile_with(rgd, resolver, options).map_err(|source| Error::Compile {
        name: rgd.metadata.name.clone().unwrap_or_default(),
        source,
    })
}

/// Every kind `rgd` names literally (templates and external references). Templated
/// `apiVersion`/`kind` values cannot be resolved anyway, so they are left to the compiler.
fn used_kinds(rgd: &ResourceGraphDefinition) -> BTreeSet<Gvk> {
    let mut kinds = BTreeSet::new();
    for resource in &rgd.spec.resources {
        let pair = match (&resource.template, &resource.external_ref) {
            (Some(template), _) => template
                .get("apiVersion")
                .and_then(Value::as_str)
                .zip(template.get("kind").and_then(Value::as_str)),
            (None, Some(external)) => Some((external.api_version.as_str(), external.kind.as_str())),
            (None, None) => None,
        };
        if let Some((api_version, kind)) = pair
            && !api_version.contains("${")
            && !kind.contains("${")
        {
            kinds.insert(Gvk::from_api_version(api_version, kind));
        }
    }
    kinds
}

async fn get_json(client: &Client, path: &str) -> Result<Value, Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|source| Error::Request {
            path: path.to_owned(),
            reason: source.to_string(),
        })?;
    client
        .request::<Value>(request)
        .await
        .map_err(|source| Error::kube(format!("GET {path}"), source))
}

/// The discovery path of a group version: `/api/v1` for the core group, `/apis/<g>/<v>` else.
fn discovery_path(group_version: &str) -> String {
    if group_version.contains('/') {
        format!("/apis/{group_version}")
    } else {
        format!("/api/{group_version}")
    }
}

/// `serverRelativeURL` of `group_version` in the `/openapi/v3` index.
fn server_relative_url<'a>(index: &'a Value, group_version: &str) -> Option<&'a str> {
    let key = discovery_path(group_version);
    index
        .get("paths")?
        .get(key.trim_start_matches('/'))?
        .get("serverRelativeURL")?
        .as_str()
}

/// The `hash` query parameter of a `serverRelativeURL`.
fn url_hash(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("hash="))
        .filter(|hash| !hash.is_empty())
}

async fn discover(client: &Client, group_version: &str) -> Result<Vec<ApiResourceMapping>, Error> {
    let path = discovery_path(group_version);
    let list = get_json(client, &path).await?;
    parse_api_resource_list(&list, &path)
}

/// The kinds of an `APIResourceList`, subresources (`deployments/status`) left out.
fn parse_api_resource_list(list: &Value, path: &str) -> Result<Vec<ApiResourceMapping>, Error> {
    let unexpected = |field: &str, expected| Error::UnexpectedResponse {
        what: format!("GET {path}"),
        field: field.to_owned(),
        expected,
    };
    let resources = list
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected("resources", "a list of API resources"))?;
    let mut mappings = Vec::new();
    for (index, resource) in resources.iter().enumerate() {
        let field = |name: &str| format!("resources[{index}].{name}");
        let plural = resource
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| unexpected(&field("name"), "a string"))?;
        if plural.contains('/') {
            continue;
        }
        let kind = resource
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| unexpected(&field("kind"), "a string"))?;
        let namespaced = resource
            .get("namespaced")
            .and_then(Value::as_bool)
            .ok_or_else(|| unexpected(&field("namespaced"), "a boolean"))?;
        mappings.push(ApiResourceMapping {
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
        });
    }
    Ok(mappings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_lookup_uses_the_discovery_path_and_extracts_the_hash() {
        let index = json!({"paths": {
            "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=AAA"},
            "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=BBB&x=1"},
        }});
        let core = server_relative_url(&index, "v1");
        assert_eq!(core, Some("/openapi/v3/api/v1?hash=AAA"));
        assert_eq!(core.and_then(url_hash), Some("AAA"));
        let apps = server_relative_url(&index, "apps/v1");
        assert_eq!(apps.and_then(url_hash), Some("BBB"));
        assert_eq!(server_relative_url(&index, "batch/v1"), None);
        assert_eq!(url_hash("/openapi/v3/api/v1"), None);
    }

    #[test]
    fn resource_list_skips_subresources_and_names_bad_fields() {
        let list = json!({"resources": [
            {"name": "widgets", "kind": "Widget", "namespaced": true},
            {"name": "widgets/status", "kind": "Widget", "namespaced": true},
            {"name": "gadgets", "kind": "Gadget", "namespaced": false},
        ]});
        let mappings = parse_api_resource_list(&list, "/apis/x.io/v1").expect("valid list");
        assert_eq!(
            mappings,
            vec![
                ApiResourceMapping {
                    kind: "Widget".into(),
                    plural: "widgets".into(),
                    namespaced: true
                },
                ApiResourceMapping {
                    kind: "Gadget".into(),
                    plural: "gadgets".into(),
                    namespaced: false
                },
            ]
        );
        let bad = json!({"resources": [{"name": "widgets", "kind": "Widget"}]});
        let error = parse_api_resource_list(&bad, "/apis/x.io/v1")
            .expect_err("namespaced is missing")
            .to_string();
        assert!(error.contains("resources[0].namespaced"), "{error}");
        assert!(error.contains("a boolean"), "{error}");
    }

    #[test]
    fn used_kinds_are_literal_template_and_external_kinds() {
        let rgd = ResourceGraphDefinition::from_yaml(
            r#"
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: t}
spec:
  schema: {apiVersion: v1alpha1, kind: T, spec: {name: string}}
  resources:
  - id: widget
    template: {apiVersion: x.io/v1, kind: Widget, metadata: {name: "${schema.spec.name}"}}
  - id: config
    externalRef: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
"#,
        )
        .expect("valid yaml");
        let kinds: Vec<String> = used_kinds(&rgd).iter().map(ToString::to_string).collect();
        assert_eq!(kinds, ["v1, Kind=ConfigMap", "x.io/v1, Kind=Widget"]);
        let resolver = ClusterResolver::default();
        assert_eq!(
            resolver.missing_group_versions(&rgd),
            BTreeSet::from(["x.io/v1".to_owned()])
        );
    }
}
