//! The readable report: differences grouped by key and values, with the objects that show them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::allow::AllowList;
use super::compare::Difference;

/// A difference, the steps it was seen in, and the allow-list entry that covers it.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The difference.
    #[serde(flatten)]
    pub difference: Difference,
    /// The steps after which it was seen.
    pub steps: Vec<&'static str>,
    /// The allow-list entry (0-based) that allows it.
    pub allowed_by: Option<usize>,
}

/// Merges the same difference seen after several steps.
#[must_use]
pub fn dedupe(per_step: Vec<(&'static str, Vec<Difference>)>) -> Vec<Found> {
    // Keyed by the difference's text: JSON values have no order of their own.
    let mut merged: BTreeMap<[String; 5], (Difference, Vec<&'static str>)> = BTreeMap::new();
    for (step, differences) in per_step {
        for difference in differences {
            let id = [
                difference.key.clone(),
                difference.kind.clone(),
                difference.name.clone(),
                shown(difference.upstream.as_ref()),
                shown(difference.kro_rs.as_ref()),
            ];
            merged
                .entry(id)
                .or_insert_with(|| (difference, Vec::new()))
                .1
                .push(step);
        }
    }
    merged
        .into_values()
        .map(|(difference, steps)| Found {
            difference,
            steps,
            allowed_by: None,
        })
        .collect()
}

fn shown(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "(absent)".to_owned();
    };
    let text = value.to_string();
    if text.chars().count() > 600 {
        let cut: String = text.chars().take(600).collect();
        format!("{cut}... ({} chars)", text.len())
    } else {
        text
    }
}

/// Differences with the same key and values, shown once with every object that has them.
type Groups<'a> = BTreeMap<(String, String, String), (Vec<String>, Vec<&'static str>)>;

fn group<'a>(found: impl Iterator<Item = &'a Found>) -> Groups<'a> {
    let mut groups: Groups<'a> = BTreeMap::new();
    for f in found {
        let d = &f.difference;
        let entry = groups
            .entry((
                d.key.clone(),
                shown(d.upstream.as_ref()),
                shown(d.kro_rs.as_ref()),
            ))
            .or_default();
        entry.0.push(format!("{} {}", d.kind, d.name));
        for step in &f.steps {
            if !entry.1.contains(step) {
                entry.1.push(step);
            }
        }
    }
    groups
}

/// The report: differences not allowed (grouped by class, then key), allowed ones in short, and
/// allow-list entries that matched nothing.
#[must_use]
pub fn render(found: &[Found], allow: &AllowList, unused: &[usize]) -> String {
    let mut out = String::new();
    let denied: Vec<&Found> = found.iter().filter(|f| f.allowed_by.is_none()).collect();
    let _ = writeln!(
        out,
        "differential: {} differences: {} not on the allow-list, {} allowed; {} allow-list entries matched nothing",
        found.len(),
        denied.len(),
        found.len() - denied.len(),
        unused.len()
    );
    let mut class = String::new();
    let groups = group(denied.iter().copied());
    if !groups.is_empty() {
        let _ = writeln!(out, "\n=== NOT ALLOWED ({} groups) ===", groups.len());
    }
    for ((key, upstream, kro_rs), (objects, steps)) in &groups {
        let prefix = key.split('.').next().unwrap_or_default();
        if prefix != class {
            class = prefix.to_owned();
            let _ = writeln!(out, "\n--- {class} ---");
        }
        let _ = writeln!(out, "{key}   [after: {}]", steps.join(", "));
        let listed: Vec<&str> = objects.iter().take(12).map(String::as_str).collect();
        let more = objects.len().saturating_sub(listed.len());
        let _ = write!(out, "  objects ({}): {}", objects.len(), listed.join(", "));
        let _ = if more > 0 {
            writeln!(out, ", ... and {more} more")
        } else {
            writeln!(out)
        };
        let _ = writeln!(out, "  upstream: {upstream}\n  kro-rs:   {kro_rs}");
    }
    let mut allowed: BTreeMap<usize, usize> = BTreeMap::new();
    for f in found {
        if let Some(index) = f.allowed_by {
            *allowed.entry(index).or_default() += 1;
        }
    }
    if !allowed.is_empty() {
        let _ = writeln!(out, "\n=== ALLOWED ===");
        for (index, count) in &allowed {
            if let Some(entry) = allow.entries.get(*index) {
                let _ = writeln!(out, "{} ({count} differences): {}", entry.key, entry.reason);
            }
        }
    }
    if !unused.is_empty() {
        let _ = writeln!(out, "\n=== ALLOW-LIST ENTRIES THAT MATCHED NOTHING ===");
        for index in unused {
            if let Some(entry) = allow.entries.get(*index) {
                let _ = writeln!(
                    out,
                    "{} (kind {:?}, name {:?})",
                    entry.key, entry.kind, entry.name
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn difference(name: &str) -> Difference {
        Difference {
            key: "crd.spec.x".into(),
            kind: "CustomResourceDefinition".into(),
            name: name.into(),
            upstream: Some(json!("a")),
            kro_rs: None,
        }
    }

    #[test]
    fn equal_differences_are_merged_and_grouped() {
        let found = dedupe(vec![
            (
                "create",
                vec![difference("a.kro.run"), difference("b.kro.run")],
            ),
            ("mutate", vec![difference("a.kro.run")]),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].steps, ["create", "mutate"]);
        let allow = AllowList::parse("entries: []\n").expect("test setup");
        let text = render(&found, &allow, &[]);
        assert!(text.contains("2 not on the allow-list"), "{text}");
        assert!(
            text.contains("objects (2): CustomResourceDefinition a.kro.run, CustomResourceDefinition b.kro.run"),
            "{text}"
        );
        assert!(text.contains("kro-rs:   (absent)"), "{text}");
    }
}
