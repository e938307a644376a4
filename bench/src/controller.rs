//! The controller under test, run as a local process against the control plane.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;
use tokio::process::{Child, Command};

use crate::procstat::{self, ProcError, ProcSample};

/// How to run one controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSpec {
    /// Name in reports (`upstream-kro`, `kro-rs`).
    pub name: String,
    /// The executable.
    pub binary: PathBuf,
    /// CRD manifests to apply before starting it (upstream kro does not install its own).
    pub crd_dir: Option<PathBuf>,
    /// Extra flags.
    pub args: Vec<String>,
    /// Extra environment variables (the differential harness's self-test sets one).
    pub env: Vec<(String, String)>,
}

/// Why a controller could not be run.
#[derive(Debug, Error)]
pub enum ControllerError {
    /// The process could not be started.
    #[error("starting {binary}")]
    Spawn {
        /// The executable.
        binary: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process ended on its own.
    #[error("controller {name} exited ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// The controller.
        name: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// Its `/proc` entries could not be read.
    #[error(transparent)]
    Proc(#[from] ProcError),
}

/// A started controller; killed on drop if not stopped.
#[derive(Debug)]
pub struct RunningController {
    name: String,
    child: Child,
    pid: u32,
    log: PathBuf,
}

/// Both controllers serve metrics and probes on fixed default ports; `0` turns them off so
/// nothing collides with another engineer's process on the same machine.
const QUIET_FLAGS: [&str; 2] = ["--metrics-bind-address=0", "--health-probe-bind-address=0"];

impl RunningController {
    /// Starts `spec` with `KUBECONFIG` pointing at `kubeconfig`, logging to `log`.
    ///
    /// # Errors
    /// [`ControllerError::Spawn`] when the binary cannot be started.
    pub fn start(
        spec: &ControllerSpec,
        kubeconfig: &Path,
        log: &Path,
    ) -> Result<Self, ControllerError> {
        let spawn_err = |source| ControllerError::Spawn {
            binary: spec.binary.clone(),
            source,
        };
        let file = std::fs::File::create(log).map_err(spawn_err)?;
        let file_err = file.try_clone().map_err(spawn_err)?;
        let child = Command::new(&spec.binary)
            .args(QUIET_FLAGS)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("KUBECONFIG", kubeconfig)
            // The control plane is on loopback; a proxy from the environment would only get in the way.
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_err(std::io::Error::other("no pid")))?;
        Ok(Self {
            name: spec.name.clone(),
            child,
            pid,
            log: log.to_owned(),
        })
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails when the process has exited.
    ///
    /// # Errors
    /// [`ControllerError::Exited`] with the end of its log.
    pub fn check_alive(&mut self) -> Result<(), ControllerError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited(status.to_string())),
            Err(err) => Err(self.exited(err.to_string())),
        }
    }

    fn exited(&self, status: String) -> ControllerError {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        ControllerError::Exited {
            name: self.name.clone(),
            status,
            log: self.log.clone(),
            tail,
        }
    }

    /// Memory and CPU now.
    ///
    /// # Errors
    /// [`ControllerError`] when the process is gone.
    pub fn sample(&mut self) -> Result<ProcSample, ControllerError> {
        self.check_alive()?;
        Ok(procstat::sample(self.pid)?)
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// A fake controller: a shell script that ignores its flags.
    fn fake(dir: &Path, name: &str, body: &str) -> ControllerSpec {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("test setup");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("test setup");
        ControllerSpec {
            name: name.into(),
            binary: path,
            crd_dir: None,
            args: vec!["--extra".into()],
            env: Vec::new(),
        }
    }

    /// Starts a fake; retries "text file busy", which a concurrent test's fork can cause while it
    /// briefly holds the freshly written script open.
    async fn start_fake(spec: &ControllerSpec, log: &Path) -> RunningController {
        for _ in 0..50 {
            match RunningController::start(spec, Path::new("/dev/null"), log) {
                Ok(running) => return running,
                Err(ControllerError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(other) => panic!("{other}"),
            }
        }
        panic!("{} stayed busy", spec.binary.display());
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kro-bench-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test setup");
        dir
    }

    #[tokio::test]
    async fn samples_a_live_process_and_stops_it() {
        let dir = scratch("live");
        let spec = fake(&dir, "sleeper", "echo \"$@\"; exec sleep 30");
        let mut running = start_fake(&spec, &dir.join("sleeper.log")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sample = running.sample().expect("test setup");
        assert!(sample.rss_kib > 0);
        let pid = running.pid();
        running.stop(Duration::from_secs(5)).await;
        assert!(
            !Path::new(&format!("/proc/{pid}/stat")).exists(),
            "process {pid} still running"
        );
        let log = std::fs::read_to_string(dir.join("sleeper.log")).expect("test setup");
        assert_eq!(
            log.trim(),
            "--metrics-bind-address=0 --health-probe-bind-address=0 --extra"
        );
        std::fs::remove_dir_all(&dir).expect("test setup");
    }

    #[tokio::test]
    async fn an_exited_controller_is_reported_with_its_log() {
        let dir = scratch("dead");
        let spec = fake(&dir, "crasher", "echo failing-on-purpose; exit 4");
        let mut running = start_fake(&spec, &dir.join("crasher.log")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let err = running.sample().expect_err("must fail");
        let text = err.to_string();
        assert!(
            text.contains("failing-on-purpose") && text.contains("crasher exited"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).expect("test setup");
    }
}
