//! Schema evolution: every difference between two CRDs (or two schemas), with its path and
//! whether it can break existing instances.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};
use serde_json::Value;

/// What kind of change a [`SchemaChange`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A property appeared.
    PropertyAdded,
    /// A property disappeared.
    PropertyRemoved,
    /// `type` changed.
    TypeChanged,
    /// A property became required.
    RequiredAdded,
    /// A property stopped being required.
    RequiredRemoved,
    /// A default appeared.
    DefaultAdded,
    /// A default disappeared.
    DefaultRemoved,
    /// A default changed value.
    DefaultChanged,
    /// `description` changed.
    DescriptionChanged,
    /// Enum values were added, or the enum was removed (widening).
    EnumWidened,
    /// Enum values were removed, or an enum was added (narrowing).
    EnumNarrowed,
    /// `pattern` was added or changed.
    PatternTightened,
    /// `pattern` was removed.
    PatternRemoved,
    /// A numeric, length, item or property-count bound was added or tightened.
    BoundTightened,
    /// Such a bound was removed or relaxed.
    BoundRelaxed,
    /// Array `items` appeared.
    ItemsAdded,
    /// Array `items` disappeared.
    ItemsRemoved,
    /// Map value schema (`additionalProperties`) appeared.
    AdditionalPropertiesAdded,
    /// Map value schema (`additionalProperties`) disappeared.
    AdditionalPropertiesRemoved,
    /// A CEL validation rule (`x-kubernetes-validations`) was added.
    ValidationAdded,
    /// A CEL validation rule was removed.
    ValidationRemoved,
    /// A CEL validation rule kept its expression but changed message, reason or field path.
    ValidationMessageChanged,
    /// `x-kubernetes-list-type` changed.
    ListTypeChanged,
    /// `x-kubernetes-list-map-keys` changed.
    ListMapKeysChanged,
    /// `x-kubernetes-map-type` changed.
    MapTypeChanged,
    /// `format` changed.
    FormatChanged,
    /// `x-kubernetes-preserve-unknown-fields` changed.
    PreserveUnknownFieldsChanged,
    /// `x-kubernetes-int-or-string` changed.
    IntOrStringChanged,
    /// `nullable` changed.
    NullableChanged,
    /// `x-kubernetes-embedded-resource` changed.
    EmbeddedResourceChanged,
    /// `uniqueItems` changed.
    UniqueItemsChanged,
    /// Some other schema keyword (`allOf`, `oneOf`, `not`, `title`, ...) changed.
    OtherSchemaChanged,
    /// A version appeared.
    VersionAdded,
    /// A version disappeared (or was renamed).
    VersionRemoved,
    /// `served` changed.
    ServedChanged,
    /// `storage` changed.
    StorageChanged,
    /// `deprecated` or `deprecationWarning` changed.
    DeprecationChanged,
    /// The status subresource appeared or disappeared.
    StatusSubresourceChanged,
    /// The scale subresource changed.
    ScaleSubresourceChanged,
    /// Printer columns changed.
    PrinterColumnsChanged,
    /// Selectable fields changed.
    SelectableFieldsChanged,
    /// The API group changed.
    GroupChanged,
    /// The scope changed.
    ScopeChanged,
    /// `names.kind`, `plural`, `singular` or `listKind` changed.
    NamesChanged,
    /// Short names or categories changed.
    ShortNamesOrCategoriesChanged,
    /// A CRD label kro sets is missing or different.
    LabelChanged,
    /// A CRD annotation kro sets is missing or different.
    AnnotationChanged,
    /// The conversion strategy changed.
    ConversionChanged,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// Where: `spec.versions[v1].schema.spec.ports[].name` style for schemas, or a CRD field.
    pub path: String,
    /// What kind of change.
    pub kind: ChangeKind,
    /// Whether existing instances or clients may break.
    pub breaking: bool,
    /// Old and new values in words.
    pub detail: String,
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = if self.breaking { "breaking" } else { "safe" };
        write!(f, "{}: {} ({label})", self.path, self.detail)
    }
}

