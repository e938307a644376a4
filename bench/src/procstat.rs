//! Memory and CPU of a process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.

use std::path::PathBuf;

use thiserror::Error;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
}

/// Why a process could not be read.
#[derive(Debug, Error)]
pub enum ProcError {
    /// The `/proc` file could not be read (the process has probably exited).
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A field was missing or not a number.
    #[error("{path}: field {field} missing or not a number")]
    Field {
        /// The file.
        path: PathBuf,
        /// The field name (`VmRSS`, `utime`, ...).
        field: &'static str,
    },
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
///
/// # Errors
/// [`ProcError`] when the process is gone or the files do not have the expected fields.
pub fn sample(pid: u32) -> Result<ProcSample, ProcError> {
    let status_path = PathBuf::from(format!("/proc/{pid}/status"));
    let stat_path = PathBuf::from(format!("/proc/{pid}/stat"));
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|source| ProcError::Read {
            path: path.clone(),
            source,
        })
    };
    let status = read(&status_path)?;
    let stat = read(&stat_path)?;
    let field = |path: &PathBuf, field: &'static str| ProcError::Field {
        path: path.clone(),
        field,
    };
    Ok(ProcSample {
        rss_kib: status_kib(&status, "VmRSS").ok_or_else(|| field(&status_path, "VmRSS"))?,
        peak_rss_kib: status_kib(&status, "VmHWM").ok_or_else(|| field(&status_path, "VmHWM"))?,
        cpu_ticks: stat_cpu_ticks(&stat).ok_or_else(|| field(&stat_path, "utime+stime"))?,
    })
}

/// The value in KiB of a `Name:   123 kB` line of `/proc/<pid>/status`.
#[must_use]
pub fn status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `utime + stime` from `/proc/<pid>/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
#[must_use]
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3 of the man page, so utime (14) and stime (15) are at 11, 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked.
#[must_use]
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_fields() {
        let status = "Name:\tkro\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(51234));
        assert_eq!(status_kib(status, "VmRSS"), Some(40000));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn parses_stat_with_awkward_names() {
        let stat = "1234 (kro) (x y)) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 8 0 100";
        assert_eq!(stat_cpu_ticks(stat), Some(325));
        assert_eq!(stat_cpu_ticks("1 (short) S 1"), None);
    }

    #[test]
    fn samples_this_process() {
        let own = sample(std::process::id()).expect("test setup");
        assert!(own.rss_kib > 0);
        assert!(own.peak_rss_kib >= own.rss_kib);
        assert!(clock_ticks_per_second() > 0);
    }
}
