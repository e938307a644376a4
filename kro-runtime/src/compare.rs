//! JSON comparisons that decide whether a write is needed.
//!
//! Both treat a whole double and an integer as equal: CEL produces doubles where the API server
//! stores integers, and comparing them strictly would write on every pass and wake the instance
//! again with its own write.

use serde_json::Value;

/// Whether `observed` already holds every field of `desired` with the same value.
///
/// Objects: every desired key is present (extra observed keys, such as server defaults, are
/// fine). Lists: same length, element by element (elements may carry defaulted fields). A
/// desired `null` matches an absent or null field.
pub fn contains(observed: &Value, desired: &Value) -> bool {
    match (observed, desired) {
        (Value::Object(observed), Value::Object(desired)) => {
            desired
                .iter()
                .all(|(key, desired)| match (observed.get(key), desired) {
                    (None, Value::Null) => true,
                    (None, _) => false,
                    (Some(observed), desired) => contains(observed, desired),
                })
        }
        (Value::Array(observed), Value::Array(desired)) => {
            observed.len() == desired.len()
                && observed
                    .iter()
                    .zip(desired)
                    .all(|(observed, desired)| contains(observed, desired))
        }
        (observed, desired) => scalars_equal(observed, desired),
    }
}

/// Whether two documents are equal, numbers compared by value.
pub fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left.iter().all(|(key, value)| {
                    right.get(key).is_some_and(|other| json_equal(value, other))
                })
        }
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(a, b)| json_equal(a, b))
        }
        (left, right) => scalars_equal(left, right),
    }
}

fn scalars_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            if let (Some(a), Some(b)) = (left.as_i64(), right.as_i64()) {
                return a == b;
            }
            if let (Some(a), Some(b)) = (left.as_u64(), right.as_u64()) {
                return a == b;
            }
            match (left.as_f64(), right.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        }
        (left, right) => left == right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_ignores_extra_observed_fields_and_defaults_in_list_items() {
        let observed = json!({
            "metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}},
            "spec": {"replicas": 3, "containers": [{"name": "c", "image": "i", "terminationMessagePath": "/dev"}]}
        });
        let desired = json!({
            "metadata": {"name": "a", "labels": {"x": "1"}},
            "spec": {"replicas": 3.0, "containers": [{"name": "c", "image": "i"}]}
        });
        assert!(contains(&observed, &desired));
        assert!(contains(&observed, &json!({"spec": {"absent": null}})));
    }

    #[test]
    fn contains_detects_drift_missing_fields_and_list_changes() {
        let observed = json!({"spec": {"replicas": 3, "ports": [1, 2]}, "data": {"k": "v"}});
        assert!(!contains(&observed, &json!({"spec": {"replicas": 2}})));
        assert!(!contains(&observed, &json!({"spec": {"paused": true}})));
        assert!(!contains(&observed, &json!({"spec": {"ports": [1]}})));
        assert!(!contains(&observed, &json!({"spec": {"ports": [2, 1]}})));
        assert!(!contains(&observed, &json!({"data": {"k": "w"}})));
        assert!(!contains(&observed, &json!({"data": {"k": null}})));
        assert!(!contains(&observed, &json!({"spec": {"replicas": 3.5}})));
    }

    #[test]
    fn json_equal_is_exact_except_for_whole_numbers() {
        let wire = json!({"state": "ACTIVE", "replicas": 2, "conditions": [{"type": "Ready"}]});
        assert!(json_equal(
            &wire,
            &json!({"state": "ACTIVE", "replicas": 2.0, "conditions": [{"type": "Ready"}]})
        ));
        assert!(!json_equal(
            &wire,
            &json!({"state": "ACTIVE", "replicas": 2})
        ));
        assert!(!json_equal(
            &wire,
            &json!({"state": "ACTIVE", "replicas": 2, "conditions": [{"type": "Ready"}], "x": 1})
        ));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
    }
}
