//! `kro-bench differential`: the command line of the harness.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::allow::AllowList;
use super::{Options, SELF_TEST_ENV, SELF_TEST_KEY};
use crate::controller::ControllerSpec;

/// Runs upstream kro and kro-rs side by side on the same inputs and compares what they write.
#[derive(Debug, clap::Args)]
pub struct DifferentialArgs {
    /// The repository root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Upstream kro's controller binary.
    #[arg(long, required_unless_present_any = ["render_docs", "check_docs"])]
    upstream: Option<PathBuf>,
    /// Upstream kro's Go module directory (its helm/crds, examples and test fixtures).
    #[arg(long, required_unless_present_any = ["render_docs", "check_docs"])]
    upstream_module: Option<PathBuf>,
    /// kro-rs's operator binary.
    #[arg(long, required_unless_present_any = ["render_docs", "check_docs"])]
    kro_rs: Option<PathBuf>,
    /// The allow-list.
    #[arg(long, default_value = "bench/differential-allow.yaml")]
    allow: PathBuf,
    /// The page rendered from the allow-list.
    #[arg(long, default_value = "docs/compatibility.md")]
    docs: PathBuf,
    /// Write the page from the allow-list and exit.
    #[arg(long)]
    render_docs: bool,
    /// Check that the committed page is the allow-list's rendering and exit.
    #[arg(long)]
    check_docs: bool,
    /// Run kro-rs with the self-test's condition-message change; pass only if it is reported.
    #[arg(long, value_name = "TAG")]
    self_test: Option<String>,
    /// Only these steps (`create`, `mutate`, `shrink`); repeatable.
    #[arg(long = "step")]
    steps: Vec<String>,
    /// Seconds a cluster must stay unchanged to count as settled.
    #[arg(long, default_value_t = 3)]
    quiet_seconds: u64,
    /// Seconds after which a phase is compared even if not settled.
    #[arg(long, default_value_t = 45)]
    settle_timeout_seconds: u64,
    /// Where controller logs, report.txt and differences.json go.
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

fn docs_check(allow: &AllowList, docs: &Path, render: bool) -> anyhow::Result<bool> {
    let page = allow.render();
    if render {
        std::fs::write(docs, &page).with_context(|| format!("writing {}", docs.display()))?;
        eprintln!("differential: wrote {}", docs.display());
        return Ok(true);
    }
    let committed = std::fs::read_to_string(docs).unwrap_or_default();
    if committed != page {
        eprintln!(
            "differential: {} is stale; run `bash bench/differential.sh --render-docs`",
            docs.display()
        );
        return Ok(false);
    }
    Ok(true)
}

fn spec(name: &str, binary: Option<PathBuf>, crd_dir: Option<PathBuf>) -> ControllerSpec {
    ControllerSpec {
        name: name.into(),
        binary: binary.unwrap_or_default(),
        crd_dir,
        args: Vec::new(),
        env: Vec::new(),
    }
}

/// Runs the subcommand.
///
/// # Errors
/// When the allow-list is unreadable, or a control plane, controller or capture fails.
pub async fn main(args: DifferentialArgs) -> anyhow::Result<ExitCode> {
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("repository root {}", args.root.display()))?;
    let allow_path = root.join(&args.allow);
    let text = std::fs::read_to_string(&allow_path)
        .with_context(|| format!("reading {}", allow_path.display()))?;
    let allow = AllowList::parse(&text)?;
    let docs_fresh = docs_check(&allow, &root.join(&args.docs), args.render_docs)?;
    if args.render_docs || args.check_docs {
        return Ok(if docs_fresh {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let module = args.upstream_module.unwrap_or_default();
    let mut kro_rs = spec("kro-rs", args.kro_rs, None);
    if let Some(tag) = &args.self_test {
        kro_rs.env.push((SELF_TEST_ENV.to_owned(), tag.clone()));
    }
    let log_dir = args.log_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("kro-differential-{}", std::process::id()))
    });
    let options = Options {
        upstream: spec(
            "upstream-kro",
            args.upstream,
            Some(module.join("helm/crds")),
        ),
        kro_rs,
        module,
        steps: args.steps,
        quiet: Duration::from_secs(args.quiet_seconds),
        settle_timeout: Duration::from_secs(args.settle_timeout_seconds),
        log_dir: log_dir.clone(),
        root,
    };
    let outcome = super::run(&options, &allow).await?;
    let text = super::report::render(&outcome.found, &allow, &outcome.unused);
    print!("{text}");
    super::write_outputs(&log_dir, &text, &outcome)?;
    eprintln!(
        "differential: logs, report.txt and differences.json in {}",
        log_dir.display()
    );
    if let Some(tag) = &args.self_test {
        let seen = super::self_test_seen(&outcome, tag);
        eprintln!(
            "differential: self-test: {SELF_TEST_KEY} with {tag:?} {}",
            if seen {
                "reported: OK"
            } else {
                "NOT reported: FAILED"
            }
        );
        return Ok(if seen {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    Ok(if outcome.passed() && docs_fresh {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
