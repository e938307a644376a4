//! The allow-list (`bench/differential-allow.yaml`): the differences kept on purpose, each with
//! its reason, and the Markdown page rendered from it.

use regex::Regex;
use serde::Deserialize;
use thiserror::Error;

use super::compare::Difference;

/// Why the allow-list cannot be used.
#[derive(Debug, Error)]
pub enum AllowError {
    /// Not valid YAML of the expected shape.
    #[error("allow-list: {0}")]
    Parse(String),
    /// A `re:` pattern does not compile.
    #[error("allow-list entry {index}: pattern {pattern:?}: {detail}")]
    Pattern {
        /// The entry's position (0-based).
        index: usize,
        /// The pattern.
        pattern: String,
        /// The regex error.
        detail: String,
    },
}

/// One difference kept on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The difference key: a glob (`*` any text, `?` one character), or a regex after `re:`.
    pub key: String,
    /// Only differences of objects of this kind (glob).
    #[serde(default)]
    pub kind: Option<String>,
    /// Only differences of objects whose `namespace/name` matches (glob).
    #[serde(default)]
    pub name: Option<String>,
    /// Why kro-rs differs on purpose.
    pub reason: String,
    /// Where the difference is documented (a doc page and row, or a code comment).
    pub source: String,
    /// Upstream's side of this difference depends on timing (it keeps rewriting what another
    /// controller owns), so a run may find it equal: the entry may then match nothing.
    #[serde(default)]
    pub varies: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    entries: Vec<Entry>,
}

/// The parsed allow-list with its patterns compiled.
#[derive(Debug)]
pub struct AllowList {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
enum Pattern {
    Glob(String),
    Regex(Regex),
}

impl Pattern {
    fn new(index: usize, text: &str) -> Result<Self, AllowError> {
        match text.strip_prefix("re:") {
            Some(re) => Regex::new(&format!("^(?:{re})$"))
                .map(Self::Regex)
                .map_err(|err| AllowError::Pattern {
                    index,
                    pattern: text.to_owned(),
                    detail: err.to_string(),
                }),
            None => Ok(Self::Glob(text.to_owned())),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Self::Glob(glob) => glob_match(glob.as_bytes(), text.as_bytes()),
            Self::Regex(re) => re.is_match(text),
        }
    }
}

/// `*` matches any run of characters (dots and slashes included), `?` exactly one.
#[must_use]
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and how much text it had taken: backtracking restarts from there.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl AllowList {
    /// Parses the YAML text.
    ///
    /// # Errors
    /// [`AllowError`] on bad YAML, unknown fields or a bad `re:` pattern.
    pub fn parse(text: &str) -> Result<Self, AllowError> {
        let file: File =
            serde_saphyr::from_str(text).map_err(|err| AllowError::Parse(err.to_string()))?;
        let patterns = file
            .entries
            .iter()
            .enumerate()
            .map(|(index, entry)| Pattern::new(index, &entry.key))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            entries: file.entries,
            patterns,
        })
    }

    /// The index of the first entry that allows `difference`.
    #[must_use]
    pub fn allows(&self, difference: &Difference) -> Option<usize> {
        self.entries
            .iter()
            .zip(&self.patterns)
            .position(|(entry, pattern)| {
                pattern.matches(&difference.key)
                    && entry
                        .kind
                        .as_ref()
                        .is_none_or(|kind| glob_match(kind.as_bytes(), difference.kind.as_bytes()))
                    && entry
                        .name
                        .as_ref()
                        .is_none_or(|name| glob_match(name.as_bytes(), difference.name.as_bytes()))
            })
    }

    /// The Markdown page listing every entry.
    #[must_use]
    pub fn render(&self) -> String {
        let mut page = String::from(
            "# Differences from upstream kro v0.9.4, kept on purpose\n\n\
             <!-- Generated from bench/differential-allow.yaml by `bash bench/differential.sh \
             --render-docs`; edit the list, not this page. -->\n\n\
             `bash bench/differential.sh` runs upstream kro v0.9.4 and kro-rs side by side, each on \
             its own control plane, on upstream's examples, its upgrade-test fixtures and crafted \
             scenarios, and compares what users see: the generated CRDs, the children, the \
             instances' and RGDs' status, GraphRevisions and Events. It fails on every \
             difference that is not listed here, and on every entry here that no longer matches a \
             difference. See [migrating from upstream kro](migrating-from-upstream.md) for the \
             reasons in full. The operator's outer surface is compared elsewhere: flags and Helm \
             values in [migrating from upstream kro](migrating-from-upstream.md) (checked by \
             `kro-operator/tests/upstream_flags.rs` and `helm_values.rs`), metric families in \
             [metrics](reference/metrics.md) (checked by `kro-operator/tests/metrics_scrape.rs`), \
             the GraphRevision spec hash against upstream's own Go code \
             (`tests/tests/upstream_spec_hash.rs`).\n\n",
        );
        if self.entries.is_empty() {
            page.push_str("No difference is kept on purpose.\n");
            return page;
        }
        page.push_str("| difference | objects | why | documented in |\n|---|---|---|---|\n");
        for entry in &self.entries {
            let objects = match (&entry.kind, &entry.name) {
                (None, None) => "all".to_owned(),
                (kind, name) => format!(
                    "{} {}",
                    kind.as_deref().unwrap_or("*"),
                    name.as_deref().unwrap_or("*")
                ),
            };
            page.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                cell(&entry.key),
                cell(&objects),
                cell(&entry.reason),
                cell(&entry.source)
            ));
        }
        page
    }
}

