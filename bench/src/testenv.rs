//! A fresh local control plane per measurement, started and stopped with the project's scripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// Why the control plane could not be started or used.
#[derive(Debug, Error)]
pub enum TestenvError {
    /// A script or kubectl could not be run, or failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// What was run.
        command: String,
        /// Exit status and the tail of its stderr, or the spawn error.
        detail: String,
    },
    /// The run directory's `env` file lacked a variable.
    #[error("{path}: no `export {name}=` line")]
    MissingEnv {
        /// The env file.
        path: PathBuf,
        /// The variable.
        name: &'static str,
    },
}

/// A running control plane from `scripts/testenv-up.sh`; stopped on drop.
#[derive(Debug)]
pub struct ControlPlane {
    root: PathBuf,
    /// The run directory (logs, certificates, `env`).
    pub run_dir: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Where kubectl and the control-plane binaries are.
    pub bin_dir: PathBuf,
    stopped: bool,
}

fn run(command: &mut Command) -> Result<String, TestenvError> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|err| TestenvError::Command {
        command: shown.clone(),
        detail: err.to_string(),
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(TestenvError::Command {
        command: shown,
        detail: format!("{}: {}", output.status, tail.join("\n")),
    })
}

/// The value of `export NAME=value` in an env file.
#[must_use]
pub fn env_value(env: &str, name: &str) -> Option<String> {
    env.lines().find_map(|line| {
        line.strip_prefix("export ")?
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_owned)
    })
}

impl ControlPlane {
    /// Starts a control plane with `<root>/scripts/testenv-up.sh` (building or reusing binaries).
    ///
    /// # Errors
    /// [`TestenvError`] when the script fails or its `env` file is incomplete.
    pub fn start(root: &Path) -> Result<Self, TestenvError> {
        let stdout = run(Command::new("bash")
            .arg(root.join("scripts/testenv-up.sh"))
            .current_dir(root))?;
        let run_dir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        let env_path = run_dir.join("env");
        let env = std::fs::read_to_string(&env_path).map_err(|err| TestenvError::Command {
            command: format!("read {}", env_path.display()),
            detail: err.to_string(),
        })?;
        let get = |name: &'static str| {
            env_value(&env, name).ok_or_else(|| TestenvError::MissingEnv {
                path: env_path.clone(),
                name,
            })
        };
        Ok(Self {
            root: root.to_owned(),
            kubeconfig: PathBuf::from(get("KRO_TEST_KUBECONFIG")?),
            bin_dir: PathBuf::from(get("KRO_TESTENV_BIN")?),
            run_dir,
            stopped: false,
        })
    }

    /// Runs kubectl against this control plane and returns its stdout.
    ///
    /// # Errors
    /// [`TestenvError::Command`] when kubectl fails.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, TestenvError> {
        run(Command::new(self.bin_dir.join("kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args))
    }

    /// Stops the control plane (by the PIDs in its run directory) and removes the run directory.
    ///
    /// # Errors
    /// [`TestenvError::Command`] when the stop script fails.
    pub fn stop(mut self) -> Result<(), TestenvError> {
        self.stopped = true;
        self.stop_now()
    }

    fn stop_now(&self) -> Result<(), TestenvError> {
        run(Command::new("bash")
            .arg(self.root.join("scripts/testenv-down.sh"))
            .arg(&self.run_dir))
        .map(drop)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if !self.stopped {
            // An error path left it running: stopping is all that matters now.
            let _ = self.stop_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_env_lines() {
        let env =
            "export KRO_TESTENV_RUN=/dev/shm/x\nexport KRO_TEST_KUBECONFIG=/dev/shm/x/kubeconfig\n";
        assert_eq!(
            env_value(env, "KRO_TEST_KUBECONFIG").as_deref(),
            Some("/dev/shm/x/kubeconfig")
        );
        assert_eq!(env_value(env, "KRO_TESTENV"), None);
        assert_eq!(env_value(env, "KRO_TESTENV_BIN"), None);
    }

    #[test]
    fn failing_commands_report_status_and_stderr() {
        let err =
            run(Command::new("bash").args(["-c", "echo boom >&2; exit 3"])).expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("boom") && text.contains('3'), "{text}");
    }
}
