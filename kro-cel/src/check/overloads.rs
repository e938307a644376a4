//! The function and operator signatures of kro's CEL environment, kept as data: one line per
//! overload, `g name(args) -> result` for global functions and operators, `m name(receiver, args)
//! -> result` for member functions. Single capital letters are type parameters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use crate::types::CelType;

/// Standard CEL: operators, conversions, strings, timestamps and durations.
const STANDARD: &str = "
g !_(bool) -> bool
g -_(int) -> int
g -_(double) -> double
g _&&_(bool, bool) -> bool
g _||_(bool, bool) -> bool
g @not_strictly_false(bool) -> bool
g _?_:_(bool, T, T) -> T
g _==_(T, T) -> bool
g _!=_(T, T) -> bool
g _+_(int, int) -> int
g _+_(uint, uint) -> uint
g _+_(double, double) -> double
g _+_(string, string) -> string
g _+_(bytes, bytes) -> bytes
g _+_(list(T), list(T)) -> list(T)
g _+_(timestamp, duration) -> timestamp
g _+_(duration, timestamp) -> timestamp
g _+_(duration, duration) -> duration
g _-_(int, int) -> int
g _-_(uint, uint) -> uint
g _-_(double, double) -> double
g _-_(timestamp, timestamp) -> duration
g _-_(timestamp, duration) -> timestamp
g _-_(duration, duration) -> duration
g _*_(int, int) -> int
g _*_(uint, uint) -> uint
g _*_(double, double) -> double
g _/_(int, int) -> int
g _/_(uint, uint) -> uint
g _/_(double, double) -> double
g _%_(int, int) -> int
g _%_(uint, uint) -> uint
g @in(T, list(T)) -> bool
g @in(K, map(K, V)) -> bool
g _[_](list(T), int) -> T
g _[_](map(K, V), K) -> V
g _[_](optional_type(list(T)), int) -> optional_type(T)
g _[_](optional_type(map(K, V)), K) -> optional_type(V)
g _[?_](list(T), int) -> optional_type(T)
g _[?_](map(K, V), K) -> optional_type(V)
g _[?_](optional_type(list(T)), int) -> optional_type(T)
g _[?_](optional_type(map(K, V)), K) -> optional_type(V)
g size(string) -> int
g size(bytes) -> int
g size(list(T)) -> int
g size(map(K, V)) -> int
m size(string) -> int
m size(bytes) -> int
m size(list(T)) -> int
m size(map(K, V)) -> int
g int(int) -> int
g int(uint) -> int
g int(double) -> int
g int(string) -> int
g int(timestamp) -> int
g int(duration) -> int
g uint(uint) -> uint
g uint(int) -> uint
g uint(double) -> uint
g uint(string) -> uint
g double(double) -> double
g double(int) -> double
g double(uint) -> double
g double(string) -> double
g string(string) -> string
g string(int) -> string
g string(uint) -> string
g string(double) -> string
g string(bool) -> string
g string(bytes) -> string
g string(timestamp) -> string
g string(duration) -> string
g string(IP) -> string
g string(CIDR) -> string
g bytes(bytes) -> bytes
g bytes(string) -> bytes
g bool(bool) -> bool
g bool(string) -> bool
g duration(duration) -> duration
g duration(string) -> duration
g timestamp(timestamp) -> timestamp
g timestamp(string) -> timestamp
g timestamp(int) -> timestamp
g dyn(T) -> dyn
g type(T) -> type
g matches(string, string) -> bool
m matches(string, string) -> bool
m contains(string, string) -> bool
m startsWith(string, string) -> bool
m endsWith(string, string) -> bool
m getFullYear(timestamp) -> int
m getFullYear(timestamp, string) -> int
m getMonth(timestamp) -> int
m getMonth(timestamp, string) -> int
m getDate(timestamp) -> int
m getDate(timestamp, string) -> int
m getDayOfMonth(timestamp) -> int
m getDayOfMonth(timestamp, string) -> int
m getDayOfWeek(timestamp) -> int
m getDayOfWeek(timestamp, string) -> int
m getDayOfYear(timestamp) -> int
m getDayOfYear(timestamp, string) -> int
m getHours(timestamp) -> int
m getHours(timestamp, string) -> int
m getMinutes(timestamp) -> int
m getMinutes(timestamp, string) -> int
m getSeconds(timestamp) -> int
m getSeconds(timestamp, string) -> int
m getMilliseconds(timestamp) -> int
m getMilliseconds(timestamp, string) -> int
m getHours(duration) -> int
m getMinutes(duration) -> int
m getSeconds(duration) -> int
m getMilliseconds(duration) -> int
";

