//! Loading the RGDs of the shared corpus (`/work/shared/corpus`, read in place).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The corpus directory, relative to this crate.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// One RGD found in the corpus: the file it came from and its `spec.schema`.
pub struct CorpusRgd {
    pub file: PathBuf,
    pub name: String,
    pub schema: serde_json::Value,
}

/// Every `kind: ResourceGraphDefinition` document in the corpus, sorted by file.
pub fn corpus_rgds() -> Vec<CorpusRgd> {
    let mut files = Vec::new();
    collect_yaml(&corpus_dir(), &mut files);
    files.sort();
    let mut rgds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("corpus file is readable");
        // core-dns repeats a `selector` key inside a template; the schema is unaffected.
        let mut options = serde_saphyr::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple_with_options(&text, options)
                .expect("corpus file is valid YAML");
        for document in documents {
            if document["kind"] == "ResourceGraphDefinition" {
                rgds.push(CorpusRgd {
                    file: file.clone(),
                    name: document["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    schema: document["spec"]["schema"].clone(),
                });
            }
        }
    }
    rgds
}

fn collect_yaml(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("corpus directory is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_yaml(&path, into);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            into.push(path);
        }
    }
}
