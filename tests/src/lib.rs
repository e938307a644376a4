//! Shared helpers for the workspace integration tests.
//!
//! Every test here talks to a real kube-apiserver started by `scripts/testenv-up.sh`. The tests read
//! the kubeconfig from `KRO_TEST_KUBECONFIG` only, never from `KUBECONFIG`, so that running them by
//! accident can never touch a real cluster.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub mod reliability;
pub mod testenv;

/// The environment variable that points the tests at the test control plane's kubeconfig.
pub const KUBECONFIG_ENV: &str = "KRO_TEST_KUBECONFIG";

/// A client for the test control plane.
pub async fn client() -> anyhow::Result<Client> {
    let path = std::env::var(KUBECONFIG_ENV).with_context(|| {
        format!(
            "{KUBECONFIG_ENV} is not set: run the suite with `bash scripts/test-all.sh`, or start a \
             control plane with `scripts/testenv-up.sh` and `source <run dir>/env` first"
        )
    })?;
    client_from(std::path::Path::new(&path)).await
}

/// A client for the control plane of the kubeconfig at `path` (e.g. a test's private one).
pub async fn client_from(path: &std::path::Path) -> anyhow::Result<Client> {
    let shown = path.display();
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {shown}"))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {shown}"))?;
    // The control plane is on loopback; a proxy from the environment would only get in the way.
    config.proxy_url = None;
    Client::try_from(config).context("building the kube client")
}

/// A name that no other test (or earlier run against the same control plane) uses.
pub fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

/// Creates a namespace with a unique name and returns that name.
pub async fn create_namespace(client: &Client, prefix: &str) -> anyhow::Result<String> {
    let name = unique_name(prefix);
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": { "kro.run/test": "true" } }
    }))?;
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(name)
}

/// Deletes a namespace and waits until it is gone (the namespace controller must be running).
pub async fn delete_namespace_and_wait(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.delete(name, &DeleteParams::default()).await?;
    wait_for(
        timeout,
        &format!("namespace {name} to be deleted"),
        || async { Ok(api.get_opt(name).await?.is_none()) },
    )
    .await
}

/// Polls `check` every 200 ms until it returns true, or fails after `timeout` naming `what`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_error = Some(e),
        }
        if start.elapsed() > timeout {
            match last_error {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The workspace root, for tests that read the workspace's own files.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

/// Where the corpus of upstream RGDs and instances is: the source directory of upstream kro's
/// Go module (see `kro_test_support`); corpus paths are `examples/kubernetes/...` and
/// `test/upgrade/fixtures/...` under it.
///
/// # Panics
/// When the module cannot be located (the message says what to install or run).
pub fn corpus_root() -> std::path::PathBuf {
    kro_test_support::module_dir().to_path_buf()
}

/// One YAML document of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusDocument {
    /// The file it came from.
    pub path: std::path::PathBuf,
    /// The document.
    pub value: serde_json::Value,
}

/// Every YAML document of every file in the corpus (`kro_test_support::files`), in a stable
/// order (sorted by path).
pub fn corpus_documents() -> anyhow::Result<Vec<CorpusDocument>> {
    kro_test_support::try_module_dir()?;
    Ok(kro_test_support::documents()
        .into_iter()
        .map(|document| CorpusDocument {
            path: document.path,
            value: document.value,
        })
        .collect())
}

fn collect_yaml_files(
    dir: &std::path::Path,
    out: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The source directory of upstream kro's Go module (the version `testenv/upstream-kro` pins),
/// fetched into the Go module cache when missing (`kro_test_support::try_module_dir`). Tests
/// read upstream's examples and fixtures from there, so a clone anywhere has them without
/// committing any of upstream's files.
pub fn upstream_module_dir() -> anyhow::Result<std::path::PathBuf> {
    Ok(kro_test_support::try_module_dir()?.to_path_buf())
}

/// Every YAML document under `dirs` (relative to `root`), sorted by path: the whole directory,
/// where [`corpus_documents`] is the corpus's chosen cases.
pub fn yaml_documents_under(
    root: &std::path::Path,
    dirs: &[&str],
) -> anyhow::Result<Vec<CorpusDocument>> {
    let mut files = Vec::new();
    for dir in dirs {
        let dir = root.join(dir);
        collect_yaml_files(&dir, &mut files)
            .with_context(|| format!("reading {}", dir.display()))?;
    }
    files.sort();
    let mut documents = Vec::new();
    for path in files {
        // As sigs.k8s.io/yaml reads them: a repeated key keeps its last value.
        for value in kro_test_support::try_read_documents(&path)? {
            documents.push(CorpusDocument {
                path: path.clone(),
                value,
            });
        }
    }
    Ok(documents)
}

/// The operator binary, built next to the test binaries (`target/<profile>/kro-operator`), or the
/// path in `KRO_OPERATOR_BIN`.
pub fn operator_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("KRO_OPERATOR_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test binary> -> target/<profile>/kro-operator
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("the test binary is not inside a cargo target directory")?;
    let candidate = profile_dir.join("kro-operator");
    if !candidate.exists() {
        bail!(
            "{} does not exist: build it with `cargo build -p kro-operator` (cargo test --workspace builds it)",
            candidate.display()
        );
    }
    Ok(candidate)
}

/// A running operator process, killed when dropped. Its output goes to a log file whose tail is
/// printed by [`OperatorProcess::log_tail`] when a test fails.
pub struct OperatorProcess {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl OperatorProcess {
    /// Starts the operator against the test control plane with extra `args`.
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        let kubeconfig = std::env::var(KUBECONFIG_ENV)
            .with_context(|| format!("{KUBECONFIG_ENV} is not set"))?;
        Self::start_with_kubeconfig(std::path::Path::new(&kubeconfig), args)
    }

    /// Starts the operator with the credentials and control plane of `kubeconfig` (e.g. a
    /// service account's token, to run it with only the permissions that account was granted,
    /// or a test's private control plane) and extra `args`.
    pub fn start_with_kubeconfig(
        kubeconfig: &std::path::Path,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name("kro-operator")));
        let file = std::fs::File::create(&log)?;
        let child = std::process::Command::new(operator_binary()?)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-probe-bind-address",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting the operator")?;
        Ok(Self { child, log })
    }

    /// The operator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the operator with SIGKILL and waits for it to exit.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of the operator's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