/// Comparison operators: same-kind orderings plus the cross-type numeric ones.
const ORDERINGS: &[&str] = &["_<_", "_<=_", "_>_", "_>=_"];
const ORDERED_PAIRS: &[(&str, &str)] = &[
    ("int", "int"),
    ("uint", "uint"),
    ("double", "double"),
    ("int", "double"),
    ("double", "int"),
    ("int", "uint"),
    ("uint", "int"),
    ("uint", "double"),
    ("double", "uint"),
    ("string", "string"),
    ("bytes", "bytes"),
    ("bool", "bool"),
    ("timestamp", "timestamp"),
    ("duration", "duration"),
];

/// Optionals (`cel.OptionalTypes()`).
const OPTIONALS: &str = "
g optional.of(T) -> optional_type(T)
g optional.ofNonZeroValue(T) -> optional_type(T)
g optional.none() -> optional_type(T)
m hasValue(optional_type(T)) -> bool
m value(optional_type(T)) -> T
m orValue(optional_type(T), T) -> T
m or(optional_type(T), optional_type(T)) -> optional_type(T)
g optional.unwrap(list(optional_type(T))) -> list(T)
m unwrapOpt(list(optional_type(T))) -> list(T)
";

/// cel-go extensions: strings, lists and encoders.
const CEL_GO_EXTENSIONS: &str = "
m charAt(string, int) -> string
m indexOf(string, string) -> int
m indexOf(string, string, int) -> int
m lastIndexOf(string, string) -> int
m lastIndexOf(string, string, int) -> int
m lowerAscii(string) -> string
m upperAscii(string) -> string
m replace(string, string, string) -> string
m replace(string, string, string, int) -> string
m split(string, string) -> list(string)
m split(string, string, int) -> list(string)
m substring(string, int) -> string
m substring(string, int, int) -> string
m trim(string) -> string
m reverse(string) -> string
m join(list(string)) -> string
m join(list(string), string) -> string
m format(string, list(dyn)) -> string
g strings.quote(string) -> string
m slice(list(T), int, int) -> list(T)
m flatten(list(list(T))) -> list(T)
m flatten(list(dyn), int) -> list(dyn)
m sort(list(T)) -> list(T)
m distinct(list(T)) -> list(T)
m reverse(list(T)) -> list(T)
m first(list(T)) -> optional_type(T)
m last(list(T)) -> optional_type(T)
g lists.range(int) -> list(int)
g base64.encode(bytes) -> string
g base64.decode(string) -> bytes
";

/// Kubernetes libraries: lists, regex, URLs, quantities, IPs, CIDRs and semver.
const KUBERNETES: &str = "
m isSorted(list(T)) -> bool
m sum(list(int)) -> int
m sum(list(uint)) -> uint
m sum(list(double)) -> double
m sum(list(duration)) -> duration
m min(list(T)) -> T
m max(list(T)) -> T
m indexOf(list(T), T) -> int
m lastIndexOf(list(T), T) -> int
m find(string, string) -> string
m findAll(string, string) -> list(string)
m findAll(string, string, int) -> list(string)
g url(string) -> URL
g isURL(string) -> bool
m getScheme(URL) -> string
m getHost(URL) -> string
m getHostname(URL) -> string
m getPort(URL) -> string
m getEscapedPath(URL) -> string
m getQuery(URL) -> map(string, list(string))
g quantity(string) -> Quantity
g isQuantity(string) -> bool
m add(Quantity, Quantity) -> Quantity
m add(Quantity, int) -> Quantity
m sub(Quantity, Quantity) -> Quantity
m sub(Quantity, int) -> Quantity
m isLessThan(Quantity, Quantity) -> bool
m isGreaterThan(Quantity, Quantity) -> bool
m compareTo(Quantity, Quantity) -> int
m asInteger(Quantity) -> int
m asApproximateFloat(Quantity) -> double
m isInteger(Quantity) -> bool
m sign(Quantity) -> int
g ip(string) -> IP
g isIP(string) -> bool
g ip.isCanonical(string) -> bool
m family(IP) -> int
m isLoopback(IP) -> bool
m isGlobalUnicast(IP) -> bool
m isLinkLocalUnicast(IP) -> bool
m isLinkLocalMulticast(IP) -> bool
m isUnspecified(IP) -> bool
g cidr(string) -> CIDR
g isCIDR(string) -> bool
m containsIP(CIDR, string) -> bool
m containsIP(CIDR, IP) -> bool
m containsCIDR(CIDR, string) -> bool
m containsCIDR(CIDR, CIDR) -> bool
m ip(CIDR) -> IP
m prefixLength(CIDR) -> int
m masked(CIDR) -> CIDR
g semver(string) -> Semver
g semver(string, bool) -> Semver
g isSemver(string) -> bool
g isSemver(string, bool) -> bool
m major(Semver) -> int
m minor(Semver) -> int
m patch(Semver) -> int
m isGreaterThan(Semver, Semver) -> bool
m isLessThan(Semver, Semver) -> bool
m compareTo(Semver, Semver) -> int
";

