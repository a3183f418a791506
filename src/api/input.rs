//! Typed request inputs. Every endpoint's handler takes one `#[derive(Deserialize, JsonSchema)]`
//! type with `#[serde(deny_unknown_fields)]`; this module reads it from the JSON body (or, for
//! `GET` endpoints, from the query string) and turns every way that can fail into the
//! documented error naming the field:
//!
//! - a missing required field (or `null` for one) → `Missing required field: <path>`;
//! - a wrong type or a value a field type refuses → `Invalid field value: <path> (<why>)`;
//! - a field the type does not declare → `Unknown field: <path> (did you mean <name>?)`.
//!
//! The deserializer is our own (a thin one over `serde_json::Value`), so that serde's errors
//! arrive here as data — the missing field's name, the unknown field's name and the list of
//! accepted names, the path from the nested keys and indexes — and no message text is ever
//! parsed. Paths read `steps[1].method`, `execution_condition.operator`, `exclusion_dates[0]`.
//!
//! The same types give `/openapi.json` its request schemas (through `schemars`), so the
//! document, the routing table and the validation cannot drift apart. Bounded field types
//! (`Line`, `Int`, `List`, ...) live in [`super::fields`].

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

use super::error::ApiError;

/// What a handler's input type must be: deserializable from the request and documented.
pub trait Input: DeserializeOwned + JsonSchema + Send + 'static {}
impl<T: DeserializeOwned + JsonSchema + Send + 'static> Input for T {}

/// Reads `T` from a JSON object (a request body).
pub fn from_body<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, ApiError> {
    T::deserialize(De { value: Value::Object(body), query: false }).map_err(DeError::into_api)
}

/// Reads `T` from decoded query-string pairs. Values are text: a field typed as an integer or a
/// boolean parses it. An empty value counts as absent; a name given twice is refused.
pub fn from_query<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let mut map = Map::new();
    for (k, v) in pairs {
        let v = v.trim();
        let value = if v.is_empty() { Value::Null } else { Value::String(v.to_string()) };
        if map.insert(k.clone(), value).is_some() {
            return Err(ApiError::invalid(k, "given more than once"));
        }
    }
    T::deserialize(De { value: Value::Object(map), query: true }).map_err(DeError::into_api)
}

/// The JSON Schema of an input type, with every nested type inlined (the OpenAPI document
/// shows each operation's fields in one place).
pub fn schema_of<T: JsonSchema>() -> Schema {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    SchemaGenerator::new(settings).into_root_schema_for::<T>()
}

/// The input schema of a handler `f(cx, input)`, with the input type inferred from `f`'s
/// signature: the endpoint table pairs a handler with its own input type by construction.
pub fn schema_of_handler<C, I: JsonSchema, F, Fut>(_f: F) -> Schema
where
    F: FnOnce(C, I) -> Fut,
{
    schema_of::<I>()
}

/// Every name (documented and alias) the input type accepts at its top level, in serde's
/// order: read from the field list serde hands to `deserialize_struct`.
pub fn accepted_names_of_handler<C, I: DeserializeOwned, F, Fut>(_f: F) -> &'static [&'static str]
where
    F: FnOnce(C, I) -> Fut,
{
    accepted_names::<I>()
}

/// Reads a body as the input type of a handler `f(cx, input)`, and drops it: whether the
/// handler's input type accepts `body`.
pub fn check_body_of_handler<C, I: DeserializeOwned, F, Fut>(_f: F, body: Map<String, Value>) -> Result<(), ApiError>
where
    F: FnOnce(C, I) -> Fut,
{
    from_body::<I>(body).map(|_| ())
}

/// See [`accepted_names_of_handler`].
pub fn accepted_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl fmt::Display for Fields {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field list")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(f)) => f,
        Ok(_) => &[],
    }
}

/// One step of a field path.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// What went wrong, with the field's name as data.
#[derive(Debug)]
enum Problem {
    /// A required field of the object at the path is absent.
    Missing(&'static str),
    /// The object at the path has a field its type does not declare.
    Unknown { name: String, accepted: &'static [&'static str] },
    /// A field was given twice (under its name and an alias).
    Duplicate(&'static str),
    /// `null` where a value of this description is required.
    Null(String),
    /// The value at the path is refused; the text says why.
    Invalid(String),
}

/// A deserialization error: the problem and where (innermost segment last).
#[derive(Debug)]
pub struct DeError {
    /// Segments collected while the error bubbles up: innermost first.
    rev_path: Vec<Seg>,
    problem: Problem,
}

impl DeError {
    fn new(problem: Problem) -> Self {
        DeError { rev_path: Vec::new(), problem }
    }

    fn at(mut self, seg: Seg) -> Self {
        self.rev_path.push(seg);
        self
    }

