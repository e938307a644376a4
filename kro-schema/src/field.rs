//! Parser for one SimpleSchema field string: `"<type> [| <markers>]"`.

use std::fmt;

use crate::error::ErrorKind;
use crate::markers::{Marker, parse_markers_checked};
use crate::warning::WarningKind;

/// The deepest nesting of `[]` and `map[string]` wrappers a type may have.
pub const MAX_TYPE_DEPTH: usize = 16;

/// The type part of a SimpleSchema field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// `string`
    String,
    /// `integer` (OpenAPI `integer`)
    Integer,
    /// `boolean`
    Boolean,
    /// `float` (OpenAPI `number`)
    Float,
    /// `object`: free-form, unknown fields preserved.
    Object,
    /// `[]T`
    Array(Box<TypeExpr>),
    /// `map[string]T`
    Map(Box<TypeExpr>),
    /// A name declared in `schema.types`.
    Custom(String),
}

impl TypeExpr {
    /// The built-in type for a keyword, if it is one.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "string" => Some(Self::String),
            "integer" => Some(Self::Integer),
            "boolean" => Some(Self::Boolean),
            "float" => Some(Self::Float),
            "object" => Some(Self::Object),
            _ => None,
        }
    }

    /// Calls `visit` with every custom type name this type refers to.
    pub fn for_each_custom<'a>(&'a self, visit: &mut impl FnMut(&'a str)) {
        match self {
            Self::Array(inner) | Self::Map(inner) => inner.for_each_custom(visit),
            Self::Custom(name) => visit(name),
            Self::String | Self::Integer | Self::Boolean | Self::Float | Self::Object => {}
        }
    }
}

impl fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Integer => f.write_str("integer"),
            Self::Boolean => f.write_str("boolean"),
            Self::Float => f.write_str("float"),
            Self::Object => f.write_str("object"),
            Self::Array(inner) => write!(f, "[]{inner}"),
            Self::Map(inner) => write!(f, "map[string]{inner}"),
            Self::Custom(name) => f.write_str(name),
        }
    }
}

/// A parsed field string: its type and its markers in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// The type before the first `|`.
    pub ty: TypeExpr,
    /// The markers after the first `|`.
    pub markers: Vec<Marker>,
}

/// Parses a field string such as `"integer | default=3 minimum=1"`.
///
/// The type is everything before the first `|`; markers follow it.
pub fn parse_field(text: &str) -> Result<FieldSpec, ErrorKind> {
    parse_field_checked(text).map(|(field, _)| field)
}

/// Like [`parse_field`], also returning the warnings of its markers.
pub(crate) fn parse_field_checked(text: &str) -> Result<(FieldSpec, Vec<WarningKind>), ErrorKind> {
    let (type_text, marker_text) = match text.split_once('|') {
        Some((ty, markers)) => (ty, Some(markers)),
        None => (text, None),
    };
    let ty = parse_type(type_text)?;
    let (markers, warnings) = match marker_text {
        Some(markers) => parse_markers_checked(markers)?,
        None => (Vec::new(), Vec::new()),
    };
    Ok((FieldSpec { ty, markers }, warnings))
}

/// Parses a type such as `[]map[string]Port`.
pub fn parse_type(text: &str) -> Result<TypeExpr, ErrorKind> {
    let whole = text.trim();
    let mut rest = whole;
    // Wrappers are collected outside-in and applied inside-out, so parsing never recurses.
    let mut wrappers: Vec<Wrapper> = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix("[]") {
            wrappers.push(Wrapper::Array);
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix("map[") {
            let Some(close) = after.find(']') else {
                return Err(ErrorKind::MalformedMap {
                    text: whole.to_owned(),
                });
            };
            let key = after[..close].trim();
            if key != "string" {
                return Err(ErrorKind::MapKeyNotString {
                    key: key.to_owned(),
                });
            }
            wrappers.push(Wrapper::Map);
            rest = after[close + 1..].trim_start();
        } else {
            break;
        }
        if wrappers.len() > MAX_TYPE_DEPTH {
            let depth = count_wrappers(whole);
            return Err(ErrorKind::TypeTooDeep {
                text: whole.to_owned(),
                depth,
                max: MAX_TYPE_DEPTH,
            });
        }
    }

    let atom = if rest.is_empty() {
        return Err(match wrappers.last() {
            None => ErrorKind::EmptyType,
            Some(Wrapper::Array) => ErrorKind::MissingElementType {
                text: whole.to_owned(),
                part: "element type",
            },
            Some(Wrapper::Map) => ErrorKind::MissingElementType {
                text: whole.to_owned(),
                part: "value type",
            },
        });
    } else if let Some(builtin) = TypeExpr::builtin(rest) {
        builtin
    } else if is_type_name(rest) {
        TypeExpr::Custom(rest.to_owned())
    } else {
        return Err(ErrorKind::InvalidType {
            text: whole.to_owned(),
        });
    };

    Ok(wrappers
        .into_iter()
        .rev()
        .fold(atom, |inner, wrapper| match wrapper {
            Wrapper::Array => TypeExpr::Array(Box::new(inner)),
            Wrapper::Map => TypeExpr::Map(Box::new(inner)),
        }))
}

