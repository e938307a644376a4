//! Differences between two CRDs outside their schemas: group, scope, names, versions and the
//! labels and annotations kro sets.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, JSONSchemaProps,
};

use super::schema::diff_schema;
use super::{ChangeKind, Collector, SchemaDiff, changed, opt};

/// Compares an existing CRD with the desired one over everything kro writes: group, scope,
/// names, versions (schema, served, storage, subresources, printer columns) and the labels and
/// annotations kro sets (labels others added to the existing CRD are not changes).
pub fn diff_crds(old: &CustomResourceDefinition, new: &CustomResourceDefinition) -> SchemaDiff {
    let mut out = Collector::default();
    let (old_spec, new_spec) = (&old.spec, &new.spec);
    if old_spec.group != new_spec.group {
        out.push(
            "spec.group",
            ChangeKind::GroupChanged,
            true,
            changed(&old_spec.group, &new_spec.group),
        );
    }
    if old_spec.scope != new_spec.scope {
        out.push(
            "spec.scope",
            ChangeKind::ScopeChanged,
            true,
            changed(&old_spec.scope, &new_spec.scope),
        );
    }
    diff_names(&old_spec.names, &new_spec.names, &mut out);
    if new_spec.conversion.is_some() && old_spec.conversion != new_spec.conversion {
        out.push(
            "spec.conversion",
            ChangeKind::ConversionChanged,
            true,
            "conversion settings changed".into(),
        );
    }
    diff_versions(old_spec, new_spec, &mut out);
    diff_kro_metadata(old, new, &mut out);
    SchemaDiff {
        changes: out.changes,
    }
}

fn diff_names(
    old_names: &CustomResourceDefinitionNames,
    new_names: &CustomResourceDefinitionNames,
    out: &mut Collector,
) {
    let name_fields = [
        ("kind", Some(&old_names.kind), Some(&new_names.kind)),
        ("plural", Some(&old_names.plural), Some(&new_names.plural)),
        (
            "singular",
            old_names.singular.as_ref(),
            new_names.singular.as_ref(),
        ),
        (
            "listKind",
            old_names.list_kind.as_ref(),
            new_names.list_kind.as_ref(),
        ),
    ];
    for (field, old_value, new_value) in name_fields {
        // The API server fills singular and listKind in when they are omitted.
        if new_value.is_some() && old_value != new_value {
            out.push(
                format!("spec.names.{field}"),
                ChangeKind::NamesChanged,
                true,
                changed(&opt(old_value), &opt(new_value)),
            );
        }
    }
    for (field, old_list, new_list) in [
        ("shortNames", &old_names.short_names, &new_names.short_names),
        ("categories", &old_names.categories, &new_names.categories),
    ] {
        let (old_list, new_list) = (
            old_list.as_deref().unwrap_or(&[]),
            new_list.as_deref().unwrap_or(&[]),
        );
        if old_list != new_list {
            out.push(
                format!("spec.names.{field}"),
                ChangeKind::ShortNamesOrCategoriesChanged,
                false,
                format!("[{}] -> [{}]", old_list.join(", "), new_list.join(", ")),
            );
        }
    }
}

/// Versions are matched by name: a missing one was removed (or renamed).
fn diff_versions(
    old_spec: &CustomResourceDefinitionSpec,
    new_spec: &CustomResourceDefinitionSpec,
    out: &mut Collector,
) {
    let old_versions: BTreeMap<&str, &CustomResourceDefinitionVersion> = old_spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let new_versions: BTreeMap<&str, &CustomResourceDefinitionVersion> = new_spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    for (name, old_version) in &old_versions {
        let path = format!("spec.versions[{name}]");
        match new_versions.get(name) {
            None => out.push(
                path,
                ChangeKind::VersionRemoved,
                old_version.served,
                format!("version `{name}` removed (or renamed)"),
            ),
            Some(new_version) => diff_version(&path, old_version, new_version, out),
        }
    }
    for name in new_versions
        .keys()
        .filter(|name| !old_versions.contains_key(*name))
    {
        out.push(
            format!("spec.versions[{name}]"),
            ChangeKind::VersionAdded,
            false,
            format!("version `{name}` added"),
        );
    }
}

