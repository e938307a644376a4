//! The reliability record: what the tests tried (faults, hostile inputs) and how it went, one JSON
//! line per case, from which `docs/reliability.md` is rendered.

use std::io::Write as _;

/// The directory the records go to; recording is off when it is unset.
pub const RELIABILITY_DIR_ENV: &str = "KRO_RELIABILITY_DIR";

/// Appends `{"category", "case", "tries", "outcome"}` as one JSON line to
/// `$KRO_RELIABILITY_DIR/<test binary>.jsonl` (the binary's name without cargo's hash suffix).
/// Does nothing when `KRO_RELIABILITY_DIR` is unset; a record that cannot be written is reported
/// on stderr and does not fail the test, whose assertions are what counts.
pub fn record(category: &str, case: &str, tries: u32, outcome: &str) {
    let Some(dir) = std::env::var_os(RELIABILITY_DIR_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let path = dir.join(format!("{}.jsonl", binary_name()));
    let line = serde_json::json!({
        "category": category,
        "case": case,
        "tries": tries,
        "outcome": outcome,
    });
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        // One write per line: concurrent tests of one binary append whole lines.
        file.write_all(format!("{line}\n").as_bytes())
    });
    if let Err(error) = written {
        eprintln!("reliability: cannot append to {}: {error}", path.display());
    }
}

/// The running executable's name without cargo's `-<hash>` suffix (`e2e_faults-0123abcd` ->
/// `e2e_faults`).
fn binary_name() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "tests".to_owned());
    strip_hash(&stem).to_owned()
}

fn strip_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash))
            if !name.is_empty()
                && hash.len() == 16
                && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            name
        }
        _ => stem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_hash_suffixes_are_removed() {
        assert_eq!(strip_hash("e2e_faults-0123456789abcdef"), "e2e_faults");
        assert_eq!(strip_hash("e2e-faults"), "e2e-faults");
        assert_eq!(strip_hash("plain"), "plain");
    }
}
