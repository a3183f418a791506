//! A parsed API request and the field readers handlers use to validate it. Each reader names
//! the field in its error, and accepts aliases (the SDK's names) after the documented name.

use std::collections::HashMap;

use axum::http::Method;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;

/// What a handler knows about the caller.
#[derive(Clone)]
pub struct Cx {
    pub app: std::sync::Arc<super::App>,
    pub brand: crate::model::Brand,
    pub key_id: crate::model::KeyId,
    pub now: crate::time::Millis,
    pub page_size: u64,
}

pub struct Req {
    pub method: Method,
    pub body: Map<String, Value>,
    pub query: HashMap<String, String>,
}

pub type Names = &'static [&'static str];

impl Req {
    /// The first of `names` present with a non-null value.
    pub fn field(&self, names: Names) -> Option<(&'static str, &Value)> {
        names.iter().find_map(|n| match self.body.get(*n) {
            None | Some(Value::Null) => None,
            Some(v) => Some((*n, v)),
        })
    }

    pub fn has(&self, names: Names) -> bool {
        self.field(names).is_some()
    }

    pub fn string(&self, names: Names) -> Result<String, ApiError> {
        self.opt_string(names)?.ok_or_else(|| ApiError::Missing(names[0].into()))
    }

    pub fn opt_string(&self, names: Names) -> Result<Option<String>, ApiError> {
        match self.field(names) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((n, _)) => Err(ApiError::invalid(n, "expected a string")),
        }
    }

    pub fn boolean(&self, names: Names) -> Result<bool, ApiError> {
        self.opt_bool(names)?.ok_or_else(|| ApiError::Missing(names[0].into()))
    }

    pub fn opt_bool(&self, names: Names) -> Result<Option<bool>, ApiError> {
        match self.field(names) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((n, _)) => Err(ApiError::invalid(n, "expected true or false")),
        }
    }

    /// An integer in `min..=max`.
    pub fn opt_int(&self, names: Names, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.field(names) {
            None => Ok(None),
            Some((n, v)) => match v.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                Some(_) => Err(ApiError::invalid(n, format!("must be between {min} and {max}"))),
                None => Err(ApiError::invalid(n, "expected an integer")),
            },
        }
    }

    pub fn int(&self, names: Names, min: i64, max: i64) -> Result<i64, ApiError> {
        self.opt_int(names, min, max)?.ok_or_else(|| ApiError::Missing(names[0].into()))
    }

    pub fn opt_object(&self, names: Names) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.field(names) {
            None => Ok(None),
            Some((_, Value::Object(o))) => Ok(Some(o.clone())),
            Some((n, _)) => Err(ApiError::invalid(n, "expected a JSON object")),
        }
    }

    /// A UUID-valued field; a malformed id is a 400, a well-formed unknown one is the caller's 404.
    pub fn uuid(&self, names: Names) -> Result<Uuid, ApiError> {
        let s = self.string(names)?;
        let (name, _) = self.field(names).expect("present");
        Uuid::parse_str(s.trim()).map_err(|_| ApiError::invalid(name, "expected a UUID"))
    }

    /// The 1-based `page` query parameter (default 1).
    pub fn page(&self) -> Result<u64, ApiError> {
        match self.query.get("page").map(|s| s.trim()) {
            None | Some("") => Ok(1),
            Some(s) => match s.parse::<u64>() {
                Ok(p) if p >= 1 => Ok(p),
                _ => Err(ApiError::invalid("page", "expected an integer >= 1")),
            },
        }
    }
}

/// Decodes `%XX` escapes and `+` (form encoding) in a query component.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Depth of the deepest nesting of arrays/objects in a JSON text, computed without parsing
/// (so a hostile body cannot exhaust the parser's stack before the limit applies).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a": [1, {"b": "[[[{{{"}]}"#), 3);
        assert_eq!(json_depth(br#""\"[""#), 0);
        assert_eq!(json_depth(b"1"), 0);
    }
}
