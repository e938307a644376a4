//! Writing evaluated values into objects at field paths, and the forEach cartesian product.

use kro_graph::{FieldPath, PathSegment};
use serde_json::{Map, Value};

/// Writes `value` at `path` inside `object`, creating missing maps on the way. Indexes past
/// the end of a list are ignored (the template always holds the slot's string there).
pub(crate) fn set_at(object: &mut Value, path: &FieldPath, value: Value) {
    let Some((last, parents)) = path.segments().split_last() else {
        *object = value;
        return;
    };
    let mut current = object;
    for segment in parents {
        current = match segment {
            PathSegment::Field(name) => {
                if !current.is_object() {
                    *current = Value::Object(Map::new());
                }
                let Value::Object(map) = current else {
                    return;
                };
                // Looked up before inserting: an owned key only for a new field.
                if !map.contains_key(name) {
                    map.insert(name.clone(), Value::Object(Map::new()));
                }
                match map.get_mut(name) {
                    Some(next) => next,
                    None => return,
                }
            }
            PathSegment::Index(index) => match current.get_mut(*index) {
                Some(item) => item,
                None => return,
            },
        };
    }
    match last {
        PathSegment::Field(name) => {
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            if let Value::Object(map) = current {
                match map.get_mut(name) {
                    Some(slot) => *slot = value,
                    None => {
                        map.insert(name.clone(), value);
                    }
                }
            }
        }
        PathSegment::Index(index) => {
            if let Some(slot) = current.get_mut(*index) {
                *slot = value;
            }
        }
    }
}

/// Removes the field or list element at `path`, if present.
pub(crate) fn remove_at(object: &mut Value, path: &FieldPath) {
    let Some((last, parents)) = path.segments().split_last() else {
        *object = Value::Null;
        return;
    };
    let mut current = object;
    for segment in parents {
        let next = match segment {
            PathSegment::Field(name) => current.get_mut(name.as_str()),
            PathSegment::Index(index) => current.get_mut(*index),
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    match (last, current) {
        (PathSegment::Field(name), Value::Object(map)) => {
            map.remove(name);
        }
        (PathSegment::Index(index), Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
        }
        _ => {}
    }
}

/// Removes maps and lists left empty (recursively), keeping the root.
pub(crate) fn drop_empty_containers(value: &mut Value) {
    fn is_empty_container(value: &Value) -> bool {
        matches!(value, Value::Object(map) if map.is_empty())
            || matches!(value, Value::Array(items) if items.is_empty())
    }
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                drop_empty_containers(child);
            }
            map.retain(|_, child| !is_empty_container(child));
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                drop_empty_containers(child);
            }
            items.retain(|child| !is_empty_container(child));
        }
        _ => {}
    }
}

/// The row-major cartesian product of `dimensions` (first dimension outermost), as index
/// tuples. Fails with the dimension sizes when the product exceeds `limit`; an empty dimension
/// yields no items.
pub(crate) fn cartesian(sizes: &[usize], limit: usize) -> Result<Vec<Vec<usize>>, ()> {
    let mut total: usize = 1;
    for size in sizes {
        total = total.checked_mul(*size).ok_or(())?;
        if total > limit {
            return Err(());
        }
    }
    if sizes.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::with_capacity(total);
    for mut flat in 0..total {
        let mut row = vec![0; sizes.len()];
        for (slot, size) in row.iter_mut().zip(sizes).rev() {
            *slot = flat % size;
            flat /= size;
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(fields: &[&str]) -> FieldPath {
        fields
            .iter()
            .fold(FieldPath::root(), |path, field| path.field(field))
    }

    #[test]
    fn set_and_remove_follow_the_path() {
        let mut object = json!({"spec": {"ports": [{"port": "${x}"}]}});
        set_at(
            &mut object,
            &path(&["spec", "ports"]).index(0).field("port"),
            json!(80),
        );
        assert_eq!(object["spec"]["ports"][0]["port"], 80);
        set_at(&mut object, &path(&["metadata", "name"]), json!("a"));
        assert_eq!(object["metadata"]["name"], "a");
        remove_at(&mut object, &path(&["spec", "ports"]).index(0));
        assert_eq!(object["spec"]["ports"], json!([]));
        drop_empty_containers(&mut object);
        assert_eq!(object, json!({"metadata": {"name": "a"}}));
    }

    #[test]
    fn cartesian_is_row_major_and_bounded() {
        assert_eq!(
            cartesian(&[2, 3], 10).expect("present"),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        assert!(cartesian(&[2, 0], 10).expect("present").is_empty());
        assert!(cartesian(&[4, 4], 10).is_err());
        assert!(cartesian(&[], 10).expect("present").is_empty());
    }
}
