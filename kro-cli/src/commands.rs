//! The commands. Each returns whether its input had findings (exit 1) or was clean (exit 0);
//! an `Err` means the command could not run at all (exit 2).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kro_graph::Graph;
use kro_schema::SchemaDiff;
use serde_json::{Value, json};

use crate::compiler::{CompiledRgd, Compiler, LocatedWarning};
use crate::draw::Drawing;
use crate::instance_diff::{InstanceChanges, Side};
use crate::output::{Reporter, print_json, print_yaml};
use crate::render::{
    RenderContext, RenderedInstance, pass_time, read_instances, read_observed, render_instance,
    rgd_identity, yaml_documents,
};
use crate::{DataFormat, Format, GraphFormat};

/// Whether a command's input was clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Problems in the input (invalid RGD, breaking change): exit 1.
    Findings,
}

/// Options of the commands that compile RGDs.
pub struct CompileArgs<'a> {
    /// Files with CRDs of kinds the RGDs use.
    pub crds: &'a [PathBuf],
    /// Files with other RGDs whose generated kinds the RGDs use (chaining).
    pub rgds: &'a [PathBuf],
    /// The CELOmitFunction feature gate.
    pub enable_omit: bool,
}

/// `kro validate`. With `strict`, a warning of a check kro-rs relaxed for upstream compatibility
/// ([`kro_graph::Warning::is_strict_error`]) makes its RGD invalid, as the operator's strict mode
/// does; advice stays a warning.
pub fn validate(
    files: &[PathBuf],
    args: &CompileArgs<'_>,
    format: Format,
    strict: bool,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let compiler = Compiler::new(args.crds, args.enable_omit)?;
    let mut inputs = files.to_vec();
    inputs.extend(args.rgds.iter().cloned());
    let (compiled, _) = compiler.compile_files(&inputs)?;
    let compiled: Vec<&CompiledRgd> = compiled
        .iter()
        .filter(|c| files.iter().any(|f| f == &c.document.file))
        .collect();
    if compiled.is_empty() {
        bail!(
            "no ResourceGraphDefinition found in {}",
            display_paths(files)
        );
    }
    let mut invalid = 0;
    let mut report = Vec::new();
    for rgd in &compiled {
        let mut diagnostics = rgd.diagnostics();
        // In file order, so the output reads top to bottom like the RGD.
        diagnostics.sort_by_key(|(path, _)| rgd.document.locate(path));
        let warnings = rgd.warnings();
        let refuse = |located: &LocatedWarning<'_>| strict && located.warning.is_strict_error();
        let valid = diagnostics.is_empty() && !warnings.iter().any(refuse);
        if !valid {
            invalid += 1;
        }
        match format {
            Format::Text => {
                for (path, message) in &diagnostics {
                    reporter.error_at(&rgd.document.place(path).to_string(), message);
                }
                for located in &warnings {
                    let place = rgd.document.place(&located.path).to_string();
                    let message = located.warning.to_string();
                    if refuse(located) {
                        reporter.error_at(&place, &format!("{message} (refused by --strict)"));
                    } else {
                        reporter.warning_at(&place, &message);
                    }
                }
                if let (Ok(graph), true) = (&rgd.result, valid) {
                    reporter.ok_at(
                        &rgd.document.place("metadata.name").to_string(),
                        &format!(
                            "ResourceGraphDefinition {} is valid; order: {}",
                            rgd.name,
                            graph.topological_ids().join(", ")
                        ),
                    );
                }
            }
            Format::Json => report.push(json_report(rgd, &diagnostics, &warnings, valid)),
        }
    }
    if format == Format::Json {
        print_json(&json!({ "resourceGraphDefinitions": report, "invalid": invalid }))?;
    }
    Ok(if invalid == 0 {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// One RGD's entry in `kro validate -o json`.
fn json_report(
    rgd: &CompiledRgd,
    diagnostics: &[(String, String)],
    warnings: &[LocatedWarning<'_>],
    valid: bool,
) -> Value {
    let located = |path: &str, message: String| {
        let position = rgd.document.locate(path);
        json!({
            "path": path,
            "line": position.map(|p| p.line),
            "column": position.map(|p| p.column),
            "message": message,
        })
    };
    let problems: Vec<Value> = diagnostics
        .iter()
        .map(|(path, message)| located(path, message.clone()))
        .collect();
    let warnings: Vec<Value> = warnings
        .iter()
        .map(|w| {
            let mut entry = located(&w.path, w.warning.to_string());
            entry["strictError"] = Value::Bool(w.warning.is_strict_error());
            entry
        })
        .collect();
    json!({
        "file": rgd.document.file.display().to_string(),
        "name": rgd.name,
        "valid": valid,
        "problems": problems,
        "warnings": warnings,
        "topologicalOrder": rgd.result.as_ref().map(Graph::topological_ids).unwrap_or_default(),
    })
}

/// Compiles the single RGD of `file`, reporting its problems when it does not compile.
pub fn compile_single(
    file: &Path,
    args: &CompileArgs<'_>,
    reporter: &Reporter,
) -> anyhow::Result<Result<(CompiledRgd, Graph), Outcome>> {
    let compiler = Compiler::new(args.crds, args.enable_omit)?;
    let mut inputs = vec![file.to_path_buf()];
    inputs.extend(args.rgds.iter().cloned());
    let (compiled, _) = compiler.compile_files(&inputs)?;
    let mut mine: Vec<CompiledRgd> = compiled
        .into_iter()
        .filter(|c| c.document.file == file)
        .collect();
    let rgd = match mine.len() {
        0 => bail!("no ResourceGraphDefinition found in {}", file.display()),
        1 => mine.remove(0),
        n => bail!(
            "{} holds {n} ResourceGraphDefinitions; this command takes one",
            file.display()
        ),
    };
    match &rgd.result {
        Ok(graph) => {
            let graph = graph.clone();
            Ok(Ok((rgd, graph)))
        }
        Err(_) => {
            for (path, message) in rgd.diagnostics() {
                reporter.error_at(&rgd.document.place(&path).to_string(), &message);
            }
            Ok(Err(Outcome::Findings))
        }
    }
}

/// `kro crd`.
pub fn crd(
    file: &Path,
    args: &CompileArgs<'_>,
    format: DataFormat,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let (_, graph) = match compile_single(file, args, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let value = serde_json::to_value(graph.crd()).context("serialising the CRD")?;
    match format {
        DataFormat::Yaml => print_yaml(&value)?,
        DataFormat::Json => print_json(&value)?,
    }
    Ok(Outcome::Clean)
}

/// `kro graph`.
pub fn graph(
    file: &Path,
    args: &CompileArgs<'_>,
    format: GraphFormat,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let (_, graph) = match compile_single(file, args, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let drawing = Drawing::of(&graph);
    let text = match format {
        GraphFormat::Mermaid => drawing.mermaid(),
        GraphFormat::Dot => drawing.dot(),
        GraphFormat::Svg => drawing.svg(),
    };
    print!("{text}");
    Ok(Outcome::Clean)
}

/// What changed between two versions of a resource list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResourceChanges {
    /// Ids only in the new RGD.
    pub added: Vec<String>,
    /// Ids only in the old RGD.
    pub removed: Vec<String>,
    /// Ids in both whose definition differs.
    pub changed: Vec<String>,
}

/// Compares the `spec.resources` entries of two RGD documents by id.
pub fn resource_changes(old: &Value, new: &Value) -> ResourceChanges {
    let by_id = |rgd: &Value| -> BTreeMap<String, Value> {
        rgd["spec"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["id"].as_str()?.to_owned(), r.clone())))
            .collect()
    };
    let (old, new) = (by_id(old), by_id(new));
    ResourceChanges {
        added: new
            .keys()
            .filter(|id| !old.contains_key(*id))
            .cloned()
            .collect(),
        removed: old
            .keys()
            .filter(|id| !new.contains_key(*id))
            .cloned()
            .collect(),
        changed: new
            .iter()
            .filter(|(id, entry)| old.get(*id).is_some_and(|before| before != *entry))
            .map(|(id, _)| id.clone())
            .collect(),
    }
}

/// `kro diff`.
pub fn diff(
    old: &Path,
    new: &Path,
    args: &CompileArgs<'_>,
    instances: Option<&Path>,
    format: Format,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let (old_rgd, old_graph) = match compile_single(old, args, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let (new_rgd, new_graph) = match compile_single(new, args, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let schema = kro_schema::diff_crds(old_graph.crd(), new_graph.crd());
    let resources = resource_changes(&old_rgd.document.value, &new_rgd.document.value);
    let breaking = schema.breaking_changes().count();
    let instance_changes = match instances {
        Some(dir) => {
            let (old_identity, new_identity) = (
                rgd_identity(&old_rgd.name, &old_rgd.document.value),
                rgd_identity(&new_rgd.name, &new_rgd.document.value),
            );
            Some(crate::instance_diff::instance_changes(
                &Side {
                    graph: &old_graph,
                    rgd: &old_identity,
                },
                &Side {
                    graph: &new_graph,
                    rgd: &new_identity,
                },
                dir,
            )?)
        }
        None => None,
    };
    match format {
        Format::Text => {
            print_diff_text(&schema, &resources, instance_changes.as_deref(), breaking);
        }
        Format::Json => print_json(&diff_report_json(
            &schema,
            &resources,
            instance_changes.as_deref(),
            breaking,
        ))?,
    }
    Ok(if breaking > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn print_diff_text(
    schema: &SchemaDiff,
    resources: &ResourceChanges,
    instance_changes: Option<&[InstanceChanges]>,
    breaking: usize,
) {
    if schema.changes.is_empty() {
        println!("schema: no changes");
    } else {
        println!("schema:");
        for change in &schema.changes {
            let label = if change.breaking {
                "BREAKING"
            } else {
                "safe    "
            };
            println!("  {label} {}: {}", change.path, change.detail);
        }
    }
    if *resources == ResourceChanges::default() {
        println!("resources: no changes");
    } else {
        println!("resources:");
        for id in &resources.added {
            println!("  + {id} (added)");
        }
        for id in &resources.removed {
            println!("  - {id} (removed: the operator prunes it from every instance)");
        }
        for id in &resources.changed {
            println!("  ~ {id} (changed)");
        }
    }
    if let Some(instances) = instance_changes {
        print_instance_changes(instances);
    }
    println!(
        "{breaking} breaking change{}",
        if breaking == 1 { "" } else { "s" }
    );
}

fn diff_report_json(
    schema: &SchemaDiff,
    resources: &ResourceChanges,
    instance_changes: Option<&[InstanceChanges]>,
    breaking: usize,
) -> Value {
    let changes: Vec<Value> = schema
        .changes
        .iter()
        .map(|c| json!({ "path": c.path, "breaking": c.breaking, "detail": c.detail }))
        .collect();
    let mut report = json!({
        "schema": changes,
        "breaking": breaking,
        "resources": {
            "added": resources.added,
            "removed": resources.removed,
            "changed": resources.changed,
        },
    });
    if let Some(instances) = instance_changes {
        report["instances"] =
            Value::Array(instances.iter().map(InstanceChanges::to_json).collect());
    }
    report
}

fn print_instance_changes(instances: &[InstanceChanges]) {
    if instances.is_empty() {
        println!("instances: none of the RGD's kind found");
        return;
    }
    println!("instances:");
    for changes in instances {
        let place = format!("{} ({})", changes.instance, changes.file.display());
        if changes.is_empty() {
            println!("  {place}: no object changes");
            continue;
        }
        println!("  {place}:");
        for key in &changes.created {
            println!("    + {key} (created)");
        }
        for key in &changes.deleted {
            println!("    - {key} (deleted)");
        }
        for (key, diff) in &changes.changed {
            println!("    ~ {key} (changed)");
            for line in diff.lines() {
                println!("      {line}");
            }
        }
    }
}

fn display_paths(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Options of `kro render`.
pub struct RenderArgs<'a> {
    /// The instance file.
    pub instance: &'a Path,
    /// Files with objects standing in for the cluster.
    pub observed: &'a [PathBuf],
    /// `--now`.
    pub now: Option<&'a str>,
    /// `--kro-version`.
    pub kro_version: &'a str,
    /// `--assume-ready`.
    pub assume_ready: &'a [String],
    /// Output format.
    pub format: DataFormat,
}

/// `kro render`.
pub fn render(
    file: &Path,
    args: &CompileArgs<'_>,
    options: &RenderArgs<'_>,
    reporter: &Reporter,
) -> anyhow::Result<Outcome> {
    let (rgd, graph) = match compile_single(file, args, reporter)? {
        Ok(compiled) => compiled,
        Err(outcome) => return Ok(outcome),
    };
    let instances = read_instances(&graph, options.instance)?;
    let observed = read_observed(options.observed)?;
    let now = pass_time(options.now)?;
    let identity = rgd_identity(&rgd.name, &rgd.document.value);
    let context = RenderContext {
        observed: &observed,
        now: &now,
        kro_version: options.kro_version,
        rgd: &identity,
        assume_ready: options.assume_ready,
    };
    let rendered: Vec<RenderedInstance> = instances
        .iter()
        .map(|instance| render_instance(&graph, instance, &context))
        .collect::<anyhow::Result<_>>()?;
    for instance in &rendered {
        for line in instance.node_report() {
            eprintln!("{line}");
        }
    }
    match options.format {
        DataFormat::Yaml => print!(
            "{}",
            yaml_documents(rendered.iter().flat_map(RenderedInstance::objects))?
        ),
        DataFormat::Json => print_json(&Value::Array(
            rendered
                .iter()
                .flat_map(RenderedInstance::objects)
                .cloned()
                .collect(),
        ))?,
    }
    Ok(if rendered.iter().any(RenderedInstance::has_errors) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}
