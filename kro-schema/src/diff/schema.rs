//! Differences between two schema nodes, keyword by keyword, recursively.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};
use serde_json::Value;

use super::{ChangeKind, Collector, changed, opt};

fn json_text(value: &Value) -> String {
    value.to_string()
}

/// Recursive comparison of one schema node; `required` says whether the parent requires it.
pub(super) fn diff_schema(
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
