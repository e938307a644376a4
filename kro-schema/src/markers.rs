//! Marker parser: the `key=value` list after the first `|` of a field string.
//!
//! Values are bare tokens, double-quoted strings (`\"` and `\\` are unescaped, any other `\x` is
//! kept as written), or bracketed `[...]`/`{...}` groups that may contain spaces and quotes.

use std::collections::BTreeSet;

use crate::error::ErrorKind;
use crate::warning::WarningKind;

/// Every marker key, for error messages.
pub(crate) const KNOWN_MARKERS: &str = "required, default, description, enum, minimum, maximum, \
     pattern, minLength, maxLength, minItems, maxItems, uniqueItems, listType, listMapKey, \
     immutable, validation";

/// The value of `listType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListType {
    /// The list is replaced as a whole.
    Atomic,
    /// Items are unique scalars.
    Set,
    /// Items are objects identified by the `listMapKey` fields.
    Map,
}

impl ListType {
    /// The OpenAPI `x-kubernetes-list-type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Atomic => "atomic",
            Self::Set => "set",
            Self::Map => "map",
        }
    }
}

/// One marker with its value checked for shape (the type-dependent checks happen when the marker
/// is applied to a schema).
#[derive(Debug, Clone, PartialEq)]
pub enum Marker {
    /// `required=<bool>`
    Required(bool),
    /// `default=<value>`, kept as written: its meaning depends on the field type.
    Default(String),
    /// `description=<text>`
    Description(String),
    /// `enum="a,b,c"`, split and trimmed.
    Enum(Vec<String>),
    /// `minimum=<number>`
    Minimum(f64),
    /// `maximum=<number>`
    Maximum(f64),
    /// `pattern=<Go RE2 regular expression>`
    Pattern(String),
    /// `minLength=<n>`
    MinLength(i64),
    /// `maxLength=<n>`
    MaxLength(i64),
    /// `minItems=<n>`
    MinItems(i64),
    /// `maxItems=<n>`
    MaxItems(i64),
    /// `uniqueItems=<bool>` (`true` becomes `x-kubernetes-list-type: set`)
    UniqueItems(bool),
    /// `listType=atomic|set|map`
    ListType(ListType),
    /// `listMapKey=<field>` (repeatable)
    ListMapKey(String),
    /// `immutable=<bool>`
    Immutable(bool),
    /// `validation=<CEL rule>` (repeatable)
    Validation(String),
}

impl Marker {
    /// The marker's key as written in SimpleSchema.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Required(_) => "required",
            Self::Default(_) => "default",
            Self::Description(_) => "description",
            Self::Enum(_) => "enum",
            Self::Minimum(_) => "minimum",
            Self::Maximum(_) => "maximum",
            Self::Pattern(_) => "pattern",
            Self::MinLength(_) => "minLength",
            Self::MaxLength(_) => "maxLength",
            Self::MinItems(_) => "minItems",
            Self::MaxItems(_) => "maxItems",
            Self::UniqueItems(_) => "uniqueItems",
            Self::ListType(_) => "listType",
            Self::ListMapKey(_) => "listMapKey",
            Self::Immutable(_) => "immutable",
            Self::Validation(_) => "validation",
        }
    }

    /// Whether the marker may appear more than once on a field.
    pub(crate) fn repeatable(&self) -> bool {
        matches!(self, Self::Validation(_) | Self::ListMapKey(_))
    }
}

/// Parses the marker list after the first `|`, e.g. `default=3 minimum=1 description="a b"`.
///
/// A marker may repeat (upstream kro applies each in order); [`crate::SimpleSchema`] reports that
/// as a warning.
pub fn parse_markers(text: &str) -> Result<Vec<Marker>, ErrorKind> {
    parse_markers_checked(text).map(|(markers, _)| markers)
}

/// Like [`parse_markers`], also returning what upstream accepts but deserves a warning.
pub(crate) fn parse_markers_checked(
    text: &str,
) -> Result<(Vec<Marker>, Vec<WarningKind>), ErrorKind> {
    let mut markers: Vec<Marker> = Vec::new();
    let mut warnings = Vec::new();
    let mut map_keys = BTreeSet::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok((markers, warnings));
        }
        let (key, raw_value, after) = split_marker(rest, &mut warnings)?;
        let marker = interpret(key, raw_value, &mut warnings)?;
        if let Marker::ListMapKey(field) = &marker
            && !map_keys.insert(field.clone())
        {
            return Err(ErrorKind::Duplicate {
                value: format!("listMapKey={field}"),
            });
        }
        markers.push(marker);
        rest = after;
    }
}

