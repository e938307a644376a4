//! `kro`: offline tools for ResourceGraphDefinition authors and CI pipelines.
//!
//! Every command works from files, with no cluster and no network: the schemas of the built-in
//! Kubernetes kinds ship inside kro-graph, and `--crd FILE` adds custom kinds.
#![forbid(unsafe_code)]

mod commands;
mod compiler;
mod draw;
mod output;
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
    about = "Offline tools for kro ResourceGraphDefinitions: validate, generate CRDs, draw and diff.",
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
        after_help = "Example:\n  kro validate rgd.yaml other-rgd.yaml --crd my-crds.yaml\n  kro validate -o json rgd.yaml"
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
    /// removed or changed. Exits 1 on a breaking change, for use as a CI gate.
    #[command(after_help = "Example:\n  kro diff main/rgd.yaml rgd.yaml && echo safe to roll out")]
    Diff {
        /// The RGD as it is deployed.
        old: PathBuf,
        /// The RGD as it will be.
        new: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
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
        } => commands::validate(&files, &common.compile_args(), output, &reporter),
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
            output,
        } => commands::diff(&old, &new, &common.compile_args(), output, &reporter),
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
