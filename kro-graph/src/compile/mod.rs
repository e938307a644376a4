//! The compiler: validation, schema resolution, literal checks, expression type checking,
//! dependency inference, ordering, status inference, CRD generation and the spec hash.

mod expression;
mod instance;
mod node;
mod prepare;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kro_cel::{CelType, Environment, Program, Template, TypeEnv, instance_schema_type};
use kro_schema::{CrdOptions, CrdSpec, generate_crd};
use serde_json::Value;

use crate::dag;
use crate::error::{CompileError, Problem, ProblemKind};
use crate::graph::{ExternalSelection, Graph, GraphInner};
use crate::hash::spec_hash;
use crate::limits::{CompileLimits, excerpt, json_len};
use crate::naming::{MAX_FOREACH_DIMENSIONS, is_lower_camel_case, is_reserved};
use crate::resolver::{ResolvedKind, SchemaResolver};
use crate::template::{FieldPath, RawSlot};
use crate::warning::Warning;
use kro_api::{InstanceScope, Resource, ResourceGraphDefinition};

/// Compiler settings that mirror upstream's controller flags and feature gates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// `omit()` available (the `CELOmitFunction` feature gate).
    pub omit_enabled: bool,
    /// Most forEach dimensions per resource (`--rgd-max-collection-dimension-size`).
    pub max_foreach_dimensions: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            omit_enabled: false,
            max_foreach_dimensions: MAX_FOREACH_DIMENSIONS,
        }
    }
}

/// Compiles `rgd` with default options, resolving kinds through `resolver`.
///
/// # Errors
/// Every problem found, each with its resource id and field path.
pub fn compile(
    rgd: &ResourceGraphDefinition,
    resolver: &dyn SchemaResolver,
) -> Result<Graph, CompileError> {
    compile_with(rgd, resolver, &CompileOptions::default())
}

/// Compiles `rgd` with `options` and the default [`CompileLimits`].
///
/// # Errors
/// Every problem found, each with its resource id and field path.
pub fn compile_with(
    rgd: &ResourceGraphDefinition,
    resolver: &dyn SchemaResolver,
    options: &CompileOptions,
) -> Result<Graph, CompileError> {
    compile_with_limits(rgd, resolver, options, &CompileLimits::default())
}

/// Compiles `rgd` with `options`, rejecting an RGD outside `limits`.
///
/// # Errors
/// Every problem found, each with its resource id and field path. A spec over the size limit
/// or with too many resources is reported alone: nothing else of it is compiled.
pub fn compile_with_limits(
    rgd: &ResourceGraphDefinition,
    resolver: &dyn SchemaResolver,
    options: &CompileOptions,
    limits: &CompileLimits,
) -> Result<Graph, CompileError> {
    Compilation::new(rgd, resolver, options, limits).run()
}

/// A resource after validation and resolution, before type checking.
struct Prepared<'a> {
    resource: &'a Resource,
    position: usize,
    object: Value,
    resolved: Option<ResolvedKind>,
    slots: Vec<RawSlot>,
    external: Option<ExternalSelection>,
    /// A CustomResourceDefinition template: parsed without its schema, expressions only in
    /// `metadata`.
    schemaless: bool,
}

struct Compilation<'a> {
    rgd: &'a ResourceGraphDefinition,
    resolver: &'a dyn SchemaResolver,
    options: &'a CompileOptions,
    limits: &'a CompileLimits,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
    ids: BTreeMap<String, usize>,
    environment: Environment,
}

impl<'a> Compilation<'a> {
    fn new(
        rgd: &'a ResourceGraphDefinition,
        resolver: &'a dyn SchemaResolver,
        options: &'a CompileOptions,
        limits: &'a CompileLimits,
    ) -> Self {
        Self {
            rgd,
            resolver,
            options,
            limits,
            problems: Vec::new(),
            warnings: Vec::new(),
            ids: BTreeMap::new(),
            environment: Environment::new().with_omit(options.omit_enabled),
        }
    }

    fn problem(&mut self, id: &str, path: impl Into<String>, kind: ProblemKind) {
        self.problems.push(Problem::resource(id, path, kind));
    }

    fn invalid(&mut self, id: &str, path: impl Into<String>, message: impl Into<String>) {
        self.problem(
            id,
            path,
            ProblemKind::Invalid {
                message: message.into(),
            },
        );
    }

