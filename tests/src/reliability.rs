//! Rows of the reliability report (`docs/reliability.md`): a fault or hostile-input test records
//! what it tried, how often and what happened, and `scripts/reliability-report.py` turns the
//! rows of every test file into the table, so the table shows what the tests did rather than
//! what someone wrote down.
//!
//! Rows are written only when [`RELIABILITY_DIR_ENV`] names a directory: one file per test
//! binary, `<dir>/<test file>.jsonl`, one JSON object per line:
//!
//! ```json
//! {"category":"hostile input","case":"nested comprehension 1000^3","tries":3,"outcome":"..."}
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;

/// The environment variable naming the directory rows are written to; unset, nothing is
/// recorded.
pub const RELIABILITY_DIR_ENV: &str = "KRO_RELIABILITY_DIR";

#[derive(Serialize)]
struct Row<'a> {
    category: &'a str,
    case: &'a str,
    tries: u32,
    outcome: &'a str,
}

/// Whether this process has started its file: the first row of a run replaces the rows an
/// earlier run of the same test binary left, later rows are appended. Also serialises writes
/// from the tests of one binary, which run on parallel threads.
static STARTED: Mutex<bool> = Mutex::new(false);

/// Records one row: `category` (`hostile input`, `fault`, ...), the `case` tried, how many
/// `tries` were made, and the `outcome` every try had. Does nothing unless
/// `KRO_RELIABILITY_DIR` is set; the directory is created when missing.
///
/// # Panics
/// When the directory is set but the row cannot be written: a report missing rows would claim
/// less than the tests did.
pub fn record(category: &str, case: &str, tries: u32, outcome: &str) {
    let Some(dir) = reliability_dir() else {
        return;
    };
    let path = dir.join(format!("{}.jsonl", test_file_name()));
    let row = Row {
        category,
        case,
        tries,
        outcome,
    };
    let mut line = serde_json::to_string(&row)
        .unwrap_or_else(|error| panic!("serialising a reliability row: {error}"));
    line.push('\n');

    let mut started = STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(*started)
        .truncate(!*started)
        .open(&path)
        .unwrap_or_else(|error| panic!("opening {}: {error}", path.display()));
    file.write_all(line.as_bytes())
        .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    *started = true;
}

/// The test file the running binary was built from: cargo names test binaries
/// `<file stem>-<16 hex digits>`.
fn test_file_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("unknown");
    strip_hash(stem).to_owned()
}

fn strip_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}

/// The directory rows go to, when recording is on.
pub fn reliability_dir() -> Option<PathBuf> {
    std::env::var_os(RELIABILITY_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::strip_hash;

    #[test]
    fn the_cargo_hash_is_stripped_from_test_binary_names() {
        assert_eq!(
            strip_hash("hostile_input-0123456789abcdef"),
            "hostile_input"
        );
        assert_eq!(strip_hash("e2e-restart"), "e2e-restart");
        assert_eq!(strip_hash("plain"), "plain");
    }
}
