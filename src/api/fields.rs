//! Bounded field types for request inputs. Each one validates while it is deserialized and
//! describes itself in the JSON Schema with the same bound (`maxLength`, `minimum`/`maximum`,
//! `maxItems`, `enum`), so a limit is written once, in the field's type:
//!
//! | Type | JSON | Checked |
//! |---|---|---|
//! | [`Line<MAX>`] | string | ≤ MAX characters, no control characters, no invisible bidi/zero-width characters (names, ids, zones, times) |
//! | [`Text<MAX>`] | string | ≤ MAX characters, no control characters but tab, CR, LF, no invisible bidi/zero-width characters (descriptions) |
//! | [`Int<MIN, MAX>`] | integer | MIN ≤ value ≤ MAX (a float or a string is refused) |
//! | [`Id`] | string | a UUID (surrounding spaces allowed) |
//! | [`OneOf<T>`] | string | one of `T::VALUES` (read with the model's own parser) |
//! | [`List<T, MAX>`] | array | ≤ MAX items, each a `T` |
//! | [`JsonObject<MAX>`] | object | ≤ MAX keys; any values (bounded by the body limit and depth) |
//! | [`JsonBody`] | object or array | any content (bounded by the body limit and depth) |
//! | [`Degrees<MAX>`] | number or string | decimal degrees, −MAX ≤ value ≤ MAX |
//! | [`Date`] | string | `YYYY-MM-DD` |
//! | [`Zone`] | string | an IANA time-zone name the daemon knows |
//! | [`SecretValue`] | string | 1–65536 bytes, kept in zeroizing memory |
//! | [`Nullable<T>`] | T or null | absent, `null` and a value are told apart (for updates that clear) |

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::input::or_list;

/// The characters a single-line field refuses, as a regular-expression class body: control
/// characters (Unicode Cc: U+0000–U+001F, U+007F–U+009F) and the invisible formatting
/// characters of [`crate::model::is_invisible_format`]. Shown in the schema as `pattern`.
pub(crate) const REFUSED_LINE_CHARS: &str =
    "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff";
/// The same for free text, where tab, LF and CR are allowed.
const REFUSED_TEXT_CHARS: &str = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff";

/// Checks free text (tab, LF and CR allowed): at most `max` characters, no other control or
/// invisible formatting character. `Err` is the reason, for a 400 naming the field.
pub(crate) fn check_text(s: &str, max: usize) -> Result<(), String> {
    check_chars(s, max, true)
}

fn check_chars(s: &str, max: usize, multiline: bool) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("longer than {max} characters"));
    }
    if let Some(c) = s.chars().find(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(format!("contains the control character U+{:04X}", c as u32));
    }
    if let Some(c) = s.chars().find(|c| crate::model::is_invisible_format(*c)) {
        return Err(format!("contains the invisible formatting character U+{:04X}", c as u32));
    }
    Ok(())
}

struct StringVisitor(String);

impl Visitor<'_> for StringVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

fn string_of_at_most<'de, D: Deserializer<'de>>(d: D, max: usize) -> Result<String, D::Error> {
    d.deserialize_string(StringVisitor(format!("a string of at most {max} characters")))
}

/// A single-line string: at most `MAX` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Line<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string_of_at_most(d, MAX)?;
        check_chars(&s, MAX, false).map_err(de::Error::custom)?;
        Ok(Line(s))
    }
}

impl<const MAX: usize> JsonSchema for Line<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Line{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": MAX, "x-control-characters": false, "pattern": format!("^[^{REFUSED_LINE_CHARS}]*$")})
    }
}

/// A [`Line`] that is not blank (names, event types): at least one character other than
/// white space. A blank one is refused as "must not be blank"; the value is kept trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Name<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Line(s) = Line::<MAX>::deserialize(d)?;
        let t = s.trim();
        if t.is_empty() {
            return Err(de::Error::custom("must not be blank"));
        }
        Ok(Name(t.to_string()))
    }
}

