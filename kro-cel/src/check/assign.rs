//! "Expected vs output": whether an expression's type may fill a field of a given type.

use crate::types::CelType;

/// Whether a value of type `found` may fill a field of type `expected`: `dyn` on either side,
/// optionals unwrapped, lists and maps element-wise, a struct into a struct that has all its
/// fields, maps and structs into each other when keys are strings and values fit, and otherwise
/// identical kinds (so `int` does not fill a `double`).
pub fn assignable(found: &CelType, expected: &CelType) -> bool {
    use CelType::*;
    if found == expected {
        return true;
    }
    match (found, expected) {
        (Dyn | Param(_), _) | (_, Dyn | Param(_)) => true,
        (Optional(inner), _) => assignable(inner, expected),
        (_, Optional(inner)) => assignable(found, inner),
        (Null, _) => false,
        (List(f), List(e)) => assignable(f, e),
        (Map(fk, fv), Map(ek, ev)) => assignable(fk, ek) && assignable(fv, ev),
        (Struct(f), Struct(e)) => f
            .fields
            .iter()
            .all(|(name, field)| match e.fields.get(name) {
                Some(target) => assignable(&field.ty, &target.ty),
                None => e.preserves_unknown_fields,
            }),
        (Condition, Struct(e)) => CelType::condition_fields().iter().all(|(name, field)| {
            e.fields
                .get(name)
                .map_or(e.preserves_unknown_fields, |target| {
                    assignable(&field.ty, &target.ty)
                })
        }),
        (Map(fk, fv), Struct(e)) => {
            assignable(fk, &String) && e.fields.values().all(|field| assignable(fv, &field.ty))
        }
        (Struct(f), Map(ek, ev)) => {
            assignable(&String, ek) && f.fields.values().all(|field| assignable(&field.ty, ev))
        }
        (Condition, Map(ek, ev)) => assignable(&String, ek) && assignable(&String, ev),
        _ => false,
    }
}

/// An expression whose type cannot fill the field it is written in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "type mismatch in resource \"{resource}\" at path \"{path}\": expression \"{expression}\" returns type \"{found}\" but expected \"{expected}\""
)]
pub struct TypeMismatch {
    /// The resource id.
    pub resource: String,
    /// The field path inside the resource.
    pub path: String,
    /// The expression, as written.
    pub expression: String,
    /// The expression's type, in CEL notation.
    pub found: String,
    /// The field's type, in CEL notation.
    pub expected: String,
}

/// [`assignable`], with the error naming the resource, field path and expression.
pub fn check_assignable(
    resource: &str,
    path: &str,
    expression: &str,
    found: &CelType,
    expected: &CelType,
) -> Result<(), TypeMismatch> {
    if assignable(found, expected) {
        Ok(())
    } else {
        Err(TypeMismatch {
            resource: resource.to_string(),
            path: path.to_string(),
            expression: expression.to_string(),
            found: found.to_string(),
            expected: expected.to_string(),
        })
    }
}