/// kro's own libraries.
const KRO: &str = "
g hash.fnv64a(string) -> bytes
g hash.sha256(string) -> bytes
g hash.md5(string) -> bytes
g json.unmarshal(string) -> dyn
g json.marshal(dyn) -> string
g random.seededString(int, string) -> string
g random.seededInt(int, int, string) -> int
m merge(map(K, V), map(K, V)) -> map(K, V)
m deepMerge(dyn, dyn) -> dyn
g lists.setAtIndex(list(T), int, T) -> list(T)
g lists.insertAtIndex(list(T), int, T) -> list(T)
g lists.removeAtIndex(list(T), int) -> list(T)
";

/// `omit()`, only declared while the `CELOmitFunction` feature gate is on.
pub(crate) const OMIT: &str = "omit";

/// `runtime.*` functions, only declared where the `runtime` variable is (status conditions).
/// `runtime.newCondition` is a macro: it reaches the checker as [`NEW_CONDITION`].
const RUNTIME: &str = "
g runtime.condition(dyn, string) -> Condition
";

/// The range of every one-variable comprehension: a list as is, a map's keys.
pub(crate) const ITER: &str = "@kro.iter";
/// The range of every two-variable comprehension: a list's indices, a map's keys.
pub(crate) const KEYS: &str = "@kro.keys";
/// Merges the single-entry maps `transformMap` and `transformMapEntry` collect.
pub(crate) const ENTRIES_TO_MAP: &str = "@kro.entriesToMap";
/// What `runtime.newCondition({...})` expands to.
pub(crate) const NEW_CONDITION: &str = "@kro.newCondition";
/// What `sortBy` expands to: the list, sorted by the keys computed for its elements.
pub(crate) const SORT_BY_KEYS: &str = "@sortByAssociatedKeys";

/// The helpers kro's macros and the budget instrumentation expand to (their names start with
/// `@`, so users cannot call them).
const INTERNAL: &str = "
g @kro.iter(list(T)) -> list(T)
g @kro.iter(map(K, V)) -> list(K)
g @kro.keys(list(T)) -> list(int)
g @kro.keys(map(K, V)) -> list(K)
g @kro.entriesToMap(list(map(K, V))) -> map(K, V)
g @kro.newCondition(map(string, string)) -> Condition
m @sortByAssociatedKeys(list(T), list(dyn)) -> list(T)
g @kro.cost(T) -> T
g @kro.costRange(T) -> T
g @kro.costReplace(T, dyn, dyn) -> T
g @kro.costReplace(T, dyn, dyn, dyn) -> T
g @kro.costJoin(T) -> T
g @kro.costJoin(T, dyn) -> T
g @kro.costSplit(T, dyn) -> T
g @kro.costSplit(T, dyn, dyn) -> T
";

/// One signature of a function or operator.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Overload {
    /// Called on a receiver (`x.f()`), which is `params[0]`.
    pub member: bool,
    /// Parameter types, the receiver first for member functions.
    pub params: Vec<CelType>,
    /// Result type.
    pub result: CelType,
}