impl<const MAX: usize> JsonSchema for Name<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Name{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": MAX, "x-control-characters": false,
            "pattern": format!("^[^{REFUSED_LINE_CHARS}]*[^\\s{REFUSED_LINE_CHARS}][^{REFUSED_LINE_CHARS}]*$")})
    }
}

/// An HTTP header name (RFC 9110 token), at most `MAX` characters; kept lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for HeaderName<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string_of_at_most(d, MAX)?;
        let name = s.to_ascii_lowercase();
        if name.is_empty() || axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(de::Error::custom("not a valid HTTP header name"));
        }
        Ok(HeaderName(name))
    }
}

impl<const MAX: usize> JsonSchema for HeaderName<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("HeaderName{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "maxLength": MAX, "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"})
    }
}

/// Free text (descriptions): at most `MAX` characters; tab, CR and LF are the only control
/// characters allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string_of_at_most(d, MAX)?;
        check_chars(&s, MAX, true).map_err(de::Error::custom)?;
        Ok(Text(s))
    }
}

impl<const MAX: usize> JsonSchema for Text<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Text{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": MAX, "pattern": format!("^[^{REFUSED_TEXT_CHARS}]*$")})
    }
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<const MIN: i64, const MAX: i64> Int<MIN, MAX> {
    pub fn get(self) -> i64 {
        self.0
    }
    /// The value as `u32`; only for types whose range fits (`0 <= MIN`, `MAX <= u32::MAX`).
    pub fn u32(self) -> u32 {
        debug_assert!(MIN >= 0 && MAX <= i64::from(u32::MAX));
        u32::try_from(self.0).unwrap_or(u32::MAX)
    }
}

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: i64, const MAX: i64>;
        impl<const MIN: i64, const MAX: i64> Visitor<'_> for V<MIN, MAX> {
            type Value = Int<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an integer from {MIN} to {MAX}")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(Int(v))
                } else {
                    Err(E::custom(format!("must be between {MIN} and {MAX}")))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                match i64::try_from(v) {
                    Ok(v) => self.visit_i64(v),
                    Err(_) => Err(E::custom(format!("must be between {MIN} and {MAX}"))),
                }
            }
            /// A number with no fractional part is an integer (JSON Schema's `integer`):
            /// `5.0` is 5; `5.5` is refused.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::invalid_type(de::Unexpected::Float(v), &self));
                }
                if v < MIN as f64 || v > MAX as f64 {
                    return Err(E::custom(format!("must be between {MIN} and {MAX}")));
                }
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_i64(V::<MIN, MAX>)
    }
}

impl<const MIN: i64, const MAX: i64> JsonSchema for Int<MIN, MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Int{MIN}to{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": MIN, "maximum": MAX})
    }
}

/// Longest accepted UUID text (the hyphenated form is 36; braces or a `urn:uuid:` prefix add
/// up to 9).
const UUID_CHARS_MAX: usize = 45;

/// A UUID-valued id field. A malformed id is a 400 naming the field; whether a well-formed one
/// exists (for the caller's brand) is the handler's 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub uuid::Uuid);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_string(StringVisitor("a UUID".into()))?;
        if s.len() > UUID_CHARS_MAX {
            return Err(de::Error::custom("expected a UUID"));
        }
        uuid::Uuid::parse_str(s.trim()).map(Id).map_err(|_| de::Error::custom("expected a UUID"))
    }
}

impl JsonSchema for Id {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "uuid", "maxLength": UUID_CHARS_MAX})
    }
}

/// A closed vocabulary read by its owner's parser (which may accept spellings besides the
/// documented ones, e.g. `post` for `POST`).
pub trait Choices: Sized {
    /// The documented values, as the schema's `enum` and the error list them.
    const VALUES: &'static [&'static str];
    fn choose(s: &str) -> Option<Self>;
}

/// A string field holding one of `T::VALUES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneOf<T>(pub T);

/// Longest accepted value of a closed vocabulary.
const CHOICE_CHARS_MAX: usize = 64;

impl<'de, T: Choices> Deserialize<'de> for OneOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expected = || format!("expected {}", or_list(T::VALUES));
        let s = d.deserialize_string(StringVisitor(or_list(T::VALUES)))?;
        if s.len() > CHOICE_CHARS_MAX {
            return Err(de::Error::custom(expected()));
        }
        T::choose(s.trim()).map(OneOf).ok_or_else(|| de::Error::custom(expected()))
    }
}

