//! The test corpus of the kro-rs workspace: ResourceGraphDefinitions and instances written outside
//! this project, read in place from upstream kro's Go module (the release `testenv/upstream-kro`
//! pins, v0.9.4), so a clone anywhere has them and none of them is committed here.
//!
//! - Examples: [`EXAMPLES`] under the module's `examples/kubernetes/`, the upstream examples that
//!   use only built-in Kubernetes kinds. One example directory may hold several cases
//!   (`dogsvscats/vote-app`, ...) and one case several RGDs (`saas-multi-tenant` chains three).
//! - Fixtures: [`FIXTURES`] under `test/upgrade/fixtures/`, upstream's upgrade-test fixtures, each
//!   an RGD + instance pair pinning one behaviour.
//! - [`prerequisites`]: the Namespace and the ConfigMap the fixtures expect to exist.
//!
//! The module is located once per process: the directory `KRO_UPSTREAM_KRO_DIR` names when it is
//! set (CI exports it), otherwise the one `scripts/upstream-corpus.sh` prints after fetching the
//! module into the Go module cache. The functions without `try_` panic with a message that says
//! what to install or run: they are for tests, where a missing corpus is a setup failure.

#![forbid(unsafe_code)]

// The README's example is compiled as a doc test, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod locate;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

pub use locate::{MODULE_DIR_ENV, try_module_dir};

/// The example directories of the corpus, under the module's `examples/kubernetes/`.
///
/// A fixed list rather than a directory walk: a new upstream release may add examples that need
/// more than built-in kinds, and a test's expectations should change only when this list does.
pub const EXAMPLES: &[&str] = &[
    "additionalPrinterColumns",
    "cel-functions",
    "core-dns",
    "defaults",
    "dogsvscats",
    "job-example",
    "saas-multi-tenant",
    "webapp",
];

/// The fixture directories of the corpus, under the module's `test/upgrade/fixtures/`.
///
/// Fixed for the same reason as [`EXAMPLES`]: v0.9.4 also has `legacy-selector`, which no test of
/// this workspace was written for yet.
pub const FIXTURES: &[&str] = &[
    "conditional",
    "deletion-target",
    "external-ref",
    "foreach-empty",
    "foreach-nil",
    "group-default",
    "group-explicit",
    "includewhen-empty",
    "includewhen-nil",
    "metadata-empty",
    "metadata-nil",
    "mixed-nil-empty",
    "multi-dependency",
    "readywhen-empty",
    "readywhen-nil",
    "resources-reverse-order",
    "simple-deployment",
    "validation-markers",
];

/// Where the examples are inside the module.
const EXAMPLES_DIR: &str = "examples/kubernetes";
/// Where the fixtures are inside the module.
const FIXTURES_DIR: &str = "test/upgrade/fixtures";

/// Why the corpus could not be found or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CorpusError {
    /// `KRO_UPSTREAM_KRO_DIR` names a directory without the corpus in it.
    #[error(
        "{MODULE_DIR_ENV}={0} is not the source of upstream kro's module (it lacks {EXAMPLES_DIR} \
         or {FIXTURES_DIR}); unset it to fetch the module with scripts/upstream-corpus.sh"
    )]
    NotAModule(PathBuf),
    /// `scripts/upstream-corpus.sh` could not be run or failed.
    #[error(
        "locating upstream kro's Go module with {script} failed: {message}\nThe tests read \
         upstream kro's examples and fixtures from its Go module (v0.9.4): install Go >= 1.26 and \
         run `bash scripts/upstream-corpus.sh`, or set {MODULE_DIR_ENV} to the source directory \
         of github.com/kubernetes-sigs/kro v0.9.4."
    )]
    Script {
        /// The script that was run.
        script: PathBuf,
        /// What went wrong, with the script's own message.
        message: String,
    },
    /// A corpus file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The source directory of upstream kro's Go module.
///
/// # Panics
/// When the module cannot be located; the message says what to install or run.
pub fn module_dir() -> &'static Path {
    try_module_dir().unwrap_or_else(|error| panic!("{error}"))
}

/// The module's `examples/kubernetes` directory.
pub fn examples_dir() -> PathBuf {
    module_dir().join(EXAMPLES_DIR)
}

/// The module's `test/upgrade/fixtures` directory.
pub fn fixtures_dir() -> PathBuf {
    module_dir().join(FIXTURES_DIR)
}

/// A file of an example, by its path under `examples/kubernetes` (`"webapp/rg.yaml"`).
///
/// # Panics
/// When the module cannot be located or has no such file.
pub fn example_file(relative: &str) -> PathBuf {
    existing(examples_dir().join(relative))
}

