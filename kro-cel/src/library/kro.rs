//! kro's own libraries: `hash.*`, `json.*`, `random.*`, `merge`/`deepMerge`,
//! `lists.setAtIndex`/`insertAtIndex`/`removeAtIndex`, `runtime.newCondition` and
//! `runtime.condition`.

use super::budget::charge;
use super::{Overload, charged_value_fns, value_fns};
use crate::value::{BytesPolicy, json_to_cel, to_json};
use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue, MapEntryExpr};
use cel::common::types::{DYN_TYPE, INT_TYPE, LIST_TYPE, MAP_TYPE, STRING_TYPE};
use cel::objects::{Key, Map, Value};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::{DeclarationError, Env, ExecutionError};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The most characters `random.seededString` produces.
const MAX_SEEDED_STRING: i64 = 1 << 20;
/// The most bytes `json.unmarshal` accepts.
const MAX_JSON_INPUT: usize = 8 << 20;
pub(crate) const NEW_CONDITION: &str = "@kro.newCondition";

value_fns! {
    fnv64a_fn => fnv64a,
    sha256_fn => sha256_hash,
    md5_fn => md5_hash,
    marshal_fn => json_marshal,
    seeded_string_fn => seeded_string,
    seeded_int_fn => seeded_int,
    remove_at_fn => remove_at_index,
    condition_fn => condition,
    new_condition_fn => new_condition,
}

// Their results can hold each argument more than once (`lists.setAtIndex(l, 0, l)`,
// `m.merge({"copy": m})`) or expand a short text into many values (`json.unmarshal`).
charged_value_fns! {
    unmarshal_fn => json_unmarshal as "json.unmarshal",
    merge_fn => merge as "merge",
    deep_merge_fn => deep_merge as "deepMerge",
    set_at_fn => set_at_index as "lists.setAtIndex",
    insert_at_fn => insert_at_index as "lists.insertAtIndex",
}

pub(crate) static OVERLOADS: &[Overload] = &[
    Overload {
        name: "hash.fnv64a",
        id: "hash.fnv64a(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: fnv64a_fn,
    },
    Overload {
        name: "hash.sha256",
        id: "hash.sha256(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: sha256_fn,
    },
    Overload {
        name: "hash.md5",
        id: "hash.md5(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: md5_fn,
    },
    Overload {
        name: "json.marshal",
        id: "json.marshal(dyn)",
        receiver: false,
        args: &[DYN_TYPE],
        func: marshal_fn,
    },
    Overload {
        name: "json.unmarshal",
        id: "json.unmarshal(string)",
        receiver: false,
        args: &[STRING_TYPE],
        func: unmarshal_fn,
    },
    Overload {
        name: "random.seededString",
        id: "random.seededString(int,string)",
        receiver: false,
        args: &[INT_TYPE, STRING_TYPE],
        func: seeded_string_fn,
    },
    Overload {
        name: "random.seededInt",
        id: "random.seededInt(int,int,string)",
        receiver: false,
        args: &[INT_TYPE, INT_TYPE, STRING_TYPE],
        func: seeded_int_fn,
    },
    Overload {
        name: "merge",
        id: "map.merge(map)",
        receiver: true,
        args: &[MAP_TYPE, MAP_TYPE],
        func: merge_fn,
    },
    Overload {
        name: "deepMerge",
        id: "dyn.deepMerge(dyn)",
        receiver: true,
        args: &[DYN_TYPE, DYN_TYPE],
        func: deep_merge_fn,
    },
    Overload {
        name: "lists.setAtIndex",
        id: "lists.setAtIndex(list,int,dyn)",
        receiver: false,
        args: &[LIST_TYPE, INT_TYPE, DYN_TYPE],
        func: set_at_fn,
    },
    Overload {
        name: "lists.insertAtIndex",
        id: "lists.insertAtIndex(list,int,dyn)",
        receiver: false,
        args: &[LIST_TYPE, INT_TYPE, DYN_TYPE],
        func: insert_at_fn,
    },
    Overload {
        name: "lists.removeAtIndex",
        id: "lists.removeAtIndex(list,int)",
        receiver: false,
        args: &[LIST_TYPE, INT_TYPE],
        func: remove_at_fn,
    },
    Overload {
        name: "runtime.condition",
        id: "runtime.condition(dyn,string)",
        receiver: false,
        args: &[DYN_TYPE, STRING_TYPE],
        func: condition_fn,
    },
    Overload {
        name: NEW_CONDITION,
        id: "@kro.newCondition(map)",
        receiver: false,
        args: &[MAP_TYPE],
        func: new_condition_fn,
    },
];

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn string_arg<'a>(
    args: &'a [Value],
    index: usize,
    function: &str,
) -> Result<&'a str, ExecutionError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.as_str()),
        other => Err(fail(
            function,
            format!("argument {index} must be a string, got {other:?}"),
        )),
    }
}

