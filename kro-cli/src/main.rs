//! `kro`: offline tools for ResourceGraphDefinition authors and CI pipelines.
//!
//! Every command works from files, with no cluster and no network: the schemas of the built-in
//! Kubernetes kinds ship inside kro-graph, and `--crd FILE` adds custom kinds.
#![forbid(unsafe_code)]

mod commands;
mod compiler;
mod draw;
mod eval;
mod instance_diff;
mod output;
mod render;
mod source;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::output::Reporter;

/// Exit code of a run that found a problem in its input (invalid RGD, breaking change).
const EXIT_FINDINGS: u8 = 1;
/// Exit code of a run that could not do its job (unreadable file, bad arguments).
const EXIT_FAILURE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "kro",
    version,
    about = "Offline tools for kro ResourceGraphDefinitions: validate, generate CRDs, draw, render, evaluate and diff.",
    long_about = "Offline tools for kro ResourceGraphDefinitions. Every command works from files, \
                  with no cluster: built-in Kubernetes kinds are known, `--crd FILE` adds others.\n\n\
                  Exit codes: 0 success, 1 the input has problems (invalid RGD, breaking change), \
                  2 the command could not run (unreadable file, bad arguments)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compile RGDs fully (schema, every expression type-checked, dependency graph) and report
    /// every problem with its file, line and column.
    #[command(
        after_help = "Example:\n  kro validate rgd.yaml other-rgd.yaml --crd my-crds.yaml\n  kro validate -o json rgd.yaml\n  kro validate --strict rgd.yaml"
    )]
    Validate {
        /// RGD files (several YAML documents per file are fine; other kinds are ignored).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Refuse what upstream kro accepts but kro-rs's stricter checks do not (a repeated
        /// marker, `minimum` on a string, ...): those warnings become errors and exit 1, like the
        /// operator's strict mode. Advice (e.g. an unguarded optional read) stays a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Print the CRD that the operator generates for an RGD.
    #[command(
        after_help = "Example:\n  kro crd webapp-rgd.yaml > webapp-crd.yaml\n  kro crd -o json webapp-rgd.yaml"
    )]
    Crd {
        /// The RGD file.
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = DataFormat::Yaml)]
        output: DataFormat,
    },
    /// Draw the dependency graph of an RGD, with includeWhen, readyWhen and forEach.
    #[command(
        after_help = "Example:\n  kro graph webapp-rgd.yaml --format mermaid\n  kro graph webapp-rgd.yaml --format svg > webapp.svg"
    )]
    Graph {
        /// The RGD file.
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// Drawing format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Compare two versions of an RGD: schema changes (breaking or safe) and resources added,
    /// removed or changed; with --instances, what the roll-out creates, deletes or changes for
    /// each instance. Exits 1 only on a breaking schema change, for use as a CI gate.
    #[command(
        after_help = "Example:\n  kro diff main/rgd.yaml rgd.yaml && echo safe to roll out\n  kro diff main/rgd.yaml rgd.yaml --instances instances/"
    )]
    Diff {
        /// The RGD as it is deployed.
        old: PathBuf,
        /// The RGD as it will be.
        new: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// A directory of instance files (`*.yaml`, `*.yml`): each instance is rendered with
        /// both RGDs and the objects created, deleted or changed are shown (changed objects
        /// as a unified diff of their YAML).
        #[arg(long, value_name = "DIR")]
        instances: Option<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Print the exact objects the operator would apply for an instance, as multi-document
    /// YAML in topological order, with every kro label and annotation. Node states and what
    /// each node waits for go to stderr.
    #[command(
        long_about = "Print the exact objects the operator would apply for an instance, as \
                      multi-document YAML in topological order, with every kro label and annotation.\n\n\
                      The instance is defaulted from the generated CRD as the API server would; a \
                      missing namespace becomes `default`; a missing metadata.uid is replaced by a \
                      deterministic placeholder uid derived from the instance namespace and name \
                      (it appears in the kro.run/instance-id label and the ApplySet id), a missing \
                      generation by 1. Every instance of the RGD's kind in INSTANCE is rendered.\n\n\
                      Observed files stand in for the cluster: children with their status, \
                      external references. Rendered objects are merged over observed ones as if \
                      applied (keeping the observed status) and the graph is planned again until \
                      nothing changes, exactly like the operator's loop, so dependents of ready \
                      resources render too. A resource whose readyWhen needs a status the files \
                      do not give stays waiting, and its dependents are not rendered, unless \
                      --assume-ready names it.\n\n\
                      Exit codes: 0 rendered, 1 a resource failed (its error is on stderr), \
                      2 unreadable input.",
        after_help = "Example:\n  kro render webapp-rgd.yaml instance.yaml\n  kro render webapp-rgd.yaml instance.yaml --observed deployment-with-status.yaml --now 2025-01-01T00:00:00Z\n  kro render webapp-rgd.yaml instance.yaml --assume-ready deployment"
    )]
    Render {
        /// The RGD file.
        rgd: PathBuf,
        /// The instance file.
        instance: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// A file with objects as the cluster holds them (repeatable).
        #[arg(long = "observed", value_name = "FILE")]
        observed: Vec<PathBuf>,
        /// A resource id to treat as ready once rendered, whatever its readyWhen says
        /// (repeatable).
        #[arg(long = "assume-ready", value_name = "ID")]
        assume_ready: Vec<String>,
        /// The time of the pass, RFC 3339. Only condition timestamps use it, never the
        /// rendered objects, so the output is the same at any time. Default: now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// The kro version stamped in the `kro.run/kro-version` label.
        #[arg(long, default_value = render::DEFAULT_KRO_VERSION)]
        kro_version: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = DataFormat::Yaml)]
        output: DataFormat,
    },
    /// Type-check a CEL expression in the exact environment of a resource (`schema`, every
    /// resource id, the resource's forEach iterators; or readyWhen's `each`) and print its
    /// type; with --instance, also evaluate it and print the value as JSON.
    #[command(
        long_about = "Type-check a CEL expression in the exact environment of a resource and print \
                      its type: `schema`, every resource id (a list for collections) and, with \
                      --resource, that resource's forEach iterators; with --ready-when, only the \
                      resource itself (`each` for collections), as in readyWhen. Without \
                      --resource the environment is the status one.\n\n\
                      With --instance (the first instance of the RGD's kind in the file, prepared \
                      as `kro render` does) and --observed files, the expression is evaluated and \
                      its value printed as JSON: once per forEach item, or per observed item for a \
                      collection's readyWhen.\n\n\
                      Exit codes: 0 checked (and evaluated), 1 the expression does not type-check \
                      or fails, 2 unreadable input or unknown resource.",
        after_help = "Example:\n  kro eval 'schema.spec.replicas * 2' --rgd webapp-rgd.yaml --resource deployment\n  kro eval 'deployment.status.?availableReplicas.orValue(0)' --rgd webapp-rgd.yaml --instance app.yaml --observed live.yaml\n  kro eval 'each.status.phase == \"Running\"' --rgd rgd.yaml --resource pods --ready-when"
    )]
    Eval {
        /// The CEL expression, without `${}`.
        expression: String,
        /// The RGD file.
        #[arg(long = "rgd", value_name = "FILE")]
        rgd: PathBuf,
        /// The resource whose environment to use.
        #[arg(long, value_name = "ID")]
        resource: Option<String>,
        /// Use the resource's readyWhen environment.
        #[arg(long)]
        ready_when: bool,
        /// An instance file: evaluate the expression for it.
        #[arg(long, value_name = "FILE")]
        instance: Option<PathBuf>,
        /// A file with objects as the cluster holds them (repeatable).
        #[arg(long = "observed", value_name = "FILE")]
        observed: Vec<PathBuf>,
        /// A file with CustomResourceDefinitions whose kinds the RGD uses (repeatable).
        #[arg(long = "crd", value_name = "FILE")]
        crds: Vec<PathBuf>,
        /// A file with other RGDs whose generated kinds the RGD uses (repeatable).
        #[arg(long = "chained", value_name = "FILE")]
        chained: Vec<PathBuf>,
        /// Enable the `omit()` CEL function (the operator's CELOmitFunction feature gate).
        #[arg(long)]
        enable_omit: bool,
        /// The time of the pass, RFC 3339. Default: now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  kro completions bash > /etc/bash_completion.d/kro")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options shared by the commands that compile RGDs.
#[derive(clap::Args, Debug, Clone)]
struct CommonArgs {
    /// A file with CustomResourceDefinitions whose kinds the RGDs use (repeatable).
    #[arg(long = "crd", value_name = "FILE")]
    crds: Vec<PathBuf>,
    /// A file with other RGDs whose generated kinds the RGDs use, for chained RGDs (repeatable).
    #[arg(long = "rgd", value_name = "FILE")]
    rgds: Vec<PathBuf>,
    /// Enable the `omit()` CEL function (the operator's CELOmitFunction feature gate).
    #[arg(long)]
    enable_omit: bool,
}

impl CommonArgs {
    fn compile_args(&self) -> commands::CompileArgs<'_> {
        commands::CompileArgs {
            crds: &self.crds,
            rgds: &self.rgds,
            enable_omit: self.enable_omit,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Human-readable text.
    Text,
    /// JSON, for machines.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DataFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// A standalone SVG image.
    Svg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reporter = Reporter::new();
    let result = match cli.command {
        Command::Validate {
            files,
            common,
            output,
            strict,
        } => commands::validate(&files, &common.compile_args(), output, strict, &reporter),
        Command::Crd {
            file,
            common,
            output,
        } => commands::crd(&file, &common.compile_args(), output, &reporter),
        Command::Graph {
            file,
            common,
            format,
        } => commands::graph(&file, &common.compile_args(), format, &reporter),
        Command::Diff {
            old,
            new,
            common,
            instances,
            output,
        } => commands::diff(
            &old,
            &new,
            &common.compile_args(),
            instances.as_deref(),
            output,
            &reporter,
        ),
        Command::Render {
            rgd,
            instance,
            common,
            observed,
            assume_ready,
            now,
            kro_version,
            output,
        } => commands::render(
            &rgd,
            &common.compile_args(),
            &commands::RenderArgs {
                instance: &instance,
                observed: &observed,
                now: now.as_deref(),
                kro_version: &kro_version,
                assume_ready: &assume_ready,
                format: output,
            },
            &reporter,
        ),
        Command::Eval {
            expression,
            rgd,
            resource,
            ready_when,
            instance,
            observed,
            crds,
            chained,
            enable_omit,
            now,
        } => eval::eval(
            &eval::EvalArgs {
                expression: &expression,
                rgd: &rgd,
                resource: resource.as_deref(),
                ready_when,
                instance: instance.as_deref(),
                observed: &observed,
                now: now.as_deref(),
            },
            &commands::CompileArgs {
                crds: &crds,
                rgds: &chained,
                enable_omit,
            },
            &reporter,
        ),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "kro", &mut std::io::stdout());
            Ok(commands::Outcome::Clean)
        }
    };
    match result {
        Ok(commands::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Findings) => ExitCode::from(EXIT_FINDINGS),
        Err(error) => {
            reporter.error(&format!("{error:#}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