impl<T: Choices> JsonSchema for OneOf<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("OneOf{}", T::VALUES.join("_")).into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": T::VALUES})
    }
}

macro_rules! choices {
    ($($ty:path => [$($v:literal),+ $(,)?] by $parse:expr;)*) => {$(
        impl Choices for $ty {
            const VALUES: &'static [&'static str] = &[$($v),+];
            fn choose(s: &str) -> Option<Self> {
                ($parse)(s)
            }
        }
    )*};
}

use crate::model::{
    Backoff, ConditionOp, EventStatus, ExecutionStatus, FailureStrategy, HttpMethod, MisfirePolicy, OverlapPolicy,
    Protocol, RetryStrategy, RunType, ScheduleStatus, SubscriptionTarget, TargetKind, TimeoutAction,
};
use crate::schedule::debounce::Mode;
use crate::schedule::interval::Period;
use crate::schedule::solar::SolarEvent;

choices! {
    Protocol => ["https", "http"] by Protocol::parse;
    HttpMethod => ["GET", "POST", "PUT", "DELETE", "PATCH"] by HttpMethod::parse;
    Backoff => ["linear", "exponential"] by Backoff::parse;
    TargetKind => ["webhook", "workflow"] by TargetKind::parse;
    MisfirePolicy => ["fire_once", "skip", "fire_all"] by MisfirePolicy::parse;
    OverlapPolicy => ["allow", "skip", "buffer_one"] by OverlapPolicy::parse;
    Period => ["second", "minute", "hour", "day", "week", "month"] by Period::parse;
    SolarEvent => ["sunrise", "sunset", "civil_dawn", "civil_dusk", "nautical_dawn", "nautical_dusk",
        "astronomical_dawn", "astronomical_dusk", "solar_noon"] by SolarEvent::parse;
    Mode => ["trailing", "leading"] by Mode::parse;
    RunType => ["fifo_sequential", "concurrently"] by RunType::parse;
    ConditionOp => ["eq", "ne", "lt", "gt", "lte", "gte", "in", "contains", "exists"] by ConditionOp::parse;
    SubscriptionTarget => ["webhook", "workflow", "debounce_schedule"] by SubscriptionTarget::parse;
    EventStatus => ["accepted", "rejected", "duplicate"] by EventStatus::parse;
    ScheduleStatus => ["active", "inactive", "paused", "completed", "expired"] by ScheduleStatus::parse;
    ExecutionStatus => ["pending", "running", "succeeded", "failed", "skipped", "missed", "cancelled"]
        by ExecutionStatus::parse;
    crate::model::ChannelKind => ["webhook", "slack", "discord", "email"] by crate::model::ChannelKind::parse;
    crate::model::AlertOutcome => ["sent", "suppressed"] by crate::model::AlertOutcome::parse;
    crate::monitor::alert::RuleType => ["execution_failed", "failure_rate", "lateness", "monitor_down", "monitor_up",
        "circuit_open", "approval_waiting", "budget_exceeded"] by crate::monitor::alert::RuleType::parse;
    FailureStrategy => ["stop", "continue"] by |s: &str| match s {
        "stop" => Some(FailureStrategy::Stop),
        "continue" => Some(FailureStrategy::Continue),
        _ => None,
    };
    RetryStrategy => ["none", "from_failed_step", "from_initial_step"] by |s: &str| match s {
        "none" => Some(RetryStrategy::None),
        "from_failed_step" => Some(RetryStrategy::FromFailedStep),
        "from_initial_step" => Some(RetryStrategy::FromInitialStep),
        _ => None,
    };
    TimeoutAction => ["reject", "approve"] by |s: &str| match s {
        "reject" => Some(TimeoutAction::Reject),
        "approve" => Some(TimeoutAction::Approve),
        _ => None,
    };
}