fn int_arg(args: &[Value], index: usize, function: &str) -> Result<i64, ExecutionError> {
    match args.get(index) {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(fail(
            function,
            format!("argument {index} must be an int, got {other:?}"),
        )),
    }
}

fn bytes(data: Vec<u8>) -> Value {
    Value::Bytes(Arc::new(data))
}

pub(crate) fn fnv64a(args: &[Value]) -> Result<Value, ExecutionError> {
    let input = string_arg(args, 0, "hash.fnv64a")?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in input.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(bytes(hash.to_be_bytes().to_vec()))
}

pub(crate) fn sha256_hash(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(bytes(
        Sha256::digest(string_arg(args, 0, "hash.sha256")?.as_bytes()).to_vec(),
    ))
}

pub(crate) fn md5_hash(args: &[Value]) -> Result<Value, ExecutionError> {
    Ok(bytes(
        Md5::digest(string_arg(args, 0, "hash.md5")?.as_bytes()).to_vec(),
    ))
}

pub(crate) fn json_marshal(args: &[Value]) -> Result<Value, ExecutionError> {
    let value = args
        .first()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    let json = to_json(value, BytesPolicy::Base64, &mut String::new())
        .map_err(|e| fail("json.marshal", e))?
        .unwrap_or(serde_json::Value::Null);
    let out = crate::gojson::to_string(&json);
    charge(out.len() as u64 / 64, "json.marshal")?;
    Ok(Value::String(Arc::new(out)))
}

pub(crate) fn json_unmarshal(args: &[Value]) -> Result<Value, ExecutionError> {
    let input = string_arg(args, 0, "json.unmarshal")?;
    if input.len() > MAX_JSON_INPUT {
        return Err(fail(
            "json.unmarshal",
            format!("input larger than {MAX_JSON_INPUT} bytes"),
        ));
    }
    charge(input.len() as u64 / 64, "json.unmarshal")?;
    let json: serde_json::Value = serde_json::from_str(input)
        .map_err(|e| fail("json.unmarshal", format!("invalid JSON: {e}")))?;
    Ok(json_to_cel_doubles(&json))
}

/// [`json_to_cel`] with every number a double: Go's `encoding/json` decodes every number into
/// a float64; kro keeps that.
fn json_to_cel_doubles(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(json_to_cel_doubles).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel_doubles(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
        other => json_to_cel(other),
    }
}

pub(crate) fn seeded_string(args: &[Value]) -> Result<Value, ExecutionError> {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let length = int_arg(args, 0, "random.seededString")?;
    let seed = string_arg(args, 1, "random.seededString")?;
    if length <= 0 {
        return Err(fail(
            "random.seededString",
            format!("length must be positive, got {length}"),
        ));
    }
    if length > MAX_SEEDED_STRING {
        return Err(fail(
            "random.seededString",
            format!("length {length} exceeds the limit of {MAX_SEEDED_STRING}"),
        ));
    }
    charge(length as u64 / 64, "random.seededString")?;
    let digest = Sha256::digest(seed.as_bytes());
    let mut out = String::with_capacity(length as usize);
    out.extend((0..length as usize).map(|i| {
        let start = (4 * i) % 32;
        let word = u32::from_be_bytes([
            digest[start],
            digest[start + 1],
            digest[start + 2],
            digest[start + 3],
        ]);
        char::from(ALPHABET[(word % 36) as usize])
    }));
    Ok(Value::String(Arc::new(out)))
}