/// All differences between two CRDs or schemas, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaDiff {
    /// The changes, in walk order.
    pub changes: Vec<SchemaChange>,
}

impl SchemaDiff {
    /// Whether anything differs, i.e. the CRD must be re-applied.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether any change may break existing instances.
    pub fn is_breaking(&self) -> bool {
        self.changes.iter().any(|change| change.breaking)
    }

    /// The breaking changes only.
    pub fn breaking_changes(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes.iter().filter(|change| change.breaking)
    }

    /// A one-line summary of at most `limit` breaking changes, e.g. for a condition message.
    pub fn breaking_summary(&self, limit: usize) -> String {
        let breaking: Vec<&SchemaChange> = self.breaking_changes().collect();
        let mut parts: Vec<String> = breaking
            .iter()
            .take(limit)
            .map(ToString::to_string)
            .collect();
        if breaking.len() > limit {
            parts.push(format!("and {} more", breaking.len() - limit));
        }
        parts.join("; ")
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return f.write_str("no changes");
        }
        for (index, change) in self.changes.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{change}")?;
        }
        Ok(())
    }
}

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
    let (old_names, new_names) = (&old_spec.names, &new_spec.names);
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
    if new_spec.conversion.is_some() && old_spec.conversion != new_spec.conversion {
        out.push(
            "spec.conversion",
            ChangeKind::ConversionChanged,
            true,
            "conversion settings changed".into(),
        );
    }

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
            Some(new_version) => diff_version(&path, old_version, new_version, &mut out),
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
    SchemaDiff {
        changes: out.changes,
    }
}

/// Compares two OpenAPI schemas (e.g. two `openAPIV3Schema` roots); paths start at `path`.
pub fn diff_schemas(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps) -> SchemaDiff {
    let mut out = Collector::default();
    diff_schema(path, old, new, false, &mut out);
    SchemaDiff {
        changes: out.changes,
    }
}

#[derive(Default)]
struct Collector {
    changes: Vec<SchemaChange>,
}

impl Collector {
    fn push(&mut self, path: impl Into<String>, kind: ChangeKind, breaking: bool, detail: String) {
        self.changes.push(SchemaChange {
            path: path.into(),
            kind,
            breaking,
            detail,
        });
    }
}

fn changed(old: &str, new: &str) -> String {
    format!("{old} -> {new}")
}

fn opt<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| format!("`{v}`"))
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

fn json_text(value: &Value) -> String {
    value.to_string()
}

/// Recursive comparison of one schema node; `required` says whether the parent requires it.
fn diff_schema(
    path: &str,
    old: &JSONSchemaProps,
    new: &JSONSchemaProps,
    required: bool,
    out: &mut Collector,
) {
    if old.type_ != new.type_ {
        out.push(
            path,
            ChangeKind::TypeChanged,
            true,
            format!(
                "type {}",
                changed(&opt(old.type_.as_deref()), &opt(new.type_.as_deref()))
            ),
        );
    }
    if old.description != new.description {
        out.push(
            path,
            ChangeKind::DescriptionChanged,
            false,
            "description changed".into(),
        );
    }
    diff_default(path, old, new, required, out);
    diff_enum(path, old, new, out);
    diff_pattern(path, old, new, out);
    diff_bounds(path, old, new, out);
    diff_flags(path, old, new, out);
    diff_validations(
        path,
        old.x_kubernetes_validations.as_deref(),
        new.x_kubernetes_validations.as_deref(),
        out,
    );
    diff_lists(path, old, new, out);
    diff_properties(path, old, new, out);
    diff_items(path, old, new, out);
    diff_additional_properties(path, old, new, out);
    diff_other(path, old, new, out);
}