/// A file of the fixtures, by its path under `test/upgrade/fixtures`
/// (`"external-ref/rgd.yaml"`).
///
/// # Panics
/// When the module cannot be located or has no such file.
pub fn fixture_file(relative: &str) -> PathBuf {
    existing(fixtures_dir().join(relative))
}

fn existing(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is not in upstream kro's module",
        path.display()
    );
    path
}

/// A path of the corpus relative to the module directory, `/`-separated
/// (`"examples/kubernetes/webapp/rg.yaml"`); the path unchanged when it is outside.
pub fn relative(path: &Path) -> String {
    let inside = path.strip_prefix(module_dir()).unwrap_or(path);
    inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Which part of the module a case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// `examples/kubernetes/`.
    Example,
    /// `test/upgrade/fixtures/`.
    Fixture,
}

/// One directory of the corpus: its RGD files and its instance files.
#[derive(Debug, Clone)]
pub struct Case {
    /// The directory relative to its origin's directory: `webapp`, `dogsvscats/vote-app`,
    /// `conditional`.
    pub name: String,
    /// Where it comes from.
    pub origin: Origin,
    /// The directory.
    pub dir: PathBuf,
    /// The files that hold a ResourceGraphDefinition, sorted.
    pub rgds: Vec<PathBuf>,
    /// The other YAML files (instances of the case's RGDs), sorted.
    pub instances: Vec<PathBuf>,
}

impl Case {
    /// The case's only RGD file.
    ///
    /// # Panics
    /// When the case has more or fewer than one.
    pub fn rgd(&self) -> &Path {
        only(&self.rgds, &self.name, "RGD")
    }

    /// The case's only instance file.
    ///
    /// # Panics
    /// When the case has more or fewer than one.
    pub fn instance(&self) -> &Path {
        only(&self.instances, &self.name, "instance")
    }

    /// A file of the case by its name (`"tenant-rgd.yaml"`).
    ///
    /// # Panics
    /// When the case has no such file.
    pub fn file(&self, name: &str) -> PathBuf {
        existing(self.dir.join(name))
    }

    /// The instance file whose objects are of the kind the RGD in `rgd` defines; `None` for an
    /// RGD whose kind only other RGDs instantiate (saas-multi-tenant's environment and
    /// application).
    pub fn instance_for(&self, rgd: &Path) -> Option<&Path> {
        let kinds: Vec<Value> = read_documents(rgd)
            .iter()
            .map(|document| document["spec"]["schema"]["kind"].clone())
            .collect();
        self.instances.iter().map(PathBuf::as_path).find(|file| {
            read_documents(file)
                .iter()
                .any(|document| kinds.contains(&document["kind"]))
        })
    }
}

fn only<'a>(files: &'a [PathBuf], case: &str, what: &str) -> &'a Path {
    match files {
        [file] => file,
        _ => panic!("corpus case {case} has {} {what} files", files.len()),
    }
}

/// Every case of the corpus: the examples, then the fixtures, each sorted by name.
///
/// # Panics
/// When the module cannot be located or a file of it cannot be read.
pub fn cases() -> &'static [Case] {
    static CASES: OnceLock<Result<Vec<Case>, CorpusError>> = OnceLock::new();
    CASES
        .get_or_init(load_cases)
        .as_deref()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The example cases (`dogsvscats` gives three: `dogsvscats/result-app`, ...).
pub fn examples() -> impl Iterator<Item = &'static Case> {
    cases().iter().filter(|case| case.origin == Origin::Example)
}

/// The fixture cases.
pub fn fixtures() -> impl Iterator<Item = &'static Case> {
    cases().iter().filter(|case| case.origin == Origin::Fixture)
}

/// The example case of that name (`"webapp"`, `"dogsvscats/vote-app"`).
///
/// # Panics
/// When there is none.
pub fn example(name: &str) -> &'static Case {
    named(Origin::Example, name)
}

/// The fixture case of that name (`"external-ref"`).
///
/// # Panics
/// When there is none.
pub fn fixture(name: &str) -> &'static Case {
    named(Origin::Fixture, name)
}

fn named(origin: Origin, name: &str) -> &'static Case {
    cases()
        .iter()
        .find(|case| case.origin == origin && case.name == name)
        .unwrap_or_else(|| panic!("the corpus has no {origin:?} case {name}"))
}

fn load_cases() -> Result<Vec<Case>, CorpusError> {
    let module = try_module_dir()?;
    let mut cases = Vec::new();
    for (origin, parent, names) in [
        (Origin::Example, EXAMPLES_DIR, EXAMPLES),
        (Origin::Fixture, FIXTURES_DIR, FIXTURES),
    ] {
        let parent = module.join(parent);
        for name in names {
            collect_cases(origin, &parent, &parent.join(name), &mut cases)?;
        }
    }
    Ok(cases)
}

