//! Compiling the RGDs given on the command line, offline: built-in kinds come from kro-graph's
//! offline resolver, extra kinds from `--crd` files, and RGDs that use each other's kinds
//! (chaining) are compiled in dependency order, whatever order the files come in.

use std::path::PathBuf;

use anyhow::Context as _;
use kro_api::ResourceGraphDefinition;
use kro_graph::{CompileError, CompileOptions, Graph, OfflineResolver, Problem, Warning};

use crate::source::{Document, read_documents};

/// One RGD of the input and what compiling it gave.
pub struct CompiledRgd {
    /// The YAML document it came from.
    pub document: Document,
    /// The RGD's `metadata.name`.
    pub name: String,
    /// The graph, or every problem found.
    pub result: Result<Graph, RgdError>,
}

/// A warning of a compiled RGD and its path in the YAML document.
pub struct LocatedWarning<'a> {
    /// The path in the document, e.g. `spec.schema.spec.replicas`.
    pub path: String,
    /// The warning.
    pub warning: &'a Warning,
}

/// Why an RGD did not compile.
#[derive(Debug)]
pub enum RgdError {
    /// The document is not a well-formed RGD (a field of the wrong type, say).
    Malformed(String),
    /// The RGD is well formed but invalid.
    Invalid(CompileError),
}

impl CompiledRgd {
    /// The diagnostics of a failed compile, each as `(path in the document, message)`.
    pub fn diagnostics(&self) -> Vec<(String, String)> {
        match &self.result {
            Ok(_) => Vec::new(),
            Err(RgdError::Malformed(message)) => vec![(String::new(), message.clone())],
            Err(RgdError::Invalid(error)) => error
                .problems()
                .iter()
                .map(|p| (self.document_path(p), p.to_string()))
                .collect(),
        }
    }

    /// The warnings of a successful compile, in RGD order, each with its path in the document.
    pub fn warnings(&self) -> Vec<LocatedWarning<'_>> {
        let Ok(graph) = &self.result else {
            return Vec::new();
        };
        graph
            .warnings()
            .iter()
            .map(|warning| LocatedWarning {
                path: self.place_of(warning.resource_id(), warning.path()),
                warning,
            })
            .collect()
    }

    /// Where in the YAML document a problem sits: resource problems are relative to their entry
    /// in `spec.resources`, the others to `spec`.
    fn document_path(&self, problem: &Problem) -> String {
        self.place_of(problem.resource_id(), problem.path())
    }

    /// The document path of `relative`, inside resource `id`'s entry or under `spec`.
    fn place_of(&self, id: Option<&str>, relative: &str) -> String {
        let Some(id) = id else {
            return join("spec", relative);
        };
        let index = self.document.value["spec"]["resources"]
            .as_array()
            .and_then(|resources| resources.iter().position(|r| r["id"].as_str() == Some(id)));
        match index {
            Some(i) => join(&format!("spec.resources[{i}]"), relative),
            None => "spec.resources".to_owned(),
        }
    }
}

fn join(base: &str, relative: &str) -> String {
    if relative.is_empty() {
        base.to_owned()
    } else if relative.starts_with('[') {
        format!("{base}{relative}")
    } else {
        format!("{base}.{relative}")
    }
}

/// Everything needed to compile RGDs offline.
pub struct Compiler {
    resolver: OfflineResolver,
    options: CompileOptions,
}

impl Compiler {
    /// A compiler knowing the built-in kinds and the CRDs in `crd_files`.
    pub fn new(crd_files: &[PathBuf], omit_enabled: bool) -> anyhow::Result<Self> {
        let resolver = OfflineResolver::new();
        for file in crd_files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            resolver
                .register_crd_yaml(&text)
                .with_context(|| format!("{}: cannot register its CRDs", file.display()))?;
        }
        let options = CompileOptions {
            omit_enabled,
            ..CompileOptions::default()
        };
        Ok(Self { resolver, options })
    }

    /// Reads every file and compiles every RGD in them. Documents of other kinds are returned
    /// apart, for commands that need instances.
    pub fn compile_files(
        &self,
        files: &[PathBuf],
    ) -> anyhow::Result<(Vec<CompiledRgd>, Vec<Document>)> {
        let mut rgds = Vec::new();
        let mut others = Vec::new();
        for file in files {
            for document in read_documents(file)? {
                if document.kind() == "ResourceGraphDefinition" {
                    rgds.push(document);
                } else {
                    others.push(document);
                }
            }
        }
        Ok((self.compile_documents(&rgds), others))
    }

    /// Compiles RGD documents. An RGD whose kinds are not known yet is retried after the others
    /// have registered their generated CRDs, until no more progress is made.
    pub fn compile_documents(&self, documents: &[Document]) -> Vec<CompiledRgd> {
        let mut results: Vec<Option<CompiledRgd>> = documents.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..documents.len()).collect();
        loop {
            let mut progressed = false;
            let mut still_pending = Vec::new();
            for &index in &pending {
                let compiled = self.compile_one(documents[index].clone());
                if let Ok(graph) = &compiled.result {
                    // Registering cannot fail for a CRD this crate generated: it always has a schema.
                    if self.resolver.register_crd(graph.crd()).is_ok() {
                        progressed = true;
                    }
                    results[index] = Some(compiled);
                } else {
                    still_pending.push(index);
                    results[index] = Some(compiled);
                }
            }
            if !progressed || still_pending.is_empty() {
                break;
            }
            pending = still_pending;
        }
        results.into_iter().flatten().collect()
    }

    fn compile_one(&self, document: Document) -> CompiledRgd {
        let name = document.value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let result = serde_json::from_value::<ResourceGraphDefinition>(document.value.clone())
            .map_err(|e| RgdError::Malformed(format!("not a valid ResourceGraphDefinition: {e}")))
            .and_then(|rgd| {
                kro_graph::compile_with(&rgd, &self.resolver, &self.options)
                    .map_err(RgdError::Invalid)
            });
        CompiledRgd {
            document,
            name,
            result,
        }
    }
}
