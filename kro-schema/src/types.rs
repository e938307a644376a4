//! Resolution of `schema.types`: custom struct types and aliases, built in dependency order.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

use crate::error::{ErrorKind, SchemaError, join_path, json_kind};
use crate::field::{TypeExpr, is_type_name, parse_field};
use crate::openapi::{Converter, MAX_OBJECT_DEPTH};
use crate::warning::{SchemaWarning, WarningKind};

/// A custom type ready to be used by fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvedType {
    /// The expanded schema (custom types are inlined, never `$ref`).
    pub(crate) schema: JSONSchemaProps,
    /// Whether the alias says `required=true`, which every field using it inherits.
    pub(crate) required: bool,
}

/// The resolved custom types, plus the names whose definitions failed (already reported), so
/// fields that use them do not report a second, misleading "unknown type".
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeTable {
    resolved: BTreeMap<String, ResolvedType>,
    broken: BTreeSet<String>,
}

impl TypeTable {
    pub(crate) fn get(&self, name: &str) -> Option<&ResolvedType> {
        self.resolved.get(name)
    }

    pub(crate) fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.resolved.keys().map(String::as_str)
    }
}

/// Resolves every custom type; errors and warnings carry paths under `path` (e.g.
/// `types.Port.number`).
pub(crate) fn resolve_types(
    types: Option<&Value>,
    path: &str,
) -> (TypeTable, Vec<SchemaError>, Vec<SchemaWarning>) {
    let mut table = TypeTable::default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let definitions = match types {
        None | Some(Value::Null) => return (table, errors, warnings),
        Some(Value::Object(definitions)) => definitions,
        Some(other) => {
            errors.push(
                ErrorKind::ExpectedMap {
                    found: json_kind(other),
                }
                .at(path),
            );
            return (table, errors, warnings);
        }
    };

    let mut dependencies: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, definition) in definitions {
        let type_path = join_path(path, name);
        if TypeExpr::builtin(name).is_some() {
            // Fields naming it get the built-in type, as upstream; the definition is never used.
            warnings.push(WarningKind::ShadowedTypeName { name: name.clone() }.at(type_path));
            continue;
        }
        if !is_type_name(name) {
            errors.push(ErrorKind::InvalidType { text: name.clone() }.at(type_path));
            table.broken.insert(name.clone());
            continue;
        }
        let mut referenced = BTreeSet::new();
        match definition {
            Value::String(_) | Value::Object(_) => {
                collect_references(definition, 0, &mut referenced);
            }
            other => {
                errors.push(
                    ErrorKind::InvalidFieldValue {
                        found: json_kind(other),
                    }
                    .at(type_path),
                );
                table.broken.insert(name.clone());
                continue;
            }
        }
        dependencies.insert(name.as_str(), referenced);
    }

    let order = dependency_order(&dependencies, path, &mut errors, &mut table.broken);

    for name in order {
        let depends_on_broken = dependencies
            .get(name)
            .is_some_and(|deps| deps.iter().any(|dep| table.broken.contains(dep)));
        if depends_on_broken {
            table.broken.insert(name.to_owned());
            continue;
        }
        let Some(definition) = definitions.get(name) else {
            continue;
        };
        let type_path = join_path(path, name);
        let mut converter = Converter::new(&table);
        let resolved = match definition {
            Value::Object(fields) => Some(ResolvedType {
                schema: converter.object(&type_path, fields, 0),
                required: false,
            }),
            Value::String(text) => {
                converter
                    .field(&type_path, text)
                    .map(|(schema, required)| ResolvedType {
                        schema,
                        required: required > 0,
                    })
            }
            _ => None,
        };
        let mut type_errors = std::mem::take(&mut converter.errors);
        warnings.append(&mut converter.warnings);
        match resolved {
            Some(resolved) if type_errors.is_empty() => {
                table.resolved.insert(name.to_owned(), resolved);
            }
            _ => {
                table.broken.insert(name.to_owned());
            }
        }
        errors.append(&mut type_errors);
    }
    (table, errors, warnings)
}

/// Custom type names used anywhere inside a definition (parse errors are reported later, when
/// the definition is converted).
fn collect_references(definition: &Value, depth: usize, into: &mut BTreeSet<String>) {
    match definition {
        Value::String(text) => {
            if let Ok(field) = parse_field(text) {
                field.ty.for_each_custom(&mut |name| {
                    into.insert(name.to_owned());
                });
            }
        }
        Value::Object(fields) if depth <= MAX_OBJECT_DEPTH => {
            for value in fields.values() {
                collect_references(value, depth + 1, into);
            }
        }
        _ => {}
    }
}

/// Orders types so each comes after the types it uses; reports every cycle with its path.
fn dependency_order<'a>(
    dependencies: &BTreeMap<&'a str, BTreeSet<String>>,
    path: &str,
    errors: &mut Vec<SchemaError>,
    broken: &mut BTreeSet<String>,
) -> Vec<&'a str> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    struct Walk<'a, 'd> {
        dependencies: &'d BTreeMap<&'a str, BTreeSet<String>>,
        marks: BTreeMap<&'a str, Mark>,
        stack: Vec<&'a str>,
        order: Vec<&'a str>,
        cycles: Vec<Vec<&'a str>>,
    }
    impl<'a> Walk<'a, '_> {
        fn visit(&mut self, name: &'a str) {
            match self.marks.get(name) {
                Some(Mark::Done) => return,
                Some(Mark::Visiting) => {
                    if let Some(start) = self.stack.iter().position(|n| *n == name) {
                        let mut cycle = self.stack[start..].to_vec();
                        cycle.push(name);
                        self.cycles.push(cycle);
                    }
                    return;
                }
                None => {}
            }
            self.marks.insert(name, Mark::Visiting);
            self.stack.push(name);
            if let Some(deps) = self.dependencies.get(name) {
                for dep in deps {
                    // Only declared types take part; unknown names are reported by the converter.
                    if let Some((&declared, _)) = self.dependencies.get_key_value(dep.as_str()) {
                        self.visit(declared);
                    }
                }
            }
            self.stack.pop();
            self.marks.insert(name, Mark::Done);
            self.order.push(name);
        }
    }

    let mut walk = Walk {
        dependencies,
        marks: BTreeMap::new(),
        stack: Vec::new(),
        order: Vec::new(),
        cycles: Vec::new(),
    };
    for &name in dependencies.keys() {
        walk.visit(name);
    }
    for cycle in walk.cycles {
        let Some(&first) = cycle.first() else {
            continue;
        };
        for name in &cycle {
            broken.insert((*name).to_owned());
        }
        errors.push(
            ErrorKind::CyclicTypes {
                cycle: cycle.join(" -> "),
            }
            .at(join_path(path, first)),
        );
    }
    walk.order
}