fn diff_default(
    path: &str,
    old: &JSONSchemaProps,
    new: &JSONSchemaProps,
    required: bool,
    out: &mut Collector,
) {
    match (&old.default, &new.default) {
        (None, Some(value)) => out.push(
            path,
            ChangeKind::DefaultAdded,
            false,
            format!("default {} added", json_text(&value.0)),
        ),
        // Clients that omitted a required field relied on its default.
        (Some(value), None) => out.push(
            path,
            ChangeKind::DefaultRemoved,
            required,
            format!("default {} removed", json_text(&value.0)),
        ),
        (Some(a), Some(b)) if a != b => out.push(
            path,
            ChangeKind::DefaultChanged,
            false,
            format!("default {}", changed(&json_text(&a.0), &json_text(&b.0))),
        ),
        _ => {}
    }
}

fn diff_enum(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    match (&old.enum_, &new.enum_) {
        (None, None) => {}
        (None, Some(values)) => out.push(
            path,
            ChangeKind::EnumNarrowed,
            true,
            format!("enum added: {}", join_json(values.iter().map(|v| &v.0))),
        ),
        (Some(_), None) => out.push(path, ChangeKind::EnumWidened, false, "enum removed".into()),
        (Some(old_values), Some(new_values)) => {
            let removed: Vec<&Value> = old_values
                .iter()
                .map(|v| &v.0)
                .filter(|v| !new_values.iter().any(|n| &n.0 == *v))
                .collect();
            let added: Vec<&Value> = new_values
                .iter()
                .map(|v| &v.0)
                .filter(|v| !old_values.iter().any(|o| &o.0 == *v))
                .collect();
            if !removed.is_empty() {
                out.push(
                    path,
                    ChangeKind::EnumNarrowed,
                    true,
                    format!("enum values removed: {}", join_json(removed.into_iter())),
                );
            }
            if !added.is_empty() {
                out.push(
                    path,
                    ChangeKind::EnumWidened,
                    false,
                    format!("enum values added: {}", join_json(added.into_iter())),
                );
            }
        }
    }
}

fn join_json<'a>(values: impl Iterator<Item = &'a Value>) -> String {
    values.map(json_text).collect::<Vec<_>>().join(", ")
}

fn diff_pattern(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    match (&old.pattern, &new.pattern) {
        (Some(p), None) => out.push(
            path,
            ChangeKind::PatternRemoved,
            false,
            format!("pattern `{p}` removed"),
        ),
        (old_p, Some(p)) if old_p.as_ref() != Some(p) => out.push(
            path,
            ChangeKind::PatternTightened,
            true,
            format!(
                "pattern {}",
                changed(&opt(old_p.as_deref()), &format!("`{p}`"))
            ),
        ),
        _ => {}
    }
}

/// Whether a bound moved to accept less (`lower`: a larger minimum is tighter).
fn diff_bound<T: PartialOrd + fmt::Display + Copy>(
    path: &str,
    name: &str,
    lower: bool,
    old: Option<T>,
    new: Option<T>,
    out: &mut Collector,
) {
    let tighter = match (old, new) {
        (None, None) => return,
        (Some(a), Some(b)) if a == b => return,
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => {
            if lower {
                b > a
            } else {
                b < a
            }
        }
    };
    let kind = if tighter {
        ChangeKind::BoundTightened
    } else {
        ChangeKind::BoundRelaxed
    };
    out.push(
        path,
        kind,
        tighter,
        format!("{name} {}", changed(&opt(old), &opt(new))),
    );
}

