//! The inputs both controllers get: upstream's examples and upgrade-test fixtures from its Go
//! module, and the crafted scenarios in `bench/differential/`, arranged in steps.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

/// One object of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// The file it came from (relative, for messages).
    pub source: String,
    /// The object.
    pub value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    fn rgd_name(&self) -> Option<&str> {
        (self.kind() == "ResourceGraphDefinition")
            .then(|| self.value.pointer("/metadata/name")?.as_str())
            .flatten()
    }

    /// `namespace/name` as applied (no namespace: `default`).
    fn instance_name(&self) -> String {
        let namespace = self
            .value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = self
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        format!("{namespace}/{name}")
    }

    fn schema_kind(&self) -> Option<&str> {
        self.value.pointer("/spec/schema/kind")?.as_str()
    }
}

/// Objects applied and deleted together; the clusters settle before the next phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phase {
    /// Applied (Namespaces first, then the rest at once).
    pub apply: Vec<Doc>,
    /// Deleted at once.
    pub delete: Vec<Doc>,
}

/// A step: its phases, then both clusters are captured and compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its name in the report.
    pub name: &'static str,
    /// In order.
    pub phases: Vec<Phase>,
}

/// The documents of a multi-document YAML file (empty documents skipped).
///
/// # Errors
/// When the file cannot be read or parsed.
pub fn read_docs(path: &Path, shown: &str) -> anyhow::Result<Vec<Doc>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
    // core-dns repeats a `selector` key; kubectl keeps the last one, and so does this.
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(&text, options)
        .with_context(|| format!("parsing {shown}"))?;
    Ok(docs
        .into_iter()
        .filter(|value| value.is_object())
        .map(|value| Doc {
            source: shown.to_owned(),
            value,
        })
        .collect())
}

/// Every YAML file under `dir`, sorted.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Where the instances of the examples applied in the `mutate` step go.
const LATER_NAMESPACE: &str = "diff-later";

/// The corpus split in what can be applied at once and what must come later. Two examples
/// (`defaults` and `cel-functions`) define the same RGD name, so the second one is an update; two
/// others (`additionalPrinterColumns` and `webapp`) both name their instance `test-app` and
/// create the same Deployment, so whichever is applied first owns it: the later one comes in a
/// later step, where its ApplySet conflict is the same on both sides rather than a race.
#[derive(Debug, Default)]
struct Corpus {
    first: Phase,
    first_instances: Vec<Doc>,
    later: Phase,
    later_instances: Vec<Doc>,
}

fn read_corpus(module: &Path) -> anyhow::Result<Corpus> {
    let mut files = Vec::new();
    for dir in ["examples/kubernetes", "test/upgrade/fixtures"] {
        yaml_files(&module.join(dir), &mut files)?;
    }
    let mut per_dir: Vec<(PathBuf, Vec<Doc>)> = Vec::new();
    for file in &files {
        let shown = file
            .strip_prefix(module)
            .unwrap_or(file)
            .display()
            .to_string();
        let docs = read_docs(file, &shown)?;
        let dir = file.parent().map(Path::to_owned).unwrap_or_default();
        match per_dir.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, all)) => all.extend(docs),
            None => per_dir.push((dir, docs)),
        }
    }
    let schema_kinds: BTreeSet<String> = per_dir
        .iter()
        .flat_map(|(_, docs)| docs.iter().filter_map(Doc::schema_kind).map(str::to_owned))
        .collect();
    let mut seen = BTreeSet::new();
    let mut corpus = Corpus::default();
    for (_, docs) in per_dir {
        let names: Vec<String> = docs
            .iter()
            .filter_map(|doc| match doc.rgd_name() {
                Some(rgd) => Some(format!("rgd {rgd}")),
                None if schema_kinds.contains(doc.kind()) => {
                    Some(format!("instance {}", doc.instance_name()))
                }
                None => None,
            })
            .collect();
        let later = names.iter().any(|name| seen.contains(name));
        seen.extend(names);
        let (phase, instances) = if later {
            (&mut corpus.later, &mut corpus.later_instances)
        } else {
            (&mut corpus.first, &mut corpus.first_instances)
        };
        for doc in docs {
            if schema_kinds.contains(doc.kind()) {
                instances.push(doc);
            } else {
                phase.apply.push(doc);
            }
        }
    }
    Ok(corpus)
}

fn crafted(dir: &Path, file: &str) -> anyhow::Result<Vec<Doc>> {
    read_docs(&dir.join(file), &format!("bench/differential/{file}"))
}