/// Splits `key=value rest...` into the key, the value (still quoted) and what follows.
fn split_marker<'t>(
    text: &'t str,
    warnings: &mut Vec<WarningKind>,
) -> Result<(&'t str, RawValue<'t>, &'t str), ErrorKind> {
    let key_end = text
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(text.len());
    let key = &text[..key_end];
    // Upstream ignores whitespace before the `=` (`minimum =1`), so that is only a warning.
    let spaced = text[key_end..].trim_start();
    let equals = if !text[key_end..].starts_with('=') && spaced.starts_with('=') && !key.is_empty()
    {
        warnings.push(WarningKind::SpaceBeforeEquals {
            marker: key.to_owned(),
        });
        text.len() - spaced.len()
    } else {
        key_end
    };
    if !text[equals..].starts_with('=') {
        return Err(ErrorKind::MarkerWithoutValue {
            key: key.to_owned(),
        });
    }
    if key.is_empty() {
        return Err(ErrorKind::EmptyMarkerKey);
    }
    if !KNOWN_MARKERS.split(", ").any(|known| known == key) {
        return Err(ErrorKind::UnknownMarker {
            key: key.to_owned(),
            known: KNOWN_MARKERS,
        });
    }
    let value_start = equals + 1;
    let value_text = &text[value_start..];
    let value_len = scan_value(key, value_text)?;
    let raw = &value_text[..value_len];
    Ok((key, RawValue(raw), &value_text[value_len..]))
}

/// A marker value as written, quotes included.
#[derive(Clone, Copy)]
struct RawValue<'a>(&'a str);

impl RawValue<'_> {
    /// The value with one level of surrounding double quotes removed and `\"`, `\\` unescaped.
    fn unquoted(&self) -> String {
        let raw = self.0;
        let Some(inner) = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|_| raw.len() >= 2 && quoted_span_len(raw) == Some(raw.len()))
        else {
            return raw.trim().to_owned();
        };
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(escaped @ ('"' | '\\')) => out.push(escaped),
                // Regular expressions and CEL need their other escapes untouched.
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }
}

