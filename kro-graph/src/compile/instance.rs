//! The instance node: status projections, status conditions and the inferred status schema.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kro_cel::{CelType, TypeEnv};
use kro_schema::CrdSpec;
use serde_json::{Map, Value};

use super::{Compilation, calls_omit, join_path, omit_not_allowed};
use crate::error::{Problem, ProblemKind};
use crate::graph::{CompiledExpression, ExpressionSlot, InstanceNode};
use crate::resolver::Gvk;
use crate::template::{FieldPath, RawSlot, WalkProblem, walk};
use crate::warning::Warning;

impl Compilation<'_> {
    pub(super) fn compile_instance(
        &mut self,
        base: &TypeEnv,
        crd_spec: Option<&CrdSpec>,
        schema_type: CelType,
    ) -> Option<InstanceNode> {
        let before = self.problems.len();
        let mut status = self.status_fields();
        let condition_sources = status.remove("conditions");
        let status = Value::Object(status);

        let raw_slots = self.status_raw_slots(&status);
        let mut slots = Vec::new();
        let mut dependencies = BTreeSet::new();
        for raw in &raw_slots {
            let Some(slot) = self.status_slot(raw, base) else {
                continue;
            };
            dependencies.extend(slot.dependencies.iter().cloned());
            slots.push(slot);
        }

        let conditions = match condition_sources {
            Some(sources) => self.compile_status_conditions(sources, base, &mut dependencies)?,
            None => Vec::new(),
        };

        if self.problems.len() != before {
            return None;
        }
        let crd_spec = crd_spec?;
        let types: BTreeMap<&FieldPath, &CelType> = slots
            .iter()
            .map(|slot| (&slot.path, &slot.output))
            .collect();
        let status_schema = infer_status_schema(&status, &FieldPath::root(), &types);
        Some(InstanceNode {
            gvk: Gvk {
                group: crd_spec.group.clone(),
                version: crd_spec.api_version.clone(),
                kind: crd_spec.kind.clone(),
            },
            plural: crd_spec.plural(),
            namespaced: crd_spec.scope == kro_schema::Scope::Namespaced,
            status,
            status_slots: slots,
            conditions,
            dependencies: dependencies.into_iter().collect(),
            status_schema,
            spec_type: schema_type,
        })
    }

    /// The RGD's `schema.status`, which must be a map when given.
    fn status_fields(&mut self) -> Map<String, Value> {
        match &self.rgd.spec.schema.status {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                self.problems.push(Problem::spec(
                    "schema.status",
                    ProblemKind::Invalid {
                        message: "status must be a map".to_owned(),
                    },
                ));
                Map::new()
            }
        }
    }

    /// The `${}` slots of `status`, every leaf of which must be one.
    fn status_raw_slots(&mut self, status: &Value) -> Vec<RawSlot> {
        let mut raw_slots = Vec::new();
        let mut walk_problems = Vec::new();
        walk(
            status,
            None,
            &FieldPath::root(),
            &mut raw_slots,
            &mut walk_problems,
        );
        for WalkProblem { path, message } in walk_problems {
            self.problems.push(Problem::spec(
                join_path("schema.status", &path),
                ProblemKind::Expression { message },
            ));
        }
        let slot_paths: BTreeSet<&FieldPath> = raw_slots.iter().map(|s| &s.path).collect();
        self.literal_status_leaves(status, &FieldPath::root(), &slot_paths);
        raw_slots
    }

    /// `schema.status.conditions`: a list of expressions that see every resource and `runtime`.
    /// None when it is not a list, which leaves the instance uncompiled.
    fn compile_status_conditions(
        &mut self,
        sources: Value,
        base: &TypeEnv,
        dependencies: &mut BTreeSet<String>,
    ) -> Option<Vec<CompiledExpression>> {
        let env = base.clone().with("runtime", CelType::Dyn);
        let Value::Array(sources) = sources else {
            self.problems.push(Problem::spec(
                "schema.status.conditions",
                ProblemKind::Invalid {
                    message: "conditions must be a list of expressions".to_owned(),
                },
            ));
            return None;
        };
        let mut conditions = Vec::new();
        let mut declared_types = BTreeMap::new();
        for (index, source) in sources.iter().enumerate() {
            let path = format!("schema.status.conditions[{index}]");
            let Some(text) = source.as_str() else {
                self.problems.push(Problem::spec(
                    path,
                    ProblemKind::Invalid {
                        message: "conditions entries must be expressions".to_owned(),
                    },
                ));
                continue;
            };
            let before_condition = self.problems.len();
            let compiled = self.condition("", &path, text, &env, None);
            // Conditions belong to the instance, not a resource: relocate the problems.
            for problem in &mut self.problems[before_condition..] {
                *problem = Problem::spec(path.clone(), problem.kind().clone());
            }
            if let Some(expression) = compiled {
                self.check_condition_types(&mut declared_types, &expression, &path);
                dependencies.extend(expression.dependencies.iter().cloned());
                conditions.push(expression);
            }
        }
        Some(conditions)
    }

    /// Two `status.conditions` entries should not declare the same literal condition type.
    /// Upstream accepts that and drops both at run time (as kro-rs's runtime does), so it is a
    /// warning that strict mode refuses.
    fn check_condition_types(
        &mut self,
        declared: &mut BTreeMap<String, String>,
        expression: &CompiledExpression,
        path: &str,
    ) {
        let types: BTreeSet<String> = expression
            .program
            .literal_condition_types()
            .into_iter()
            .collect();
        for condition_type in types {
            if let Some(first) = declared.get(&condition_type) {
                self.warnings.push(Warning::upstream_accepted(
                    None,
                    path,
                    format!(
                        "condition type \"{condition_type}\" is already declared by {first}: \
                         instances drop both and report the duplicate, as upstream kro does"
                    ),
                ));
            } else {
                declared.insert(condition_type, path.to_owned());
            }
        }
    }

    fn status_slot(&mut self, raw: &RawSlot, env: &TypeEnv) -> Option<ExpressionSlot> {
        let before = self.problems.len();
        let slot = self.slot("", "schema.status", raw, &CelType::Dyn, env);
        for problem in &mut self.problems[before..] {
            *problem = Problem::spec(problem.path().to_owned(), problem.kind().clone());
        }
        let slot = slot?;
        if calls_omit(&slot.template) {
            self.problems.push(Problem::spec(
                join_path("schema.status", &raw.path),
                ProblemKind::Invalid {
                    message: omit_not_allowed("status", &raw.source),
                },
            ));
            return None;
        }
        let roots: BTreeSet<String> = slot
            .template
            .references()
            .into_iter()
            .map(|r| r.root)
            .collect();
        if !roots
            .iter()
            .any(|root| root == "schema" || self.ids.contains_key(root))
        {
            self.problems.push(Problem::spec(
                join_path("schema.status", &raw.path),
                ProblemKind::Invalid {
                    message: format!(
                        "status expression \"{}\" must reference a resource or schema",
                        raw.source
                    ),
                },
            ));
            return None;
        }
        Some(slot)
    }

    fn literal_status_leaves(
        &mut self,
        value: &Value,
        path: &FieldPath,
        slots: &BTreeSet<&FieldPath>,
    ) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    self.literal_status_leaves(child, &path.field(key), slots);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.literal_status_leaves(item, &path.index(index), slots);
                }
            }
            _ if slots.contains(path) => {}
            _ => self.problems.push(Problem::spec(
                join_path("schema.status", path),
                ProblemKind::Invalid {
                    message: "status fields without expressions are not supported".to_owned(),
                },
            )),
        }
    }
}

