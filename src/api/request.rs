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

#[cfg(test)]
mod tests {
    /// A decimal number in a body reads as the nearest double (serde_json's `float_roundtrip`
    /// feature): without it 9007199254740993.0 read as ...994, one double off, and a value
    /// sent and read back changed. Integers past 64 bits read as the nearest double too, as in
    /// JavaScript (RFC 8259 §6 leaves that to the implementation).
    #[test]
    fn decimal_numbers_read_as_the_nearest_double() {
        let v: serde_json::Value =
            serde_json::from_str("[9007199254740993.0, 0.1, 1e308, 18446744073709551616]").unwrap();
        assert_eq!(v[0].as_f64(), Some(9_007_199_254_740_992.0));
        assert_eq!(v[1].as_f64(), Some(0.1));
        assert_eq!(v[2].as_f64(), Some(1e308));
        assert_eq!(v[3].as_f64(), Some(18_446_744_073_709_551_616.0));
        assert_eq!(serde_json::to_string(&v).unwrap(), "[9007199254740992.0,0.1,1e+308,1.8446744073709552e+19]");
    }
}