/// An array of at most `MAX` items.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = List<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of at most {MAX} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                if seq.size_hint().is_some_and(|n| n > MAX) {
                    return Err(de::Error::custom(format!("more than {MAX} items")));
                }
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(de::Error::custom(format!("more than {MAX} items")));
                    }
                    out.push(item);
                }
                Ok(List(out))
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData))
    }
}

impl<T: JsonSchema, const MAX: usize> JsonSchema for List<T, MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("List{MAX}_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": g.subschema_for::<T>(), "maxItems": MAX})
    }
}

/// A JSON object of at most `MAX` keys (values of any type).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonObject<const MAX: usize>(pub Map<String, Value>);

impl<'de, const MAX: usize> Deserialize<'de> for JsonObject<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MAX: usize>;
        impl<'de, const MAX: usize> Visitor<'de> for V<MAX> {
            type Value = JsonObject<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a JSON object of at most {MAX} keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Map::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if out.len() == MAX {
                        return Err(de::Error::custom(format!("more than {MAX} keys")));
                    }
                    out.insert(k, v);
                }
                Ok(JsonObject(out))
            }
        }
        d.deserialize_map(V::<MAX>)
    }
}

impl<const MAX: usize> JsonSchema for JsonObject<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("JsonObject{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": MAX,
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        })
    }
}

/// Most top-level keys of a context object (`initial_context_template`, `initial_context`,
/// `context`); its size is bounded by the body limit.
pub const CONTEXT_KEYS_MAX: usize = 1000;

/// An initial or trigger context: the keys templates read as `{{ initial.key }}`.
pub type Context = JsonObject<CONTEXT_KEYS_MAX>;

/// Longest instant text (`2026-12-25T00:00:00.000+05:30` has 29 characters).
pub const INSTANT_CHARS_MAX: usize = 64;

/// An ISO-8601 date-time as given; the handler reads it with its zone (see
/// `schedule::clocked::parse_instant`): RFC 3339, or a wall time without an offset (then the
/// field's zone applies), between 1970-01-01 and 9999-12-30.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantText(pub String);

impl InstantText {
    /// The instant in ms since the epoch, a text without an offset read as UTC; 400 naming
    /// `field` otherwise. A space where the offset's `+` belongs gets a hint: in a query
    /// string an unencoded `+` arrives as a space (send it as `%2B`).
    pub fn utc_millis(&self, field: &str) -> Result<crate::time::Millis, super::error::ApiError> {
        crate::schedule::clocked::parse_instant(&self.0, "UTC").map_err(|why| {
            let hint = if self.0.trim().contains(' ') { " (in a query string, send + as %2B)" } else { "" };
            super::error::ApiError::invalid(field, format!("{why}{hint}"))
        })
    }

    /// [`InstantText::utc_millis`] of an optional field.
    pub fn utc_millis_of(
        t: Option<&InstantText>,
        field: &str,
    ) -> Result<Option<crate::time::Millis>, super::error::ApiError> {
        t.map(|t| t.utc_millis(field)).transpose()
    }
}

impl<'de> Deserialize<'de> for InstantText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Line::<INSTANT_CHARS_MAX>::deserialize(d).map(|l| InstantText(l.0))
    }
}

impl JsonSchema for InstantText {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "InstantText".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "maxLength": INSTANT_CHARS_MAX,
            "x-control-characters": false,
            "x-instant-range": "1970-01-01T00:00:00Z to 9999-12-30T00:00:00Z",
        })
    }
}

/// A request body template: a JSON object or array.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonBody(pub Value);

impl<'de> Deserialize<'de> for JsonBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            v @ (Value::Object(_) | Value::Array(_)) => Ok(JsonBody(v)),
            _ => Err(de::Error::custom("expected a JSON object or array")),
        }
    }
}

impl JsonSchema for JsonBody {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "JsonBody".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["object", "array"], "x-bounded-by": "api.body_bytes_max, api.json_depth_max"})
    }
}

/// Longest accepted coordinate text, e.g. `"-122.41941550000001"`.
const DEGREES_CHARS_MAX: usize = 32;

/// Decimal degrees within ±`MAX`, given as a number (SDK) or a string (documented).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degrees<const MAX: u32>(pub f64);

