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
        // Only finite numbers: Rust also parses "nan", "inf" and "infinity" as floats, but
        // those are words in a response, compared as text.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
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

    /// Every operator against numeric, string and array fields (and their edge cases).
    #[test]
    fn operator_table() {
        let ctx = json!({
            "int": 10, "neg": -2, "float": 2.5, "numstr": "10", "numstr_pad": " 7 ",
            "word": "pending", "empty": "", "yes": true, "nothing": null,
            "nums": [1, 2, 30], "words": ["red", "green"], "nested": {"list": [{"id": "x1"}, {"id": "x2"}]},
            "nan_text": "nan", "inf_text": "Infinity",
        });
        let cases: &[(&str, &str, Value, bool)] = &[
            // eq / ne: numbers compare as numbers when both sides parse, whatever their JSON type.
            ("int", "eq", json!(10), true),
            ("int", "eq", json!("10"), true),
            ("int", "eq", json!("10.0"), true),
            ("numstr", "eq", json!(10), true),
            ("numstr_pad", "eq", json!("7"), true),
            ("float", "eq", json!("2.50"), true),
            ("int", "eq", json!("ten"), false),
            ("int", "ne", json!(11), true),
            ("int", "ne", json!("10"), false),
            ("word", "eq", json!("pending"), true),
            ("word", "eq", json!("Pending"), false),
            ("word", "ne", json!("done"), true),
            ("empty", "eq", json!(""), true),
            ("yes", "eq", json!("true"), true),
            ("yes", "eq", json!(true), true),
            ("nothing", "eq", json!("null"), true),
            ("words", "eq", json!(["red", "green"]), true),
            // lt / gt / lte / gte: numeric order (10 > 9, not "10" < "9")…
            ("int", "gt", json!("9"), true),
            ("numstr", "gt", json!("9"), true),
            ("numstr", "lt", json!("9"), false),
            ("int", "lt", json!(10), false),
            ("int", "lte", json!(10), true),
            ("int", "gte", json!("10"), true),
            ("int", "gte", json!(11), false),
            ("neg", "lt", json!("-1"), true),
            ("neg", "gt", json!(-3), true),
            ("float", "gt", json!(2.4), true),
            ("float", "lte", json!("2.4"), false),
            // …string order otherwise.
            ("word", "lt", json!("zebra"), true),
            ("word", "gt", json!("apple"), true),
            ("word", "lte", json!("pending"), true),
            ("word", "gte", json!("pendinh"), false),
            ("empty", "lt", json!("a"), true),
            // in: JSON array, JSON array text, comma list (trimmed), numbers by value.
            ("word", "in", json!(["done", "pending"]), true),
            ("word", "in", json!("[\"done\", \"pending\"]"), true),
            ("word", "in", json!("done, pending ,failed"), true),
            ("word", "in", json!("done,failed"), false),
            ("word", "in", json!("pend"), false),
            ("int", "in", json!([1, 10, 100]), true),
            ("int", "in", json!("1,10,100"), true),
            ("int", "in", json!(["10.0"]), true),
            ("int", "in", json!("[1, 2]"), false),
            ("int", "in", json!(10), true),
            ("nested.list.1.id", "in", json!("x2,x3"), true),
            // contains: substring of a string field, membership in an array field.
            ("word", "contains", json!("end"), true),
            ("word", "contains", json!("xyz"), false),
            ("word", "contains", json!(""), true),
            ("numstr", "contains", json!(1), true),
            ("int", "contains", json!("0"), true),
            ("words", "contains", json!("green"), true),
            ("words", "contains", json!("gre"), false),
            ("nums", "contains", json!("30"), true),
            ("nums", "contains", json!(3), false),
            ("nested.list", "contains", json!("x1"), false),
            // Fields through braces, `initial.` and array indexes; missing fields are false.
            ("{{ initial.int }}", "eq", json!(10), true),
            ("{{nums.2}}", "eq", json!(30), true),
            ("  {{ words.0 }}  ", "eq", json!("red"), true),
            ("nums.9", "eq", json!(""), false),
            ("word.deeper", "ne", json!("x"), false),
            ("absent", "lt", json!(1), false),
            ("absent", "contains", json!(""), false),
            ("absent", "in", json!("a,b"), false),
            // Words that Rust parses as floats are words, not numbers.
            ("nan_text", "eq", json!("nan"), true),
            ("nan_text", "ne", json!("nan"), false),
            ("inf_text", "eq", json!("inf"), false),
        ];
        for (field, op, value, expected) in cases {
            assert_eq!(holds(&c(field, op, value.clone()), &ctx), *expected, "{field} {op} {value}");
        }
    }

    #[test]
    fn field_paths_with_and_without_braces() {
        assert_eq!(field_path("{{ step.response.status }}"), "step.response.status");
        assert_eq!(field_path("{{step.a.status_code}}"), "step.a.status_code");
        assert_eq!(field_path("  initial.x "), "initial.x");
        assert_eq!(field_path("{{ x"), "{{ x", "an unclosed brace is not a placeholder");
    }
}