/// Length of the quoted string starting at `text[0] == '"'`, closing quote included.
fn quoted_span_len(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// Length of one value: up to the first whitespace outside quotes and brackets.
fn scan_value(key: &str, text: &str) -> Result<usize, ErrorKind> {
    let mut open: Vec<char> = Vec::new();
    let mut index = 0;
    while index < text.len() {
        let rest = &text[index..];
        let Some(c) = rest.chars().next() else { break };
        match c {
            '"' => {
                let Some(len) = quoted_span_len(rest) else {
                    return Err(ErrorKind::UnclosedQuote {
                        marker: key.to_owned(),
                    });
                };
                index += len;
                continue;
            }
            '[' | '{' => open.push(c),
            ']' | '}' => {
                let expected_opener = if c == ']' { '[' } else { '{' };
                match open.last() {
                    Some(&last) if last == expected_opener => {
                        open.pop();
                    }
                    innermost => {
                        let expected = match innermost {
                            Some(&last) => format!("`{}`", closer(last)),
                            None => "no closing bracket here (quote values that contain brackets)"
                                .to_owned(),
                        };
                        return Err(ErrorKind::UnexpectedClosingBracket {
                            marker: key.to_owned(),
                            found: c,
                            expected,
                        });
                    }
                }
            }
            c if c.is_whitespace() && open.is_empty() => return Ok(index),
            _ => {}
        }
        index += c.len_utf8();
    }
    match open.last() {
        Some(&bracket) => Err(ErrorKind::UnclosedBracket {
            marker: key.to_owned(),
            open: bracket,
            close: closer(bracket),
        }),
        None => Ok(index),
    }
}

fn closer(open: char) -> char {
    if open == '[' { ']' } else { '}' }
}

/// Checks a value's shape for its key.
fn interpret(
    key: &str,
    raw: RawValue<'_>,
    warnings: &mut Vec<WarningKind>,
) -> Result<Marker, ErrorKind> {
    let value = raw.unquoted();
    let marker = match key {
        "required" => Marker::Required(parse_bool("required", &value)?),
        "default" => Marker::Default(value),
        "description" => Marker::Description(value),
        "enum" => Marker::Enum(parse_enum(&value)?),
        "minimum" => Marker::Minimum(parse_number("minimum", &value)?),
        "maximum" => Marker::Maximum(parse_number("maximum", &value)?),
        "pattern" => Marker::Pattern(check_pattern(value, warnings)?),
        "minLength" => Marker::MinLength(parse_count("minLength", &value)?),
        "maxLength" => Marker::MaxLength(parse_count("maxLength", &value)?),
        "minItems" => Marker::MinItems(parse_count("minItems", &value)?),
        "maxItems" => Marker::MaxItems(parse_count("maxItems", &value)?),
        "uniqueItems" => Marker::UniqueItems(parse_bool("uniqueItems", &value)?),
        "listType" => Marker::ListType(match value.as_str() {
            "atomic" => ListType::Atomic,
            "set" => ListType::Set,
            "map" => ListType::Map,
            _ => {
                return Err(invalid(
                    "listType",
                    "one of `atomic`, `set` or `map`",
                    value,
                ));
            }
        }),
        "listMapKey" => {
            if value.is_empty() {
                return Err(invalid(
                    "listMapKey",
                    "the name of a field of the list items",
                    value,
                ));
            }
            Marker::ListMapKey(value)
        }
        "immutable" => Marker::Immutable(parse_bool("immutable", &value)?),
        "validation" => {
            if value.trim().is_empty() {
                return Err(invalid("validation", "a non-empty CEL rule", value));
            }
            Marker::Validation(value)
        }
        // split_marker only lets known keys through.
        _ => {
            return Err(ErrorKind::UnknownMarker {
                key: key.to_owned(),
                known: KNOWN_MARKERS,
            });
        }
    };
    Ok(marker)
}

fn invalid(marker: &'static str, expected: &str, value: String) -> ErrorKind {
    ErrorKind::InvalidMarkerValue {
        marker,
        expected: expected.to_owned(),
        value,
    }
}

/// Booleans as Go's `strconv.ParseBool` accepts them, so upstream RGDs keep working.
pub(crate) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_bool(marker: &'static str, value: &str) -> Result<bool, ErrorKind> {
    parse_go_bool(value).ok_or_else(|| invalid(marker, "`true` or `false`", value.to_owned()))
}

/// A finite number: JSON cannot carry NaN or infinities, so the CRD would be unusable.
pub(crate) fn parse_finite(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

fn parse_number(marker: &'static str, value: &str) -> Result<f64, ErrorKind> {
    parse_finite(value).ok_or_else(|| invalid(marker, "a finite number", value.to_owned()))
}

fn parse_count(marker: &'static str, value: &str) -> Result<i64, ErrorKind> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .ok_or_else(|| invalid(marker, "an integer", value.to_owned()))
}

fn parse_enum(value: &str) -> Result<Vec<String>, ErrorKind> {
    value
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            if entry.is_empty() {
                Err(invalid(
                    "enum",
                    "a comma-separated list without empty entries",
                    value.into(),
                ))
            } else {
                Ok(entry.to_owned())
            }
        })
        .collect()
}

fn check_pattern(pattern: String, warnings: &mut Vec<WarningKind>) -> Result<String, ErrorKind> {
    if pattern.is_empty() {
        return Err(invalid(
            "pattern",
            "a non-empty regular expression",
            pattern,
        ));
    }
    match compile_pattern(&pattern) {
        Ok(_) => Ok(pattern),
        // Go's RE2 has no such size limit: the API server may well accept the pattern.
        Err(PatternError::TooBig(reason)) => {
            warnings.push(WarningKind::PatternNotChecked {
                pattern: pattern.clone(),
                reason,
            });
            Ok(pattern)
        }
        Err(PatternError::Syntax(reason)) => Err(ErrorKind::InvalidPattern { pattern, reason }),
    }
}

/// Why a pattern does not compile.
pub(crate) enum PatternError {
    /// The dialect rejects it (as Go RE2 would, for look-around and backreferences).
    Syntax(String),
    /// It compiles to more than kro-rs's size limit.
    TooBig(String),
}

/// Compiles a pattern with a dialect close to Go RE2: no look-around and no backreferences.
pub(crate) fn compile_pattern(pattern: &str) -> Result<regex::Regex, PatternError> {
    regex::RegexBuilder::new(pattern)
        // The API server limits CEL and regex cost; a smaller limit here keeps fuzzing fast.
        .size_limit(1 << 20)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => PatternError::TooBig(regex_reason(&error)),
            _ => PatternError::Syntax(regex_reason(&error)),
        })
}

