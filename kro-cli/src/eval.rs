//! `kro eval`: type-check an expression in the exact environment of an RGD resource, and
//! evaluate it against an instance and observed objects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use kro_cel::{
    Activation, CelType, Checker, Environment, FieldType, Program, TypeEnv, object_meta_type,
};
use kro_graph::{Graph, ResourceNode};
use kro_runtime::core::Limits;
use serde_json::Value;

use crate::commands::{CompileArgs, Outcome, compile_single};
use crate::output::Reporter;
use crate::render::{
    DEFAULT_KRO_VERSION, RenderContext, pass_time, read_instances, read_observed, render_instance,
    rgd_identity,
};

/// Options of `kro eval`.
pub struct EvalArgs<'a> {
    /// The expression (without `${}`).
    pub expression: &'a str,
    /// The RGD file.
    pub rgd: &'a Path,
    /// The resource whose environment to use (`None`: the status environment).
    pub resource: Option<&'a str>,
    /// Use the resource's readyWhen environment (`each` or the resource id only).
    pub ready_when: bool,
    /// An instance file, to evaluate.
    pub instance: Option<&'a Path>,
    /// Observed objects standing in for the cluster.
    pub observed: &'a [PathBuf],
    /// `--now`.
    pub now: Option<&'a str>,
}