impl<'de, const MAX: u32> Deserialize<'de> for Degrees<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MAX: u32>;
        impl<const MAX: u32> V<MAX> {
            fn check<E: de::Error>(x: f64) -> Result<Degrees<MAX>, E> {
                if x.is_finite() && x.abs() <= f64::from(MAX) {
                    Ok(Degrees(x))
                } else {
                    Err(E::custom(format!("must be between -{MAX} and {MAX}")))
                }
            }
        }
        impl<const MAX: u32> Visitor<'_> for V<MAX> {
            type Value = Degrees<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("decimal degrees, e.g. \"40.7128\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::check(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::check(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::check(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v.trim().parse::<f64>() {
                    Ok(x) if v.len() <= DEGREES_CHARS_MAX => Self::check(x),
                    _ => Err(E::custom("expected decimal degrees, e.g. \"40.7128\"")),
                }
            }
        }
        d.deserialize_any(V::<MAX>)
    }
}

impl<const MAX: u32> JsonSchema for Degrees<MAX> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Degrees{MAX}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let max = f64::from(MAX);
        // The text form, within the range (a pattern applies to strings only).
        let int_part = match MAX {
            90 => "90(\\.0+)?|[1-8]?[0-9](\\.[0-9]+)?",
            _ => "180(\\.0+)?|(1[0-7][0-9]|[1-9]?[0-9])(\\.[0-9]+)?",
        };
        json_schema!({
            "type": ["number", "string"],
            "minimum": -max,
            "maximum": max,
            "maxLength": DEGREES_CHARS_MAX,
            "pattern": format!("^[+-]?({int_part})$"),
        })
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub jiff::civil::Date);

/// `YYYY-MM-DD`.
const DATE_CHARS: usize = 10;

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_string(StringVisitor("a YYYY-MM-DD date".into()))?;
        match s.parse::<jiff::civil::Date>() {
            Ok(date) if s.len() == DATE_CHARS => Ok(Date(date)),
            _ => Err(de::Error::custom("expected a YYYY-MM-DD date")),
        }
    }
}

impl JsonSchema for Date {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date", "maxLength": DATE_CHARS})
    }
}

/// Longest IANA zone name accepted (the longest in the database has 32 characters).
pub const ZONE_CHARS_MAX: usize = 64;

/// An IANA time-zone name known to the daemon's time-zone database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone(pub String);

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = string_of_at_most(d, ZONE_CHARS_MAX)?;
        match crate::time::tz::zone(&s) {
            Some(_) if s.len() <= ZONE_CHARS_MAX => Ok(Zone(s)),
            _ => Err(de::Error::custom("not an IANA time zone; see get_timezones")),
        }
    }
}

impl JsonSchema for Zone {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Zone".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": ZONE_CHARS_MAX,
            "enum": crate::time::tz::all_zone_names(),
            "description": "An IANA time-zone name (the list of get_timezones).",
        })
    }
}

/// Largest secret value accepted, in bytes.
pub const SECRET_VALUE_BYTES_MAX: usize = 65_536;

/// A secret's plaintext value: 1–65536 bytes, in memory that is wiped when dropped; never
/// printed by `Debug`.
pub struct SecretValue(pub zeroize::Zeroizing<String>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(..)")
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(d.deserialize_string(StringVisitor("a string".into()))?);
        if s.is_empty() || s.len() > SECRET_VALUE_BYTES_MAX {
            return Err(de::Error::custom(format!("must be 1 to {SECRET_VALUE_BYTES_MAX} bytes")));
        }
        Ok(SecretValue(s))
    }
}

impl JsonSchema for SecretValue {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "SecretValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "maxLength": SECRET_VALUE_BYTES_MAX, "x-length-unit": "bytes",
            "description": "1 to 65536 bytes of UTF-8."})
    }
}

/// A field that tells absent, `null` and a value apart (declare it `#[serde(default)]`): an
/// update leaves an absent field alone and clears one given as `null`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Nullable<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Nullable::Null,
            Some(v) => Nullable::Value(v),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Nullable<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        <Option<T>>::json_schema(g)
    }
}
