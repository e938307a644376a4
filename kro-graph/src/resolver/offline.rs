//! The offline resolver: built-in kinds from embedded data, plus registered CRDs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex, PoisonError, RwLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::inline::inline_component;
use super::{Gvk, ResolveError, ResolvedKind, SchemaResolver};

/// The Kubernetes version the embedded built-in schemas were generated from.
pub const BUILTIN_KUBERNETES_VERSION: &str = "v1.36.3";

const KINDS_JSON: &str = include_str!("../../builtin/kinds.json");
const SCHEMAS_JSON: &str = include_str!("../../builtin/schemas.json");

#[derive(Deserialize)]
struct KindsFile {
    kinds: Vec<KindEntry>,
}

#[derive(Deserialize)]
struct KindEntry {
    group: String,
    version: String,
    kind: String,
    plural: String,
    namespaced: bool,
    schema: String,
}

struct Builtin {
    kinds: BTreeMap<Gvk, KindEntry>,
    /// Each component schema as JSON text: parsed as a tree, the whole set takes about 7 MiB
    /// (for the life of the process, or as freed heap the allocator keeps), as text a quarter
    /// MiB. A kind parses the components it reaches when it is first resolved.
    components: HashMap<String, Box<RawValue>>,
}

impl Builtin {
    /// The components `root` reaches through `$ref`s, parsed. Missing ones are left out (the
    /// inliner names them).
    fn components_reached_from(&self, root: &str) -> Result<Map<String, Value>, String> {
        let mut parsed = Map::new();
        let mut pending = vec![root.to_owned()];
        while let Some(name) = pending.pop() {
            if parsed.contains_key(&name) {
                continue;
            }
            let Some(text) = self.components.get(&name) else {
                continue;
            };
            let value: Value = serde_json::from_str(text.get())
                .map_err(|e| format!("builtin/schemas.json, component {name}: {e}"))?;
            collect_refs(&value, &mut pending);
            parsed.insert(name, value);
        }
        Ok(parsed)
    }
}

fn collect_refs(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => names.push(
                        reference
                            .strip_prefix("#/components/schemas/")
                            .unwrap_or(reference)
                            .to_owned(),
                    ),
                    _ => collect_refs(value, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, names)),
        _ => {}
    }
}

/// Parsed once, on first use; an error here means the embedded data is corrupt.
static BUILTIN: LazyLock<Result<Builtin, String>> = LazyLock::new(|| {
    let kinds: KindsFile =
        serde_json::from_str(KINDS_JSON).map_err(|e| format!("builtin/kinds.json: {e}"))?;
    let components: HashMap<String, Box<RawValue>> =
        serde_json::from_str(SCHEMAS_JSON).map_err(|e| format!("builtin/schemas.json: {e}"))?;
    let kinds = kinds
        .kinds
        .into_iter()
        .map(|entry| {
            let gvk = Gvk {
                group: entry.group.clone(),
                version: entry.version.clone(),
                kind: entry.kind.clone(),
            };
            (gvk, entry)
        })
        .collect();
    Ok(Builtin { kinds, components })
});

/// Resolves the built-in kinds of Kubernetes [`BUILTIN_KUBERNETES_VERSION`] with no network, and
/// any CRD registered with [`OfflineResolver::register_crd`]. Registered CRDs win over
/// built-ins. Resolved schemas are cached, so resolving a kind again is a map lookup.
#[derive(Debug, Default)]
pub struct OfflineResolver {
    registered: RwLock<BTreeMap<Gvk, ResolvedKind>>,
    cache: Mutex<HashMap<Gvk, ResolvedKind>>,
}

