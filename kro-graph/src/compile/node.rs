//! One resource's node: forEach dimensions, template slots, includeWhen and readyWhen.

use std::collections::BTreeSet;

use kro_cel::{CelType, TypeEnv};

use super::{Compilation, Prepared, calls_omit, join_path, omit_not_allowed};
use crate::error::ProblemKind;
use crate::graph::{
    CompiledExpression, ExpressionSlot, ExternalSelection, ForEachDimension, NodeKind, ResourceNode,
};
use crate::naming::{is_lower_camel_case, is_reserved};
use crate::resolver::ResolvedKind;
use crate::template::type_at;
use kro_api::InstanceScope;

impl Compilation<'_> {
    pub(super) fn compile_node(
        &mut self,
        node: &Prepared<'_>,
        base: &TypeEnv,
    ) -> Option<ResourceNode> {
        let id = node.resource.id.as_str();
        let before = self.problems.len();
        let mut dependencies = BTreeSet::new();

        let (for_each, iterators) = self.compile_for_each(node, base, &mut dependencies);
        let slots = self.compile_slots(node, base, &iterators);
        for slot in &slots {
            dependencies.extend(slot.dependencies.iter().cloned());
        }
        let include_when = self.compile_include_when(node, base, &mut dependencies);
        let collection =
            !iterators.is_empty() || node.external == Some(ExternalSelection::BySelector);
        let ready_when = self.compile_ready_when(node, collection);

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

    /// The forEach dimensions and the iterators they declare, in order.
    fn compile_for_each(
        &mut self,
        node: &Prepared<'_>,
        base: &TypeEnv,
        dependencies: &mut BTreeSet<String>,
    ) -> (Vec<ForEachDimension>, Vec<(String, CelType)>) {
        let id = node.resource.id.as_str();
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
            self.check_iterator_name(id, &path, name, &iterators);
            // A rejected dimension still declares its iterator (as dyn), so the template is not
            // also reported for reading an undeclared variable.
            let Some((expression, element)) = self.for_each_expression(id, path, source, base)
            else {
                iterators.push((name.clone(), CelType::Dyn));
                continue;
            };
            dependencies.extend(expression.dependencies.iter().cloned());
            iterators.push((name.clone(), element));
            for_each.push(ForEachDimension {
                name: name.clone(),
                expression,
            });
        }
        (for_each, iterators)
    }

    /// An iterator is named like a resource id and must not collide with a resource id or an
    /// earlier iterator.
    fn check_iterator_name(
        &mut self,
        id: &str,
        path: &str,
        name: &str,
        iterators: &[(String, CelType)],
    ) {
        if !is_lower_camel_case(name) {
            self.problem(
                id,
                path,
                ProblemKind::InvalidName {
                    what: "forEach iterator",
                    value: name.to_owned(),
                    expected: "lowerCamelCase (^[a-z][a-zA-Z0-9]*$)",
                },
            );
        } else if is_reserved(name) {
            self.problem(
                id,
                path,
                ProblemKind::Reserved {
                    what: "forEach iterator",
                    value: name.to_owned(),
                },
            );
        } else if self.ids.contains_key(name) {
            self.invalid(
                id,
                path,
                format!("forEach iterator \"{name}\" has the name of a resource id"),
            );
        } else if iterators.iter().any(|(other, _)| other == name) {
            self.invalid(id, path, format!("duplicate forEach iterator \"{name}\""));
        }
    }

    /// A forEach dimension's expression, which must return a list, and its element type.
    fn for_each_expression(
        &mut self,
        id: &str,
        path: String,
        source: &str,
        base: &TypeEnv,
    ) -> Option<(CompiledExpression, CelType)> {
        let expression = self.condition(id, &path, source, base, None)?;
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
                return None;
            }
        };
        Some((expression, element))
    }

    /// The template's (or external reference's) slots, checked against the kind's schema with
    /// the forEach iterators in scope.
    fn compile_slots(
        &mut self,
        node: &Prepared<'_>,
        base: &TypeEnv,
        iterators: &[(String, CelType)],
    ) -> Vec<ExpressionSlot> {
        let id = node.resource.id.as_str();
        let env_with_iterators;
        let env = if iterators.is_empty() {
            base
        } else {
            let mut env = base.clone();
            for (name, ty) in iterators {
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
        self.check_identity_omit(node, &slots, section);
        if !iterators.is_empty() {
            self.check_identity(node, &slots, iterators, section);
        }
        slots
    }

    fn compile_include_when(
        &mut self,
        node: &Prepared<'_>,
        base: &TypeEnv,
        dependencies: &mut BTreeSet<String>,
    ) -> Vec<CompiledExpression> {
        let id = node.resource.id.as_str();
        let mut include_when = Vec::new();
        for (index, source) in node.resource.include_when.iter().enumerate() {
            let path = format!("includeWhen[{index}]");
            if let Some(expression) = self.condition(id, &path, source, base, Some(&CelType::Bool))
            {
                dependencies.extend(expression.dependencies.iter().cloned());
                include_when.push(expression);
            }
        }
        include_when
    }

    /// readyWhen sees only the resource itself: `each` for a collection, else its id.
    fn compile_ready_when(
        &mut self,
        node: &Prepared<'_>,
        collection: bool,
    ) -> Vec<CompiledExpression> {
        let id = node.resource.id.as_str();
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
        ready_when
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
}
