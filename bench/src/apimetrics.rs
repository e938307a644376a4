//! Parses the API server's `apiserver_request_total` counters and attributes request deltas to the
//! controller under test.
//!
//! The API server has no user-agent label on that counter, so attribution works by running one
//! controller at a time, taking the difference of counters around a window, keeping only the
//! resources a kro controller touches, and subtracting the requests the driver itself made.

use std::collections::BTreeMap;

use thiserror::Error;

/// The counter this module reads.
pub const REQUEST_COUNTER: &str = "apiserver_request_total";

/// Verbs that change state in etcd.
pub const MUTATING_VERBS: [&str; 6] = [
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
    "PATCH",
    "POST",
    "PUT",
];

/// One series of `apiserver_request_total`, without the response code (attribution ignores it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// HTTP-level verb as the API server reports it (`GET`, `LIST`, `WATCH`, `APPLY`, ...).
    pub verb: String,
    /// API group (`""` for the core group).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Subresource (`""`, `status`, ...).
    pub subresource: String,
}

impl RequestKey {
    /// A key from its four parts.
    #[must_use]
    pub fn new(verb: &str, group: &str, resource: &str, subresource: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
        }
    }

    /// Whether the verb writes.
    #[must_use]
    pub fn is_mutating(&self) -> bool {
        MUTATING_VERBS.contains(&self.verb.as_str())
    }

    /// `resource[/subresource].group` for reports.
    #[must_use]
    pub fn resource_label(&self) -> String {
        let mut label = self.resource.clone();
        if !self.subresource.is_empty() {
            label.push('/');
            label.push_str(&self.subresource);
        }
        if !self.group.is_empty() {
            label.push('.');
            label.push_str(&self.group);
        }
        label
    }

    /// Whether a kro controller (rather than kube-controller-manager, the scheduler or kwok) is
    /// the one that makes requests on this resource.
    ///
    /// Kept: everything in the `kro.run` groups (RGDs, GraphRevisions, instances and their status),
    /// CRDs, and the child kinds of the benchmark RGDs without subresources. Left out: Deployment
    /// status (the deployment controller writes it), Pods, ReplicaSets, Events, Leases and Nodes.
    #[must_use]
    pub fn is_controller_facing(&self) -> bool {
        let kro_group = self.group == "kro.run" || self.group.ends_with(".kro.run");
        let crds =
            self.group == "apiextensions.k8s.io" && self.resource == "customresourcedefinitions";
        let children = self.subresource.is_empty()
            && ((self.group.is_empty()
                && matches!(self.resource.as_str(), "configmaps" | "services"))
                || (self.group == "apps" && self.resource == "deployments"));
        kro_group || crds || children
    }
}

/// Why a metrics page could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetricsParseError {
    /// A sample line of the request counter did not have the `name{labels} value` shape.
    #[error("metrics line {line}: expected `{REQUEST_COUNTER}{{labels}} value`, found `{text}`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// The value was not a number.
    #[error("metrics line {line}: value `{value}` is not a number")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
}

/// Request counts keyed by series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts(pub BTreeMap<RequestKey, f64>);

impl RequestCounts {
    /// Reads every `apiserver_request_total` sample of a Prometheus text page, summing over the
    /// labels it does not key on (code, scope, component, dry_run, version).
    ///
    /// # Errors
    /// [`MetricsParseError`] when a sample line of that counter is malformed.
    pub fn parse(page: &str) -> Result<Self, MetricsParseError> {
        let mut counts = BTreeMap::new();
        for (index, line) in page.lines().enumerate() {
            let line_no = index + 1;
            let Some(rest) = line.strip_prefix(REQUEST_COUNTER) else {
                continue;
            };
            let malformed = || MetricsParseError::Malformed {
                line: line_no,
                text: line.to_owned(),
            };
            let Some(rest) = rest.strip_prefix('{') else {
                // `apiserver_request_total_something` or a bare counter: not ours.
                if rest.starts_with(' ') {
                    return Err(malformed());
                }
                continue;
            };
            let Some(close) = rest.rfind('}') else {
                return Err(malformed());
            };
            let labels = parse_labels(&rest[..close]).ok_or_else(malformed)?;
            let value_text = rest[close + 1..]
                .split_whitespace()
                .next()
                .ok_or_else(malformed)?;
            let value: f64 = value_text
                .parse()
                .map_err(|_| MetricsParseError::BadValue {
                    line: line_no,
                    value: value_text.to_owned(),
                })?;
            let get = |name: &str| labels.get(name).map_or("", String::as_str);
            let key = RequestKey::new(
                get("verb"),
                get("group"),
                get("resource"),
                get("subresource"),
            );
            *counts.entry(key).or_insert(0.0) += value;
        }
        Ok(Self(counts))
    }

    /// `self - earlier`, per series; series that did not grow are dropped.
    #[must_use]
    pub fn since(&self, earlier: &Self) -> Self {
        let counts = self
            .0
            .iter()
            .filter_map(|(key, now)| {
                let delta = now - earlier.0.get(key).copied().unwrap_or(0.0);
                (delta > 0.0).then(|| (key.clone(), delta))
            })
            .collect();
        Self(counts)
    }

