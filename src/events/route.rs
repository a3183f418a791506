//! What an event is and where it goes: the body as kept, the redacted headers, the event type
//! and dedup key a source extracts, the `{"event": …}` context that filters, transforms and
//! templates read, and which subscriptions select an event (type patterns with `*`, filters
//! with the workflow conditions' comparison rules, `workflow::condition`).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::model::{BodyEncoding, DedupBy, Event, Subscription, TypeFrom};
use crate::template::render::lookup;
use crate::time::format_utc;
use crate::workflow::condition;

/// Longest event type kept (longer ones are cut at a character boundary).
pub const EVENT_TYPE_CHARS_MAX: usize = 256;
/// Longest dedup key kept as text (a longer value is kept as its SHA-256).
pub const DEDUP_KEY_CHARS_MAX: usize = 256;
/// What a redacted header value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Headers that carry credentials or signatures in any sender's scheme: their values are
/// never stored (product.md §10: `authorization`, `cookie`, signature headers).
const REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "stripe-signature",
    "webhook-signature",
    "svix-signature",
    "x-shopify-hmac-sha256",
    "x-hookpulse-api-key",
    "x-api-key",
];

/// Whether a header's value is never stored (a credential or signature), so it may not be a
/// source's event type or dedup key either.
pub fn is_redacted_header(name: &str) -> bool {
    REDACTED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// The body as the event keeps it: JSON when it parses as JSON (whatever the content type
/// says), else UTF-8 text, else base64. An empty body is `null`.
pub fn keep_body(raw: &[u8]) -> (Value, BodyEncoding) {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return (Value::Null, BodyEncoding::Json);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(raw) {
        return (v, BodyEncoding::Json);
    }
    match std::str::from_utf8(raw) {
        Ok(s) => (Value::String(s.to_string()), BodyEncoding::Text),
        Err(_) => {
            use base64::Engine;
            (Value::String(base64::engine::general_purpose::STANDARD.encode(raw)), BodyEncoding::Base64)
        }
    }
}

/// The headers as stored: lower-case names, values as text (several lines joined by `, `),
/// credentials and signatures (and `also`, the source's own secret header) redacted.
pub fn keep_headers<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>, also: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in pairs {
        let name = name.to_ascii_lowercase();
        let secret = REDACTED_HEADERS.contains(&name.as_str()) || also.is_some_and(|a| a.eq_ignore_ascii_case(&name));
        let value = if secret { REDACTED.to_string() } else { value };
        match out.get_mut(&name) {
            Some(Value::String(prev)) if !secret => {
                prev.push_str(", ");
                prev.push_str(&value);
            }
            Some(_) => {}
            None => {
                out.insert(name, Value::String(value));
            }
        }
    }
    out
}

