//! `execution_condition` evaluation: `field` is a template path (with or without braces),
//! resolved against the step's context; numbers compare as numbers when both sides parse as
//! numbers, otherwise as strings; `in` takes a JSON array or a comma-separated list;
//! `contains` is substring (string field) or membership (array field). A field that does not
//! resolve makes the condition false.

use serde_json::Value;

use crate::model::{Condition, ConditionOp};
use crate::template::render::lookup;

/// The path inside `{{ … }}` or the bare path.
pub fn field_path(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix("{{").and_then(|x| x.strip_suffix("}}")).map(str::trim).unwrap_or(f)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => s.split(',').map(|x| Value::String(x.trim().to_string())).collect(),
        },
        other => vec![other.clone()],
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => text(a) == text(b),
    }
}

/// Evaluates a condition against a context (`initial` keys at the top, `step` for responses).
pub fn holds(c: &Condition, context: &Value) -> bool {
    let path = field_path(&c.field);
    let path = path.strip_prefix("initial.").unwrap_or(path);
    let Some(field) = lookup(context, path) else { return false };
    let order = || match (number(field), number(&c.value)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(text(field).cmp(&text(&c.value))),
    };
    match c.operator {
        ConditionOp::Eq => equal(field, &c.value),
        ConditionOp::Ne => !equal(field, &c.value),
        ConditionOp::Lt => order().is_some_and(|o| o.is_lt()),
        ConditionOp::Gt => order().is_some_and(|o| o.is_gt()),
        ConditionOp::Lte => order().is_some_and(|o| o.is_le()),
        ConditionOp::Gte => order().is_some_and(|o| o.is_ge()),
        ConditionOp::In => list(&c.value).iter().any(|x| equal(field, x)),
        ConditionOp::Contains => match field {
            Value::Array(a) => a.iter().any(|x| equal(x, &c.value)),
            other => text(other).contains(&text(&c.value)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(field: &str, op: &str, value: Value) -> Condition {
        Condition { field: field.into(), operator: ConditionOp::parse(op).unwrap(), value }
    }

    #[test]
    fn operators_with_numbers_strings_and_arrays() {
        let ctx = json!({"n": 5, "s": "valid", "tags": ["a", "b"], "step": {"response": {"status": "ok", "count": "12"}, "v": {"status_code": 201}}});
        let cases: &[(&str, &str, Value, bool)] = &[
            ("{{ step.response.status }}", "eq", json!("ok"), true),
            ("step.response.status", "ne", json!("ok"), false),
            ("initial.n", "gt", json!("4"), true),
            ("n", "lt", json!(10), true),
            ("step.response.count", "gte", json!("12"), true),
            ("step.response.count", "gt", json!("9"), true),
            ("s", "lte", json!("valid"), true),
            ("s", "in", json!("pending, valid"), true),
            ("s", "in", json!(["x", "y"]), false),
            ("n", "in", json!("[1, 5, 9]"), true),
            ("s", "contains", json!("ali"), true),
            ("tags", "contains", json!("b"), true),
            ("tags", "contains", json!("z"), false),
            ("step.v.status_code", "eq", json!("201"), true),
            ("missing.path", "eq", json!(""), false),
            ("missing.path", "ne", json!("x"), false),
        ];
        for (field, op, value, expected) in cases {
            assert_eq!(holds(&c(field, op, value.clone()), &ctx), *expected, "{field} {op} {value}");
        }
    }
}