pub(crate) fn seeded_int(args: &[Value]) -> Result<Value, ExecutionError> {
    let min = int_arg(args, 0, "random.seededInt")?;
    let max = int_arg(args, 1, "random.seededInt")?;
    let seed = string_arg(args, 2, "random.seededInt")?;
    if min >= max {
        return Err(fail(
            "random.seededInt",
            format!("min ({min}) must be less than max ({max})"),
        ));
    }
    let digest = Sha256::digest(seed.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let span = (i128::from(max) - i128::from(min)) as u128;
    let offset = u128::from(u64::from_be_bytes(first)) % span;
    let result = i128::from(min) + offset as i128;
    Ok(Value::Int(result as i64))
}

fn map_arg<'a>(args: &'a [Value], index: usize, function: &str) -> Result<&'a Map, ExecutionError> {
    match args.get(index) {
        Some(Value::Map(m)) => Ok(m),
        other => Err(fail(
            function,
            format!("argument {index} must be a map, got {other:?}"),
        )),
    }
}

pub(crate) fn merge(args: &[Value]) -> Result<Value, ExecutionError> {
    let left = map_arg(args, 0, "merge")?;
    let right = map_arg(args, 1, "merge")?;
    let mut out: HashMap<Key, Value> = (*left.map).clone();
    for (k, v) in right.map.iter() {
        out.insert(k.clone(), v.clone());
    }
    Ok(Value::Map(Map { map: Arc::new(out) }))
}

/// `a.deepMerge(b)`: declared over `dyn` as upstream does, but both sides must be maps at run
/// time; anything else has no overload (upstream kro answers the same).
pub(crate) fn deep_merge(args: &[Value]) -> Result<Value, ExecutionError> {
    match (args.first(), args.get(1)) {
        (Some(left @ Value::Map(_)), Some(right @ Value::Map(_))) => {
            Ok(deep_merge_values(left, right))
        }
        (Some(left), Some(right)) => Err(ExecutionError::no_such_member_overload(
            "deepMerge",
            vec![left.type_of().to_string(), right.type_of().to_string()],
        )),
        _ => Err(ExecutionError::invalid_argument_count(2, args.len())),
    }
}