fn diff_bounds(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    diff_bound(path, "minimum", true, old.minimum, new.minimum, out);
    diff_bound(path, "maximum", false, old.maximum, new.maximum, out);
    diff_bound(path, "minLength", true, old.min_length, new.min_length, out);
    diff_bound(
        path,
        "maxLength",
        false,
        old.max_length,
        new.max_length,
        out,
    );
    diff_bound(path, "minItems", true, old.min_items, new.min_items, out);
    diff_bound(path, "maxItems", false, old.max_items, new.max_items, out);
    diff_bound(
        path,
        "minProperties",
        true,
        old.min_properties,
        new.min_properties,
        out,
    );
    diff_bound(
        path,
        "maxProperties",
        false,
        old.max_properties,
        new.max_properties,
        out,
    );
    let exclusive = |flag: Option<bool>| flag.unwrap_or(false);
    for (name, old_flag, new_flag) in [
        (
            "exclusiveMinimum",
            old.exclusive_minimum,
            new.exclusive_minimum,
        ),
        (
            "exclusiveMaximum",
            old.exclusive_maximum,
            new.exclusive_maximum,
        ),
    ] {
        if exclusive(old_flag) != exclusive(new_flag) {
            let tighter = exclusive(new_flag);
            let kind = if tighter {
                ChangeKind::BoundTightened
            } else {
                ChangeKind::BoundRelaxed
            };
            out.push(
                path,
                kind,
                tighter,
                format!(
                    "{name} {}",
                    changed(&exclusive(old_flag).to_string(), &tighter.to_string())
                ),
            );
        }
    }
    if old.multiple_of != new.multiple_of {
        let tighter = new.multiple_of.is_some();
        let kind = if tighter {
            ChangeKind::BoundTightened
        } else {
            ChangeKind::BoundRelaxed
        };
        out.push(
            path,
            kind,
            tighter,
            format!(
                "multipleOf {}",
                changed(&opt(old.multiple_of), &opt(new.multiple_of))
            ),
        );
    }
}

/// Boolean keywords; `narrowing` says which direction is breaking.
fn diff_flags(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    let flag = |value: Option<bool>| value.unwrap_or(false);
    // (keyword, kind, old, new, breaking when it turns on, breaking when it turns off)
    let flags = [
        (
            "x-kubernetes-preserve-unknown-fields",
            ChangeKind::PreserveUnknownFieldsChanged,
            old.x_kubernetes_preserve_unknown_fields,
            new.x_kubernetes_preserve_unknown_fields,
            false,
            true,
        ),
        (
            "x-kubernetes-int-or-string",
            ChangeKind::IntOrStringChanged,
            old.x_kubernetes_int_or_string,
            new.x_kubernetes_int_or_string,
            false,
            true,
        ),
        (
            "nullable",
            ChangeKind::NullableChanged,
            old.nullable,
            new.nullable,
            false,
            true,
        ),
        (
            "x-kubernetes-embedded-resource",
            ChangeKind::EmbeddedResourceChanged,
            old.x_kubernetes_embedded_resource,
            new.x_kubernetes_embedded_resource,
            true,
            true,
        ),
        (
            "uniqueItems",
            ChangeKind::UniqueItemsChanged,
            old.unique_items,
            new.unique_items,
            true,
            false,
        ),
    ];
    for (keyword, kind, old_value, new_value, on_breaks, off_breaks) in flags {
        if flag(old_value) != flag(new_value) {
            let now = flag(new_value);
            out.push(
                path,
                kind,
                if now { on_breaks } else { off_breaks },
                format!(
                    "{keyword} {}",
                    changed(&(!now).to_string(), &now.to_string())
                ),
            );
        }
    }
    if old.format != new.format {
        // Dropping a format accepts more; adding or changing one may reject stored values.
        out.push(
            path,
            ChangeKind::FormatChanged,
            new.format.is_some(),
            format!(
                "format {}",
                changed(&opt(old.format.as_deref()), &opt(new.format.as_deref()))
            ),
        );
    }
    if old.x_kubernetes_map_type != new.x_kubernetes_map_type {
        out.push(
            path,
            ChangeKind::MapTypeChanged,
            false,
            format!(
                "x-kubernetes-map-type {}",
                changed(
                    &opt(old.x_kubernetes_map_type.as_deref()),
                    &opt(new.x_kubernetes_map_type.as_deref())
                )
            ),
        );
    }
}