    fn run(mut self) -> Result<Graph, CompileError> {
        let spec = &self.rgd.spec;
        if !self.within_size_limits() {
            return Err(CompileError::new(self.problems));
        }
        let crd_spec = self.instance_schema();
        let cluster_scoped = spec.schema.scope_or_default() == InstanceScope::Cluster;

        for (position, resource) in spec.resources.iter().enumerate() {
            self.validate_id(resource, position);
        }
        let prepared: Vec<Prepared<'_>> = spec
            .resources
            .iter()
            .enumerate()
            .map(|(position, resource)| self.prepare(resource, position, cluster_scoped))
            .collect();

        let schema_type = crd_spec.as_ref().map_or(CelType::Dyn, |crd| {
            instance_schema_type(&crd.spec_schema, cluster_scoped)
        });
        let mut base = TypeEnv::new().with("schema", schema_type.clone());
        base.set_omit_enabled(self.options.omit_enabled);
        for node in &prepared {
            base.declare(node.resource.id.clone(), node_type(node));
        }

        let mut nodes = Vec::new();
        for node in &prepared {
            if let Some(compiled) = self.compile_node(node, &base) {
                nodes.push(compiled);
            }
        }
        let instance = self.compile_instance(&base, crd_spec.as_ref(), schema_type);

        if !self.problems.is_empty() || nodes.len() != prepared.len() {
            return Err(CompileError::new(self.problems));
        }
        let (Some(crd_spec), Some(mut instance)) = (crd_spec, instance) else {
            return Err(CompileError::new(self.problems));
        };

        let dependencies: Vec<BTreeSet<usize>> = nodes
            .iter()
            .map(|node| node.dependencies.iter().map(|d| self.ids[d]).collect())
            .collect();
        let order = match dag::topological_order(&dependencies) {
            Ok(order) => order,
            Err(dag::Cycle(path)) => {
                let path = path.iter().map(|&i| nodes[i].id.clone()).collect();
                self.problems
                    .push(Problem::spec("resources", ProblemKind::Cycle { path }));
                return Err(CompileError::new(self.problems));
            }
        };
        let waves = dag::waves(&dependencies, &order);
        for (node, wave) in nodes.iter_mut().zip(waves) {
            node.wave = wave;
        }
        instance
            .dependencies
            .sort_by_key(|d| self.ids.get(d).copied().unwrap_or(usize::MAX));

        let crd = generate_crd(
            &crd_spec,
            Some(instance.status_schema.clone()),
            &CrdOptions::default(),
        );
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.clone(), i))
            .collect();
        Ok(Graph {
            inner: Arc::new(GraphInner {
                name: self.rgd.metadata.name.clone().unwrap_or_default(),
                instance,
                resources: nodes,
                order,
                index,
                crd_spec,
                crd,
                spec_hash: spec_hash(spec),
                warnings: self.warnings,
            }),
        })
    }

    /// Checks the spec's size and resource count before any work proportional to them.
    fn within_size_limits(&mut self) -> bool {
        let spec = &self.rgd.spec;
        let count = spec.resources.len();
        if count > self.limits.max_resources {
            self.problems.push(Problem::spec(
                "resources",
                ProblemKind::TooManyResources {
                    count,
                    limit: self.limits.max_resources,
                },
            ));
        }
        let bytes = json_len(spec);
        if bytes > self.limits.max_spec_bytes {
            self.problems.push(Problem::spec(
                "",
                ProblemKind::SpecTooLarge {
                    bytes,
                    limit: self.limits.max_spec_bytes,
                },
            ));
        }
        self.problems.is_empty()
    }

    /// Reports `expression` at `path` when it is longer than the limit.
    fn expression_fits(&mut self, id: &str, path: &str, expression: &str) -> bool {
        let limit = self.limits.max_expression_bytes;
        if expression.len() <= limit {
            return true;
        }
        self.problem(
            id,
            path,
            ProblemKind::ExpressionTooLong {
                excerpt: excerpt(expression),
                bytes: expression.len(),
                limit,
            },
        );
        false
    }

    fn instance_schema(&mut self) -> Option<CrdSpec> {
        let schema = match serde_json::to_value(&self.rgd.spec.schema) {
            Ok(schema) => schema,
            Err(error) => {
                self.problems.push(Problem::spec(
                    "schema",
                    ProblemKind::InstanceSchema {
                        message: error.to_string(),
                    },
                ));
                return None;
            }
        };
        match CrdSpec::from_rgd_schema_with_warnings(&schema) {
            Ok((spec, warnings)) => {
                for warning in warnings {
                    self.warnings.push(Warning::upstream_accepted(
                        None,
                        warning.path,
                        warning.kind.to_string(),
                    ));
                }
                Some(spec)
            }
            Err(errors) => {
                for error in errors.iter() {
                    self.problems.push(Problem::spec(
                        "",
                        ProblemKind::InstanceSchema {
                            message: error.to_string(),
                        },
                    ));
                }
                None
            }
        }
    }

    fn validate_id(&mut self, resource: &Resource, position: usize) {
        let id = &resource.id;
        if !is_lower_camel_case(id) {
            self.problem(
                id,
                "id",
                ProblemKind::InvalidName {
                    what: "resource id",
                    value: id.clone(),
                    expected: "lowerCamelCase (^[a-z][a-zA-Z0-9]*$)",
                },
            );
        } else if is_reserved(id) {
            self.problem(
                id,
                "id",
                ProblemKind::Reserved {
                    what: "resource id",
                    value: id.clone(),
                },
            );
        }
        if self.ids.insert(id.clone(), position).is_some() {
            self.problem(id, "id", ProblemKind::DuplicateId { id: id.clone() });
        }
    }
}

fn calls_omit(template: &Template) -> bool {
    template.programs().into_iter().any(Program::calls_omit)
}

fn omit_not_allowed(place: &str, expression: &str) -> String {
    format!("omit() is not allowed in {place}, found \"{expression}\"")
}

/// The CEL type other expressions see for a resource id.
fn node_type(node: &Prepared<'_>) -> CelType {
    let element = node
        .resolved
        .as_ref()
        .map_or(CelType::Dyn, |r| r.cel_type().clone());
    if !node.resource.for_each.is_empty() || node.external == Some(ExternalSelection::BySelector) {
        CelType::list(element)
    } else {
        element
    }
}

fn join_path(prefix: &str, path: &FieldPath) -> String {
    let path = path.to_string();
    match (prefix.is_empty(), path.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => path,
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}
