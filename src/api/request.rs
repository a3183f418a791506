//! The handler context ([`Cx`]) and the raw request ([`Req`]) a handler's typed input is read
//! from (see [`super::input`]), plus the small decoders the dispatcher uses.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

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

/// A request as the dispatcher read it: the JSON body (an object; `{}` when empty) and the
/// decoded query-string pairs. Handlers never see it: the endpoint table reads their typed
/// input from it with [`Req::input`].
pub struct Req {
    pub body: Map<String, Value>,
    pub query: Vec<(String, String)>,
    /// `GET` endpoints read the query string, all others the body.
    pub from_query: bool,
}

impl Req {
    /// The endpoint's typed input. A body endpoint takes no query parameters: any is unknown.
    pub fn input<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        if self.from_query {
            return super::input::from_query(&self.query);
        }
        if let Some((name, _)) = self.query.first() {
            return Err(ApiError::UnknownField { field: name.clone(), suggestion: None });
        }
        super::input::from_body(self.body)
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