impl OfflineResolver {
    /// A resolver knowing the built-in kinds only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every built-in kind, sorted.
    pub fn builtin_kinds() -> Vec<Gvk> {
        match &*BUILTIN {
            Ok(builtin) => builtin.kinds.keys().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Registers every served version of `crd` (its `openAPIV3Schema`, plural and scope),
    /// replacing an earlier registration of the same kinds. Returns the kinds registered.
    ///
    /// # Errors
    /// A served version without a schema.
    pub fn register_crd(&self, crd: &CustomResourceDefinition) -> Result<Vec<Gvk>, ResolveError> {
        let spec = &crd.spec;
        let namespaced = spec.scope == "Namespaced";
        let mut resolved = Vec::new();
        for version in spec.versions.iter().filter(|v| v.served) {
            let gvk = Gvk {
                group: spec.group.clone(),
                version: version.name.clone(),
                kind: spec.names.kind.clone(),
            };
            let Some(mut schema) = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.clone())
            else {
                return Err(ResolveError::InvalidSchema {
                    gvk,
                    message: "the CRD version has no openAPIV3Schema".to_owned(),
                });
            };
            add_implied_object_fields(&mut schema);
            resolved.push(ResolvedKind::new(
                gvk,
                schema,
                spec.names.plural.clone(),
                namespaced,
            ));
        }
        let mut registered = self
            .registered
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(resolved
            .into_iter()
            .map(|kind| {
                let gvk = kind.gvk().clone();
                registered.insert(gvk.clone(), kind);
                gvk
            })
            .collect())
    }

    /// Registers every CRD in a YAML file (one or more documents; other kinds are skipped).
    ///
    /// # Errors
    /// Text that is not YAML, a CRD that does not parse, or a served version without a schema.
    pub fn register_crd_yaml(&self, text: &str) -> Result<Vec<Gvk>, ResolveError> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(text).map_err(|e| ResolveError::InvalidSource {
                message: format!("CRD YAML: {e}"),
            })?;
        let mut registered = Vec::new();
        for document in documents {
            if document.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let crd: CustomResourceDefinition =
                serde_json::from_value(document).map_err(|e| ResolveError::InvalidSource {
                    message: format!("CustomResourceDefinition: {e}"),
                })?;
            registered.extend(self.register_crd(&crd)?);
        }
        Ok(registered)
    }

    fn builtin(gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        let builtin = BUILTIN
            .as_ref()
            .map_err(|message| ResolveError::InvalidSource {
                message: message.clone(),
            })?;
        let entry = builtin
            .kinds
            .get(gvk)
            .ok_or_else(|| ResolveError::NotFound { gvk: gvk.clone() })?;
        let schema = builtin
            .components_reached_from(&entry.schema)
            .and_then(|components| inline_component(&components, &entry.schema))
            .map_err(|message| ResolveError::InvalidSchema {
                gvk: gvk.clone(),
                message,
            })?;
        Ok(ResolvedKind::new(
            gvk.clone(),
            schema,
            entry.plural.clone(),
            entry.namespaced,
        ))
    }
}

impl SchemaResolver for OfflineResolver {
    fn resolve(&self, gvk: &Gvk) -> Result<ResolvedKind, ResolveError> {
        if let Some(kind) = self
            .registered
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(gvk)
        {
            return Ok(kind.clone());
        }
        if let Some(kind) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(gvk)
        {
            return Ok(kind.clone());
        }
        let kind = Self::builtin(gvk)?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(gvk.clone(), kind.clone());
        Ok(kind)
    }
}

/// The API server gives every custom object `apiVersion`, `kind` and `metadata` whether or not
/// the CRD's schema declares them, and most hand-written CRDs do not; add the ones missing so
/// templates may set them.
fn add_implied_object_fields(schema: &mut JSONSchemaProps) {
    let properties = schema.properties.get_or_insert_with(Default::default);
    for (name, type_) in [
        ("apiVersion", "string"),
        ("kind", "string"),
        ("metadata", "object"),
    ] {
        properties
            .entry(name.to_owned())
            .or_insert_with(|| JSONSchemaProps {
                type_: Some(type_.to_owned()),
                ..Default::default()
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing only the components a kind reaches must give the schema the whole set gives.
    #[test]
    fn every_builtin_kind_resolves_as_from_the_whole_component_set() {
        let whole: Map<String, Value> = serde_json::from_str(SCHEMAS_JSON).expect("valid JSON");
        let builtin = BUILTIN.as_ref().expect("embedded data parses");
        let kinds = OfflineResolver::builtin_kinds();
        assert!(kinds.len() > 50, "only {} built-in kinds", kinds.len());
        for gvk in kinds {
            let entry = &builtin.kinds[&gvk];
            let reached = builtin
                .components_reached_from(&entry.schema)
                .expect("components parse");
            assert!(reached.len() <= whole.len());
            assert_eq!(
                inline_component(&reached, &entry.schema),
                inline_component(&whole, &entry.schema),
                "{gvk:?}"
            );
        }
    }
}
