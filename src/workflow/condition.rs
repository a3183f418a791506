//! `execution_condition` evaluation: `field` is a template path (with or without braces),
//! resolved against the step's context; numbers compare as numbers when both sides parse as
//! numbers, otherwise as strings; `in` takes a JSON array or a comma-separated list;
//! `contains` is substring (string field) or membership (array field); `exists` holds when the
//! field resolves to a value other than `null` (with `value` `false`: when it does not). A
//! field that does not resolve makes every other condition false.
//!
//! Numbers (JSON numbers, or strings that parse as numbers) compare by value, exactly: an
//! integer is its decimal digits, of any size, so `9007199254740993` is not
//! `9007199254740992` (2^53 + 1 and 2^53, equal as `f64`); a number with a fraction is an
//! `f64` ("floats as floats"); an integer against a fraction compares exactly too (against
//! the fraction's floor, which `f64` holds exactly). A JSON number beyond the i64/u64 range
//! arrives here as the `f64` serde_json parsed it into (the crate does not enable serde_json's
//! `arbitrary_precision`: it breaks the record codec's internally tagged enums), so it
//! compares by that value; the same digits in a string compare exactly.

use std::cmp::Ordering;

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

/// A number as conditions compare it.
#[derive(Debug, Clone, PartialEq)]
enum Num {
    /// An integer: its sign and decimal digits without leading zeros (zero is `"0"`, never
    /// negative).
    Int { neg: bool, digits: String },
    /// A finite number with a fractional part.
    Frac(f64),
}

impl Num {
    /// An optionally signed run of ASCII digits, of any length.
    fn int_text(s: &str) -> Option<Num> {
        let (neg, digits) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = digits.trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        Some(Num::Int { neg: neg && digits != "0", digits: digits.to_string() })
    }

    /// A finite `f64`: an integer when it has no fraction (its exact value: every integral
    /// `f64` is an integer that `{:.0}` prints digit for digit).
    fn float(x: f64) -> Option<Num> {
        if !x.is_finite() {
            return None;
        }
        if x.fract() == 0.0 { Num::int_text(&format!("{x:.0}")) } else { Some(Num::Frac(x)) }
    }

    fn of(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Num::int_text(&i.to_string()),
                (None, Some(u)) => Num::int_text(&u.to_string()),
                (None, None) => n.as_f64().and_then(Num::float),
            },
            // Only finite numbers: Rust also parses "nan", "inf" and "infinity" as floats, but
            // those are words in a response, compared as text.
            Value::String(s) => {
                let s = s.trim();
                Num::int_text(s).or_else(|| s.parse::<f64>().ok().and_then(Num::float))
            }
            _ => None,
        }
    }

    fn cmp(&self, other: &Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int { neg: a_neg, digits: a }, Num::Int { neg: b_neg, digits: b }) => Some(match (a_neg, b_neg) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, false) => magnitude(a, b),
                (true, true) => magnitude(b, a),
            }),
            (Num::Frac(x), Num::Frac(y)) => x.partial_cmp(y),
            // An integer is never equal to a fraction; it is above it exactly when it is
            // above the fraction's floor.
            (int @ Num::Int { .. }, Num::Frac(f)) => {
                let floor = Num::float(f.floor())?;
                Some(if int.cmp(&floor)?.is_gt() { Ordering::Greater } else { Ordering::Less })
            }
            (Num::Frac(_), Num::Int { .. }) => other.cmp(self).map(Ordering::reverse),
        }
    }
}

/// Compares two digit strings without leading zeros as non-negative integers.
fn magnitude(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
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
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => x.cmp(&y) == Some(Ordering::Equal),
        _ => text(a) == text(b),
    }
}