    /// Removes requests the driver made itself (saturating at zero per series).
    #[must_use]
    pub fn minus(&self, driver: &BTreeMap<RequestKey, u64>) -> Self {
        let counts = self
            .0
            .iter()
            .filter_map(|(key, count)| {
                let own = driver.get(key).copied().unwrap_or(0) as f64;
                let left = (count - own).max(0.0);
                (left > 0.0).then(|| (key.clone(), left))
            })
            .collect();
        Self(counts)
    }

    /// Only the series a kro controller is responsible for; see [`RequestKey::is_controller_facing`].
    #[must_use]
    pub fn controller_facing(&self) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(key, _)| key.is_controller_facing())
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        )
    }

    /// Totals per verb. WATCH is left out: the API server counts a watch only when it ends, so
    /// open watches would be invisible and closed ones arbitrary.
    #[must_use]
    pub fn by_verb(&self) -> BTreeMap<String, u64> {
        let mut verbs = BTreeMap::new();
        for (key, count) in &self.0 {
            if key.verb != "WATCH" {
                *verbs.entry(key.verb.clone()).or_insert(0) += count.round() as u64;
            }
        }
        verbs
    }

    /// Writes per resource label.
    #[must_use]
    pub fn writes_by_resource(&self) -> BTreeMap<String, u64> {
        let mut writes = BTreeMap::new();
        for (key, count) in self.0.iter().filter(|(key, _)| key.is_mutating()) {
            *writes.entry(key.resource_label()).or_insert(0) += count.round() as u64;
        }
        writes
    }
}

/// Parses `a="x",b="y\"z"` into a map; `None` on a syntax error.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek() == Some(&',') || chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                other => value.push(other),
            }
        }
        labels.insert(name.trim().to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kro.run",resource="benchapps",scope="namespace",subresource="status",verb="PUT",version="v1alpha1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="kro.run",resource="benchapps",scope="namespace",subresource="status",verb="PUT",version="v1alpha1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="APPLY",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="namespace",subresource="status",verb="PUT",version="v1"} 11
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="cluster",subresource="",verb="WATCH",version="v1"} 1
apiserver_request_total_other{code="200"} 99
apiserver_request_duration_seconds_bucket{le="0.1"} 4
"#;

    #[test]
    fn parses_and_sums_over_codes() {
        let counts = RequestCounts::parse(PAGE).expect("test setup");
        let status = RequestKey::new("PUT", "kro.run", "benchapps", "status");
        assert_eq!(counts.0.get(&status), Some(&9.0));
        assert_eq!(counts.0.len(), 5);
    }

    #[test]
    fn controller_facing_drops_other_components() {
        let counts = RequestCounts::parse(PAGE)
            .expect("test setup")
            .controller_facing();
        let labels: Vec<String> = counts.0.keys().map(RequestKey::resource_label).collect();
        assert_eq!(
            labels,
            ["configmaps", "benchapps/status.kro.run", "configmaps"]
        );
    }

    #[test]
    fn deltas_subtract_driver_and_skip_watch() {
        let before = RequestCounts::parse(PAGE).expect("test setup");
        let after_page = PAGE.replace("} 7\n", "} 10\n").replace("} 5\n", "} 25\n");
        let after = RequestCounts::parse(&after_page).expect("test setup");
        let delta = after.since(&before);
        assert_eq!(delta.0.len(), 2);
        let mut driver = BTreeMap::new();
        driver.insert(RequestKey::new("APPLY", "", "configmaps", ""), 4);
        let controller = delta.minus(&driver);
        let verbs = controller.by_verb();
        assert_eq!(verbs.get("APPLY"), Some(&16));
        assert_eq!(verbs.get("PUT"), Some(&3));
        assert_eq!(controller.writes_by_resource().get("configmaps"), Some(&16));
        let all = RequestCounts::parse(PAGE).expect("test setup");
        assert!(!all.by_verb().contains_key("WATCH"));
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let err = RequestCounts::parse("x\napiserver_request_total{verb=\"GET\" 1\n")
            .expect_err("must fail");
        assert!(
            matches!(err, MetricsParseError::Malformed { line: 2, .. }),
            "{err}"
        );
        let err = RequestCounts::parse("apiserver_request_total{verb=\"GET\"} abc\n")
            .expect_err("must fail");
        assert_eq!(
            err,
            MetricsParseError::BadValue {
                line: 1,
                value: "abc".into()
            }
        );
    }

    #[test]
    fn label_escapes() {
        let labels = parse_labels(r#"a="x\"y",b="",c="\\""#).expect("test setup");
        assert_eq!(labels["a"], "x\"y");
        assert_eq!(labels["b"], "");
        assert_eq!(labels["c"], "\\");
        assert!(parse_labels("a=x").is_none());
    }
}
