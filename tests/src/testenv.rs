//! A private control plane for one test: started with `scripts/testenv-up.sh`, disrupted with
//! `scripts/testenv-ctl.sh` (stop, start, restart, pause, resume a component) and stopped with
//! `scripts/testenv-down.sh` when dropped, also when the test fails.
//!
//! Tests that break the control plane use one of these rather than the shared one
//! (`KRO_TEST_KUBECONFIG`), so that no other test sees the outage.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::workspace_root;

/// The environment variable naming the directory of the control-plane binaries (written to every
/// run's `env` file by `scripts/testenv-up.sh`).
pub const TESTENV_BIN_ENV: &str = "KRO_TESTENV_BIN";

/// A component of the control plane that `scripts/testenv-ctl.sh` can disrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// etcd.
    Etcd,
    /// kube-apiserver.
    ApiServer,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
        }
    }
}

/// What `scripts/testenv-ctl.sh` does to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruption {
    /// SIGTERM (SIGKILL after 15 s).
    Stop,
    /// Start again with the same arguments and wait until ready.
    Start,
    /// Stop, then start.
    Restart,
    /// SIGSTOP.
    Pause,
    /// SIGCONT, and wait until ready.
    Resume,
}

impl Disruption {
    fn name(self) -> &'static str {
        match self {
            Disruption::Stop => "stop",
            Disruption::Start => "start",
            Disruption::Restart => "restart",
            Disruption::Pause => "pause",
            Disruption::Resume => "resume",
        }
    }
}

/// A control plane owned by one test; stopped (and its run directory removed) when dropped.
#[derive(Debug)]
pub struct PrivateControlPlane {
    run_dir: PathBuf,
    kubeconfig: PathBuf,
    etcd_url: String,
}

/// The value of `export NAME=value` in a run's `env` file.
fn env_value(env: &str, name: &str) -> Option<String> {
    env.lines().find_map(|line| {
        line.strip_prefix("export ")?
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_owned)
    })
}

fn script(name: &str) -> PathBuf {
    workspace_root().join("scripts").join(name)
}

/// Runs a command and returns its stdout, or fails with its status and the tail of its stderr.
fn run(command: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("running {shown}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    bail!(
        "{shown} failed ({}):\n{}",
        output.status,
        lines[lines.len().saturating_sub(40)..].join("\n")
    )
}

impl PrivateControlPlane {
    /// Starts a control plane from the binaries in `$KRO_TESTENV_BIN` (which `<run>/env` of the
    /// shared control plane exports). It does not become the default one of
    /// `scripts/testenv-down.sh`.
    ///
    /// # Errors
    /// `KRO_TESTENV_BIN` is unset, or the script failed.
    pub fn start() -> anyhow::Result<Self> {
        let bin = std::env::var(TESTENV_BIN_ENV).with_context(|| {
            format!(
                "{TESTENV_BIN_ENV} is not set: source the env file of a control plane started \
                 with scripts/testenv-up.sh (or export the directory scripts/testenv-build.sh prints)"
            )
        })?;
        let stdout = run(Command::new("bash")
            .arg(script("testenv-up.sh"))
            .arg(&bin)
            .env("KRO_TESTENV_PRIVATE", "1")
            .current_dir(workspace_root()))?;
        let run_dir = PathBuf::from(
            stdout
                .lines()
                .last()
                .context("testenv-up.sh printed no run directory")?
                .trim(),
        );
        // From here on, dropping the value stops the control plane, also on the errors below.
        let mut plane = Self {
            kubeconfig: run_dir.join("kubeconfig"),
            etcd_url: String::new(),
            run_dir,
        };
        let env_path = plane.run_dir.join("env");
        let env = std::fs::read_to_string(&env_path)
            .with_context(|| format!("reading {}", env_path.display()))?;
        plane.etcd_url = env_value(&env, "KRO_TESTENV_ETCD_URL")
            .with_context(|| format!("{}: no KRO_TESTENV_ETCD_URL", env_path.display()))?;
        Ok(plane)
    }

    /// The run directory (logs, certificates, `pids`, `cmd/`).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client for this control plane.
    ///
    /// # Errors
    /// The kubeconfig cannot be loaded.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        crate::client_from(&self.kubeconfig).await
    }

    /// The current PID of a component, from `<run>/pids` (none while it is stopped).
    pub fn pid(&self, component: Component) -> Option<u32> {
        let pids = std::fs::read_to_string(self.run_dir.join("pids")).ok()?;
        pids.lines().find_map(|line| {
            let (name, pid) = line.split_once(' ')?;
            (name == component.name())
                .then(|| pid.trim().parse().ok())
                .flatten()
        })
    }

    /// Applies `disruption` to `component` with `scripts/testenv-ctl.sh`; start and resume
    /// return once the component is ready again.
    ///
    /// # Errors
    /// The script failed (e.g. the component did not become ready).
    pub async fn ctl(&self, disruption: Disruption, component: Component) -> anyhow::Result<()> {
        let run_dir = self.run_dir.clone();
        tokio::task::spawn_blocking(move || {
            run(Command::new("bash")
                .arg(script("testenv-ctl.sh"))
                .arg(&run_dir)
                .arg(disruption.name())
                .arg(component.name()))
        })
        .await
        .context("testenv-ctl.sh task")??;
        Ok(())
    }

    /// The last `lines` lines of a component's log.
    pub fn log_tail(&self, component: Component, lines: usize) -> String {
        let text = std::fs::read_to_string(self.run_dir.join(format!("{}.log", component.name())))
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// POSTs `body` to etcd's JSON gateway (`/v3/...`) and returns the JSON answer.
    ///
    /// # Errors
    /// The request failed or etcd answered with an error status.
    pub fn etcd_post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let address = self
            .etcd_url
            .strip_prefix("http://")
            .with_context(|| format!("unexpected etcd URL {}", self.etcd_url))?;
        let body = body.to_string();
        let mut stream = std::net::TcpStream::connect(address)
            .with_context(|| format!("connecting to etcd at {address}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        // HTTP/1.0: the answer is the body as is (no chunked encoding) and the connection closes.
        write!(
            stream,
            "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, payload) = response
            .split_once("\r\n\r\n")
            .with_context(|| format!("etcd {path}: malformed response {response:?}"))?;
        let status = head.lines().next().unwrap_or_default();
        if !status.contains(" 200 ") {
            bail!("etcd {path}: {status}: {payload}");
        }
        serde_json::from_str(payload).with_context(|| format!("etcd {path}: parsing {payload}"))
    }

    fn stop_now(&self) -> anyhow::Result<()> {
        run(Command::new("bash")
            .arg(script("testenv-down.sh"))
            .arg(&self.run_dir))
        .map(drop)
    }
}

impl Drop for PrivateControlPlane {
    fn drop(&mut self) {
        if let Err(error) = self.stop_now() {
            eprintln!(
                "warning: stopping the control plane in {}: {error:#}",
                self.run_dir.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_are_read_by_exact_name() {
        let env = "export KRO_TEST_API_URL=https://127.0.0.1:1\nexport KRO_TESTENV_ETCD_URL=http://127.0.0.1:2\n";
        assert_eq!(
            env_value(env, "KRO_TESTENV_ETCD_URL").as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(env_value(env, "KRO_TESTENV_ETCD"), None);
    }
}