/// Adds a case for `dir` when it holds YAML files, and for each subdirectory that does.
fn collect_cases(
    origin: Origin,
    parent: &Path,
    dir: &Path,
    into: &mut Vec<Case>,
) -> Result<(), CorpusError> {
    let error = |message: String| CorpusError::File {
        path: dir.to_owned(),
        message,
    };
    let mut entries = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| error(e.to_string()))?;
    entries.sort();
    let mut case = Case {
        name: dir
            .strip_prefix(parent)
            .map(|name| name.to_string_lossy().replace('\\', "/"))
            .map_err(|e| error(e.to_string()))?,
        origin,
        dir: dir.to_owned(),
        rgds: Vec::new(),
        instances: Vec::new(),
    };
    let mut subdirectories = Vec::new();
    for path in entries {
        if path.is_dir() {
            subdirectories.push(path);
        } else if is_yaml(&path) {
            let documents = try_read_documents(&path)?;
            if documents
                .iter()
                .any(|document| document["kind"] == "ResourceGraphDefinition")
            {
                case.rgds.push(path);
            } else {
                case.instances.push(path);
            }
        }
    }
    if !case.rgds.is_empty() || !case.instances.is_empty() {
        into.push(case);
    }
    for subdirectory in subdirectories {
        collect_cases(origin, parent, &subdirectory, into)?;
    }
    Ok(())
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "yaml" || extension == "yml")
}

/// The objects the fixtures expect to exist before their instances: the `upgrade-test`
/// Namespace and the ConfigMap `external-ref` reads.
#[derive(Debug, Clone)]
pub struct Prerequisites {
    /// `00-namespace.yaml`.
    pub namespace: PathBuf,
    /// `01-external-configmap.yaml`.
    pub external_configmap: PathBuf,
}

impl Prerequisites {
    /// Both files, in the order they must be applied.
    pub fn files(&self) -> [&Path; 2] {
        [&self.namespace, &self.external_configmap]
    }
}

/// The fixtures' prerequisites.
///
/// # Panics
/// When the module cannot be located or lacks them.
pub fn prerequisites() -> Prerequisites {
    Prerequisites {
        namespace: fixture_file("00-namespace.yaml"),
        external_configmap: fixture_file("01-external-configmap.yaml"),
    }
}

/// Every YAML file of the corpus (the cases' files and the prerequisites), sorted by path.
pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = cases()
        .iter()
        .flat_map(|case| case.rgds.iter().chain(&case.instances).cloned())
        .chain(prerequisites().files().map(Path::to_owned))
        .collect();
    files.sort();
    files
}

/// One YAML document of the corpus.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file it comes from.
    pub path: PathBuf,
    /// The document, as JSON.
    pub value: Value,
}

impl Document {
    /// Whether it is a ResourceGraphDefinition.
    pub fn is_rgd(&self) -> bool {
        self.value["kind"] == "ResourceGraphDefinition"
    }

    /// Its `metadata.name`; empty when it has none.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Every ResourceGraphDefinition of the corpus, in file order.
///
/// # Panics
/// When a file cannot be read or parsed.
pub fn rgd_documents() -> Vec<Document> {
    documents().into_iter().filter(Document::is_rgd).collect()
}

/// Every document of every file of [`files`], in file order.
///
/// # Panics
/// When a file cannot be read or parsed.
pub fn documents() -> Vec<Document> {
    files()
        .into_iter()
        .flat_map(|path| {
            read_documents(&path)
                .into_iter()
                .map(move |value| Document {
                    path: path.clone(),
                    value,
                })
        })
        .collect()
}

/// The documents of a YAML file (empty ones dropped), as JSON.
///
/// # Panics
/// When the file cannot be read or parsed.
pub fn read_documents(path: &Path) -> Vec<Value> {
    try_read_documents(path).unwrap_or_else(|error| panic!("{error}"))
}

/// The documents of a YAML file (empty ones dropped), as JSON.
///
/// # Errors
/// When the file cannot be read or is not YAML.
pub fn try_read_documents(path: &Path) -> Result<Vec<Value>, CorpusError> {
    let error = |message: String| CorpusError::File {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    // core-dns repeats a `selector` key in a template; the API server keeps the last one.
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let documents: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options)
        .map_err(|e| error(e.to_string()))?;
    Ok(documents
        .into_iter()
        .filter(|document| !document.is_null())
        .collect())
}