/// Maps merge key by key, recursively; anything else on the right replaces the left.
fn deep_merge_values(left: &Value, right: &Value) -> Value {
    match (left, right) {
        (Value::Map(l), Value::Map(r)) => {
            let mut out: HashMap<Key, Value> = (*l.map).clone();
            for (k, rv) in r.map.iter() {
                let merged = match out.get(k) {
                    Some(lv) => deep_merge_values(lv, rv),
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Map(Map { map: Arc::new(out) })
        }
        (_, right) => right.clone(),
    }
}

fn list_index_args(
    args: &[Value],
    function: &str,
    inclusive_end: bool,
) -> Result<(Vec<Value>, usize), ExecutionError> {
    let Some(Value::List(items)) = args.first() else {
        return Err(fail(function, "argument 0 must be a list"));
    };
    let index = int_arg(args, 1, function)?;
    let len = items.len() as i64;
    let valid = if inclusive_end {
        (0..=len).contains(&index)
    } else {
        (0..len).contains(&index)
    };
    if !valid {
        let range = if inclusive_end {
            format!("[0, {len}]")
        } else {
            format!("[0, {len})")
        };
        return Err(fail(
            function,
            format!("index {index} out of bounds {range}"),
        ));
    }
    Ok(((**items).clone(), index as usize))
}

fn set_at_index(args: &[Value]) -> Result<Value, ExecutionError> {
    let (mut items, index) = list_index_args(args, "lists.setAtIndex", false)?;
    items[index] = args.get(2).cloned().unwrap_or(Value::Null);
    Ok(Value::List(Arc::new(items)))
}

fn insert_at_index(args: &[Value]) -> Result<Value, ExecutionError> {
    let (mut items, index) = list_index_args(args, "lists.insertAtIndex", true)?;
    items.insert(index, args.get(2).cloned().unwrap_or(Value::Null));
    Ok(Value::List(Arc::new(items)))
}

fn remove_at_index(args: &[Value]) -> Result<Value, ExecutionError> {
    let (mut items, index) = list_index_args(args, "lists.removeAtIndex", false)?;
    items.remove(index);
    Ok(Value::List(Arc::new(items)))
}

const CONDITION_FIELDS: [&str; 4] = ["type", "status", "reason", "message"];

fn condition_value(fields: [String; 4]) -> Value {
    let map: HashMap<Key, Value> = CONDITION_FIELDS
        .iter()
        .zip(fields)
        .map(|(k, v)| {
            (
                Key::String(Arc::new((*k).to_owned())),
                Value::String(Arc::new(v)),
            )
        })
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

fn field_string(map: &Map, field: &str) -> Option<String> {
    match map.map.get(&Key::String(Arc::new(field.to_owned()))) {
        Some(Value::String(s)) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// `runtime.condition(obj, type)`: the condition of that type from `obj.status.conditions`, or an
/// empty condition (every field `""`) when there is none.
fn condition(args: &[Value]) -> Result<Value, ExecutionError> {
    let wanted = string_arg(args, 1, "runtime.condition")?;
    let key = |name: &str| Key::String(Arc::new(name.to_owned()));
    let conditions = match args.first() {
        Some(Value::Map(obj)) => match obj.map.get(&key("status")) {
            Some(Value::Map(status)) => status.map.get(&key("conditions")).cloned(),
            _ => None,
        },
        _ => None,
    };
    if let Some(Value::List(items)) = conditions {
        for item in items.iter() {
            if let Value::Map(c) = item
                && field_string(c, "type").as_deref() == Some(wanted)
            {
                return Ok(condition_value(
                    CONDITION_FIELDS.map(|f| field_string(c, f).unwrap_or_default()),
                ));
            }
        }
    }
    Ok(condition_value(Default::default()))
}

fn new_condition(args: &[Value]) -> Result<Value, ExecutionError> {
    const FUNCTION: &str = "runtime.newCondition";
    let map = map_arg(args, 0, FUNCTION)?;
    let mut fields: [String; 4] = Default::default();
    for (slot, name) in fields.iter_mut().zip(CONDITION_FIELDS) {
        match map.map.get(&Key::String(Arc::new(name.to_owned()))) {
            Some(Value::String(s)) => *slot = s.as_str().to_owned(),
            Some(other) => {
                return Err(fail(
                    FUNCTION,
                    format!("`{name}` must be a string, got {other:?}"),
                ));
            }
            None => {}
        }
    }
    if fields[0].is_empty() {
        return Err(fail(FUNCTION, "`type` must not be empty"));
    }
    if !matches!(fields[1].as_str(), "True" | "False" | "Unknown") {
        return Err(fail(
            FUNCTION,
            format!(
                "`status` must be one of True, False, Unknown, got {:?}",
                fields[1]
            ),
        ));
    }
    Ok(condition_value(fields))
}

/// `runtime.newCondition({type: ..., status: ..., reason: ..., message: ...})`: the keys must be
/// bare names from that set, `type` and `status` are required, none may repeat. Expands to the
/// internal constructor with string keys, which checks the values at run time.
fn new_condition_macro(
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if !matches!(target.as_ref().map(|t| &t.expr), Some(Expr::Ident(name)) if name == "runtime") {
        return Ok(None);
    }
    let mut arg = args.remove(0);
    let Expr::Map(map) = &mut arg.expr else {
        return Err(helper.new_error(
            arg.id,
            "runtime.newCondition expects a map literal such as {type: 'Ready', status: 'True'}",
        ));
    };
    let mut seen: Vec<String> = Vec::new();
    for entry in &mut map.entries {
        let EntryExpr::MapEntry(MapEntryExpr { key, .. }) = &mut entry.expr else {
            return Err(helper.new_error(entry.id, "expected a map entry"));
        };
        let name = match &key.expr {
            Expr::Ident(name) => name.clone(),
            _ => {
                return Err(helper.new_error(
                    key.id,
                    "runtime.newCondition: keys must be bare names (type, status, reason or message), not expressions",
                ));
            }
        };
        if !CONDITION_FIELDS.contains(&name.as_str()) {
            return Err(helper.new_error(
                key.id,
                "runtime.newCondition: keys must be type, status, reason or message",
            ));
        }
        if seen.contains(&name) {
            return Err(helper.new_error(
                key.id,
                format!("runtime.newCondition: duplicate key \"{name}\""),
            ));
        }
        key.expr = Expr::Literal(LiteralValue::String(name.clone().into()));
        seen.push(name);
    }
    for required in ["type", "status"] {
        if !seen.iter().any(|s| s == required) {
            return Err(helper.new_error(
                arg.id,
                format!("runtime.newCondition: missing key \"{required}\""),
            ));
        }
    }
    Ok(Some(helper.next_expr(Expr::Call(CallExpr {
        func_name: NEW_CONDITION.to_owned(),
        target: None,
        args: vec![arg],
    }))))
}

pub(crate) fn add_macros(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_macro(Macro::receiver("newCondition", 1, new_condition_macro))
}
