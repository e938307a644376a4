//! Finding upstream kro's Go module: once per process, from the environment or the fetch script.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{CorpusError, EXAMPLES_DIR, FIXTURES_DIR};

/// The environment variable that names the module's source directory, skipping the fetch script
/// (`scripts/test-all.sh` exports what the script printed, so test processes do not run Go).
pub const MODULE_DIR_ENV: &str = "KRO_UPSTREAM_KRO_DIR";

/// The source directory of upstream kro's Go module, located on the first call and remembered
/// for the process (an error too: every test of a binary would fail the same way).
///
/// # Errors
/// When `KRO_UPSTREAM_KRO_DIR` does not name the module's source, or the fetch script fails
/// (Go missing, no network on a cold module cache).
pub fn try_module_dir() -> Result<&'static Path, CorpusError> {
    static MODULE: OnceLock<Result<PathBuf, CorpusError>> = OnceLock::new();
    match MODULE.get_or_init(locate) {
        Ok(dir) => Ok(dir),
        Err(error) => Err(error.clone()),
    }
}

fn locate() -> Result<PathBuf, CorpusError> {
    let dir = match std::env::var_os(MODULE_DIR_ENV).filter(|value| !value.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => run_script()?,
    };
    if [EXAMPLES_DIR, FIXTURES_DIR]
        .iter()
        .all(|sub| dir.join(sub).is_dir())
    {
        Ok(dir)
    } else {
        Err(CorpusError::NotAModule(dir))
    }
}

fn run_script() -> Result<PathBuf, CorpusError> {
    // This crate sits at the workspace root, as do the scripts.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/upstream-corpus.sh");
    let error = |message: String| CorpusError::Script {
        script: script.clone(),
        message,
    };
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| error(format!("cannot run bash: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(error(format!("{}: {}", output.status, stderr.trim())));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last().map(str::trim) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Err(error(format!("it printed no directory: {}", stderr.trim()))),
    }
}