/// Only the labels and annotations kro sets count: others may add their own to the CRD.
fn diff_kro_metadata(
    old: &CustomResourceDefinition,
    new: &CustomResourceDefinition,
    out: &mut Collector,
) {
    for (field, kind, old_map, new_map) in [
        (
            "labels",
            ChangeKind::LabelChanged,
            &old.metadata.labels,
            &new.metadata.labels,
        ),
        (
            "annotations",
            ChangeKind::AnnotationChanged,
            &old.metadata.annotations,
            &new.metadata.annotations,
        ),
    ] {
        for (key, value) in new_map.iter().flatten() {
            let old_value = old_map.as_ref().and_then(|map| map.get(key));
            if old_value != Some(value) {
                out.push(
                    format!("metadata.{field}[{key}]"),
                    kind,
                    false,
                    changed(&opt(old_value), &format!("`{value}`")),
                );
            }
        }
    }
}

fn diff_version(
    path: &str,
    old: &CustomResourceDefinitionVersion,
    new: &CustomResourceDefinitionVersion,
    out: &mut Collector,
) {
    if old.served != new.served {
        out.push(
            format!("{path}.served"),
            ChangeKind::ServedChanged,
            old.served,
            changed(&old.served.to_string(), &new.served.to_string()),
        );
    }
    if old.storage != new.storage {
        out.push(
            format!("{path}.storage"),
            ChangeKind::StorageChanged,
            false,
            changed(&old.storage.to_string(), &new.storage.to_string()),
        );
    }
    if old.deprecated.unwrap_or(false) != new.deprecated.unwrap_or(false)
        || old.deprecation_warning != new.deprecation_warning
    {
        out.push(
            format!("{path}.deprecated"),
            ChangeKind::DeprecationChanged,
            false,
            "deprecation changed".into(),
        );
    }
    let old_sub = old.subresources.as_ref();
    let new_sub = new.subresources.as_ref();
    let old_status = old_sub.is_some_and(|s| s.status.is_some());
    let new_status = new_sub.is_some_and(|s| s.status.is_some());
    if old_status != new_status {
        out.push(
            format!("{path}.subresources.status"),
            ChangeKind::StatusSubresourceChanged,
            old_status,
            if new_status {
                "status subresource added".into()
            } else {
                "status subresource removed".into()
            },
        );
    }
    let old_scale = old_sub.and_then(|s| s.scale.as_ref());
    let new_scale = new_sub.and_then(|s| s.scale.as_ref());
    if old_scale != new_scale {
        out.push(
            format!("{path}.subresources.scale"),
            ChangeKind::ScaleSubresourceChanged,
            old_scale.is_some(),
            "scale subresource changed".into(),
        );
    }
    let old_columns = old.additional_printer_columns.as_deref().unwrap_or(&[]);
    let new_columns = new.additional_printer_columns.as_deref().unwrap_or(&[]);
    if old_columns != new_columns {
        let names = |columns: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceColumnDefinition]| {
            columns.iter().map(|c| format!("{}={}", c.name, c.json_path)).collect::<Vec<_>>().join(", ")
        };
        out.push(
            format!("{path}.additionalPrinterColumns"),
            ChangeKind::PrinterColumnsChanged,
            false,
            format!("[{}] -> [{}]", names(old_columns), names(new_columns)),
        );
    }
    if old.selectable_fields.as_deref().unwrap_or(&[])
        != new.selectable_fields.as_deref().unwrap_or(&[])
    {
        out.push(
            format!("{path}.selectableFields"),
            ChangeKind::SelectableFieldsChanged,
            false,
            "selectable fields changed".into(),
        );
    }
    let old_schema = old
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    let new_schema = new
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    let empty = JSONSchemaProps::default();
    diff_schema(
        &format!("{path}.schema"),
        old_schema.unwrap_or(&empty),
        new_schema.unwrap_or(&empty),
        false,
        out,
    );
}
