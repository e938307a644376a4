//! Schema evolution: every difference between two CRDs (or two schemas), with its path and
//! whether it can break existing instances.

mod crd;
mod schema;

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;

pub use self::crd::diff_crds;
use self::schema::diff_schema;

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
