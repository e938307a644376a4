//! Kubernetes label selectors (`matchLabels` + `matchExpressions`): parsed from a rendered
//! external reference, matched against labels, rendered as a list query string.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::core::error::SelectorError;

/// The operator of a selector requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SelectorOperator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the label is compared.
    pub operator: SelectorOperator,
    /// The values for `In` / `NotIn` (sorted, deduplicated).
    pub values: BTreeSet<String>,
}

/// A label selector. The empty selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements, all of which must hold.
    pub match_expressions: Vec<SelectorRequirement>,
}

impl LabelSelector {
    /// The selector matching everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector requiring exactly these labels.
    pub fn from_labels(labels: BTreeMap<String, String>) -> Self {
        Self {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    /// Parses the Kubernetes JSON form (`{matchLabels: {...}, matchExpressions: [...]}`);
    /// `null` is the empty selector.
    ///
    /// # Errors
    /// A field of the wrong type, an unknown operator, or values given to `Exists` /
    /// `DoesNotExist` (or missing for `In` / `NotIn`).
    pub fn from_json(value: &Value) -> Result<Self, SelectorError> {
        let Some(object) = value.as_object() else {
            return if value.is_null() {
                Ok(Self::default())
            } else {
                Err(SelectorError::new("", "expected an object"))
            };
        };
        let mut selector = Self::default();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(text) = value.as_str() else {
                        return Err(SelectorError::new(
                            format!("matchLabels.{key}"),
                            "expected a string value",
                        ));
                    };
                    selector.match_labels.insert(key.clone(), text.to_owned());
                }
            }
            Some(_) => return Err(SelectorError::new("matchLabels", "expected a map")),
        }
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(entries)) => {
                for (index, entry) in entries.iter().enumerate() {
                    selector
                        .match_expressions
                        .push(requirement(entry, &format!("matchExpressions[{index}]"))?);
                }
            }
            Some(_) => return Err(SelectorError::new("matchExpressions", "expected a list")),
        }
        Ok(selector)
    }

    /// Whether `labels` satisfy every part of the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|requirement| {
                let found = labels.get(&requirement.key);
                match requirement.operator {
                    SelectorOperator::In => found.is_some_and(|v| requirement.values.contains(v)),
                    SelectorOperator::NotIn => {
                        found.is_none_or(|v| !requirement.values.contains(v))
                    }
                    SelectorOperator::Exists => found.is_some(),
                    SelectorOperator::DoesNotExist => found.is_none(),
                }
            })
    }

    /// Whether the selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// The `labelSelector` query-string form: `a=b,c in (x,y),!d`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        for requirement in &self.match_expressions {
            let values = requirement
                .values
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(",");
            parts.push(match requirement.operator {
                SelectorOperator::In => format!("{} in ({values})", requirement.key),
                SelectorOperator::NotIn => format!("{} notin ({values})", requirement.key),
                SelectorOperator::Exists => requirement.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", requirement.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

fn requirement(entry: &Value, path: &str) -> Result<SelectorRequirement, SelectorError> {
    let key = entry
        .get("key")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| SelectorError::new(format!("{path}.key"), "expected a non-empty string"))?;
    let operator = match entry.get("operator").and_then(Value::as_str) {
        Some("In") => SelectorOperator::In,
        Some("NotIn") => SelectorOperator::NotIn,
        Some("Exists") => SelectorOperator::Exists,
        Some("DoesNotExist") => SelectorOperator::DoesNotExist,
        other => {
            return Err(SelectorError::new(
                format!("{path}.operator"),
                format!("expected In, NotIn, Exists or DoesNotExist, found {other:?}"),
            ));
        }
    };
    let values: BTreeSet<String> = match entry.get("values") {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| {
                value.as_str().map(str::to_owned).ok_or_else(|| {
                    SelectorError::new(format!("{path}.values"), "expected a list of strings")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(SelectorError::new(
                format!("{path}.values"),
                "expected a list of strings",
            ));
        }
    };
    let needs_values = matches!(operator, SelectorOperator::In | SelectorOperator::NotIn);
    if needs_values == values.is_empty() {
        let expected = if needs_values {
            "In and NotIn need at least one value"
        } else {
            "Exists and DoesNotExist take no values"
        };
        return Err(SelectorError::new(format!("{path}.values"), expected));
    }
    Ok(SelectorRequirement {
        key: key.to_owned(),
        operator,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions_all_hold() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .expect("present");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("legacy", "1")
        ])));
        assert_eq!(selector.to_string(), "app=web,tier in (back,front),!legacy");
    }

    #[test]
    fn null_and_empty_selectors_match_everything() {
        assert!(
            LabelSelector::from_json(&Value::Null)
                .expect("present")
                .is_empty()
        );
        assert!(
            LabelSelector::from_json(&json!({}))
                .expect("present")
                .matches(&labels(&[("x", "y")]))
        );
    }

    #[test]
    fn malformed_requirements_name_their_path() {
        let error = LabelSelector::from_json(&json!({
            "matchExpressions": [{"key": "a", "operator": "Near"}]
        }))
        .expect_err("must fail");
        assert!(error.to_string().contains("matchExpressions[0].operator"));
        let error = LabelSelector::from_json(&json!({
            "matchExpressions": [{"key": "a", "operator": "In"}]
        }))
        .expect_err("must fail");
        assert!(error.to_string().contains("matchExpressions[0].values"));
    }
}
