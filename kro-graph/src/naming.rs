//! Naming rules: resource ids, iterator names, kinds, reserved words and prefixes.

/// Words that may not be resource ids or forEach iterator names: kro's own variables and
/// concepts, and CEL's reserved words.
pub const RESERVED_WORDS: &[&str] = &[
    "apiVersion",
    "context",
    "dependency",
    "dependencies",
    "each",
    "externalRef",
    "externalReference",
    "externalRefs",
    "externalReferences",
    "graph",
    "instance",
    "item",
    "items",
    "kind",
    "kro",
    "metadata",
    "namespace",
    "object",
    "resource",
    "resourcegraphdefinition",
    "resourceGraphDefinition",
    "resources",
    "root",
    "runtime",
    "schema",
    "self",
    "serviceAccountName",
    "spec",
    "status",
    "this",
    "variables",
    "vars",
    "version",
    // CEL reserved words.
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "return",
    "var",
    "void",
    "while",
];

/// Label and annotation prefixes kro reserves for the metadata it stamps on children.
pub const RESERVED_PREFIXES: &[&str] = &["kro.run/", "internal.kro.run/"];

/// At most this many forEach dimensions per resource (`--rgd-max-collection-dimension-size`).
pub const MAX_FOREACH_DIMENSIONS: usize = 10;

/// `^[a-z][a-zA-Z0-9]*$`.
pub fn is_lower_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// `^[A-Z][a-zA-Z0-9]*$`.
pub fn is_upper_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Whether `name` is a reserved word.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_WORDS.contains(&name)
}

/// A DNS-1035 label: `^[a-z]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
pub fn is_dns1035_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.last().is_some_and(|&b| b != b'-')
}

/// The reserved prefix `key` starts with, if any.
pub fn reserved_prefix(key: &str) -> Option<&'static str> {
    RESERVED_PREFIXES
        .iter()
        .copied()
        .find(|prefix| key.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_rules() {
        assert!(is_lower_camel_case("deployment2"));
        assert!(!is_lower_camel_case("Deployment"));
        assert!(!is_lower_camel_case("my-app"));
        assert!(is_upper_camel_case("WebApp"));
        assert!(!is_upper_camel_case("webApp"));
        assert!(is_reserved("schema") && is_reserved("while") && !is_reserved("app"));
        assert!(is_dns1035_label("deployment") && !is_dns1035_label("9lives"));
        assert_eq!(
            reserved_prefix("internal.kro.run/x"),
            Some("internal.kro.run/")
        );
        assert_eq!(reserved_prefix("app.kro.run/x"), None);
    }
}