/// A path into the body: `data.object.id`, with or without a leading `body.`/`event.body.`.
fn body_path(path: &str) -> &str {
    let p = path.trim();
    p.strip_prefix("event.body.").or_else(|| p.strip_prefix("body.")).unwrap_or(p)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn cut(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

/// The event type a source extracts; `None` when its header or body field is absent (or not
/// a string, number or boolean).
pub fn event_type(from: &TypeFrom, header: &dyn Fn(&str) -> Option<String>, body: &Value) -> Option<String> {
    let t = match from {
        TypeFrom::Fixed(t) => Some(t.clone()),
        TypeFrom::Header(name) => header(&name.to_ascii_lowercase()),
        TypeFrom::BodyField(path) => lookup(body, body_path(path)).and_then(scalar_text),
    }?;
    // Control and format characters are dropped (a sender's type is text; `send_event` refuses
    // them outright), so a type can be listed, matched and shown safely.
    let t: String = t.chars().filter(|c| !c.is_control() && !crate::model::is_invisible_format(*c)).collect();
    let t = t.trim().to_string();
    (!t.is_empty()).then(|| cut(t, EVENT_TYPE_CHARS_MAX))
}

/// The key that identifies repeats of one delivery; `None` when the request has none (it is
/// then never a duplicate).
pub fn dedup_key(by: &DedupBy, header: &dyn Fn(&str) -> Option<String>, body: &Value, raw: &[u8]) -> Option<String> {
    let k = match by {
        DedupBy::Header(name) => header(&name.to_ascii_lowercase()),
        DedupBy::BodyField(path) => lookup(body, body_path(path)).and_then(scalar_text),
        DedupBy::PayloadHash => Some(format!("sha256:{}", hex::encode(Sha256::digest(raw)))),
    }?;
    let k = k.trim().to_string();
    if k.is_empty() {
        return None;
    }
    Some(if k.chars().count() > DEDUP_KEY_CHARS_MAX { format!("sha256:{}", hex::encode(Sha256::digest(k))) } else { k })
}

/// Whether an event type matches a pattern: `*` matches any run of characters (dots
/// included), everything else itself; `*` alone matches every type. An event without a type
/// matches only `*`.
pub fn type_matches(pattern: &str, ty: Option<&str>) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(ty) = ty else { return false };
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == ty;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !ty.starts_with(first) || ty.len() < first.len() + last.len() || !ty.ends_with(last) {
        return false;
    }
    let mut rest = &ty[first.len()..ty.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// What filters, transforms and templates see: `{"event": {uuid, type, source_uuid,
/// received_at, method, path, query, headers, body, labels}}`.
pub fn context(e: &Event) -> Value {
    json!({"event": {
        "uuid": e.id.to_string(),
        "type": e.event_type,
        "source_uuid": e.source.map(|s| s.to_string()),
        "received_at": format_utc(e.received_ms),
        "method": e.method,
        "path": e.path,
        "query": e.query,
        "headers": e.headers,
        "body": e.body,
        "labels": e.labels,
    }})
}

/// Whether an enabled subscription takes this event: same source (or any), a matching type
/// pattern (or none given), and every filter condition holding over `ctx` ([`context`]).
pub fn selects(sub: &Subscription, e: &Event, ctx: &Value) -> bool {
    sub.enabled
        && sub.source.is_none_or(|s| e.source == Some(s))
        && (sub.event_types.is_empty() || sub.event_types.iter().any(|p| type_matches(p, e.event_type.as_deref())))
        && sub.filter.iter().all(|c| condition::holds(c, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BrandId, Condition, ConditionOp, EventId, EventStatus, SourceId, SubscriptionId, SubscriptionTarget,
    };

    fn event(ty: Option<&str>, body: Value) -> Event {
        Event {
            id: EventId(uuid::Uuid::from_u128(7)),
            brand: BrandId(uuid::Uuid::from_u128(1)),
            source: Some(SourceId(uuid::Uuid::from_u128(2))),
            status: EventStatus::Accepted,
            reason: None,
            event_type: ty.map(str::to_string),
            dedup_key: None,
            duplicate_of: None,
            method: "POST".into(),
            path: String::new(),
            query: Map::new(),
            headers: keep_headers([("X-Shop", "eu".to_string())], None),
            body,
            body_encoding: BodyEncoding::Json,
            client_ip: Some("127.0.0.1".into()),
            labels: Map::new(),
            received_ms: 1_700_000_000_000,
            routes: Vec::new(),
        }
    }

    fn sub(types: &[&str], filter: Vec<Condition>) -> Subscription {
        Subscription {
            id: SubscriptionId(uuid::Uuid::from_u128(3)),
            brand: BrandId(uuid::Uuid::from_u128(1)),
            name: "s".into(),
            source: None,
            event_types: types.iter().map(|t| t.to_string()).collect(),
            filter,
            transform: None,
            target: SubscriptionTarget::Webhook,
            target_id: uuid::Uuid::from_u128(4),
            delay_seconds: 0,
            enabled: true,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn c(field: &str, op: &str, value: Value) -> Condition {
        Condition { field: field.into(), operator: ConditionOp::parse(op).expect("operator"), value }
    }

    #[test]
    fn type_patterns_with_wildcards() {
        for (p, t, want) in [
            ("order.*", Some("order.created"), true),
            ("order.*", Some("order.item.added"), true),
            ("order.*", Some("order"), false),
            ("order.*", Some("orders.created"), false),
            ("*.created", Some("invoice.created"), true),
            ("*.created", Some("invoice.paid"), false),
            ("a*b*c", Some("aXbYc"), true),
            ("a*b*c", Some("aXcYb"), false),
            ("ab*ba", Some("aba"), false),
            ("*", None, true),
            ("order.*", None, false),
            ("order.created", Some("order.created"), true),
            ("order.created", Some("order.created.x"), false),
        ] {
            assert_eq!(type_matches(p, t), want, "{p} vs {t:?}");
        }
    }

    #[test]
    fn filters_compare_numbers_strings_arrays_and_missing_fields() {
        let e = event(
            Some("order.created"),
            json!({"amount": 1500, "currency": "eur", "tags": ["vip", "eu"], "note": null, "big": "9007199254740993"}),
        );
        let ctx = context(&e);
        let cases: Vec<(Vec<Condition>, bool)> = vec![
            (vec![c("event.body.amount", "gt", json!(1000))], true),
            (vec![c("event.body.amount", "gt", json!("1500"))], false),
            (vec![c("event.body.amount", "gte", json!("1500.0"))], true),
            (vec![c("event.body.amount", "lt", json!(200))], false),
            (vec![c("event.body.currency", "eq", json!("eur"))], true),
            (vec![c("event.body.currency", "in", json!(["usd", "eur"]))], true),
            (vec![c("event.body.currency", "in", json!("usd, gbp"))], false),
            (vec![c("event.body.tags", "contains", json!("vip"))], true),
            (vec![c("event.body.tags", "contains", json!("us"))], false),
            (vec![c("event.body.missing", "eq", json!(""))], false),
            (vec![c("event.body.missing", "ne", json!("x"))], false),
            (vec![c("event.body.missing", "exists", json!(false))], true),
            (vec![c("event.body.note", "exists", json!(true))], false),
            (vec![c("event.body.big", "gt", json!("9007199254740992"))], true),
            (vec![c("event.headers.x-shop", "eq", json!("eu"))], true),
            (vec![c("event.type", "eq", json!("order.created"))], true),
            (vec![c("event.body.amount", "gt", json!(1000)), c("event.body.currency", "eq", json!("usd"))], false),
        ];
        for (filter, want) in cases {
            let s = sub(&[], filter.clone());
            assert_eq!(selects(&s, &e, &ctx), want, "{filter:?}");
        }
    }

    #[test]
    fn source_types_and_enabled_decide_too() {
        let e = event(Some("order.created"), json!({}));
        let ctx = context(&e);
        assert!(selects(&sub(&["order.*"], vec![]), &e, &ctx));
        assert!(!selects(&sub(&["invoice.*", "user.*"], vec![]), &e, &ctx));
        let mut other_source = sub(&[], vec![]);
        other_source.source = Some(SourceId(uuid::Uuid::from_u128(99)));
        assert!(!selects(&other_source, &e, &ctx));
        let mut off = sub(&[], vec![]);
        off.enabled = false;
        assert!(!selects(&off, &e, &ctx));
    }

    #[test]
    fn bodies_are_kept_as_json_text_or_base64() {
        assert_eq!(keep_body(br#"{"a":1}"#), (json!({"a": 1}), BodyEncoding::Json));
        assert_eq!(keep_body(b"a=1&b=2"), (json!("a=1&b=2"), BodyEncoding::Text));
        assert_eq!(keep_body(&[0xff, 0x00]), (json!("/wA="), BodyEncoding::Base64));
        assert_eq!(keep_body(b"  "), (Value::Null, BodyEncoding::Json));
    }

    #[test]
    fn credentials_and_signatures_are_redacted() {
        let h = keep_headers(
            [
                ("Authorization", "Bearer abc".to_string()),
                ("X-Hub-Signature-256", "sha256=00".to_string()),
                ("X-My-Token", "t0k3n".to_string()),
                ("Accept", "a".to_string()),
                ("accept", "b".to_string()),
            ],
            Some("x-my-token"),
        );
        assert_eq!(
            Value::Object(h),
            json!({"authorization": REDACTED, "x-hub-signature-256": REDACTED, "x-my-token": REDACTED, "accept": "a, b"})
        );
    }

    #[test]
    fn types_and_dedup_keys_come_from_headers_body_fields_or_hashes() {
        let body = json!({"type": "invoice.paid", "data": {"object": {"id": "in_1", "n": 5}}});
        let h = |n: &str| (n == "x-github-event").then(|| "push".to_string());
        assert_eq!(event_type(&TypeFrom::Header("X-GitHub-Event".into()), &h, &body).as_deref(), Some("push"));
        assert_eq!(event_type(&TypeFrom::BodyField("type".into()), &h, &body).as_deref(), Some("invoice.paid"));
        assert_eq!(event_type(&TypeFrom::BodyField("data.object".into()), &h, &body), None);
        assert_eq!(event_type(&TypeFrom::Fixed("shop".into()), &h, &body).as_deref(), Some("shop"));
        let by_field = DedupBy::BodyField("data.object.id".into());
        assert_eq!(dedup_key(&by_field, &h, &body, b"").as_deref(), Some("in_1"));
        assert_eq!(dedup_key(&DedupBy::BodyField("data.object.n".into()), &h, &body, b"").as_deref(), Some("5"));
        assert_eq!(dedup_key(&DedupBy::Header("x-none".into()), &h, &body, b""), None);
        let a = dedup_key(&DedupBy::PayloadHash, &h, &body, b"abc");
        assert_eq!(a.as_deref(), Some("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }

    #[test]
    fn control_and_invisible_characters_are_dropped_from_types() {
        let body = json!({"t": "order\u{0}.\u{202E}paid\n", "blank": "\u{200B}\u{7}"});
        let none = |_: &str| None;
        let t = event_type(&TypeFrom::BodyField("t".into()), &none, &body);
        assert_eq!(t.as_deref(), Some("order.paid"));
        assert_eq!(event_type(&TypeFrom::BodyField("blank".into()), &none, &body), None, "nothing left: no type");
    }
}
