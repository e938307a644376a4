//! Hostile input: RGDs and instances built to exhaust the compiler or the planner. Oversized
//! specs, too many resources, over-long and deeply nested expressions are rejected when the RGD
//! is compiled; expressions whose evaluation explodes (nested loops over big lists, values
//! doubled or squared over and over) are stopped by the evaluation budget, and forEach
//! expansions beyond the collection limit by the planner, each with an error naming the
//! resource and field as it reaches the instance status. After every stopped evaluation a
//! healthy graph is planned in the same thread and must still reach ACTIVE: the budget belongs
//! to one evaluation and nothing is left poisoned.
//!
//! Every test records a row of `docs/reliability.md` (see
//! `kro_integration_tests::reliability`). No cluster is needed: the planner is pure and reads
//! the cluster through an in-memory view.

use kro_api::ResourceGraphDefinition;
use kro_graph::{Graph, OfflineResolver, compile};
use kro_integration_tests::reliability::record;
use kro_runtime::core::{
    InMemoryView, InstanceState, Limits, NodeError, NodeState, Plan, PlanInput, RgdIdentity, plan,
};
use serde_json::{Value, json};

const CATEGORY: &str = "hostile input";
/// How many times each explosive evaluation is planned, a healthy graph after each.
const TRIES: u32 = 3;
const NOW: &str = "2025-01-01T00:00:30Z";
const KRO_VERSION: &str = "v0.9.0";
const BUDGET_EXCEEDED: &str = "evaluation cost budget exceeded";

fn config_map(id: &str, data: &Value) -> Value {
    json!({
        "id": id,
        "template": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("${{schema.spec.name}}-{}", id.to_lowercase())},
            "data": data,
        },
    })
}

/// An RGD of kind `kind` whose instances have a `name`, a list of integers `items` and a
/// string `text`.
fn rgd(kind: &str, resources: &[Value]) -> ResourceGraphDefinition {
    serde_json::from_value(json!({
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": kind,
                "spec": {"name": "string", "items": "[]integer", "text": "string"},
            },
            "resources": resources,
        },
    }))
    .expect("the RGD has the API's shape")
}

fn compiled(rgd: &ResourceGraphDefinition) -> Graph {
    compile(rgd, &OfflineResolver::new()).expect("the RGD compiles")
}

fn rejected(rgd: &ResourceGraphDefinition) -> Vec<String> {
    compile(rgd, &OfflineResolver::new())
        .expect_err("the RGD must be rejected")
        .messages()
}