/// Table cells cannot hold `|` or line breaks.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn difference(key: &str, kind: &str, name: &str) -> Difference {
        Difference {
            key: key.into(),
            kind: kind.into(),
            name: name.into(),
            upstream: None,
            kro_rs: Some(json!([])),
        }
    }

    #[test]
    fn globs_match_across_dots_and_slashes() {
        assert!(glob_match(
            b"instance.status.resources*",
            b"instance.status.resources"
        ));
        assert!(glob_match(
            b"child.annotations.*/apply-order",
            b"child.annotations.internal.kro.run/apply-order"
        ));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"ac"));
        assert!(!glob_match(b"rgd.*", b"instance.status"));
        assert!(glob_match(b"*x*y", b"axbxcy"));
    }

    #[test]
    fn entries_restrict_by_kind_and_name_and_regex() {
        let list = AllowList::parse(
            "entries:\n\
             - key: instance.status.resources\n  reason: r\n  source: s\n\
             - key: 're:crd\\.spec\\..*'\n  kind: CustomResourceDefinition\n  name: 'webapps.*'\n  reason: r\n  source: s\n",
        )
        .expect("test setup");
        assert_eq!(
            list.allows(&difference(
                "instance.status.resources",
                "WebApp",
                "default/a"
            )),
            Some(0)
        );
        let crd = |name| {
            difference(
                "crd.spec.versions[v1alpha1]",
                "CustomResourceDefinition",
                name,
            )
        };
        assert_eq!(list.allows(&crd("webapps.kro.run")), Some(1));
        assert_eq!(list.allows(&crd("apps.kro.run")), None);
        assert_eq!(
            list.allows(&difference("crd.spec", "Other", "webapps.x")),
            None
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(AllowList::parse("entries:\n- key: x\n  reason: r\n").is_err());
        assert!(AllowList::parse("entries:\n- key: 're:('\n  reason: r\n  source: s\n").is_err());
        assert!(AllowList::parse("entries: []\nextra: 1\n").is_err());
    }

    #[test]
    fn renders_one_row_per_entry() {
        let list = AllowList::parse(
            "entries:\n- key: instance.status.resources\n  kind: 'Web*'\n  reason: \"per-child | state\"\n  source: docs\n",
        )
        .expect("test setup");
        let page = list.render();
        assert!(
            page.contains("| `instance.status.resources` | Web* * | per-child \\| state | docs |"),
            "{page}"
        );
    }
}