/// A collection prefix seen while scanning a type from the outside in.
#[derive(Clone, Copy)]
enum Wrapper {
    Array,
    Map,
}

/// Counts `[]`/`map[..]` prefixes without a limit, for the depth error message.
fn count_wrappers(mut rest: &str) -> usize {
    let mut depth = 0;
    loop {
        if let Some(after) = rest.strip_prefix("[]") {
            rest = after.trim_start();
        } else if let Some((_, after)) = rest
            .strip_prefix("map[")
            .and_then(|after| after.split_once(']'))
        {
            rest = after.trim_start();
        } else {
            return depth;
        }
        depth += 1;
    }
}

/// A custom type name: a letter or `_`, then letters, digits, `_`, `-` or `.`.
pub(crate) fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A suggestion for names people commonly write instead of a SimpleSchema keyword.
pub(crate) fn type_hint(name: &str) -> String {
    let suggestion = match name {
        "number" | "double" | "float64" => "float",
        "int" | "int32" | "int64" => "integer",
        "bool" => "boolean",
        "str" => "string",
        "array" | "list" => "[]<element type>",
        "map" | "dict" => "map[string]<value type>",
        _ => return String::new(),
    };
    format!(" (did you mean `{suggestion}`?)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str) -> TypeExpr {
        TypeExpr::Custom(name.to_owned())
    }

    #[test]
    fn parses_atomic_types() {
        assert_eq!(parse_type("string"), Ok(TypeExpr::String));
        assert_eq!(parse_type(" integer "), Ok(TypeExpr::Integer));
        assert_eq!(parse_type("boolean"), Ok(TypeExpr::Boolean));
        assert_eq!(parse_type("float"), Ok(TypeExpr::Float));
        assert_eq!(parse_type("object"), Ok(TypeExpr::Object));
    }

    #[test]
    fn number_is_a_custom_name_not_a_keyword() {
        assert_eq!(parse_type("number"), Ok(custom("number")));
    }

    #[test]
    fn parses_nested_collections() {
        assert_eq!(
            parse_type("[]map[string][]Port"),
            Ok(TypeExpr::Array(Box::new(TypeExpr::Map(Box::new(
                TypeExpr::Array(Box::new(custom("Port")))
            )))))
        );
        assert_eq!(
            parse_type("map[ string ]integer"),
            Ok(TypeExpr::Map(Box::new(TypeExpr::Integer)))
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "[]map[string][]Port",
            "map[string]float",
            "object",
            "[][]string",
        ] {
            let parsed = parse_type(text).unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_types() {
        assert_eq!(parse_type("  "), Err(ErrorKind::EmptyType));
        assert_eq!(
            parse_type("[]"),
            Err(ErrorKind::MissingElementType {
                text: "[]".into(),
                part: "element type"
            })
        );
        assert_eq!(
            parse_type("map[string]"),
            Err(ErrorKind::MissingElementType {
                text: "map[string]".into(),
                part: "value type"
            })
        );
        assert_eq!(
            parse_type("map[int]string"),
            Err(ErrorKind::MapKeyNotString { key: "int".into() })
        );
        assert_eq!(
            parse_type("map[string"),
            Err(ErrorKind::MalformedMap {
                text: "map[string".into()
            })
        );
        assert_eq!(
            parse_type("str ing"),
            Err(ErrorKind::InvalidType {
                text: "str ing".into()
            })
        );
        assert_eq!(
            parse_type("[3]int"),
            Err(ErrorKind::InvalidType {
                text: "[3]int".into()
            })
        );
    }

    #[test]
    fn depth_limit_is_sixteen() {
        let ok = format!("{}string", "[]".repeat(MAX_TYPE_DEPTH));
        assert!(parse_type(&ok).is_ok());
        let too_deep = format!("{}string", "[]".repeat(MAX_TYPE_DEPTH + 1));
        assert_eq!(
            parse_type(&too_deep).unwrap_err().to_string(),
            format!("type `{too_deep}` nests 17 arrays/maps: the maximum is 16")
        );
    }

    #[test]
    fn parse_field_splits_on_first_pipe() {
        let field = parse_field("string | pattern=\"a|b\"").unwrap();
        assert_eq!(field.ty, TypeExpr::String);
        assert_eq!(field.markers, vec![Marker::Pattern("a|b".into())]);
        assert_eq!(parse_field("integer").unwrap().markers, vec![]);
        assert_eq!(parse_field("| default=1"), Err(ErrorKind::EmptyType));
    }

    #[test]
    fn hints_common_mistakes() {
        assert_eq!(type_hint("number"), " (did you mean `float`?)");
        assert_eq!(type_hint("array"), " (did you mean `[]<element type>`?)");
        assert_eq!(type_hint("Port"), "");
    }
}
