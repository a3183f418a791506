//! Builds the HTTP request of an execution from its template, context and the brand's
//! secrets — twice: once to send, once with secrets shown as `{{ #name }}` for the record.

use serde_json::{Map, Value, json};

use crate::model::{BrandId, Domain, HttpMethod, WebhookTemplate};
use crate::store::Store;
use crate::template::render::{ContextResolver, Masked, Unresolved, render_str, render_value};
use crate::vault::Vault;

pub struct Rendered {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The JSON body, serialised (what is signed is exactly what is sent).
    pub body: Option<Vec<u8>>,
    /// The request as recorded: method, url (without the query), query, headers, body;
    /// secrets masked.
    pub masked: Value,
}

fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn render_map(
    m: &Map<String, Value>,
    r: &mut impl crate::template::render::Resolver,
) -> Result<Vec<(String, String)>, Unresolved> {
    m.iter().map(|(k, v)| Ok((k.clone(), scalar_text(&render_value(v, r)?)))).collect()
}

fn as_object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// Renders `t` against `context`; an unresolvable variable or missing secret is an error
/// naming it (the execution then fails before any request).
pub fn render(
    store: &Store,
    vault: &Vault,
    brand: BrandId,
    t: &WebhookTemplate,
    d: &Domain,
    context: &Map<String, Value>,
) -> Result<Rendered, Unresolved> {
    let secrets = |name: &str| -> Option<String> {
        let s = store.find_secret(brand, name).ok().flatten()?;
        let plain = vault.open(s.id, &s.sealed).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    };
    let mut r = ContextResolver { initial: context, secrets };
    let path = render_str(&t.path, &mut r)?;
    let query = render_map(&t.query, &mut r)?;
    let headers = render_map(&t.headers, &mut r)?;
    let has_body = t.method != HttpMethod::Get;
    let body = if has_body { Some(render_value(&t.body, &mut r)?) } else { None };

    let mut m = Masked(&mut r);
    let masked_path = render_str(&t.path, &mut m)?;
    let masked_query = render_map(&t.query, &mut m)?;
    let masked_headers = render_map(&t.headers, &mut m)?;
    let masked_body = if has_body { render_value(&t.body, &mut m)? } else { Value::Null };

    let base = format!("{}://{}", d.protocol.as_str(), d.host);
    let qs = |q: &[(String, String)]| {
        q.iter()
            .map(|(k, v)| format!("{}={}", encode_query_component(k), encode_query_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let with_query = |p: String, q: &[(String, String)]| {
        if q.is_empty() { format!("{base}{p}") } else { format!("{base}{p}?{}", qs(q)) }
    };
    let masked = json!({
        "method": t.method.as_str(),
        "url": format!("{base}{masked_path}"),
        "query": as_object(&masked_query),
        "headers": as_object(&masked_headers),
        "body": masked_body,
    });
    Ok(Rendered {
        method: reqwest::Method::from_bytes(t.method.as_str().as_bytes()).expect("known method"),
        url: with_query(path, &query),
        headers,
        body: body.map(|b| serde_json::to_vec(&b).expect("JSON values serialise")),
        masked,
    })
}