fn diff_validations(
    path: &str,
    old: Option<&[ValidationRule]>,
    new: Option<&[ValidationRule]>,
    out: &mut Collector,
) {
    let (old, new) = (old.unwrap_or(&[]), new.unwrap_or(&[]));
    for rule in new {
        match old.iter().find(|o| o.rule == rule.rule) {
            None => out.push(
                path,
                ChangeKind::ValidationAdded,
                true,
                format!("validation rule `{}` added", rule.rule),
            ),
            Some(previous) if previous != rule => out.push(
                path,
                ChangeKind::ValidationMessageChanged,
                false,
                format!(
                    "validation rule `{}` changed its message, reason or field path",
                    rule.rule
                ),
            ),
            Some(_) => {}
        }
    }
    for rule in old.iter().filter(|o| !new.iter().any(|n| n.rule == o.rule)) {
        out.push(
            path,
            ChangeKind::ValidationRemoved,
            false,
            format!("validation rule `{}` removed", rule.rule),
        );
    }
}

fn diff_lists(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    let (old_type, new_type) = (
        old.x_kubernetes_list_type.as_deref(),
        new.x_kubernetes_list_type.as_deref(),
    );
    if old_type != new_type {
        // `set` and `map` reject duplicates that `atomic` (the default) accepted.
        let breaking = matches!(new_type, Some("set" | "map"));
        out.push(
            path,
            ChangeKind::ListTypeChanged,
            breaking,
            format!(
                "x-kubernetes-list-type {}",
                changed(&opt(old_type), &opt(new_type))
            ),
        );
    }
    if old.x_kubernetes_list_map_keys != new.x_kubernetes_list_map_keys {
        let keys = |k: &Option<Vec<String>>| {
            k.as_ref()
                .map_or_else(|| "(none)".to_owned(), |k| format!("[{}]", k.join(", ")))
        };
        out.push(
            path,
            ChangeKind::ListMapKeysChanged,
            true,
            format!(
                "x-kubernetes-list-map-keys {}",
                changed(
                    &keys(&old.x_kubernetes_list_map_keys),
                    &keys(&new.x_kubernetes_list_map_keys)
                )
            ),
        );
    }
}

fn diff_properties(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    let empty = BTreeMap::new();
    let old_props = old.properties.as_ref().unwrap_or(&empty);
    let new_props = new.properties.as_ref().unwrap_or(&empty);
    let required = |schema: &JSONSchemaProps| -> BTreeSet<String> {
        schema.required.iter().flatten().cloned().collect()
    };
    let (old_required, new_required) = (required(old), required(new));
    let child = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };

    for (name, old_prop) in old_props {
        let child_path = child(name);
        match new_props.get(name) {
            None => out.push(
                child_path,
                ChangeKind::PropertyRemoved,
                true,
                format!("property `{name}` removed"),
            ),
            Some(new_prop) => {
                let now_required = new_required.contains(name);
                if now_required && !old_required.contains(name) {
                    out.push(
                        child_path.clone(),
                        ChangeKind::RequiredAdded,
                        true,
                        format!("property `{name}` is now required"),
                    );
                }
                diff_schema(&child_path, old_prop, new_prop, now_required, out);
            }
        }
    }
    for (name, new_prop) in new_props
        .iter()
        .filter(|(name, _)| !old_props.contains_key(*name))
    {
        let now_required = new_required.contains(name);
        let breaking = now_required && new_prop.default.is_none();
        let detail = if breaking {
            format!("required property `{name}` added without a default")
        } else {
            format!("property `{name}` added")
        };
        out.push(child(name), ChangeKind::PropertyAdded, breaking, detail);
    }
    for name in old_required
        .difference(&new_required)
        .filter(|name| new_props.contains_key(*name))
    {
        out.push(
            child(name),
            ChangeKind::RequiredRemoved,
            false,
            format!("property `{name}` is no longer required"),
        );
    }
    // Required names without a property (allowed in OpenAPI) still constrain instances.
    for name in new_required.difference(&old_required) {
        if !new_props.contains_key(name) && !old_props.contains_key(name) {
            out.push(
                child(name),
                ChangeKind::RequiredAdded,
                true,
                format!("`{name}` is now required"),
            );
        }
    }
}

