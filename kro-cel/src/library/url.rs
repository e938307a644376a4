//! The Kubernetes URL library: `url()`, `isURL()` and the `get*` accessors, with the parsing
//! rules of Go's `url.ParseRequestURI` (an absolute URI or an absolute path).

use super::{Overload, value_fns};
use cel::ExecutionError;
use cel::common::types::{Kind, STRING_TYPE, Type};
use cel::objects::{Key, Map, Opaque, Value};
use std::collections::HashMap;
use std::sync::Arc;

const URL_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.URL");

/// A parsed URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
}

impl Opaque for Url {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.URL"
    }
}

fn parse(input: &str) -> Result<Url, String> {
    if input.is_empty() {
        return Err("empty url".to_owned());
    }
    if input.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!("invalid character in url {input:?}"));
    }
    check_escapes(input)?;
    let (rest, query) = match input.split_once('?') {
        Some((r, q)) => (r, q.to_owned()),
        None => (input, String::new()),
    };
    if rest.starts_with('/') {
        return Ok(Url {
            scheme: String::new(),
            host: String::new(),
            path: rest.to_owned(),
            query,
        });
    }
    let Some((scheme, after)) = rest.split_once(':') else {
        return Err(format!("invalid URI for request: {input:?}"));
    };
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return Err(format!("missing or invalid protocol scheme in {input:?}"));
    }
    let Some(authority_and_path) = after.strip_prefix("//") else {
        if after.starts_with('/') || after.is_empty() {
            return Err(format!("invalid URI for request: {input:?}"));
        }
        // An opaque URI such as `mailto:someone@example.com`.
        return Ok(Url {
            scheme: scheme.to_owned(),
            host: String::new(),
            path: String::new(),
            query,
        });
    };
    let (authority, path) = match authority_and_path.find('/') {
        Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
        None => (authority_and_path, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    validate_host(host)?;
    Ok(Url {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        path: path.to_owned(),
        query,
    })
}

fn check_escapes(input: &str) -> Result<(), String> {
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let valid = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !valid {
                return Err(format!("invalid URL escape in {input:?}"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn validate_host(host: &str) -> Result<(), String> {
    let port = if let Some(rest) = host.strip_prefix('[') {
        let Some((_, after)) = rest.split_once(']') else {
            return Err(format!("missing ']' in host {host:?}"));
        };
        after.strip_prefix(':')
    } else {
        host.rsplit_once(':').map(|(_, p)| p)
    };
    if let Some(port) = port
        && !port.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("invalid port {port:?} after host"));
    }
    Ok(())
}

impl Url {
    fn hostname(&self) -> &str {
        if let Some(rest) = self.host.strip_prefix('[') {
            return rest.split_once(']').map_or(rest, |(h, _)| h);
        }
        self.host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, _)| h)
    }

    fn port(&self) -> &str {
        let after_host = match self.host.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or("", |(_, a)| a),
            None => self.host.find(':').map_or("", |i| &self.host[i..]),
        };
        after_host.strip_prefix(':').unwrap_or("")
    }
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn string(s: &str) -> Value {
    Value::String(Arc::new(s.to_owned()))
}

fn string_arg(args: &[Value]) -> Result<&str, ExecutionError> {
    match args.first() {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(ExecutionError::function_error("url", "expected a string")),
    }
}

fn url_arg(args: &[Value]) -> Result<&Url, ExecutionError> {
    match args.first() {
        Some(Value::Opaque(o)) => o
            .downcast_ref::<Url>()
            .ok_or_else(|| ExecutionError::function_error("url", "expected a URL")),
        _ => Err(ExecutionError::function_error("url", "expected a URL")),
    }
}

fn url(args: &[Value]) -> Result<Value, ExecutionError> {
    let parsed = parse(string_arg(args)?).map_err(|e| ExecutionError::function_error("url", e))?;
    Ok(Value::Opaque(Arc::new(parsed)))
}

fn is_url(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(Value::Bool(parse(string_arg(args)?).is_ok()))
}

fn get_scheme(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(string(&url_arg(args)?.scheme))
}

fn get_host(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(string(&url_arg(args)?.host))
}

fn get_hostname(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(string(url_arg(args)?.hostname()))
}

fn get_port(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(string(url_arg(args)?.port()))
}

fn get_escaped_path(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(string(&url_arg(args)?.path))
}

/// The query as a map from each name to its values in order of appearance.
fn get_query(args: &[Value]) -> Result<Value, ExecutionError> {
    let url = url_arg(args)?;
    let mut values: HashMap<String, Vec<Value>> = HashMap::new();
    for part in url.query.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        values
            .entry(percent_decode(name))
            .or_default()
            .push(string(&percent_decode(value)));
    }
    let map = values
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), Value::List(Arc::new(v))))
        .collect();
    Ok(Value::Map(Map { map: Arc::new(map) }))
}

value_fns! {
    url_fn => url,
    is_url_fn => is_url,
    scheme_fn => get_scheme,
    host_fn => get_host,
    hostname_fn => get_hostname,
    port_fn => get_port,
    path_fn => get_escaped_path,
    query_fn => get_query,
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "url",
        id: "url(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: url_fn,
    },
    Overload {
        name: "isURL",
        id: "isURL(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: is_url_fn,
    },
    Overload {
        name: "getScheme",
        id: "url.getScheme()",
        receiver: true,
        args: &[URL_TYPE],
        func: scheme_fn,
    },
    Overload {
        name: "getHost",
        id: "url.getHost()",
        receiver: true,
        args: &[URL_TYPE],
        func: host_fn,
    },
    Overload {
        name: "getHostname",
        id: "url.getHostname()",
        receiver: true,
        args: &[URL_TYPE],
        func: hostname_fn,
    },
    Overload {
        name: "getPort",
        id: "url.getPort()",
        receiver: true,
        args: &[URL_TYPE],
        func: port_fn,
    },
    Overload {
        name: "getEscapedPath",
        id: "url.getEscapedPath()",
        receiver: true,
        args: &[URL_TYPE],
        func: path_fn,
    },
    Overload {
        name: "getQuery",
        id: "url.getQuery()",
        receiver: true,
        args: &[URL_TYPE],
        func: query_fn,
    },
];
