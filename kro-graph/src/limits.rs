//! Size limits an RGD must respect before it is compiled: how large its spec is, how many
//! resources it declares and how long each `${}` expression is.
//!
//! Compilation cost grows with all three (every expression is parsed, type-checked and later
//! evaluated on every reconcile of every instance), so an RGD far outside what anyone writes by
//! hand is rejected with an error naming the limit instead of being worked through.

use std::io;

/// Largest RGD spec, in bytes of its JSON form: 1.5 MiB, etcd's default request size limit
/// (`--max-request-bytes`). An RGD is stored in etcd, so the API server cannot hold a larger one;
/// the limit matters for RGDs read from files and keeps the compiler from working through
/// arbitrarily large input.
pub const MAX_SPEC_BYTES: usize = 3 * 512 * 1024;

/// Most resources per RGD. Each resource is rendered, applied and observed on every reconcile
/// of every instance, and appears in the instance's `status.resources`; 256 is far above the
/// graphs written in practice (upstream's examples have at most a handful) while keeping one
/// reconcile pass and the instance status bounded.
pub const MAX_RESOURCES: usize = 256;

/// Longest `${}` expression, in bytes of its source: 8 KiB. The limit applies to each
/// expression, not to the string holding it, so a long literal (a configuration file in a
/// ConfigMap) may embed expressions. Expressions written by hand stay far below it; the parser
/// and type checker work in proportion to it, and the evaluator's AST node limit does not
/// bound the text itself.
pub const MAX_EXPRESSION_BYTES: usize = 8 * 1024;

/// How much of an over-long expression an error message quotes.
const EXCERPT_CHARS: usize = 64;

/// The size limits [`crate::compile_with_limits`] enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileLimits {
    /// Largest spec, in bytes of its JSON serialization.
    pub max_spec_bytes: usize,
    /// Most entries in `spec.resources`.
    pub max_resources: usize,
    /// Longest `${}` expression, in bytes (the text between `${` and `}`).
    pub max_expression_bytes: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        Self {
            max_spec_bytes: MAX_SPEC_BYTES,
            max_resources: MAX_RESOURCES,
            max_expression_bytes: MAX_EXPRESSION_BYTES,
        }
    }
}

