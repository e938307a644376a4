//! The Grafana dashboard (deploy/grafana/kro-dashboard.json) and the PrometheusRule example
//! (deploy/prometheus/kro-rules.yaml) reference only metric families the operator serves. The
//! metric names are taken from every PromQL `expr` with a small tokenizer: an identifier that
//! is not a function call, keyword, label matcher, grouping label or Grafana variable is a
//! metric; a histogram's `_bucket`/`_sum`/`_count` series name its family.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kro_operator::metrics::Metrics;
use kro_operator::metrics::exposition::families;
use serde_json::Value;

/// PromQL words that are not metric names when they stand without a `(`.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "inf",
    "nan",
    "atan2",
];

/// Keywords followed by a parenthesised label list rather than an expression.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// Skips a quoted string starting at `i` (the quote); returns the index after it.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != quote {
        j += if chars[j] == '\\' { 2 } else { 1 };
    }
    j + 1
}

/// Skips from an opening bracket at `i` to after its closing one (`{}`, `[]` or `()`).
fn skip_group(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while j < chars.len() && chars[j] != close {
        j = match chars[j] {
            '"' | '\'' | '`' => skip_string(chars, j),
            _ => j + 1,
        };
    }
    j + 1
}

/// The metric names a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '}'),
            '[' => i = skip_group(&chars, i, ']'),
            '$' => {
                // A Grafana variable such as $__rate_interval or ${job}.
                i += 1;
                while i < chars.len() && (is_ident(chars[i]) || chars[i] == '{' || chars[i] == '}')
                {
                    i += 1;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or a duration (5m, 1e3, 0.99).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let called = chars.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&word.as_str()) && called {
                    i = skip_group(&chars, next, ')');
                } else if !called && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every string under an `expr` key.
fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| exprs(item, out)),
        _ => {}
    }
}

fn deploy_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The family a series name belongs to, if the operator serves it.
fn family_of<'a>(name: &'a str, served: &BTreeMap<String, String>) -> Option<&'a str> {
    if served.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (served.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

fn check(file: &str, expressions: &[String], served: &BTreeMap<String, String>) -> usize {
    assert!(!expressions.is_empty(), "{file}: no expressions found");
    let mut unknown = BTreeSet::new();
    let mut used = 0;
    for expr in expressions {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{file}: no metric in `{expr}`");
        for name in names {
            match family_of(&name, served) {
                Some(_) => used += 1,
                None => {
                    unknown.insert(format!("{name} (in `{expr}`)"));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "{file} references families the operator does not serve: {unknown:#?}"
    );
    used
}

#[test]
fn the_tokenizer_finds_metrics_and_nothing_else() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, gvr) (rate(x_bucket{job=~\"$job\",a!=\"b c\"}[$__rate_interval]))) \
         > 3 unless on (name) sum without(x) (y_total offset 5m) or topk(3, z) and ${v} == bool w",
    );
    assert_eq!(names, ["x_bucket", "y_total", "z", "w"]);
}

#[test]
fn dashboard_and_rules_reference_only_served_families() {
    let served = families(&Metrics::new().encode().expect("encodes"));
    let dashboard: Value =
        serde_json::from_str(&deploy_file("deploy/grafana/kro-dashboard.json")).expect("JSON");
    let mut expressions = Vec::new();
    exprs(&dashboard, &mut expressions);
    check("kro-dashboard.json", &expressions, &served);

    let rules: Value =
        serde_saphyr::from_str(&deploy_file("deploy/prometheus/kro-rules.yaml")).expect("YAML");
    assert_eq!(rules["kind"], "PrometheusRule");
    let mut expressions = Vec::new();
    exprs(&rules, &mut expressions);
    check("kro-rules.yaml", &expressions, &served);
    let alerts: Vec<&str> = rules["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().into_iter().flatten())
        .filter_map(|rule| rule["alert"].as_str())
        .collect();
    for wanted in [
        "KroReconcileErrors",
        "KroWorkqueueDepthHigh",
        "KroRGDNotActive",
        "KroInstanceReconcileErrors",
    ] {
        assert!(alerts.contains(&wanted), "no {wanted} alert in {alerts:?}");
    }
}

/// A committed name list (tests/fixtures/metrics): one name per line, `#` comments.
fn name_list(file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn registered_families_are_upstreams_minus_the_committed_gaps() {
    let upstream = name_list("upstream-families.txt");
    let gaps = name_list("gaps.txt");
    assert!(
        gaps.is_subset(&upstream),
        "gaps that are not upstream's: {:?}",
        gaps.difference(&upstream).collect::<Vec<_>>()
    );
    let expected: BTreeSet<String> = upstream.difference(&gaps).cloned().collect();
    let served: BTreeSet<String> = Metrics::new()
        .family_names()
        .expect("encodes")
        .into_iter()
        .collect();
    assert_eq!(served, expected);
}