/// Every overload, by function name.
pub(crate) struct OverloadTable {
    by_name: BTreeMap<String, Vec<Overload>>,
}

/// A signature line that does not parse: a bug in the tables above, caught by a unit test.
#[derive(Debug, PartialEq)]
pub(crate) struct BadSignature(pub String);

impl OverloadTable {
    fn build() -> Result<Self, BadSignature> {
        let mut by_name: BTreeMap<String, Vec<Overload>> = BTreeMap::new();
        for table in [
            STANDARD,
            OPTIONALS,
            CEL_GO_EXTENSIONS,
            KUBERNETES,
            KRO,
            RUNTIME,
            INTERNAL,
        ] {
            for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let (name, overload) = parse_signature(line)?;
                by_name.entry(name).or_default().push(overload);
            }
        }
        for op in ORDERINGS {
            for (left, right) in ORDERED_PAIRS {
                let line = format!("g {op}({left}, {right}) -> bool");
                let (name, overload) = parse_signature(&line)?;
                by_name.entry(name).or_default().push(overload);
            }
        }
        by_name.entry(OMIT.to_string()).or_default().push(Overload {
            member: false,
            params: Vec::new(),
            result: CelType::Dyn,
        });
        Ok(Self { by_name })
    }

    /// The overloads of `name`, if it is a function of the environment.
    pub fn get(&self, name: &str) -> Option<&[Overload]> {
        self.by_name.get(name).map(Vec::as_slice)
    }

    /// Every function name, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Whether a global function with this (possibly dotted) name exists.
    pub fn has_global(&self, name: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|overloads| overloads.iter().any(|o| !o.member))
    }
}

static TABLE: LazyLock<Result<OverloadTable, BadSignature>> = LazyLock::new(OverloadTable::build);

/// The environment's overload table; empty only if a signature line is malformed, which the unit
/// tests rule out.
pub(crate) fn table() -> &'static OverloadTable {
    static EMPTY: LazyLock<OverloadTable> = LazyLock::new(|| OverloadTable {
        by_name: BTreeMap::new(),
    });
    match &*TABLE {
        Ok(table) => table,
        Err(_) => &EMPTY,
    }
}

fn parse_signature(line: &str) -> Result<(String, Overload), BadSignature> {
    let bad = || BadSignature(line.to_string());
    let (kind, rest) = line.split_once(' ').ok_or_else(bad)?;
    let member = match kind {
        "m" => true,
        "g" => false,
        _ => return Err(bad()),
    };
    let (call, result) = rest.split_once(" -> ").ok_or_else(bad)?;
    let open = call.find('(').ok_or_else(bad)?;
    let name = call[..open].to_string();
    let inner = call[open + 1..].strip_suffix(')').ok_or_else(bad)?;
    let params = if inner.trim().is_empty() {
        Vec::new()
    } else {
        split_top_level(inner)
            .into_iter()
            .map(|p| parse_type(p).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?
    };
    let result = parse_type(result).ok_or_else(bad)?;
    Ok((
        name,
        Overload {
            member,
            params,
            result,
        },
    ))
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s[start..].trim());
    parts
}

/// Parses the signature notation: `int`, `list(T)`, `map(K, V)`, `optional_type(T)`, ...
pub(crate) fn parse_type(s: &str) -> Option<CelType> {
    let s = s.trim();
    if let Some(open) = s.find('(') {
        let head = &s[..open];
        let args = split_top_level(s[open + 1..].strip_suffix(')')?);
        let mut args = args.into_iter().map(parse_type);
        let first = args.next()??;
        return match head {
            "list" => Some(CelType::list(first)),
            "optional_type" => Some(CelType::optional(first)),
            "map" => Some(CelType::map(first, args.next()??)),
            _ => None,
        };
    }
    Some(match s {
        "int" => CelType::Int,
        "uint" => CelType::Uint,
        "double" => CelType::Double,
        "string" => CelType::String,
        "bool" => CelType::Bool,
        "bytes" => CelType::Bytes,
        "null_type" => CelType::Null,
        "timestamp" => CelType::Timestamp,
        "duration" => CelType::Duration,
        "dyn" => CelType::Dyn,
        "type" => CelType::Type,
        "URL" => CelType::Url,
        "IP" => CelType::Ip,
        "CIDR" => CelType::Cidr,
        "Quantity" => CelType::Quantity,
        "Semver" => CelType::Semver,
        "Condition" => CelType::Condition,
        param if param.len() == 1 && param.chars().all(|c| c.is_ascii_uppercase()) => {
            CelType::Param(param.to_string())
        }
        _ => return None,
    })
}

