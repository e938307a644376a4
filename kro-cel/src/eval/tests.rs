//! The evaluator against the `cel` crate's interpreter: every expression below evaluates to
//! the same value, or fails with the same error, in both, with the data bound as kro-cel's
//! objects and as the `cel` crate's maps.

use super::delegate;
use super::object::{from_json, to_plain};
use crate::Environment;
use crate::library::ENVIRONMENT;
use crate::value::json_to_cel;
use cel::objects::Value;
use serde_json::json;
use std::collections::BTreeMap;

/// Expressions that read data in place (field selections, indexes, optional chains), found
/// and not found.
const EXPRESSIONS: &[&str] = &[
    "a.spec.name",
    "a.spec.missing",
    "a.spec.name.deeper",
    "a.spec.items[1].port",
    "a.spec.items[5].port",
    "a.spec.items[-1]",
    "a.spec.items[1]['port']",
    "a.spec.items[1]['nope']",
    "a.spec['name']",
    "a.spec.labels['app']",
    "a.spec.labels[1]",
    "a.spec.name[0]",
    "a.spec.nothing.inner",
    "a.spec.nothing[0]",
    "has(a.spec.name) && !has(a.spec.missing)",
    "a.?spec.?name",
    "a.?spec.?missing",
    "a.?spec.?name.orValue('x')",
    "a.?spec.?missing.orValue('x')",
    "a.?spec.?missing.?deeper.orValue('x')",
    "a.spec.?labels.?app.orValue('x') + a.spec.?missing.orValue('none')",
    "a.spec.?name.?deeper.orValue('x')",
    "a.spec.?items.orValue([]).size()",
    "a.spec.items[0].?port.orValue(0) + 1",
    "a.spec.nothing.?x.orValue(1)",
    "a.spec.?nothing.orValue(1)",
    "a.?spec.?missing.orValue(a.spec.name)",
    "a.?spec.?name.orValue(a.spec.missing)",
    "a.?spec.?missing.orValue(a.spec.missing)",
    "a.spec.?name.hasValue()",
    "a.spec.?missing.hasValue()",
    "a.spec.?name.value()",
    "optional.of(a.spec).?name.orValue('x')",
    "optional.none().?name.orValue('x')",
    "o.?name.orValue('x')",
    "o.orValue('x')",
    "n.orValue('x')",
    "n.?name.orValue('x')",
    "a.spec.items.map(i, i.?port.orValue(0))",
    "a.spec.items.map(i, i.name)",
    "a.spec.items.exists(i, i.name == 'b')",
    "[a.spec.items][0][1].name",
    "a.spec.items[a.spec.index].name",
    "undefined.x",
    "undefined.?x.orValue(1)",
    // kro's functions called directly, with objects and plain values.
    "json.marshal(a.spec)",
    "json.marshal([a.spec.items, o, n, {'k': a.spec.labels}])",
    "json.unmarshal('{\"a\": 1, \"b\": [2.5, -3, 18446744073709551615], \"c\": {\"d\": null}}')",
    "hash.fnv64a(a.spec.name + '/' + a.spec.labels.app)",
    "hash.sha256(a.spec.name)",
    "random.seededString(12, a.spec.name)",
    "random.seededInt(1, 9, a.spec.name)",
    "a.spec.labels.merge({'x': a.spec.name})",
    "a.spec.deepMerge({'labels': {'y': 'z'}, 'extra': true})",
];

fn variables(objects: bool) -> BTreeMap<String, Value> {
    let data = json!({
        "spec": {
            "name": "web",
            "index": 1,
            "labels": {"app": "demo"},
            "items": [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
            "nothing": null,
        }
    });
    let convert = |json: &serde_json::Value| {
        if objects {
            from_json(json)
        } else {
            json_to_cel(json)
        }
    };
    BTreeMap::from([
        ("a".to_owned(), convert(&data)),
        (
            "o".to_owned(),
            super::native::wrap(Some(convert(&json!({"name": "opt"})))),
        ),
        ("n".to_owned(), super::native::wrap(None)),
    ])
}

#[test]
fn the_evaluator_agrees_with_the_interpreter() {
    let env = ENVIRONMENT.as_ref().expect("the environment builds");
    let environment = Environment::new();
    for objects in [true, false] {
        let variables = variables(objects);
        for source in EXPRESSIONS {
            let program = environment.compile(source).expect("compiles");
            let ours = super::evaluate(program.lowered(), &variables, env).map(to_plain);
            let bound: Vec<(String, Value)> = variables
                .iter()
                .map(|(name, value)| (name.clone(), to_plain(value.clone())))
                .collect();
            let theirs = delegate::subtree(program.instrumented(), bound, env);
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{source} (objects: {objects})"),
                (Err(a), Err(b)) => {
                    assert_eq!(
                        a.to_string(),
                        b.to_string(),
                        "{source} (objects: {objects})"
                    );
                }
                _ => panic!("{source} (objects: {objects}): {ours:?} vs {theirs:?}"),
            }
        }
    }
}
