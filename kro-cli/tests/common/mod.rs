//! Helpers shared by the `kro` binary's test files: running it, and the corpus RGDs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `kro` binary without colour.
pub fn kro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kro"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the kro binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every RGD file of the corpus, with the files of the RGDs it chains.
pub fn corpus_rgds() -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut found = Vec::new();
    for case in kro_test_support::cases() {
        for file in &case.rgds {
            // saas-multi-tenant's tenant RGD composes the kinds of its two siblings.
            let chained = if file.ends_with("saas-multi-tenant/tenant-rgd.yaml") {
                vec![
                    case.file("tenant-environment-rgd.yaml"),
                    case.file("tenant-application-rgd.yaml"),
                ]
            } else {
                Vec::new()
            };
            found.push((file.clone(), chained));
        }
    }
    found
}

/// Writes `content` to a file `name` in this process's temp directory.
pub fn write_temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kro-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}