/// The length of `value` written as compact JSON, counted without building the text.
pub(crate) fn json_len<T: serde::Serialize>(value: &T) -> usize {
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; a value that does not serialize counts what it wrote.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The start of `expression`, for messages about expressions too long to quote whole.
pub(crate) fn excerpt(expression: &str) -> String {
    match expression.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}...", &expression[..end]),
        None => expression.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{CompileError, CompileOptions, OfflineResolver, compile, compile_with_limits};
    use kro_api::ResourceGraphDefinition;

    fn config_map(id: &str, data: &str) -> Value {
        json!({
            "id": id,
            "template": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("${{schema.spec.name}}-{id}")},
                "data": {"value": data},
            },
        })
    }

    fn rgd(resources: &[Value]) -> ResourceGraphDefinition {
        let rgd = json!({
            "apiVersion": "kro.run/v1alpha1",
            "kind": "ResourceGraphDefinition",
            "metadata": {"name": "limits"},
            "spec": {
                "schema": {
                    "apiVersion": "v1alpha1",
                    "kind": "Limits",
                    "spec": {"name": "string", "items": "[]string"},
                    "status": {
                        "first": "${first.metadata.name}",
                        "conditions": ["${runtime.newCondition({type: 'C', status: 'True', reason: 'R', message: first.metadata.name})}"],
                    },
                },
                "resources": resources,
            },
        });
        serde_json::from_value(rgd).expect("the test RGD has the API's shape")
    }

    fn with(limits: &CompileLimits, rgd: &ResourceGraphDefinition) -> Result<(), CompileError> {
        compile_with_limits(
            rgd,
            &OfflineResolver::new(),
            &CompileOptions::default(),
            limits,
        )
        .map(|_| ())
    }

    fn messages(result: Result<(), CompileError>) -> Vec<String> {
        result.expect_err("must be rejected").messages()
    }

    /// A standalone expression of exactly `bytes` bytes returning a string.
    fn expression_of(bytes: usize) -> String {
        let filler = bytes - "\"\" + schema.spec.name".len();
        format!("\"{}\" + schema.spec.name", "a".repeat(filler))
    }

    #[test]
    fn json_len_counts_the_compact_form() {
        let value = serde_json::json!({"a": [1, 2], "b": "é"});
        assert_eq!(
            json_len(&value),
            serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0)
        );
    }

    #[test]
    fn excerpt_cuts_on_a_character_boundary() {
        let short = "a".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&short), short);
        let long = "é".repeat(EXCERPT_CHARS + 1);
        assert_eq!(excerpt(&long), format!("{}...", "é".repeat(EXCERPT_CHARS)));
    }

    #[test]
    fn spec_size_at_the_limit_compiles_and_one_byte_over_fails() {
        let rgd = rgd(&[config_map("first", "x")]);
        let size = json_len(&rgd.spec);
        let at = CompileLimits {
            max_spec_bytes: size,
            ..CompileLimits::default()
        };
        with(&at, &rgd).expect("a spec exactly at the limit compiles");
        let under = CompileLimits {
            max_spec_bytes: size - 1,
            ..CompileLimits::default()
        };
        let result = with(&under, &rgd);
        let problems = result
            .clone()
            .expect_err("over the limit")
            .problems()
            .to_vec();
        assert_eq!(problems.len(), 1, "reported alone: {problems:?}");
        assert_eq!(problems[0].path(), "");
        assert_eq!(
            messages(result),
            [format!(
                "the ResourceGraphDefinition spec is {size} bytes as JSON, more than the limit of {} bytes",
                size - 1
            )]
        );
    }

    #[test]
    fn default_spec_limit_is_one_and_a_half_mebibytes() {
        let big = "x".repeat(MAX_SPEC_BYTES);
        let rgd = rgd(&[config_map("first", &big)]);
        let size = json_len(&rgd.spec);
        assert_eq!(
            compile(&rgd, &OfflineResolver::new())
                .expect_err("larger than 1.5 MiB")
                .messages(),
            [format!(
                "the ResourceGraphDefinition spec is {size} bytes as JSON, more than the limit of 1572864 bytes"
            )]
        );
    }

    #[test]
    fn resource_count_at_the_limit_compiles_and_one_over_fails() {
        let resources = |n: usize| -> Vec<Value> {
            let mut all = vec![config_map("first", "x")];
            all.extend((1..n).map(|i| config_map(&format!("r{i}"), "x")));
            all
        };
        let limits = CompileLimits {
            max_resources: 3,
            ..CompileLimits::default()
        };
        with(&limits, &rgd(&resources(3))).expect("three resources fit a limit of three");
        let result = with(&limits, &rgd(&resources(4)));
        let problems = result
            .clone()
            .expect_err("over the limit")
            .problems()
            .to_vec();
        assert_eq!(problems[0].path(), "resources");
        assert_eq!(
            messages(result),
            ["resources: 4 resources are declared, more than the limit of 3"]
        );
    }

    #[test]
    fn default_resource_limit_is_256() {
        let mut all = vec![config_map("first", "x")];
        all.extend((1..=MAX_RESOURCES).map(|i| config_map(&format!("r{i}"), "x")));
        assert_eq!(
            compile(&rgd(&all), &OfflineResolver::new())
                .expect_err("257 resources")
                .messages(),
            ["resources: 257 resources are declared, more than the limit of 256"]
        );
    }

    #[test]
    fn template_expression_at_the_limit_compiles_and_one_byte_over_fails() {
        let expression = expression_of(100);
        assert_eq!(expression.len(), 100);
        let limits = CompileLimits {
            max_expression_bytes: 100,
            ..CompileLimits::default()
        };
        // The limit is per expression: the string around it may be longer.
        let data = format!("prefix ${{{expression}}} suffix");
        with(&limits, &rgd(&[config_map("first", &data)])).expect("100 bytes fit");
        let longer = expression_of(101);
        let data = format!("prefix ${{{longer}}} suffix");
        let result = with(&limits, &rgd(&[config_map("first", &data)]));
        let problems = result.clone().expect_err("101 bytes").problems().to_vec();
        assert_eq!(problems[0].resource_id(), Some("first"));
        assert_eq!(problems[0].path(), "template.data.value");
        assert_eq!(
            messages(result),
            [format!(
                "resource \"first\" template.data.value: expression \"{}...\" is 101 bytes long, more than the limit of 100 bytes",
                &longer[..64]
            )]
        );
    }

    #[test]
    fn default_expression_limit_is_8_kib() {
        let at = format!("${{{}}}", expression_of(MAX_EXPRESSION_BYTES));
        compile(&rgd(&[config_map("first", &at)]), &OfflineResolver::new())
            .expect("an 8 KiB expression compiles");
        let over = format!("${{{}}}", expression_of(MAX_EXPRESSION_BYTES + 1));
        let messages = compile(&rgd(&[config_map("first", &over)]), &OfflineResolver::new())
            .expect_err("one byte over 8 KiB")
            .messages();
        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].ends_with("is 8193 bytes long, more than the limit of 8192 bytes"),
            "{messages:?}"
        );
    }

    #[test]
    fn every_kind_of_expression_is_limited_where_it_sits() {
        let limits = CompileLimits {
            max_expression_bytes: 40,
            ..CompileLimits::default()
        };
        let long_bool = format!("${{\"{}\" != schema.spec.name}}", "b".repeat(40));
        let long_list = format!("${{schema.spec.items + [\"{}\"]}}", "c".repeat(40));
        let mut first = config_map("first", "x");
        first["includeWhen"] = json!([long_bool]);
        first["readyWhen"] = json!([long_bool.replace("schema.spec.name", "first.metadata.name")]);
        let mut many = config_map("many", "x");
        many["forEach"] = json!([{"member": long_list}]);
        many["template"]["metadata"]["name"] = json!("${member}");
        let mut rgd = rgd(&[first, many]);
        rgd.spec.schema.status = Some(json!({
            "first": format!("${{first.metadata.name + \"{}\"}}", "d".repeat(40)),
            "conditions": [format!("${{runtime.newCondition({{type: 'C', status: 'True', reason: 'R', message: '{}'}})}}", "e".repeat(40))],
        }));
        let problems = with(&limits, &rgd)
            .expect_err("five long expressions")
            .problems()
            .to_vec();
        let located: Vec<(Option<&str>, &str)> = problems
            .iter()
            .filter(|p| matches!(p.kind(), crate::ProblemKind::ExpressionTooLong { .. }))
            .map(|p| (p.resource_id(), p.path()))
            .collect();
        assert_eq!(
            located,
            [
                (Some("first"), "includeWhen[0]"),
                (Some("first"), "readyWhen[0]"),
                (Some("many"), "forEach[0].member"),
                (None, "schema.status.first"),
                (None, "schema.status.conditions[0]"),
            ],
            "{problems:?}"
        );
    }
}