/// Evaluates a condition against a context (`initial` keys at the top, `step` for responses).
pub fn holds(c: &Condition, context: &Value) -> bool {
    let path = field_path(&c.field);
    let path = path.strip_prefix("initial.").unwrap_or(path);
    let absent_wanted = matches!(c.value, Value::Bool(false));
    let Some(field) = lookup(context, path) else { return c.operator == ConditionOp::Exists && absent_wanted };
    let order = || match (Num::of(field), Num::of(&c.value)) {
        (Some(x), Some(y)) => x.cmp(&y),
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
        ConditionOp::Exists => field.is_null() == absent_wanted,
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
    fn exists_tells_present_from_absent_and_null() {
        let ctx = json!({"event": {"body": {"a": 1, "n": null, "zero": 0, "empty": ""}}});
        for (field, value, want) in [
            ("event.body.a", json!(true), true),
            ("event.body.zero", json!(true), true),
            ("event.body.empty", json!(true), true),
            ("event.body.n", json!(true), false),
            ("event.body.missing", json!(true), false),
            ("event.body.missing", json!(false), true),
            ("event.body.n", json!(false), true),
            ("event.body.a", json!(false), false),
            ("event.nothing.deeper", json!(null), false),
        ] {
            assert_eq!(holds(&c(field, "exists", value.clone()), &ctx), want, "{field} exists {value}");
        }
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

    /// Integers compare exactly at any size; fractions as f64; integer against fraction by
    /// value. Every operator, JSON numbers and numeric strings on both sides.
    #[test]
    fn big_integers_and_mixed_numbers_compare_exactly() {
        // A step response as delivery parses it (serde_json keeps i64/u64 exact).
        let ctx: Value = serde_json::from_str(
            r#"{"v": 9007199254740993, "two53": 9007199254740992, "u64max": 18446744073709551615,
                "i64min": -9223372036854775808, "neg": -9007199254740993, "f": 2.5, "three": 3,
                "big_text": "18446744073709551617", "big_float": 1e20, "padded": "  007 ",
                "list": [1, 9007199254740993], "zero": 0, "step": {"response": {"v": 9007199254740993}}}"#,
        )
        .unwrap();
        let cases: &[(&str, &str, Value, bool)] = &[
            // Case 14: 2^53 + 1 is not 2^53 (they are the same f64).
            ("{{ step.response.v }}", "eq", json!(9007199254740992u64), false),
            ("{{ step.response.v }}", "eq", json!(9007199254740993u64), true),
            ("v", "eq", json!(9007199254740992u64), false),
            ("v", "eq", json!("9007199254740992"), false),
            ("v", "ne", json!(9007199254740992u64), true),
            ("v", "eq", json!(9007199254740993u64), true),
            ("v", "eq", json!("9007199254740993"), true),
            ("v", "gt", json!(9007199254740992u64), true),
            ("v", "gte", json!("9007199254740994"), false),
            ("v", "lt", json!("9007199254740994"), true),
            ("v", "lte", json!(9007199254740992u64), false),
            ("two53", "lt", json!("9007199254740993"), true),
            ("v", "in", json!([9007199254740992u64]), false),
            ("v", "in", json!("9007199254740992, 9007199254740994"), false),
            ("v", "in", json!("1, 9007199254740993"), true),
            ("v", "in", json!("[9007199254740993]"), true),
            ("list", "contains", json!(9007199254740993u64), true),
            ("list", "contains", json!("9007199254740992"), false),
            // The ends of u64 and i64, and past them as text.
            ("u64max", "eq", json!("18446744073709551615"), true),
            ("u64max", "eq", json!(18446744073709551614u64), false),
            ("u64max", "lt", json!("18446744073709551616"), true),
            ("i64min", "lt", json!(-9223372036854775807i64), true),
            ("i64min", "eq", json!("-9223372036854775808"), true),
            ("neg", "lt", json!(-9007199254740992i64), true),
            ("neg", "gt", json!("-9007199254740994"), true),
            ("big_text", "eq", json!("18446744073709551616"), false),
            ("big_text", "gt", json!("18446744073709551616"), true),
            ("big_text", "eq", json!("+18446744073709551617"), true),
            ("big_text", "lt", json!("100000000000000000000000000000"), true),
            ("big_text", "gt", json!("-100000000000000000000000000000"), true),
            // A float with no fraction is the integer it holds, exactly (1e20 is exact).
            ("big_float", "eq", json!("100000000000000000000"), true),
            ("big_float", "eq", json!("100000000000000000001"), false),
            ("big_float", "lt", json!("100000000000000000001"), true),
            ("three", "eq", json!(3.0), true),
            ("three", "eq", json!("3.000"), true),
            ("two53", "eq", json!(9007199254740992.0), true),
            ("v", "gt", json!(9007199254740992.0), true),
            // Integer against a fraction: by value, never equal.
            ("three", "lt", json!(3.5), true),
            ("three", "gt", json!("2.5"), true),
            ("three", "eq", json!(2.999), false),
            ("three", "gte", json!(2.999), true),
            ("f", "gt", json!(2), true),
            ("f", "lt", json!("3"), true),
            ("f", "ne", json!(2), true),
            ("zero", "gt", json!(-0.5), true),
            ("zero", "lt", json!(0.5), true),
            // Fractions as f64.
            ("f", "eq", json!("2.50"), true),
            ("f", "lt", json!(2.5000001), true),
            // Spelling of integers: leading zeros, sign, surrounding spaces, -0.
            ("padded", "eq", json!(7), true),
            ("zero", "eq", json!("-0"), true),
            ("zero", "eq", json!("+0"), true),
            ("zero", "eq", json!(-0.0), true),
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