/// The steps: `create` (every RGD, then every instance), `mutate` (spec update, includeWhen
/// flip, forEach growth, an external reference's target appearing, invalid RGDs, an RGD replaced
/// by another example's), `shrink` (forEach shrinking, an instance and an RGD deleted).
///
/// # Errors
/// When an input file cannot be read or parsed.
pub fn steps(module: &Path, crafted_dir: &Path) -> anyhow::Result<Vec<Step>> {
    let corpus = read_corpus(module)?;
    let mut create_rgds = corpus.first;
    create_rgds.apply.extend(crafted(crafted_dir, "rgds.yaml")?);
    let mut create_instances = corpus.first_instances;
    create_instances.extend(crafted(crafted_dir, "instances.yaml")?);
    let mut mutate = corpus.later;
    // The later examples' instances go to a namespace of their own: `additionalPrinterColumns`
    // and `webapp` both create Deployment `test-app`, and in one namespace the second instance
    // would only ever show how each side reports an ApplySet conflict upstream's examples cause.
    mutate.apply.push(Doc {
        source: "bench/src/differential/inputs.rs".to_owned(),
        value: serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": LATER_NAMESPACE}}),
    });
    let later_instances: Vec<Doc> = corpus
        .later_instances
        .into_iter()
        .map(|mut doc| {
            let namespace = doc
                .value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            if matches!(namespace, None | Some("default")) {
                doc.value["metadata"]["namespace"] = Value::from(LATER_NAMESPACE);
            }
            // webapp names its children after `spec.name` and places them by `spec.namespace`
            // (default "default"): a name of its own keeps them apart too.
            let name = doc.value.pointer("/metadata/name").and_then(Value::as_str);
            if let Some(name) = name.filter(|name| {
                doc.value.pointer("/spec/name").and_then(Value::as_str) == Some(*name)
            }) {
                let renamed = format!("{name}-later");
                doc.value["metadata"]["name"] = Value::from(renamed.clone());
                doc.value["spec"]["name"] = Value::from(renamed);
            }
            doc
        })
        .collect();
    mutate.apply.extend(crafted(crafted_dir, "mutate.yaml")?);
    mutate.apply.extend(crafted(crafted_dir, "invalid.yaml")?);
    let instances = crafted(crafted_dir, "instances.yaml")?;
    let rgds = crafted(crafted_dir, "rgds.yaml")?;
    let named = |docs: &[Doc], kind: &str| -> anyhow::Result<Doc> {
        docs.iter()
            .find(|doc| doc.kind() == kind)
            .cloned()
            .with_context(|| format!("no {kind} in the crafted inputs"))
    };
    let doomed_rgd = rgds
        .iter()
        .find(|doc| doc.rgd_name() == Some("diff-doomed"))
        .cloned()
        .context("no diff-doomed RGD in the crafted inputs")?;
    Ok(vec![
        Step {
            name: "create",
            phases: vec![
                create_rgds,
                Phase {
                    apply: create_instances,
                    delete: Vec::new(),
                },
            ],
        },
        Step {
            name: "mutate",
            phases: vec![
                mutate,
                Phase {
                    apply: later_instances,
                    delete: Vec::new(),
                },
            ],
        },
        Step {
            name: "shrink",
            phases: vec![Phase {
                apply: crafted(crafted_dir, "shrink.yaml")?,
                delete: vec![named(&instances, "DiffUpdate")?, doomed_rgd],
            }],
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_dir() -> Option<PathBuf> {
        let home = std::env::var_os("HOME")?;
        let dir = PathBuf::from(home).join("go/pkg/mod/github.com/kubernetes-sigs/kro@v0.9.4");
        dir.is_dir().then_some(dir)
    }

    #[test]
    fn crafted_inputs_parse_into_three_steps() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("differential");
        // Without the module in the cache only the crafted part can be checked.
        let Some(module) = module_dir() else {
            assert!(crafted(&dir, "rgds.yaml").is_ok());
            return;
        };
        let steps = steps(&module, &dir).expect("inputs parse");
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(names, ["create", "mutate", "shrink"]);
        let create = &steps[0].phases;
        assert!(
            create[0]
                .apply
                .iter()
                .all(|d| d.kind() != "Something" || d.source.contains("defaults"))
        );
        // The second definition of somethings.kro.run comes as an update in step two.
        assert!(
            steps[1].phases[0]
                .apply
                .iter()
                .any(|d| d.rgd_name() == Some("somethings.kro.run"))
        );
        assert!(create[1].apply.iter().any(|d| d.kind() == "DiffHpa"));
    }
}
