//! Per-resource validation before type checking: template or external reference, kind
//! resolution, literal checks against the schema and metadata rules.

use serde_json::Value;

use super::{Compilation, Prepared, join_path};
use crate::error::ProblemKind;
use crate::graph::ExternalSelection;
use crate::naming::{is_dns1035_label, reserved_prefix};
use crate::resolver::{Gvk, ResolvedKind};
use crate::template::{FieldPath, PathSegment, WalkProblem, walk};
use kro_api::Resource;

impl<'a> Compilation<'a> {
    pub(super) fn prepare(
        &mut self,
        resource: &'a Resource,
        position: usize,
        cluster_scoped: bool,
    ) -> Prepared<'a> {
        let id = resource.id.as_str();
        let mut prepared = Prepared {
            resource,
            position,
            object: Value::Null,
            resolved: None,
            slots: Vec::new(),
            external: None,
            schemaless: false,
        };
        if !self.take_object(&mut prepared) {
            return prepared;
        }
        let section = if prepared.external.is_some() || resource.external_ref.is_some() {
            "externalRef"
        } else {
            "template"
        };
        let Some((api_version, kind)) = self.object_shape(id, section, &prepared.object) else {
            return prepared;
        };
        let gvk = Gvk::from_api_version(&api_version, &kind);
        match self.resolver.resolve(&gvk) {
            Ok(resolved) => prepared.resolved = Some(resolved),
            Err(source) => {
                self.problem(
                    id,
                    section,
                    ProblemKind::Schema {
                        id: id.to_owned(),
                        source,
                    },
                );
            }
        }
        prepared.schemaless = section == "template" && is_custom_resource_definition(&gvk);
        self.walk_literals(&mut prepared, section);
        if prepared.schemaless {
            self.check_schemaless_slots(&prepared, section);
        }
        self.check_metadata(&prepared, section, cluster_scoped);
        prepared
    }

    /// Takes the object from the template or the external reference, exactly one of which must
    /// be given; false when there is no object to look at further.
    fn take_object(&mut self, prepared: &mut Prepared<'a>) -> bool {
        let resource = prepared.resource;
        let id = resource.id.as_str();
        match (&resource.template, &resource.external_ref) {
            (None, None) => {
                self.invalid(
                    id,
                    "",
                    "exactly one of template or externalRef must be provided",
                );
                return false;
            }
            (Some(_), Some(_)) => {
                self.invalid(
                    id,
                    "",
                    "exactly one of template or externalRef must be provided, not both",
                );
                return false;
            }
            (None, Some(external)) => {
                if !resource.for_each.is_empty() {
                    self.invalid(id, "forEach", "forEach cannot be combined with externalRef");
                }
                let metadata = &external.metadata;
                prepared.external = match (&metadata.name, &metadata.selector) {
                    (Some(_), None) => Some(ExternalSelection::ByName),
                    (None, Some(_)) => Some(ExternalSelection::BySelector),
                    _ => {
                        self.invalid(
                            id,
                            "externalRef.metadata",
                            "exactly one of name or selector must be provided",
                        );
                        None
                    }
                };
                prepared.object = serde_json::to_value(external).unwrap_or(Value::Null);
            }
            (Some(template), None) => prepared.object = template.clone(),
        }
        true
    }

    /// Checks the object's literals against the kind's schema (templates only, and not
    /// schemaless ones) and collects its `${}` slots.
    fn walk_literals(&mut self, prepared: &mut Prepared<'_>, section: &str) {
        let id = prepared.resource.id.as_str();
        let schema = if section == "template" && !prepared.schemaless {
            prepared.resolved.as_ref().map(ResolvedKind::schema)
        } else {
            None
        };
        let mut walk_problems = Vec::new();
        walk(
            &prepared.object,
            schema,
            &FieldPath::root(),
            &mut prepared.slots,
            &mut walk_problems,
        );
        for WalkProblem { path, message } in walk_problems {
            self.problem(
                id,
                join_path(section, &path),
                ProblemKind::Literal { message },
            );
        }
    }

    /// A CustomResourceDefinition template may hold expressions only in its metadata.
    fn check_schemaless_slots(&mut self, prepared: &Prepared<'_>, section: &str) {
        let id = prepared.resource.id.as_str();
        for slot in &prepared.slots {
            if !matches!(slot.path.segments().first(), Some(PathSegment::Field(f)) if f == "metadata")
            {
                self.invalid(
                    id,
                    join_path(section, &slot.path),
                    format!(
                        "CustomResourceDefinition templates may only use expressions in metadata, found \"{}\"",
                        slot.source
                    ),
                );
            }
        }
    }

    /// `apiVersion`, `kind` and `metadata` of a template or external reference.
    fn object_shape(
        &mut self,
        id: &str,
        section: &str,
        object: &Value,
    ) -> Option<(String, String)> {
        let Value::Object(map) = object else {
            self.invalid(
                id,
                section,
                "expected a map with apiVersion, kind and metadata",
            );
            return None;
        };
        let mut text = |field: &str| match map.get(field) {
            Some(Value::String(value)) if !value.is_empty() && !value.contains("${") => {
                Some(value.clone())
            }
            _ => {
                self.invalid(
                    id,
                    format!("{section}.{field}"),
                    format!("{field} must be a non-empty string without expressions"),
                );
                None
            }
        };
        let api_version = text("apiVersion");
        let kind = text("kind");
        if !matches!(map.get("metadata"), Some(Value::Object(_))) {
            self.invalid(id, format!("{section}.metadata"), "metadata must be a map");
        }
        let kind = kind?;
        if !is_dns1035_label(&kind.to_lowercase()) {
            self.invalid(
                id,
                format!("{section}.kind"),
                format!("kind \"{kind}\" must be a DNS-1035 label when lowercased"),
            );
        }
        Some((api_version?, kind))
    }

    fn check_metadata(&mut self, prepared: &Prepared<'_>, section: &str, cluster_scoped: bool) {
        let id = prepared.resource.id.as_str();
        let metadata = prepared.object.get("metadata");
        for (field, what) in [("labels", "label"), ("annotations", "annotation")] {
            let Some(Value::Object(map)) = metadata.and_then(|m| m.get(field)) else {
                continue;
            };
            for key in map.keys() {
                if let Some(prefix) = reserved_prefix(key) {
                    self.problem(
                        id,
                        format!("{section}.metadata.{field}"),
                        ProblemKind::ReservedPrefix {
                            what,
                            key: key.clone(),
                            prefix,
                        },
                    );
                }
            }
        }
        let Some(resolved) = &prepared.resolved else {
            return;
        };
        let namespace_set = metadata
            .and_then(|m| m.get("namespace"))
            .is_some_and(|ns| !ns.is_null() && ns != "");
        let kind = &resolved.gvk().kind;
        if !resolved.namespaced() && namespace_set {
            self.invalid(
                id,
                format!("{section}.metadata.namespace"),
                format!("kind {kind} is cluster-scoped and must not set metadata.namespace"),
            );
        }
        let by_selector = prepared.external == Some(ExternalSelection::BySelector);
        if cluster_scoped && resolved.namespaced() && !namespace_set && !by_selector {
            self.invalid(
                id,
                format!("{section}.metadata.namespace"),
                format!(
                    "kind {kind} is namespaced and the instance is cluster-scoped: metadata.namespace must be set"
                ),
            );
        }
    }
}

/// Whether `gvk` is `apiextensions.k8s.io/v1 CustomResourceDefinition`, whose templates are
/// taken as written (their schema is too loose to check literals against).
fn is_custom_resource_definition(gvk: &Gvk) -> bool {
    gvk.group == "apiextensions.k8s.io"
        && gvk.version == "v1"
        && gvk.kind == "CustomResourceDefinition"
}