/// An instance as the API server stores it, with 1000 items and a 1 KiB text.
fn instance(graph: &Graph) -> Value {
    json!({
        "apiVersion": format!("kro.run/{}", graph.instance().gvk().version),
        "kind": graph.instance().gvk().kind,
        "metadata": {
            "name": "demo",
            "namespace": "team",
            "uid": "0b5e7c1e-1111-4222-8333-444455556666",
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "spec": {"name": "demo", "items": (0..1000).collect::<Vec<i64>>(), "text": "x".repeat(1024)},
    })
}

fn plan_pass(graph: &Graph, instance: &Value, view: &InMemoryView) -> Plan {
    plan(&PlanInput {
        graph,
        instance,
        view,
        now: NOW,
        kro_version: KRO_VERSION,
        rgd: &RgdIdentity {
            name: graph.name().to_owned(),
            uid: "rgd-uid".to_owned(),
        },
        limits: Limits::default(),
        previous_status: None,
        gating: kro_runtime::core::Gating::Readiness,
    })
}

/// Plans and stores every applied object, as the executor and the API server would, until the
/// instance settles.
fn converge(graph: &Graph, instance: &Value) -> Plan {
    let mut view = InMemoryView::new();
    let mut last = plan_pass(graph, instance, &view);
    for pass in 0..5 {
        if last.instance_state != InstanceState::InProgress || last.apply.is_empty() {
            break;
        }
        for (index, item) in last.apply.iter().enumerate() {
            let mut object = item.body.clone();
            object["metadata"]["uid"] = json!(format!("uid-{pass}-{index}"));
            view.insert(object).expect("an applied object is storable");
        }
        last = plan_pass(graph, instance, &view);
    }
    last
}

/// A graph nothing is wrong with, planned after each hostile one: it must reach ACTIVE.
fn assert_healthy_graph_still_served() {
    let healthy = compiled(&rgd(
        "Healthy",
        &[config_map(
            "settings",
            &json!({"greeting": "${'hello ' + schema.spec.name}", "count": "${string(size(schema.spec.items))}"}),
        )],
    ));
    let plan = converge(&healthy, &instance(&healthy));
    assert_eq!(
        plan.instance_state,
        InstanceState::Active,
        "a healthy graph planned after a hostile one: {:#}",
        plan.status
    );
    let settings = plan
        .apply
        .iter()
        .find(|item| item.node_id == "settings")
        .expect("the healthy ConfigMap is applied");
    assert_eq!(settings.body["data"]["greeting"], "hello demo");
    assert_eq!(settings.body["data"]["count"], "1000");
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// Plans a graph whose ConfigMap `boom` computes `data.value` with `expression`: the node must
/// be ERROR for exceeding the budget, naming the resource and field, and the instance must say
/// so in its status. Returns the recorded outcome.
fn assert_stopped_by_budget(expression: &str) -> String {
    let graph = compiled(&rgd(
        "Hostile",
        &[config_map(
            "boom",
            &json!({"value": format!("${{{expression}}}")}),
        )],
    ));
    let instance = instance(&graph);
    for _ in 0..TRIES {
        let plan = plan_pass(&graph, &instance, &InMemoryView::new());
        let node = plan.node("boom").expect("the node is planned");
        assert_eq!(node.state, NodeState::Error, "{node:?}");
        let Some(NodeError::Expression {
            id, field, message, ..
        }) = &node.error
        else {
            panic!("expected an expression error: {node:?}");
        };
        assert_eq!(
            (id.as_str(), field.as_str()),
            ("boom", "template.data.value")
        );
        assert!(message.contains(BUDGET_EXCEEDED), "{message}");
        assert_eq!(plan.instance_state, InstanceState::Error);
        assert!(plan.apply.iter().all(|item| item.node_id != "boom"));
        let ready = condition(&plan.status, "ResourcesReady");
        assert_eq!(ready["status"], "False", "{:#}", plan.status);
        let reported = ready["message"].as_str().unwrap_or_default();
        assert!(
            reported.contains("resource \"boom\" template.data.value")
                && reported.contains(BUDGET_EXCEEDED),
            "the instance status names the field and the budget: {reported}"
        );
        assert_healthy_graph_still_served();
    }
    format!(
        "stopped: node ERROR `resource \"boom\" template.data.value: ... {BUDGET_EXCEEDED}`, \
         instance ERROR; a healthy graph planned next in the same thread is ACTIVE"
    )
}

/// `cel.bind(v0, seed, cel.bind(v1, step(v0), ...))` with `rounds` steps, ending in
/// `string(size(v<rounds>))`.
fn rounds(seed: &str, rounds: usize, step: impl Fn(&str) -> String) -> String {
    let mut expression = format!("string(size(v{rounds}))");
    for round in (1..=rounds).rev() {
        let previous = format!("v{}", round - 1);
        expression = format!("cel.bind(v{round}, {}, {expression})", step(&previous));
    }
    format!("cel.bind(v0, {seed}, {expression})")
}

fn first_line_of(messages: &[String]) -> String {
    assert_eq!(messages.len(), 1, "{messages:?}");
    messages[0].clone()
}

#[test]
fn nested_comprehensions_over_a_list_of_1000_are_stopped() {
    let outcome = assert_stopped_by_budget(
        "string(schema.spec.items.map(a, schema.spec.items.map(b, schema.spec.items.map(c, a + b + c))).size())",
    );
    record(
        CATEGORY,
        "nested comprehension 1000^3 (map in map in map over 1000 items)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_string_doubled_over_and_over_is_stopped() {
    let expression = rounds("schema.spec.text", 40, |v| format!("{v} + {v}"));
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "string doubled 40 times (s + s, from 1 KiB)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_list_nested_in_itself_over_and_over_is_stopped() {
    let expression = rounds("schema.spec.items", 30, |v| format!("[{v}, {v}]"));
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "list doubled 30 times ([l, l], from 1000 items)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_map_holding_itself_twice_over_and_over_is_stopped() {
    let expression = rounds("{'items': schema.spec.items}", 30, |v| {
        format!("{{'a': {v}, 'b': {v}}}")
    });
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "map doubled 30 times ({'a': m, 'b': m}, from 1000 items)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_string_squared_by_replace_is_stopped_before_it_is_built() {
    // 1 KiB, then 1 MiB, then 1 TiB: the third round must be refused before allocating.
    let expression = rounds("schema.spec.text", 3, |v| format!("{v}.replace('x', {v})"));
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "string squared by replace 3 times (s.replace('x', s), from 1 KiB)",
        TRIES,
        &outcome,
    );
}

#[test]
fn joining_copies_of_a_joined_string_is_stopped() {
    let expression = "cel.bind(s, schema.spec.items.map(i, schema.spec.text).join(), string(size(schema.spec.items.map(i, s).join())))";
    let outcome = assert_stopped_by_budget(expression);
    record(
        CATEGORY,
        "join of 1000 copies of a join of 1000 copies of 1 KiB",
        TRIES,
        &outcome,
    );
}

#[test]
fn splitting_a_megabyte_into_characters_is_stopped() {
    let expression =
        "cel.bind(s, schema.spec.items.map(i, schema.spec.text).join(), string(size(s.split(''))))";
    let outcome = assert_stopped_by_budget(expression);
    record(
        CATEGORY,
        "split of a 1 MiB string into single characters",
        TRIES,
        &outcome,
    );
}

#[test]
fn building_two_ranges_of_a_million_is_stopped() {
    let outcome =
        assert_stopped_by_budget("string(size(lists.range(1000000) + lists.range(1000000)))");
    record(CATEGORY, "lists.range(1000000) twice", TRIES, &outcome);
}

#[test]
fn doubling_a_megabyte_of_random_text_is_stopped() {
    let expression = rounds("random.seededString(1048576, schema.spec.name)", 30, |v| {
        format!("{v} + {v}")
    });
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "random.seededString(1 MiB) doubled 30 times",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_list_inserted_into_itself_over_and_over_is_stopped() {
    // `dyn` keeps the element type from nesting, so only the function's result is charged.
    let expression = rounds("schema.spec.items", 30, |v| {
        format!("lists.insertAtIndex(dyn({v}), 0, {v})")
    });
    let outcome = assert_stopped_by_budget(&expression);
    record(
        CATEGORY,
        "list inserted into itself 30 times (lists.insertAtIndex(l, 0, l))",
        TRIES,
        &outcome,
    );
}

/// Plans a graph whose collection `many` expands `dimensions` (each a list expression):
/// the node must be ERROR for exceeding the collection limit, naming the sizes.
fn assert_collection_too_large(dimensions: &[(&str, &str)], sizes: &[usize]) -> String {
    let for_each: Vec<Value> = dimensions
        .iter()
        .map(|(name, list)| json!({ *name: format!("${{{list}}}") }))
        .collect();
    let name = dimensions
        .iter()
        .map(|(name, _)| format!("${{string({name})}}"))
        .collect::<Vec<_>>()
        .join("-");
    let mut many = config_map("many", &json!({"value": "x"}));
    many["forEach"] = json!(for_each);
    many["template"]["metadata"]["name"] = json!(format!("item-{name}"));
    let graph = compiled(&rgd("Collection", &[many]));
    let instance = instance(&graph);
    for _ in 0..TRIES {
        let plan = plan_pass(&graph, &instance, &InMemoryView::new());
        let node = plan.node("many").expect("the node is planned");
        assert_eq!(node.state, NodeState::Error, "{node:?}");
        assert_eq!(
            node.error,
            Some(NodeError::CollectionTooLarge {
                id: "many".to_owned(),
                limit: Limits::default().max_collection_size,
                sizes: sizes.to_vec(),
            })
        );
        let message = node.message.as_deref().unwrap_or_default();
        assert!(
            message
                .starts_with("resource \"many\" forEach: the collection has more than 1000 items"),
            "{message}"
        );
        assert!(
            plan.apply.is_empty(),
            "nothing of the collection is applied"
        );
        assert_eq!(plan.instance_state, InstanceState::Error);
        assert_healthy_graph_still_served();
    }
    let error = NodeError::CollectionTooLarge {
        id: "many".to_owned(),
        limit: Limits::default().max_collection_size,
        sizes: sizes.to_vec(),
    };
    format!(
        "stopped: node ERROR `{error}`, nothing applied; a healthy graph planned next in the same thread is ACTIVE"
    )
}

#[test]
fn a_for_each_product_over_the_limit_is_refused_before_expanding() {
    let outcome = assert_collection_too_large(
        &[
            ("a", "lists.range(100)"),
            ("b", "lists.range(100)"),
            ("c", "lists.range(100)"),
        ],
        &[100, 100, 100],
    );
    record(
        CATEGORY,
        "forEach product 100 x 100 x 100 (limit 1000)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_for_each_product_that_overflows_is_refused() {
    let dimensions: Vec<(String, &str)> = (0..10)
        .map(|i| (format!("d{i}"), "lists.range(100)"))
        .collect();
    let dimensions: Vec<(&str, &str)> = dimensions.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    let outcome = assert_collection_too_large(&dimensions, &[100; 10]);
    record(
        CATEGORY,
        "forEach product of 10 dimensions of 100 (10^20 items)",
        TRIES,
        &outcome,
    );
}

#[test]
fn a_single_for_each_dimension_over_the_limit_is_refused() {
    let outcome = assert_collection_too_large(&[("i", "lists.range(1001)")], &[1001]);
    record(
        CATEGORY,
        "forEach over 1001 items (limit 1000)",
        TRIES,
        &outcome,
    );
}

#[test]
fn eleven_for_each_dimensions_are_rejected_at_compile_time() {
    let for_each: Vec<Value> = (0..11)
        .map(|i| json!({ format!("d{i}"): "${[1]}" }))
        .collect();
    let name: Vec<String> = (0..11).map(|i| format!("${{string(d{i})}}")).collect();
    let mut many = config_map("many", &json!({"value": "x"}));
    many["forEach"] = json!(for_each);
    many["template"]["metadata"]["name"] = json!(name.join("-"));
    let message = first_line_of(&rejected(&rgd("Dimensions", &[many])));
    assert_eq!(
        message,
        "resource \"many\" forEach: at most 10 forEach dimensions are allowed, found 11"
    );
    assert_healthy_graph_still_served();
    record(
        CATEGORY,
        "11 forEach dimensions (limit 10)",
        1,
        &format!("rejected at compile time: `{message}`"),
    );
}

#[test]
fn a_spec_over_one_and_a_half_mebibytes_is_rejected() {
    let big = "x".repeat(1_600_000);
    let hostile = rgd("Huge", &[config_map("blob", &json!({"value": big}))]);
    let message = first_line_of(&rejected(&hostile));
    assert!(
        message.starts_with("the ResourceGraphDefinition spec is ")
            && message.ends_with("bytes as JSON, more than the limit of 1572864 bytes"),
        "{message}"
    );
    assert_healthy_graph_still_served();
    record(
        CATEGORY,
        "RGD spec of 1.6 MB (limit 1.5 MiB)",
        1,
        &format!("rejected at compile time: `{message}`"),
    );
}

#[test]
fn more_than_256_resources_are_rejected() {
    let resources: Vec<Value> = (0..257)
        .map(|i| config_map(&format!("r{i}"), &json!({"value": "x"})))
        .collect();
    let message = first_line_of(&rejected(&rgd("Many", &resources)));
    assert_eq!(
        message,
        "resources: 257 resources are declared, more than the limit of 256"
    );
    assert_healthy_graph_still_served();
    record(
        CATEGORY,
        "257 resources (limit 256)",
        1,
        &format!("rejected at compile time: `{message}`"),
    );
}

#[test]
fn an_expression_over_8_kib_is_rejected_with_its_path() {
    let expression = format!("'{}' + schema.spec.name", "a".repeat(8200));
    let hostile = rgd(
        "Long",
        &[config_map(
            "long",
            &json!({"value": format!("${{{expression}}}")}),
        )],
    );
    let message = first_line_of(&rejected(&hostile));
    let expected = format!(
        "resource \"long\" template.data.value: expression \"'{}...\" is {} bytes long, more than the limit of 8192 bytes",
        "a".repeat(63),
        expression.len()
    );
    assert_eq!(message, expected);
    assert_healthy_graph_still_served();
    let case = format!("expression of {} bytes (limit 8 KiB)", expression.len());
    record(
        CATEGORY,
        &case,
        1,
        &format!("rejected at compile time: `{message}`"),
    );
}

/// An expression within the length limit whose AST is too deep to check or evaluate safely.
fn assert_rejected_as_too_deep(case: &str, expression: &str, expected: &str) {
    assert!(expression.len() <= 8 * 1024, "{case} fits the length limit");
    let hostile = rgd(
        "Deep",
        &[config_map(
            "deep",
            &json!({"value": format!("${{{expression}}}")}),
        )],
    );
    let message = first_line_of(&rejected(&hostile));
    assert!(
        message.starts_with("resource \"deep\" template.data.value: "),
        "{message}"
    );
    assert!(message.contains(expected), "{message}");
    assert_healthy_graph_still_served();
    record(
        CATEGORY,
        case,
        1,
        &format!("rejected at compile time: `... {expected}`"),
    );
}

#[test]
fn parentheses_nested_4000_deep_are_rejected() {
    let expression = format!("string({}1{})", "(".repeat(4000), ")".repeat(4000));
    assert_rejected_as_too_deep(
        "expression nested 4000 parentheses deep",
        &expression,
        "Recursion limit of 96 exceeded",
    );
}

#[test]
fn a_chain_of_4000_additions_is_rejected() {
    let expression = format!("string(1{})", "+1".repeat(3999));
    assert_rejected_as_too_deep(
        "chain of 3999 additions (1+1+...+1, 8 KiB)",
        &expression,
        "expression is nested 4001 levels deep, more than the limit of 100",
    );
}

#[test]
fn a_chain_of_2000_field_selections_is_rejected() {
    let expression = format!("schema.spec.name{}", ".a".repeat(2000));
    assert_rejected_as_too_deep(
        "chain of 2000 field selections (x.a.a...a)",
        &expression,
        "expression is nested 2003 levels deep, more than the limit of 100",
    );
}
