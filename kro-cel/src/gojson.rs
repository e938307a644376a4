//! JSON written byte for byte as Go's `encoding/json` writes it, for the places where kro's output
//! must equal upstream's: the `json.marshal` CEL function and the RGD spec hash. One encoder, so
//! the two never disagree.
//!
//! Go's rules: no spaces; map keys sorted; HTML-safe string escaping (`<`, `>`, `&`, U+2028,
//! U+2029 as `\u` escapes; `\b` and `\f` short forms, as Go 1.22 and later); numbers as float64
//! with the shortest round-trip digits, plain in `[1e-6, 1e21)`, otherwise with an exponent
//! (`1e+21`, `1.5e-7`).

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as Go's `json.Marshal` writes the equivalent `map[string]any` / `[]any` value: object
/// keys sorted, integers as written, other numbers as float64.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Appends `value` to `out` (see [`to_string`]).
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                write_float(f, out);
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
            entries.sort_unstable_by_key(|(key, _)| key.as_str());
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// A float64 as Go's `encoding/json` writes it: shortest round-trip digits, plain notation in
/// `[1e-6, 1e21)`, otherwise an exponent with an explicit sign and no leading zeros.
pub fn write_float(f: f64, out: &mut String) {
    if !f.is_finite() {
        // Go refuses to encode these; JSON input cannot produce them.
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exponent}");
            }
            _ => out.push_str(&text),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

/// A string as Go's `encoding/json` writes it (HTML-safe escaping on, Go 1.22 or later).
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn go_string(s: &str) -> String {
        let mut out = String::new();
        write_string(s, &mut out);
        out
    }

    fn go_float(f: f64) -> String {
        let mut out = String::new();
        write_float(f, &mut out);
        out
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(go_string("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(go_string("q\"\\/"), r#""q\"\\/""#);
        assert_eq!(go_string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(go_string("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
        assert_eq!(go_string("\u{2028}\u{2029}é"), "\"\\u2028\\u2029é\"");
    }

    #[test]
    fn floats_are_written_like_go() {
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(-0.5), "-0.5");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(1e20), "100000000000000000000");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-7), "1.5e-7");
        assert_eq!(go_float(0.000_001), "0.000001");
        assert_eq!(go_float(123_456_789.125), "123456789.125");
    }

    #[test]
    fn values_are_written_like_go_marshal() {
        let value = json!({"b": [1, 2.5, null, true], "a": {"z": "<x>", "y": 1e-7}});
        assert_eq!(
            to_string(&value),
            r#"{"a":{"y":1e-7,"z":"\u003cx\u003e"},"b":[1,2.5,null,true]}"#
        );
    }
}