/// The still-unknown element type of an empty list or map literal.
pub(crate) fn free() -> CelType {
    CelType::Param("_".to_string())
}

fn is_free(ty: &CelType) -> bool {
    matches!(ty, CelType::Param(name) if name == "_")
}

/// The most specific type both `a` and `b` fit, if they are compatible.
pub(crate) fn join(a: &CelType, b: &CelType) -> Option<CelType> {
    use CelType::*;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (Dyn, _) | (_, Dyn) => Some(Dyn),
        (x, y) if is_free(x) => Some(y.clone()),
        (x, y) if is_free(y) => Some(x.clone()),
        (List(x), List(y)) => Some(CelType::list(join(x, y)?)),
        (Optional(x), Optional(y)) => Some(CelType::optional(join(x, y)?)),
        (Map(k1, v1), Map(k2, v2)) => Some(CelType::map(join(k1, k2)?, join(v1, v2)?)),
        (Null, other) | (other, Null) if !is_primitive(other) => Some(other.clone()),
        _ => None,
    }
}

fn is_primitive(ty: &CelType) -> bool {
    matches!(
        ty,
        CelType::Int
            | CelType::Uint
            | CelType::Double
            | CelType::String
            | CelType::Bool
            | CelType::Bytes
    )
}

/// Matches an argument type against a parameter type, binding type parameters.
pub(crate) fn unify(
    param: &CelType,
    actual: &CelType,
    bindings: &mut BTreeMap<String, CelType>,
) -> bool {
    use CelType::*;
    match (param, actual) {
        (_, a) if is_free(a) => true,
        (Param(name), a) => match bindings.get(name) {
            None => {
                bindings.insert(name.clone(), a.clone());
                true
            }
            Some(bound) => match join(bound, a) {
                Some(joined) => {
                    bindings.insert(name.clone(), joined);
                    true
                }
                None => false,
            },
        },
        (Dyn, _) | (_, Dyn) => true,
        (List(p), List(a)) | (Optional(p), Optional(a)) => unify(p, a, bindings),
        (Map(pk, pv), Map(ak, av)) => unify(pk, ak, bindings) && unify(pv, av, bindings),
        // Objects are maps from field name to value at run time.
        (Map(pk, pv), Struct(_) | Condition) => {
            unify(pk, &String, bindings) && unify(pv, &Dyn, bindings)
        }
        (p, a) => p == a,
    }
}

/// Replaces bound type parameters; unbound named ones become `unbound`, the free marker stays.
pub(crate) fn substitute(
    ty: &CelType,
    bindings: &BTreeMap<String, CelType>,
    unbound: &CelType,
) -> CelType {
    match ty {
        CelType::Param(name) if name == "_" => ty.clone(),
        CelType::Param(name) => bindings
            .get(name)
            .cloned()
            .unwrap_or_else(|| unbound.clone()),
        CelType::List(e) => CelType::list(substitute(e, bindings, unbound)),
        CelType::Optional(e) => CelType::optional(substitute(e, bindings, unbound)),
        CelType::Map(k, v) => CelType::map(
            substitute(k, bindings, unbound),
            substitute(v, bindings, unbound),
        ),
        other => other.clone(),
    }
}