/// The one-line reason of a `regex` error (its `Display` draws a multi-line diagram).
fn regex_reason(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|line| line.trim().strip_prefix("error: "))
            .unwrap_or("invalid syntax")
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled expression exceeds {limit} bytes")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Marker {
        let mut markers = parse_markers(text).unwrap();
        assert_eq!(markers.len(), 1, "{text}");
        markers.remove(0)
    }

    #[test]
    fn parses_every_marker() {
        assert_eq!(one("required=true"), Marker::Required(true));
        assert_eq!(one("required=F"), Marker::Required(false));
        assert_eq!(one("default=3"), Marker::Default("3".into()));
        assert_eq!(
            one("description=\"a b\""),
            Marker::Description("a b".into())
        );
        assert_eq!(
            one("enum=\"a, b ,c\""),
            Marker::Enum(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(one("minimum=-1.5"), Marker::Minimum(-1.5));
        assert_eq!(one("maximum=1e3"), Marker::Maximum(1000.0));
        assert_eq!(
            one("pattern=\"^a\\\\d$\""),
            Marker::Pattern("^a\\d$".into())
        );
        assert_eq!(one("minLength=1"), Marker::MinLength(1));
        assert_eq!(one("maxLength=10"), Marker::MaxLength(10));
        assert_eq!(one("minItems=0"), Marker::MinItems(0));
        assert_eq!(one("maxItems=5"), Marker::MaxItems(5));
        assert_eq!(one("uniqueItems=true"), Marker::UniqueItems(true));
        assert_eq!(one("listType=map"), Marker::ListType(ListType::Map));
        assert_eq!(one("listMapKey=name"), Marker::ListMapKey("name".into()));
        assert_eq!(one("immutable=true"), Marker::Immutable(true));
        assert_eq!(
            one("validation=\"self.size() > 0\""),
            Marker::Validation("self.size() > 0".into())
        );
    }

    #[test]
    fn quoting_rules() {
        // `\"` and `\\` are unescaped; other escapes stay as written.
        assert_eq!(
            one(r#"description="say \"hi\" \\ \d""#),
            Marker::Description(r#"say "hi" \ \d"#.into())
        );
        // A quoted part inside a bare value keeps its quotes.
        assert_eq!(
            one(r#"default=a"b c""#),
            Marker::Default(r#"a"b c""#.into())
        );
        assert_eq!(one("default=\"\""), Marker::Default(String::new()));
        assert_eq!(one("default="), Marker::Default(String::new()));
    }

    #[test]
    fn bracket_rules() {
        assert_eq!(
            one("default=[1, 2, 3]"),
            Marker::Default("[1, 2, 3]".into())
        );
        assert_eq!(
            one(r#"default={"a": "] }", "b": [1, {"c": 2}]}"#),
            Marker::Default(r#"{"a": "] }", "b": [1, {"c": 2}]}"#.into())
        );
        let markers = parse_markers(r#"default={"a": 1} required=false"#).unwrap();
        assert_eq!(
            markers,
            vec![
                Marker::Default(r#"{"a": 1}"#.into()),
                Marker::Required(false)
            ]
        );
    }

    #[test]
    fn several_markers_in_order() {
        let markers = parse_markers("  default=3   minimum=1 description=\"x\"  ").unwrap();
        assert_eq!(
            markers,
            vec![
                Marker::Default("3".into()),
                Marker::Minimum(1.0),
                Marker::Description("x".into())
            ]
        );
        assert_eq!(parse_markers("   ").unwrap(), vec![]);
    }

    #[test]
    fn repeatable_markers() {
        let markers =
            parse_markers("validation=\"a\" validation=\"b\" listMapKey=x listMapKey=y").unwrap();
        assert_eq!(markers.len(), 4);
    }

    fn error(text: &str) -> String {
        parse_markers(text).unwrap_err().to_string()
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(error("=3"), "marker without a key: expected `key=value`");
        assert_eq!(
            error("foo=1"),
            format!("unknown marker `foo`: expected one of {KNOWN_MARKERS}")
        );
        assert_eq!(
            error("required"),
            "marker `required` has no value: expected `required=<value>`"
        );
        assert_eq!(
            error("required true"),
            "marker `required` has no value: expected `required=<value>`"
        );
        assert_eq!(
            error("description=\"abc"),
            "marker `description`: unclosed double quote: expected a closing `\"`"
        );
        assert_eq!(
            error("default=[1, 2"),
            "marker `default`: unclosed `[`: expected a matching `]`"
        );
        assert_eq!(
            error("default={\"a\": [1}"),
            "marker `default`: unexpected `}`: expected `]`"
        );
        assert_eq!(
            error("default=a]"),
            "marker `default`: unexpected `]`: expected no closing bracket here (quote values \
             that contain brackets)"
        );
        assert_eq!(
            error("listMapKey=a listMapKey=a"),
            "duplicate entry `listMapKey=a`: expected each entry once"
        );
    }

    #[test]
    fn value_errors() {
        assert_eq!(
            error("required=yes"),
            "marker `required`: expected `true` or `false`, got `yes`"
        );
        assert_eq!(
            error("immutable=2"),
            "marker `immutable`: expected `true` or `false`, got `2`"
        );
        assert_eq!(
            error("uniqueItems=x"),
            "marker `uniqueItems`: expected `true` or `false`, got `x`"
        );
        assert_eq!(
            error("minimum=abc"),
            "marker `minimum`: expected a finite number, got `abc`"
        );
        assert_eq!(
            error("maximum=NaN"),
            "marker `maximum`: expected a finite number, got `NaN`"
        );
        assert_eq!(
            error("maxLength=1.5"),
            "marker `maxLength`: expected an integer, got `1.5`"
        );
        assert_eq!(
            error("minItems=x"),
            "marker `minItems`: expected an integer, got `x`"
        );
        assert_eq!(
            error("maxItems=x"),
            "marker `maxItems`: expected an integer, got `x`"
        );
        assert_eq!(
            error("enum=\"a,,b\""),
            "marker `enum`: expected a comma-separated list without empty entries, got `a,,b`"
        );
        assert_eq!(
            error("listType=list"),
            "marker `listType`: expected one of `atomic`, `set` or `map`, got `list`"
        );
        assert_eq!(
            error("listMapKey=\"\""),
            "marker `listMapKey`: expected the name of a field of the list items, got ``"
        );
        assert_eq!(
            error("validation=\" \""),
            "marker `validation`: expected a non-empty CEL rule, got ` `"
        );
        assert_eq!(
            error("pattern=\"\""),
            "marker `pattern`: expected a non-empty regular expression, got ``"
        );
    }

    #[test]
    fn upstream_leniencies_parse_with_warnings() {
        // Repeated markers are kept in order: the last one wins when they are applied.
        assert_eq!(
            parse_markers("default=1 default=2").unwrap(),
            vec![Marker::Default("1".into()), Marker::Default("2".into())]
        );
        // Negative counts are left to the API server, which accepts them.
        assert_eq!(one("minLength=-1"), Marker::MinLength(-1));
        // Whitespace before `=` is ignored, as upstream does, with a warning.
        let (markers, warnings) = parse_markers_checked("minimum =1 required=true").unwrap();
        assert_eq!(markers, vec![Marker::Minimum(1.0), Marker::Required(true)]);
        assert_eq!(
            warnings,
            vec![WarningKind::SpaceBeforeEquals {
                marker: "minimum".into()
            }]
        );
        assert_eq!(
            warnings[0].to_string(),
            "marker `minimum` has whitespace before `=`: expected `minimum=<value>`"
        );
        // A pattern too large for kro-rs's engine is left to the API server's.
        let (markers, warnings) = parse_markers_checked(r#"pattern="^\\w{1,1000}$""#).unwrap();
        assert_eq!(markers, vec![Marker::Pattern(r"^\w{1,1000}$".into())]);
        assert!(matches!(
            warnings.as_slice(),
            [WarningKind::PatternNotChecked { .. }]
        ));
    }

    #[test]
    fn patterns_use_the_re2_dialect() {
        assert!(parse_markers(r#"pattern="^[a-z]+(-[a-z]+)*$""#).is_ok());
        assert_eq!(
            error(r#"pattern="(?=a)b""#),
            "marker `pattern`: expected a Go RE2 regular expression, got `(?=a)b`: look-around, \
             including look-ahead and look-behind, is not supported"
        );
        assert_eq!(
            error(r#"pattern="(a)\1""#),
            "marker `pattern`: expected a Go RE2 regular expression, got `(a)\\1`: backreferences \
             are not supported"
        );
        assert_eq!(
            error(r#"pattern="a(""#),
            "marker `pattern`: expected a Go RE2 regular expression, got `a(`: unclosed group"
        );
    }
}