fn infer_status_schema(
    value: &Value,
    path: &FieldPath,
    types: &BTreeMap<&FieldPath, &CelType>,
) -> JSONSchemaProps {
    match value {
        Value::Object(map) => JSONSchemaProps {
            type_: Some("object".to_owned()),
            properties: Some(
                map.iter()
                    .map(|(key, child)| {
                        (
                            key.clone(),
                            infer_status_schema(child, &path.field(key), types),
                        )
                    })
                    .collect(),
            ),
            ..JSONSchemaProps::default()
        },
        Value::Array(items) => JSONSchemaProps {
            type_: Some("array".to_owned()),
            items: items.first().map(|first| {
                JSONSchemaPropsOrArray::Schema(Box::new(infer_status_schema(
                    first,
                    &path.index(0),
                    types,
                )))
            }),
            ..JSONSchemaProps::default()
        },
        _ => types.get(path).map_or_else(JSONSchemaProps::default, |ty| {
            let mut schema = ty.to_schema();
            without_required(&mut schema);
            schema
        }),
    }
}

/// Drops `required` throughout a projected status schema, as upstream's inferred status
/// schemas have none: kro writes the status, and a field that a projection leaves out (data
/// not there yet) must not make the status write fail.
fn without_required(schema: &mut JSONSchemaProps) {
    schema.required = None;
    for property in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        without_required(property);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        without_required(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = schema.additional_properties.as_mut() {
        without_required(values);
    }
}
