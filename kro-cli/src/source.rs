//! Reading YAML files into documents that remember where each field was written, so that every
//! diagnostic can point at `file:line:column`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser};

/// A position in a source file: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One YAML document of a file.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file it was read from.
    pub file: PathBuf,
    /// The document's value.
    pub value: Value,
    /// Where each field path (`spec.resources[0].template.kind`) starts in the file.
    locations: BTreeMap<String, Position>,
}

impl Document {
    /// The `kind` of the document, or "" when it has none.
    pub fn kind(&self) -> &str {
        self.value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The position of `path`, or of its nearest ancestor that was written in the file.
    pub fn locate(&self, path: &str) -> Option<Position> {
        let mut candidate = path;
        loop {
            if let Some(position) = self.locations.get(candidate) {
                return Some(*position);
            }
            let cut = candidate.rfind(['.', '['])?;
            candidate = &candidate[..cut];
        }
    }

    /// `file:line:column` for `path` (or just the file when nothing is known).
    pub fn place(&self, path: &str) -> Place<'_> {
        Place {
            file: &self.file,
            position: self.locate(path),
        }
    }
}

/// A printable source location.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    file: &'a Path,
    position: Option<Position>,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}:{}:{}", self.file.display(), p.line, p.column),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Reads every non-empty YAML document of `path`.
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_documents(path, &text)
}

/// Parses every non-empty YAML document of `text`, read from `path`.
pub fn parse_documents(path: &Path, text: &str) -> anyhow::Result<Vec<Document>> {
    // A repeated key keeps its last value, as with sigs.k8s.io/yaml, which kubectl and kro use.
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let values: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .with_context(|| format!("{}: not valid YAML", path.display()))?;
    // The value parser may drop empty documents; line the position maps up with what it kept.
    let all = locate_fields(text);
    let non_empty: Vec<_> = all.iter().filter(|d| !d.is_empty()).cloned().collect();
    let mut locations = if non_empty.len() == values.len() {
        non_empty
    } else {
        all
    }
    .into_iter();
    Ok(values
        .into_iter()
        .filter_map(|value| {
            let locations = locations.next().unwrap_or_default();
            (!value.is_null()).then(|| Document {
                file: path.to_path_buf(),
                value,
                locations,
            })
        })
        .collect())
}

/// How the walker got into the node it is in.
enum Frame {
    Mapping {
        path: String,
        key: Option<(String, Position)>,
    },
    Sequence {
        path: String,
        index: usize,
    },
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The position of every field of every document of `text`, one map per document (an empty
/// document gives an empty map).
fn locate_fields(text: &str) -> Vec<BTreeMap<String, Position>> {
    let mut documents = Vec::new();
    let mut current: BTreeMap<String, Position> = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(text) {
        // A syntax error was already reported by the value parser; positions are best effort.
        let Ok((event, span)) = event else { break };
        let here = Position {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        // The path of the node that starts here, and whether it is a mapping key.
        let mut node_path =
            |stack: &mut Vec<Frame>, is_scalar: bool, scalar: &str| -> Option<String> {
                match stack.last_mut() {
                    None => {
                        // An empty document parses as a root `~`; it holds no value.
                        if !(is_scalar && matches!(scalar, "" | "~" | "null")) {
                            current.insert(String::new(), here);
                        }
                        Some(String::new())
                    }
                    Some(Frame::Mapping {
                        key: key @ None, ..
                    }) if is_scalar => {
                        *key = Some((scalar.to_owned(), here));
                        None
                    }
                    Some(Frame::Mapping { path, key }) => {
                        let (name, at) = key.take()?;
                        let full = child_path(path, &name);
                        current.insert(full.clone(), at);
                        Some(full)
                    }
                    Some(Frame::Sequence { path, index }) => {
                        let full = format!("{path}[{index}]");
                        *index += 1;
                        current.insert(full.clone(), here);
                        Some(full)
                    }
                }
            };
        match event {
            Event::DocumentStart(..) => {
                current = BTreeMap::new();
                stack.clear();
            }
            Event::DocumentEnd => documents.push(std::mem::take(&mut current)),
            Event::Scalar(value, ..) => {
                node_path(&mut stack, true, &value);
            }
            Event::Alias(_) => {
                node_path(&mut stack, false, "");
            }
            Event::MappingStart(..) => {
                let path = node_path(&mut stack, false, "").unwrap_or_default();
                stack.push(Frame::Mapping { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = node_path(&mut stack, false, "").unwrap_or_default();
                stack.push(Frame::Sequence { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_items_and_nested_fields_per_document() {
        let text = "\
apiVersion: v1
kind: A
spec:
  list:
    - name: x
      value: 1
    - name: y
---
kind: B
other: [1, 2]
";
        let docs = parse_documents(Path::new("f.yaml"), text).expect("parses");
        assert_eq!(docs.len(), 2);
        let at = |d: &Document, p: &str| d.locate(p).map(|p| (p.line, p.column));
        assert_eq!(at(&docs[0], "kind"), Some((2, 1)));
        assert_eq!(at(&docs[0], "spec.list"), Some((4, 3)));
        assert_eq!(at(&docs[0], "spec.list[1]"), Some((7, 7)));
        assert_eq!(at(&docs[0], "spec.list[0].value"), Some((6, 7)));
        // An unknown leaf falls back to its nearest known ancestor.
        assert_eq!(at(&docs[0], "spec.list[1].missing.deeper"), Some((7, 7)));
        assert_eq!(at(&docs[1], "other[1]"), Some((10, 12)));
        assert_eq!(docs[1].kind(), "B");
        assert_eq!(docs[0].place("spec").to_string(), "f.yaml:3:1");
    }

    #[test]
    fn empty_documents_are_skipped_without_shifting_locations() {
        let text = "---\n---\nkind: C\nname: z\n";
        let docs = parse_documents(Path::new("g.yaml"), text).expect("parses");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].locate("name").map(|p| p.line), Some(4));
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let docs = parse_documents(Path::new("h.yaml"), "a: 1\na: 2\n").expect("parses");
        assert_eq!(docs[0].value["a"], 2);
    }
}
