//! What a new RGD version changes for existing instances: each instance is rendered with both
//! graphs and the applied objects are compared by identity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kro_graph::Graph;
use kro_runtime::core::InMemoryView;
use serde_json::{Value, json};

use crate::render::{
    DEFAULT_KRO_VERSION, RenderContext, instance_name, is_instance_of, pass_time, prepare_instance,
    render_instance,
};
use crate::source::read_documents;

/// How many unchanged lines surround each change in a hunk.
const CONTEXT_LINES: usize = 3;

/// One side of the comparison: a compiled graph and its RGD identity.
pub struct Side<'a> {
    /// The compiled graph.
    pub graph: &'a Graph,
    /// The RGD identity the operator would use.
    pub rgd: &'a kro_runtime::core::RgdIdentity,
}

/// The object changes of one instance.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstanceChanges {
    /// The file the instance came from.
    pub file: PathBuf,
    /// `namespace/name` of the instance.
    pub instance: String,
    /// Objects only the new graph applies (created on roll-out).
    pub created: Vec<String>,
    /// Objects only the old graph applies (pruned on roll-out).
    pub deleted: Vec<String>,
    /// Objects both apply with different bodies, with a unified diff of their YAML.
    pub changed: Vec<(String, String)>,
}

impl InstanceChanges {
    /// Whether the roll-out leaves this instance's objects as they are.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.deleted.is_empty() && self.changed.is_empty()
    }

    /// The JSON form of `kro diff -o json`.
    pub fn to_json(&self) -> Value {
        json!({
            "file": self.file.display().to_string(),
            "instance": self.instance,
            "created": self.created,
            "deleted": self.deleted,
            "changed": self.changed.iter().map(|(key, diff)| json!({"object": key, "diff": diff})).collect::<Vec<_>>(),
        })
    }
}

/// Renders every instance file of `dir` (`*.yaml`, `*.yml`, sorted by name) with both graphs.
/// Documents of other kinds are ignored.
///
/// # Errors
/// The directory or a file cannot be read, or an instance is malformed.
pub fn instance_changes(
    old: &Side<'_>,
    new: &Side<'_>,
    dir: &Path,
) -> anyhow::Result<Vec<InstanceChanges>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the instance directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    let observed = InMemoryView::new();
    let now = pass_time(None)?;
    let mut all = Vec::new();
    for file in files {
        for document in read_documents(&file)? {
            let raw = &document.value;
            let (in_old, in_new) = (
                is_instance_of(old.graph, raw),
                is_instance_of(new.graph, raw),
            );
            if !in_old && !in_new {
                continue;
            }
            let render =
                |side: &Side<'_>, applies: bool| -> anyhow::Result<BTreeMap<String, Value>> {
                    if !applies {
                        return Ok(BTreeMap::new());
                    }
                    let instance = prepare_instance(side.graph, raw)
                        .with_context(|| file.display().to_string())?;
                    let context = RenderContext {
                        observed: &observed,
                        now: &now,
                        kro_version: DEFAULT_KRO_VERSION,
                        rgd: side.rgd,
                        assume_ready: &[],
                    };
                    let rendered = render_instance(side.graph, &instance, &context)
                        .with_context(|| file.display().to_string())?;
                    Ok(rendered
                        .objects()
                        .map(|body| (object_label(body), body.clone()))
                        .collect())
                };
            let before = render(old, in_old)?;
            let after = render(new, in_new)?;
            let side = if in_new { new } else { old };
            let prepared =
                prepare_instance(side.graph, raw).with_context(|| file.display().to_string())?;
            let mut changes = InstanceChanges {
                file: file.clone(),
                instance: instance_name(&prepared),
                ..InstanceChanges::default()
            };
            for (key, body) in &after {
                match before.get(key) {
                    None => changes.created.push(key.clone()),
                    Some(previous) if previous != body => {
                        changes
                            .changed
                            .push((key.clone(), unified_diff(&yaml(previous)?, &yaml(body)?)));
                    }
                    Some(_) => {}
                }
            }
            changes.deleted = before
                .keys()
                .filter(|key| !after.contains_key(*key))
                .cloned()
                .collect();
            all.push(changes);
        }
    }
    Ok(all)
}

/// `apiVersion kind namespace/name` of an object.
fn object_label(object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let name = match text("/metadata/namespace") {
        "" => text("/metadata/name").to_owned(),
        namespace => format!("{namespace}/{}", text("/metadata/name")),
    };
    format!("{} {} {name}", text("/apiVersion"), text("/kind"))
}

fn yaml(value: &Value) -> anyhow::Result<String> {
    serde_saphyr::to_string(value).context("serialising a rendered object")
}

/// A unified diff (`--- old`, `+++ new`, `@@` hunks with three lines of context) of two texts,
/// line by line, from a longest-common-subsequence alignment.
pub fn unified_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (tag, old line number, new line number, text).
    let mut script: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            script.push((' ', i, j, old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Deletions first, as diff(1) prints them.
            script.push(('-', i, j, old[i]));
            i += 1;
        } else {
            script.push(('+', i, j, new[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, (tag, ..))| *tag != ' ')
        .map(|(index, _)| index)
        .collect();
    let mut out = String::from("--- old\n+++ new\n");
    let mut cursor = 0;
    while cursor < changed.len() {
        let start = changed[cursor].saturating_sub(CONTEXT_LINES);
        let mut end = changed[cursor];
        while cursor < changed.len() && changed[cursor] <= end + 2 * CONTEXT_LINES {
            end = changed[cursor];
            cursor += 1;
        }
        let end = (end + CONTEXT_LINES + 1).min(script.len());
        let hunk = &script[start..end];
        let old_count = hunk.iter().filter(|(tag, ..)| *tag != '+').count();
        let new_count = hunk.iter().filter(|(tag, ..)| *tag != '-').count();
        let (_, old_start, new_start, _) = hunk[0];
        out.push_str(&format!(
            "@@ -{},{old_count} +{},{new_count} @@\n",
            old_start + 1,
            new_start + 1
        ));
        for (tag, _, _, text) in hunk {
            out.push(*tag);
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_marks_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
        assert_eq!(
            unified_diff(old, new),
            "--- old\n+++ new\n@@ -2,7 +2,8 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n+i\n"
        );
    }

    #[test]
    fn identical_texts_have_no_hunk() {
        assert_eq!(unified_diff("a\nb\n", "a\nb\n"), "--- old\n+++ new\n");
    }
}