    fn path(&self, leaf: Option<&str>) -> String {
        let mut out = String::new();
        for seg in self.rev_path.iter().rev() {
            match seg {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if let Some(leaf) = leaf {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(leaf);
        }
        out
    }

    /// The documented error for this problem.
    pub fn into_api(self) -> ApiError {
        match &self.problem {
            Problem::Missing(name) => ApiError::Missing(self.path(Some(name))),
            Problem::Unknown { name, accepted } => {
                ApiError::UnknownField { field: self.path(Some(name)), suggestion: closest(name, accepted) }
            }
            Problem::Duplicate(name) => {
                ApiError::invalid(&self.path(Some(name)), "given more than once (under its name and an alias)")
            }
            Problem::Null(expected) => match self.rev_path.first() {
                Some(Seg::Key(_)) => ApiError::Missing(self.path(None)),
                _ => ApiError::invalid(&self.path(None), format!("expected {expected}")),
            },
            Problem::Invalid(why) if self.rev_path.is_empty() => ApiError::BadBody(Some(why.clone())),
            Problem::Invalid(why) => ApiError::invalid(&self.path(None), why.clone()),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {}", self.problem, self.path(None))
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(Problem::Invalid(msg.to_string()))
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        match unexp {
            Unexpected::Unit => DeError::new(Problem::Null(exp.to_string())),
            _ => DeError::new(Problem::Invalid(format!("expected {exp}"))),
        }
    }

    fn invalid_value(_: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::new(Problem::Invalid(format!("expected {exp}")))
    }

    fn invalid_length(_: usize, exp: &dyn Expected) -> Self {
        DeError::new(Problem::Invalid(format!("expected {exp}")))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::Invalid(format!("expected {}", or_list(expected))))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::Unknown { name: field.to_string(), accepted: expected })
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(Problem::Missing(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(Problem::Duplicate(field))
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::from("nothing"),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// How similar (Jaro-Winkler, 0..1) an unknown name must be to a known one to be suggested.
const SUGGESTION_SIMILARITY_MIN: f64 = 0.8;

/// The accepted name closest to `name`, if it is close enough to be a likely typo.
pub(crate) fn closest(name: &str, accepted: &[&str]) -> Option<String> {
    accepted
        .iter()
        .map(|a| (strsim::jaro_winkler(name, a), *a))
        .filter(|(score, _)| *score >= SUGGESTION_SIMILARITY_MIN)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a.to_string())
}

/// A `serde::Deserializer` over an owned JSON value whose errors are [`DeError`]s. In query
/// mode, string values also deserialize into integers and booleans.
struct De {
    value: Value,
    query: bool,
}

fn visit_number<'de, V: Visitor<'de>>(n: &serde_json::Number, v: V) -> Result<V::Value, DeError> {
    if let Some(u) = n.as_u64() {
        v.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        v.visit_i64(i)
    } else {
        match n.as_f64() {
            Some(f) => v.visit_f64(f),
            None => Err(DeError::new(Problem::Invalid("not a representable number".into()))),
        }
    }
}

macro_rules! query_integer {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
            match (&self.value, self.query) {
                (Value::String(s), true) => {
                    let s = s.trim();
                    if let Ok(u) = s.parse::<u64>() {
                        v.visit_u64(u)
                    } else if let Ok(i) = s.parse::<i64>() {
                        v.visit_i64(i)
                    } else {
                        v.visit_str(s)
                    }
                }
                _ => self.deserialize_any(v),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let query = self.query;
        match self.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(b),
            Value::Number(n) => visit_number(&n, v),
            Value::String(s) => v.visit_string(s),
            Value::Array(a) => v.visit_seq(Seq { items: a.into_iter().enumerate(), query }),
            Value::Object(m) => v.visit_map(Obj { entries: m.into_iter(), pending: None, query }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match (&self.value, self.query) {
            (Value::String(s), true) => match s.trim() {
                "true" => v.visit_bool(true),
                "false" => v.visit_bool(false),
                other => v.visit_str(other),
            },
            _ => self.deserialize_any(v),
        }
    }

    query_integer!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8 deserialize_u16
        deserialize_u32 deserialize_u64);

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let query = self.query;
        match self.value {
            Value::Object(m) => v.visit_map(Obj { entries: m.into_iter(), pending: None, query }),
            Value::Null => Err(DeError::new(Problem::Null("a JSON object".into()))),
            _ => Err(DeError::new(Problem::Invalid("expected a JSON object".into()))),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => v.visit_enum(s.into_deserializer()),
            Value::Null => Err(DeError::new(Problem::Null(or_list(variants)))),
            _ => Err(DeError::new(Problem::Invalid(format!("expected {}", or_list(variants))))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct Obj {
    entries: serde_json::map::IntoIter,
    pending: Option<(String, Value)>,
    query: bool,
}

impl<'de> de::MapAccess<'de> for Obj {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                let key: de::value::StringDeserializer<DeError> = k.clone().into_deserializer();
                self.pending = Some((k, v));
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let (k, v) = self.pending.take().ok_or_else(|| DeError::new(Problem::Invalid("value without a key".into())))?;
        seed.deserialize(De { value: v, query: self.query }).map_err(|e| e.at(Seg::Key(k)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Seq {
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    query: bool,
}

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, v)) => {
                let de = De { value: v, query: self.query };
                seed.deserialize(de).map(Some).map_err(|e| e.at(Seg::Index(i)))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::api::fields::{Int, Line, List};

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        method: Line<10>,
        #[serde(default)]
        retries: Option<Int<0, 5>>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: Line<5>,
        #[serde(alias = "mode")]
        misfire_policy: Option<Line<20>>,
        steps: Option<List<Inner, 3>>,
        page: Option<Int<1, 100>>,
        flag: Option<bool>,
    }

    fn body(v: Value) -> Result<Outer, String> {
        from_body::<Outer>(v.as_object().cloned().unwrap_or_default()).map_err(|e| e.message())
    }

    #[test]
    fn errors_name_the_field_path() {
        assert_eq!(body(serde_json::json!({})).unwrap_err(), "Missing required field: name");
        assert_eq!(body(serde_json::json!({"name": null})).unwrap_err(), "Missing required field: name");
        assert_eq!(
            body(serde_json::json!({"name": 5})).unwrap_err(),
            "Invalid field value: name (expected a string of at most 5 characters)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "abcdef"})).unwrap_err(),
            "Invalid field value: name (longer than 5 characters)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a\u{0}b"})).unwrap_err(),
            "Invalid field value: name (contains the control character U+0000)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "steps": [{"method": "x"}, {"retries": 1}]})).unwrap_err(),
            "Missing required field: steps[1].method"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "steps": [{"method": "x", "retries": 9}]})).unwrap_err(),
            "Invalid field value: steps[0].retries (must be between 0 and 5)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "steps": [{"method": "x", "retires": 1}]})).unwrap_err(),
            "Unknown field: steps[0].retires (did you mean retries?)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "steps": [{"method": "x"}, {"method": "x"}, {"method": "x"}, {"method": "x"}]}))
                .unwrap_err(),
            "Invalid field value: steps (more than 3 items)"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "misfire_polcy": "skip"})).unwrap_err(),
            "Unknown field: misfire_polcy (did you mean misfire_policy?)"
        );
        assert_eq!(body(serde_json::json!({"name": "a", "zzz": 1})).unwrap_err(), "Unknown field: zzz");
        assert_eq!(
            body(serde_json::json!({"name": "a", "misfire_policy": "x", "mode": "y"})).unwrap_err(),
            "Invalid field value: misfire_policy (given more than once (under its name and an alias))"
        );
        assert_eq!(
            body(serde_json::json!({"name": "a", "flag": "yes"})).unwrap_err(),
            "Invalid field value: flag (expected a boolean)"
        );
        let ok =
            body(serde_json::json!({"name": "a", "mode": "skip", "page": 3, "steps": [{"method": "m", "retries": 2}]}))
                .unwrap();
        assert_eq!(ok.name.0, "a");
        let steps = ok.steps.map(|s| s.0).unwrap_or_default();
        assert_eq!((steps[0].method.0.as_str(), steps[0].retries.map(|r| r.0)), ("m", Some(2)));
        assert_eq!(ok.misfire_policy.map(|m| m.0), Some("skip".to_string()));
        assert_eq!(ok.page.map(|p| p.0), Some(3));
    }

    #[test]
    fn query_values_parse_into_typed_fields() {
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            from_query::<Outer>(&pairs).map_err(|e| e.message())
        };
        let ok = q(&[("name", "a"), ("page", "2"), ("flag", "true"), ("mode", "")]).unwrap();
        assert_eq!(ok.page.map(|p| p.0), Some(2));
        assert_eq!(ok.flag, Some(true));
        assert!(ok.misfire_policy.is_none(), "an empty value is absent");
        assert_eq!(
            q(&[("name", "a"), ("page", "x")]).unwrap_err(),
            "Invalid field value: page (expected an integer from 1 to 100)"
        );
        assert_eq!(
            q(&[("name", "a"), ("page", "0")]).unwrap_err(),
            "Invalid field value: page (must be between 1 and 100)"
        );
        assert_eq!(q(&[("name", "a"), ("pgae", "1")]).unwrap_err(), "Unknown field: pgae (did you mean page?)");
        assert_eq!(q(&[("name", "a"), ("name", "b")]).unwrap_err(), "Invalid field value: name (given more than once)");
    }

    #[test]
    fn accepted_names_include_aliases() {
        let names = accepted_names::<Outer>();
        for n in ["name", "misfire_policy", "mode", "steps", "page", "flag"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
    }

    #[test]
    fn schemas_are_closed_and_bounded() {
        let s = schema_of::<Outer>();
        let v = s.as_value();
        assert_eq!(v["additionalProperties"], false, "{v}");
        assert_eq!(v["properties"]["name"]["maxLength"], 5, "{v}");
        assert_eq!(v["properties"]["steps"]["maxItems"], 3, "{v}");
        assert_eq!(v["properties"]["steps"]["items"]["additionalProperties"], false, "{v}");
        assert_eq!(v["required"], serde_json::json!(["name"]), "{v}");
    }

    #[test]
    fn suggestions_need_a_close_name() {
        assert_eq!(closest("misfire_polcy", &["misfire_policy", "name"]).as_deref(), Some("misfire_policy"));
        assert_eq!(closest("x", &["misfire_policy", "name"]), None);
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    }
}