/// The result types of every overload of `overloads` that accepts `args`, deduplicated.
pub(crate) fn resolve(overloads: &[Overload], member: bool, args: &[CelType]) -> BTreeSet<CelType> {
    overloads
        .iter()
        .filter(|o| o.member == member && o.params.len() == args.len())
        .filter_map(|o| {
            let mut bindings = BTreeMap::new();
            let accepted = o
                .params
                .iter()
                .zip(args)
                .all(|(p, a)| unify(p, a, &mut bindings));
            // A parameter no argument determines stays open (`optional.none()` fits any
            // optional); otherwise arguments of type `dyn` left it unbound and it is `dyn`.
            let open = if o.params.is_empty() {
                free()
            } else {
                CelType::Dyn
            };
            accepted.then(|| substitute(&o.result, &bindings, &open))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_parses() {
        let table = OverloadTable::build().expect("tables parse");
        assert!(table.get("_+_").is_some_and(|o| o.len() == 9));
        assert!(table.has_global("hash.fnv64a"));
        assert!(!table.has_global("contains"));
    }

    /// Operators are the `cel` crate's own syntax, not functions the environment lists.
    fn is_operator(name: &str) -> bool {
        name.starts_with('_') || matches!(name, "!_" | "-_" | "@in" | "@not_strictly_false")
    }

    /// A call of `function` that parses with kro's macros: fresh identifiers for variable
    /// arguments, a condition literal for a map, a field selection for anything else.
    fn sample_call(function: &crate::FunctionSignature) -> String {
        let types = if function.receiver {
            &function.arg_types[1..]
        } else {
            function.arg_types
        };
        let args: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, ty)| match *ty {
                "ident" => format!("v{i}"),
                "map" => "{type: 'A', status: 'True'}".to_string(),
                _ => "r.f".to_string(),
            })
            .collect();
        let receiver = if function.receiver { "r." } else { "" };
        format!("{receiver}{}({})", function.name, args.join(", "))
    }

    /// Whether `expr` still calls `function` (a dotted name is a call on its namespace).
    fn calls(expr: &cel::IdedExpr, function: &str) -> bool {
        let mut found = false;
        crate::program::visit(expr, &mut |e| {
            if let cel::common::ast::Expr::Call(call) = &e.expr {
                let qualified = match call.target.as_deref().map(|t| &t.expr) {
                    Some(cel::common::ast::Expr::Ident(namespace)) => {
                        format!("{namespace}.{}", call.func_name)
                    }
                    _ => call.func_name.clone(),
                };
                found |= call.func_name == function || qualified == function;
            }
        });
        found
    }

    #[test]
    fn every_evaluator_function_has_a_checker_signature() {
        let table = OverloadTable::build().expect("tables parse");
        let mut missing = Vec::new();
        for function in crate::FUNCTIONS.iter() {
            // Internal helpers cannot be written in CEL; every other name is tried, to tell
            // macros from functions.
            if !function.name.starts_with('@') {
                let source = sample_call(function);
                let parsed = crate::parse::parse(&source).expect("sample call parses");
                if !calls(&parsed.expr, function.name) {
                    // A macro: expanded before the checker runs, so it needs no signature.
                    continue;
                }
            }
            let declared = table.get(function.name).is_some_and(|overloads| {
                overloads.iter().any(|o| {
                    o.member == function.receiver
                        && o.params.len() == function.arity + usize::from(function.receiver)
                })
            });
            if !declared {
                missing.push(format!(
                    "{} (receiver: {}, arity: {})",
                    function.name, function.receiver, function.arity
                ));
            }
        }
        assert!(missing.is_empty(), "no checker signature for: {missing:?}");
    }

    #[test]
    fn every_checker_signature_is_a_registered_function() {
        let table = OverloadTable::build().expect("tables parse");
        let mut unregistered = Vec::new();
        for (name, overloads) in &table.by_name {
            if is_operator(name) {
                continue;
            }
            for overload in overloads {
                let arity = overload.params.len() - usize::from(overload.member);
                let registered = crate::FUNCTIONS
                    .iter()
                    .any(|f| f.name == name && f.receiver == overload.member && f.arity == arity);
                if !registered {
                    unregistered.push(format!(
                        "{name} (receiver: {}, arity: {arity})",
                        overload.member
                    ));
                }
            }
        }
        unregistered.dedup();
        assert!(
            unregistered.is_empty(),
            "checker signatures the evaluator does not register: {unregistered:?}"
        );
    }

    #[test]
    fn type_notation_round_trips_through_display() {
        for notation in ["list(string)", "map(string, int)", "optional_type(list(T))"] {
            let parsed = parse_type(notation).expect("parses");
            assert_eq!(parsed.to_string(), notation);
        }
    }
}
