//! Reading an OpenMetrics (or Prometheus text) exposition back: the families it declares and
//! its samples. Used by the tests that compare what the operator serves with upstream's list.

use std::collections::BTreeMap;

/// The families declared by `# TYPE` lines, as upstream names them, with their type. An
/// OpenMetrics counter family `x` is served as the samples `x_total`, which is the name
/// upstream's Go code (and PromQL) uses, so counters are listed with `_total`.
#[must_use]
pub fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let (name, kind) = rest.split_once(' ')?;
            let kind = kind.trim();
            let name = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            Some((name, kind.to_owned()))
        })
        .collect()
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`x_total`, `x_bucket`, `x_count`, ...).
    pub name: String,
    /// The label set as written, without braces (empty when none).
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// Every sample of `text` whose value parses.
#[must_use]
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = match line.rfind('}') {
                Some(end) => (&line[..=end], line[end + 1..].trim()),
                None => line.split_once(' ')?,
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            Some(Sample {
                name: name.to_owned(),
                labels: labels.to_owned(),
                value,
            })
        })
        .collect()
}

/// The sum over the series of `family` (a counter's `_total` or a histogram's `_count`
/// samples, a gauge's value).
#[must_use]
pub fn total(samples: &[Sample], family: &str, kind: &str) -> f64 {
    let sample_name = match kind {
        "histogram" => format!("{family}_count"),
        _ => family.to_owned(),
    };
    samples
        .iter()
        .filter(|sample| sample.name == sample_name)
        .map(|sample| sample.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_and_samples_parse() {
        let text = "# HELP a_b x.\n# TYPE a_b counter\na_b_total{x=\"1 }\"} 3\n\
                    # TYPE h histogram\nh_count 2\nh_sum 0.5\n# TYPE g gauge\ng 1.5\n# EOF\n";
        let families = families(text);
        assert_eq!(
            families.get("a_b_total").map(String::as_str),
            Some("counter")
        );
        assert_eq!(families.get("h").map(String::as_str), Some("histogram"));
        let samples = samples(text);
        assert_eq!(total(&samples, "a_b_total", "counter"), 3.0);
        assert_eq!(total(&samples, "h", "histogram"), 2.0);
        assert_eq!(total(&samples, "g", "gauge"), 1.5);
    }
}
