//! The compiler: validation, schema resolution, literal checks, expression type checking,
//! dependency inference, ordering, status inference, CRD generation and the spec hash.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kro_cel::{
    CelType, Checked, Checker, Environment, Program, Segment, Template, TypeEnv, assignable,
    check_assignable, instance_schema_type,
};
use kro_schema::{CrdOptions, CrdSpec, generate_crd};
use serde_json::{Map, Value};

use crate::dag;
use crate::error::{CompileError, Problem, ProblemKind};
use crate::graph::{
    CompiledExpression, ExpressionSlot, ExternalSelection, ForEachDimension, Graph, GraphInner,
    InstanceNode, NodeKind, ResourceNode,
};
use crate::hash::spec_hash;
use crate::limits::{CompileLimits, excerpt, json_len};
use crate::naming::{
    MAX_FOREACH_DIMENSIONS, is_dns1035_label, is_lower_camel_case, is_reserved, reserved_prefix,
};
use crate::resolver::{GroupVersionKind, ResolvedKind, SchemaResolver};
use crate::template::{FieldPath, PathSegment, RawSlot, WalkProblem, type_at, walk};
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

    fn prepare(
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
        match (&resource.template, &resource.external_ref) {
            (None, None) => {
                self.invalid(
                    id,
                    "",
                    "exactly one of template or externalRef must be provided",
                );
                return prepared;
            }
            (Some(_), Some(_)) => {
                self.invalid(
                    id,
                    "",
                    "exactly one of template or externalRef must be provided, not both",
                );
                return prepared;
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
        let section = if prepared.external.is_some() || resource.external_ref.is_some() {
            "externalRef"
        } else {
            "template"
        };
        let Some((api_version, kind)) = self.object_shape(id, section, &prepared.object) else {
            return prepared;
        };
        let gvk = GroupVersionKind::from_api_version(&api_version, &kind);
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
        if prepared.schemaless {
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
        self.check_metadata(&prepared, section, cluster_scoped);
        prepared
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

    fn compile_node(&mut self, node: &Prepared<'_>, base: &TypeEnv) -> Option<ResourceNode> {
        let id = node.resource.id.as_str();
        let before = self.problems.len();
        let mut dependencies = BTreeSet::new();

        // forEach dimensions.
        if node.resource.for_each.len() > self.options.max_foreach_dimensions {
            self.invalid(
                id,
                "forEach",
                format!(
                    "at most {} forEach dimensions are allowed, found {}",
                    self.options.max_foreach_dimensions,
                    node.resource.for_each.len()
                ),
            );
        }
        let mut for_each = Vec::new();
        let mut iterators: Vec<(String, CelType)> = Vec::new();
        for (index, entry) in node.resource.for_each.iter().enumerate() {
            let path = format!("forEach[{index}]");
            let [(name, source)] = entry.iter().collect::<Vec<_>>()[..] else {
                self.invalid(
                    id,
                    path,
                    "each forEach entry must have exactly one iterator",
                );
                continue;
            };
            let path = format!("{path}.{name}");
            if !is_lower_camel_case(name) {
                self.problem(
                    id,
                    path.clone(),
                    ProblemKind::InvalidName {
                        what: "forEach iterator",
                        value: name.clone(),
                        expected: "lowerCamelCase (^[a-z][a-zA-Z0-9]*$)",
                    },
                );
            } else if is_reserved(name) {
                self.problem(
                    id,
                    path.clone(),
                    ProblemKind::Reserved {
                        what: "forEach iterator",
                        value: name.clone(),
                    },
                );
            } else if self.ids.contains_key(name) {
                self.invalid(
                    id,
                    path.clone(),
                    format!("forEach iterator \"{name}\" has the name of a resource id"),
                );
            } else if iterators.iter().any(|(other, _)| other == name) {
                self.invalid(
                    id,
                    path.clone(),
                    format!("duplicate forEach iterator \"{name}\""),
                );
            }
            // A rejected dimension still declares its iterator (as dyn), so the template is not
            // also reported for reading an undeclared variable.
            let Some(expression) = self.condition(id, &path, source, base, None) else {
                iterators.push((name.clone(), CelType::Dyn));
                continue;
            };
            let element = match expression.output.clone() {
                CelType::List(element) => *element,
                CelType::Dyn => CelType::Dyn,
                other => {
                    self.invalid(
                        id,
                        path,
                        format!(
                            "forEach expression \"{}\" must return a list, returns \"{other}\"",
                            expression.source()
                        ),
                    );
                    iterators.push((name.clone(), CelType::Dyn));
                    continue;
                }
            };
            dependencies.extend(expression.dependencies.iter().cloned());
            iterators.push((name.clone(), element));
            for_each.push(ForEachDimension {
                name: name.clone(),
                expression,
            });
        }

        // Template (or external reference) slots.
        let env_with_iterators;
        let env = if iterators.is_empty() {
            base
        } else {
            let mut env = base.clone();
            for (name, ty) in &iterators {
                env.declare(name.clone(), ty.clone());
            }
            env_with_iterators = env;
            &env_with_iterators
        };
        let section = if node.external.is_some() || node.resource.external_ref.is_some() {
            "externalRef"
        } else {
            "template"
        };
        let object_type = node
            .resolved
            .as_ref()
            .filter(|_| section == "template" && !node.schemaless)
            .map_or(CelType::Dyn, |r| r.cel_type().clone());
        let mut slots = Vec::new();
        for raw in &node.slots {
            let expected = type_at(&object_type, &raw.path);
            if let Some(slot) = self.slot(id, section, raw, &expected, env) {
                slots.push(slot);
            }
        }
        for slot in &slots {
            dependencies.extend(slot.dependencies.iter().cloned());
        }
        self.check_identity_omit(node, &slots, section);
        if !iterators.is_empty() {
            self.check_identity(node, &slots, &iterators, section);
        }

        // includeWhen and readyWhen.
        let mut include_when = Vec::new();
        for (index, source) in node.resource.include_when.iter().enumerate() {
            let path = format!("includeWhen[{index}]");
            if let Some(expression) = self.condition(id, &path, source, base, Some(&CelType::Bool))
            {
                dependencies.extend(expression.dependencies.iter().cloned());
                include_when.push(expression);
            }
        }
        let collection =
            !iterators.is_empty() || node.external == Some(ExternalSelection::BySelector);
        let self_name = if collection { "each" } else { id };
        let self_type = node
            .resolved
            .as_ref()
            .map_or(CelType::Dyn, |r| r.cel_type().clone());
        let mut ready_env = TypeEnv::new().with(self_name, self_type);
        ready_env.set_omit_enabled(self.options.omit_enabled);
        let mut ready_when = Vec::new();
        for (index, source) in node.resource.ready_when.iter().enumerate() {
            let path = format!("readyWhen[{index}]");
            if let Some(expression) = self.ready_condition(id, &path, source, &ready_env, self_name)
            {
                ready_when.push(expression);
            }
        }

        if dependencies.remove(id) {
            self.invalid(id, "", "self references are not allowed");
        }
        if self.problems.len() != before {
            return None;
        }
        let resolved = node.resolved.clone()?;
        let mut dependencies: Vec<String> = dependencies.into_iter().collect();
        dependencies.sort_by_key(|d| self.ids.get(d).copied().unwrap_or(usize::MAX));
        Some(ResourceNode {
            id: id.to_owned(),
            kind: match node.external {
                Some(selection) => NodeKind::External(selection),
                None => NodeKind::Template,
            },
            resolved,
            object: node.object.clone(),
            slots,
            dependencies,
            include_when,
            ready_when,
            for_each,
            wave: 1,
            position: node.position,
        })
    }

    /// `omit()` cannot produce an object's identity: never at `metadata.name`, nor at
    /// `metadata.namespace` of a namespaced child of a cluster-scoped instance (which must set
    /// it).
    fn check_identity_omit(
        &mut self,
        node: &Prepared<'_>,
        slots: &[ExpressionSlot],
        section: &str,
    ) {
        let namespace_required = self.rgd.spec.schema.scope_or_default() == InstanceScope::Cluster
            && node.resolved.as_ref().is_some_and(ResolvedKind::namespaced);
        for slot in slots {
            let place = if slot.path.is_fields(&["metadata", "name"]) {
                "metadata.name"
            } else if namespace_required && slot.path.is_fields(&["metadata", "namespace"]) {
                "metadata.namespace of a namespaced resource in a cluster-scoped instance"
            } else {
                continue;
            };
            if calls_omit(&slot.template) {
                self.invalid(
                    &node.resource.id,
                    join_path(section, &slot.path),
                    omit_not_allowed(place, slot.template.source()),
                );
            }
        }
    }

    /// Every iterator must appear in `metadata.name` or (namespaced kinds) `metadata.namespace`.
    fn check_identity(
        &mut self,
        node: &Prepared<'_>,
        slots: &[ExpressionSlot],
        iterators: &[(String, CelType)],
        section: &str,
    ) {
        let namespaced = node.resolved.as_ref().is_none_or(ResolvedKind::namespaced);
        let mut used = BTreeSet::new();
        for slot in slots {
            let identity = slot.path.is_fields(&["metadata", "name"])
                || namespaced && slot.path.is_fields(&["metadata", "namespace"]);
            if identity {
                used.extend(slot.template.references().into_iter().map(|r| r.root));
            }
        }
        for (name, _) in iterators {
            if !used.contains(name) {
                self.invalid(
                    &node.resource.id,
                    format!("{section}.metadata.name"),
                    format!(
                        "all forEach dimensions must be used to produce a unique resource identity: iterator \"{name}\" is not used in metadata.name or metadata.namespace"
                    ),
                );
            }
        }
    }

    /// Type-checks and compiles one template string holding `${}`.
    fn slot(
        &mut self,
        id: &str,
        section: &str,
        raw: &RawSlot,
        expected: &CelType,
        env: &TypeEnv,
    ) -> Option<ExpressionSlot> {
        let checker = Checker::new(env);
        let field = raw.path.to_string();
        let problem_path = join_path(section, &raw.path);
        let mut fits = true;
        for expression in raw.expressions() {
            fits &= self.expression_fits(id, &problem_path, expression);
        }
        if !fits {
            return None;
        }
        // Compiling first lets the checker type the parsed programs instead of parsing again;
        // when compilation fails the checker's own diagnosis of the text comes first.
        let compiled = Template::compile(&self.environment, &raw.source);
        let programs = compiled
            .as_ref()
            .map(Template::programs)
            .unwrap_or_default();
        let check = |index: usize, source: &str| match programs.get(index) {
            Some(program) => checker.check_program(program),
            None => checker.check(source),
        };
        let output = if raw.is_standalone() {
            let source = raw.expressions().next().unwrap_or_default();
            let checked = match check(0, source) {
                Ok(checked) => checked,
                Err(errors) => {
                    self.expression_problem(id, &problem_path, errors.to_string());
                    return None;
                }
            };
            if let Err(mismatch) = check_assignable(id, &field, source, &checked.output, expected) {
                self.expression_problem(id, &problem_path, mismatch.to_string());
                return None;
            }
            self.record_warnings(id, &problem_path, &checked);
            checked.output
        } else {
            let mut ok = true;
            for (index, source) in raw.expressions().enumerate() {
                match check(index, source) {
                    Ok(checked) => {
                        self.record_warnings(id, &problem_path, &checked);
                        if let Err(mismatch) =
                            check_assignable(id, &field, source, &checked.output, &CelType::String)
                        {
                            self.expression_problem(id, &problem_path, mismatch.to_string());
                            ok = false;
                        }
                    }
                    Err(errors) => {
                        self.expression_problem(id, &problem_path, errors.to_string());
                        ok = false;
                    }
                }
            }
            if let Err(mismatch) =
                check_assignable(id, &field, &raw.source, &CelType::String, expected)
            {
                self.expression_problem(id, &problem_path, mismatch.to_string());
                ok = false;
            }
            if !ok {
                return None;
            }
            CelType::String
        };
        let template = match compiled {
            Ok(template) => template,
            Err(error) => {
                self.expression_problem(id, &problem_path, error.to_string());
                return None;
            }
        };
        let dependencies = self.resource_roots(template.references().into_iter().map(|r| r.root));
        Some(ExpressionSlot {
            path: raw.path.clone(),
            template,
            output,
            dependencies,
        })
    }

    fn expression_problem(&mut self, id: &str, path: &str, message: String) {
        self.problem(id, path, ProblemKind::Expression { message });
    }

    /// Resource ids among `roots`, sorted.
    fn resource_roots(&self, roots: impl Iterator<Item = String>) -> Vec<String> {
        let ids: BTreeSet<String> = roots.filter(|root| self.ids.contains_key(root)).collect();
        ids.into_iter().collect()
    }

    /// A standalone `${}` condition (includeWhen, forEach, readyWhen, status condition),
    /// checked against `env`; its output must fit `expected` when given.
    fn condition(
        &mut self,
        id: &str,
        path: &str,
        source: &str,
        env: &TypeEnv,
        expected: Option<&CelType>,
    ) -> Option<CompiledExpression> {
        let expression = match kro_cel::scan(source).as_deref() {
            Ok([Segment::Expression { source, .. }]) => source.clone(),
            _ => {
                self.invalid(
                    id,
                    path,
                    format!("only standalone expressions are allowed, found \"{source}\""),
                );
                return None;
            }
        };
        if !self.expression_fits(id, path, &expression) {
            return None;
        }
        let program = self.environment.compile(&expression);
        self.checked_condition(id, path, &expression, program, env, expected)
    }

    /// Type-checks a condition's compiled program (or, when compilation failed, its text, so the
    /// checker's diagnosis comes first) and pairs it with its output type and dependencies.
    fn checked_condition(
        &mut self,
        id: &str,
        path: &str,
        expression: &str,
        program: Result<Program, kro_cel::CompileError>,
        env: &TypeEnv,
        expected: Option<&CelType>,
    ) -> Option<CompiledExpression> {
        let checker = Checker::new(env);
        let checked = match &program {
            Ok(program) => checker.check_program(program),
            Err(_) => checker.check(expression),
        };
        let checked = match checked {
            Ok(checked) => checked,
            Err(errors) => {
                self.expression_problem(id, path, errors.to_string());
                return None;
            }
        };
        if let Some(expected) = expected
            && !assignable(&checked.output, expected)
        {
            self.expression_problem(
                id,
                path,
                format!(
                    "expression \"{expression}\" returns type \"{}\" but expected \"{expected}\"",
                    checked.output
                ),
            );
            return None;
        }
        self.record_warnings(id, path, &checked);
        let program = match program {
            Ok(program) => program,
            Err(error) => {
                self.expression_problem(id, path, error.to_string());
                return None;
            }
        };
        if program.calls_omit() {
            let place = if path.starts_with("schema.status") {
                "status"
            } else {
                path.split(['[', '.']).next().unwrap_or(path)
            };
            self.invalid(id, path, omit_not_allowed(place, expression));
            return None;
        }
        let dependencies = self.resource_roots(program.references().into_iter().map(|r| r.root));
        Some(CompiledExpression {
            program,
            output: checked.output,
            dependencies,
        })
    }

    /// Keeps the checker's warnings about reads of the instance (`schema.*`): other resources'
    /// fields appear as the cluster converges, but an instance field the user never sets keeps
    /// the resource waiting forever.
    fn record_warnings(&mut self, id: &str, path: &str, checked: &Checked) {
        for warning in &checked.warnings {
            let field = warning.field_path.as_str();
            if field != "schema" && !field.starts_with("schema.") {
                continue;
            }
            let message = warning.to_string();
            let warning = if id.is_empty() {
                Warning::spec(path, message)
            } else {
                Warning::resource(id, path, message)
            };
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }

    fn ready_condition(
        &mut self,
        id: &str,
        path: &str,
        source: &str,
        env: &TypeEnv,
        self_name: &str,
    ) -> Option<CompiledExpression> {
        let segments = kro_cel::scan(source);
        let Ok(
            [
                Segment::Expression {
                    source: expression, ..
                },
            ],
        ) = segments.as_deref()
        else {
            // Reported by `condition`, which rejects anything but one standalone expression.
            return self.condition(id, path, source, env, Some(&CelType::Bool));
        };
        if !self.expression_fits(id, path, expression) {
            return None;
        }
        let program = self.environment.compile(expression);
        if let Ok(program) = &program {
            let foreign: BTreeSet<String> = program
                .references()
                .into_iter()
                .map(|r| r.root)
                .filter(|root| root != self_name)
                .collect();
            if let Some(other) = foreign.into_iter().next() {
                self.invalid(
                    id,
                    path,
                    format!(
                        "readyWhen expressions may only reference the resource itself (\"{self_name}\"), found \"{other}\""
                    ),
                );
                return None;
            }
        }
        self.checked_condition(id, path, expression, program, env, Some(&CelType::Bool))
    }

    fn compile_instance(
        &mut self,
        base: &TypeEnv,
        crd_spec: Option<&CrdSpec>,
        schema_type: CelType,
    ) -> Option<InstanceNode> {
        let before = self.problems.len();
        let mut status = match &self.rgd.spec.schema.status {
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
        };
        let condition_sources = status.remove("conditions");
        let status = Value::Object(status);

        let mut raw_slots = Vec::new();
        let mut walk_problems = Vec::new();
        walk(
            &status,
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
        self.literal_status_leaves(&status, &FieldPath::root(), &slot_paths);

        let mut slots = Vec::new();
        let mut dependencies = BTreeSet::new();
        for raw in &raw_slots {
            let Some(slot) = self.status_slot(raw, base) else {
                continue;
            };
            dependencies.extend(slot.dependencies.iter().cloned());
            slots.push(slot);
        }

        let mut conditions = Vec::new();
        if let Some(sources) = condition_sources {
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
        }

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
            gvk: GroupVersionKind {
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

fn calls_omit(template: &Template) -> bool {
    template.programs().into_iter().any(Program::calls_omit)
}

fn omit_not_allowed(place: &str, expression: &str) -> String {
    format!("omit() is not allowed in {place}, found \"{expression}\"")
}

/// Whether `gvk` is `apiextensions.k8s.io/v1 CustomResourceDefinition`, whose templates are
/// taken as written (their schema is too loose to check literals against).
fn is_custom_resource_definition(gvk: &GroupVersionKind) -> bool {
    gvk.group == "apiextensions.k8s.io"
        && gvk.version == "v1"
        && gvk.kind == "CustomResourceDefinition"
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