fn diff_items(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    let items_path = format!("{path}[]");
    match (&old.items, &new.items) {
        (None, None) => {}
        (Some(_), None) => out.push(
            items_path,
            ChangeKind::ItemsRemoved,
            true,
            "array items schema removed".into(),
        ),
        (None, Some(_)) => out.push(
            items_path,
            ChangeKind::ItemsAdded,
            false,
            "array items schema added".into(),
        ),
        (Some(JSONSchemaPropsOrArray::Schema(a)), Some(JSONSchemaPropsOrArray::Schema(b))) => {
            diff_schema(&items_path, a, b, false, out);
        }
        (Some(a), Some(b)) if a != b => out.push(
            items_path,
            ChangeKind::OtherSchemaChanged,
            true,
            "tuple items changed".into(),
        ),
        _ => {}
    }
}

fn diff_additional_properties(
    path: &str,
    old: &JSONSchemaProps,
    new: &JSONSchemaProps,
    out: &mut Collector,
) {
    let values_path = format!("{path}{{}}");
    let old_free = old.x_kubernetes_preserve_unknown_fields == Some(true);
    match (&old.additional_properties, &new.additional_properties) {
        (None, None) => {}
        (Some(_), None) => out.push(
            values_path,
            ChangeKind::AdditionalPropertiesRemoved,
            true,
            "map value schema removed: map entries would be pruned".into(),
        ),
        (None, Some(_)) => out.push(
            values_path,
            ChangeKind::AdditionalPropertiesAdded,
            old_free,
            "map value schema added".into(),
        ),
        (Some(JSONSchemaPropsOrBool::Schema(a)), Some(JSONSchemaPropsOrBool::Schema(b))) => {
            diff_schema(&values_path, a, b, false, out);
        }
        (Some(a), Some(b)) if a != b => {
            let breaking = matches!(
                b,
                JSONSchemaPropsOrBool::Schema(_) | JSONSchemaPropsOrBool::Bool(false)
            );
            out.push(
                values_path,
                ChangeKind::OtherSchemaChanged,
                breaking,
                "additionalProperties changed".into(),
            );
        }
        _ => {}
    }
}

/// Keywords kro never writes; any difference is reported, conservatively as breaking when it
/// can constrain values.
fn diff_other(path: &str, old: &JSONSchemaProps, new: &JSONSchemaProps, out: &mut Collector) {
    let constraining = [
        ("allOf", old.all_of != new.all_of),
        ("anyOf", old.any_of != new.any_of),
        ("oneOf", old.one_of != new.one_of),
        ("not", old.not != new.not),
        (
            "patternProperties",
            old.pattern_properties != new.pattern_properties,
        ),
        ("dependencies", old.dependencies != new.dependencies),
        (
            "additionalItems",
            old.additional_items != new.additional_items,
        ),
        ("$ref", old.ref_path != new.ref_path),
        ("definitions", old.definitions != new.definitions),
    ];
    for (keyword, differs) in constraining {
        if differs {
            out.push(
                path,
                ChangeKind::OtherSchemaChanged,
                true,
                format!("{keyword} changed"),
            );
        }
    }
    let informational = [
        ("title", old.title != new.title),
        ("example", old.example != new.example),
        ("externalDocs", old.external_docs != new.external_docs),
        ("id", old.id != new.id),
        ("$schema", old.schema != new.schema),
    ];
    for (keyword, differs) in informational {
        if differs {
            out.push(
                path,
                ChangeKind::OtherSchemaChanged,
                false,
                format!("{keyword} changed"),
            );
        }
    }
}