/// Where the expression is evaluated: the status environment, a resource's template, or a
/// resource's readyWhen.
enum Scope<'g> {
    Status,
    Template(&'g ResourceNode),
    ReadyWhen(&'g ResourceNode),
}

/// `kro eval`.
pub fn eval(
    args: &EvalArgs<'_>,
    compile: &CompileArgs<'_>,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let (rgd, graph) = match compile_single(args.rgd, compile, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let scope = scope(&graph, args)?;
    let env = type_env(&graph, &scope, compile.enable_omit);
    let checked = match Checker::new(&env).check(args.expression) {
        Ok(checked) => checked,
        Err(errors) => {
            reporter.error(&errors.to_string());
            return Ok(Outcome::Findings);
        }
    };
    println!("type: {}", checked.output);
    for warning in &checked.warnings {
        reporter.warning_at("expression", &warning.to_string());
    }
    let Some(instance_file) = args.instance else {
        return Ok(Outcome::Clean);
    };

    let instance = read_instances(&graph, instance_file)?.remove(0);
    let observed = read_observed(args.observed)?;
    let now = pass_time(args.now)?;
    let identity = rgd_identity(&rgd.name, &rgd.document.value);
    let context = RenderContext {
        observed: &observed,
        now: &now,
        kro_version: DEFAULT_KRO_VERSION,
        rgd: &identity,
        assume_ready: &[],
    };
    let mut activation = render_instance(&graph, &instance, &context)?
        .rendered
        .settled
        .activation;
    let environment = Environment::new().with_omit(compile.enable_omit);
    let program = match environment.compile(args.expression) {
        Ok(program) => program,
        Err(error) => {
            reporter.error(&error.to_string());
            return Ok(Outcome::Findings);
        }
    };
    let results = match scope {
        Scope::Status => vec![evaluate(&program, &activation)],
        Scope::Template(node) => per_item(node, &program, &mut activation)?,
        Scope::ReadyWhen(node) => ready_when_items(node, &program, &activation, &environment)?,
    };
    let mut outcome = Outcome::Clean;
    let indexed = results.len() != 1;
    for (index, result) in results.iter().enumerate() {
        let label = if indexed {
            format!("value[{index}]")
        } else {
            "value".to_owned()
        };
        match result {
            Ok(value) => println!("{label}: {value}"),
            Err(message) => {
                reporter.error(&format!("{label}: {message}"));
                outcome = Outcome::Findings;
            }
        }
    }
    if results.is_empty() {
        println!("no value: the collection has no items");
    }
    Ok(outcome)
}

fn scope<'g>(graph: &'g Graph, args: &EvalArgs<'_>) -> anyhow::Result<Scope<'g>> {
    let Some(id) = args.resource else {
        if args.ready_when {
            bail!("--ready-when needs --resource ID: readyWhen belongs to a resource");
        }
        return Ok(Scope::Status);
    };
    let Some(node) = graph.resource(id) else {
        bail!(
            "--resource {id}: no such resource in ResourceGraphDefinition {} (ids: {})",
            graph.name(),
            graph.topological_ids().join(", ")
        );
    };
    Ok(if args.ready_when {
        Scope::ReadyWhen(node)
    } else {
        Scope::Template(node)
    })
}

/// The variables the compiler declares for expressions of `scope`.
fn type_env(graph: &Graph, scope: &Scope<'_>, omit_enabled: bool) -> TypeEnv {
    let mut env = TypeEnv::new();
    env.set_omit_enabled(omit_enabled);
    if let Scope::ReadyWhen(node) = scope {
        let name = if node.is_collection() {
            "each"
        } else {
            node.id()
        };
        env.declare(name, object_type(node));
        return env;
    }
    env.declare("schema", graph.instance().schema_type().clone());
    for node in graph.resources() {
        let element = object_type(node);
        let ty = if node.is_collection() {
            CelType::list(element)
        } else {
            element
        };
        env.declare(node.id(), ty);
    }
    if let Scope::Template(node) = scope {
        for dimension in node.for_each() {
            let element = match dimension.expression().output_type() {
                CelType::List(element) => (**element).clone(),
                _ => CelType::Dyn,
            };
            env.declare(dimension.name(), element);
        }
    }
    env
}

/// The type of one stored object of the node's kind: its schema with `metadata` typed as a
/// full ObjectMeta, as the compiler types it.
fn object_type(node: &ResourceNode) -> CelType {
    let kind = &node.gvk().kind;
    let mut ty = CelType::from_schema_named(kind, node.schema());
    if let CelType::Struct(object) = &mut ty {
        Arc::make_mut(object).fields.insert(
            "metadata".to_owned(),
            FieldType::required(object_meta_type(
                &format!("{kind}.metadata"),
                node.namespaced(),
            )),
        );
    }
    ty
}

type ItemResult = Result<String, String>;

fn evaluate(program: &Program, activation: &Activation) -> ItemResult {
    match program.evaluate_optional(activation) {
        Ok(Some(value)) => Ok(compact(&value)),
        Ok(None) => Ok("omit()".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
}

/// One result per forEach item (row-major), or one for a resource without forEach.
fn per_item(
    node: &ResourceNode,
    program: &Program,
    activation: &mut Activation,
) -> anyhow::Result<Vec<ItemResult>> {
    if node.for_each().is_empty() {
        return Ok(vec![evaluate(program, activation)]);
    }
    let mut dimensions = Vec::new();
    for dimension in node.for_each() {
        let source = dimension.expression().source();
        let value = dimension
            .expression()
            .program()
            .evaluate(activation)
            .with_context(|| format!("forEach {}: `{source}`", dimension.name()))?;
        let Value::Array(items) = value else {
            bail!(
                "forEach {}: `{source}` returned {}, expected a list",
                dimension.name(),
                compact(&value)
            );
        };
        dimensions.push(items);
    }
    let total = dimensions
        .iter()
        .try_fold(1usize, |total, items| total.checked_mul(items.len()))
        .filter(|total| *total <= Limits::default().max_collection_size)
        .context("forEach: the collection exceeds the maximum collection size")?;
    let mut results = Vec::with_capacity(total);
    for flat in 0..total {
        let mut rest = flat;
        let mut row = vec![0; dimensions.len()];
        for (slot, items) in row.iter_mut().zip(&dimensions).rev() {
            *slot = rest % items.len();
            rest /= items.len();
        }
        for ((dimension, items), position) in node.for_each().iter().zip(&dimensions).zip(&row) {
            activation
                .bind(dimension.name(), &items[*position])
                .with_context(|| format!("binding forEach iterator {}", dimension.name()))?;
        }
        results.push(evaluate(program, activation));
    }
    Ok(results)
}

/// One result per observed item of a collection, or one for a single resource: readyWhen sees
/// only the resource itself.
fn ready_when_items(
    node: &ResourceNode,
    program: &Program,
    activation: &Activation,
    environment: &Environment,
) -> anyhow::Result<Vec<ItemResult>> {
    let id = node.id();
    let read = |source: &str| {
        environment
            .compile(source)
            .with_context(|| format!("reading resource {id}"))?
            .evaluate_value(activation)
            .map_err(|_| {
                anyhow::anyhow!(
                    "resource {id} is not observed: give its object (with status) in an --observed file"
                )
            })
    };
    if !node.is_collection() {
        let mut own = Activation::new();
        own.bind_value(id, read(id)?)
            .with_context(|| format!("binding {id}"))?;
        return Ok(vec![evaluate(program, &own)]);
    }
    let size = read(&format!("size({id})"))?.to_json().ok().flatten();
    let size = size.as_ref().and_then(Value::as_u64).unwrap_or_default();
    let mut results = Vec::new();
    for index in 0..size {
        let mut own = Activation::new();
        own.bind_value("each", read(&format!("{id}[{index}]"))?)
            .with_context(|| format!("binding {id}[{index}]"))?;
        results.push(evaluate(program, &own));
    }
    Ok(results)
}
