//! Builds the HTTP request of an execution from its template, context and the brand's
//! secrets — twice: once to send, once with secrets shown as `{{ #name }}` for the record.
//!
//! The URL is built with `url`'s setters on the domain's base URL, never by concatenation,
//! and its authority is checked against the domain's afterwards: a rendered value can change
//! the path and the query, never the host. Values substituted into the path are path data
//! (percent-encoded, `/` included; a path that is one whole placeholder keeps its `/`s), and
//! the rendered path must begin with `/` and hold no `.`/`..` segment. Header names and
//! rendered values are checked here too, and the template's headers become one line per name.
//! Every [`RenderError`] fails the execution before any request, once (no retries), naming
//! the field or header — never a rendered value, which may hold a secret.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use crate::model::{BrandId, Domain, HttpMethod, WebhookTemplate};
use crate::store::Store;
use crate::template::render::{
    ContextResolver, Masked, Resolver, Unresolved, is_whole_placeholder, render_str_with, render_value,
};
use crate::template::{Kind, scan};
use crate::vault::Vault;

/// Headers the daemon sets on every delivery; a template's value for one of them is ignored
/// (the daemon's wins: receivers verify signatures and deduplicate with these).
pub const DAEMON_HEADERS: &[&str] = &["idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature"];

/// Connection and framing headers, which the HTTP client derives from the domain and the body
/// (RFC 9110 §7.6.1, RFC 9112 §6-7): a template may not set them (`host` would name another
/// authority than the domain's; the others would corrupt the framing).
pub const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
];

/// Why a template could not be turned into a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// A variable or secret that does not resolve.
    #[error(transparent)]
    Unresolved(#[from] Unresolved),
    /// The rendered path is not a path of the domain (the text says why, never what).
    #[error("path: {0}")]
    Path(&'static str),
    /// A header name, or a rendered header value, that HTTP does not allow.
    #[error("header {name}: {why}")]
    Header { name: String, why: &'static str },
    /// The domain's host does not make a base URL (a record written by an older version).
    #[error("the domain {host:?} is not a valid host for a URL")]
    Domain { host: String },
    /// The rendered body nests deeper than [`BODY_DEPTH_MAX`]: a placeholder that is a whole
    /// value put a nested value into a nested template. Nothing is sent, and the request is
    /// not recorded (a record must stay readable: `store::codec` reads 192 levels).
    #[error(
        "body: the rendered body nests more than {BODY_DEPTH_MAX} levels deep (the template's nesting plus the value a placeholder put in)"
    )]
    BodyTooDeep,
    /// A secret could not be read from the store: the execution waits, it does not fail.
    #[error("store: {0}")]
    Store(crate::store::StoreError),
}

/// The deepest rendered body sent: the deepest body the API accepts (`api.json_depth_max` is
/// at most 128). A template's body is at most that deep, but a placeholder that is the whole
/// of a string (`"{{ x }}"`) is replaced by its value, arrays and objects included, so the
/// rendered body can nest as deep as the template plus that value.
pub const BODY_DEPTH_MAX: usize = 128;

const BAD_VALUE: &str = "the rendered value contains CR, LF or another character not allowed in a header value";

pub struct Rendered {
    pub method: reqwest::Method,
    /// The final URL: the domain's scheme and authority, the rendered path and query.
    pub url: reqwest::Url,
    /// The template's headers, one per name, without [`DAEMON_HEADERS`] and
    /// [`TRANSPORT_HEADERS`]; values that carry a secret are marked sensitive.
    pub headers: HeaderMap,
    /// The JSON body, serialised (what is signed is exactly what is sent).
    pub body: Option<Vec<u8>>,
    /// The request as recorded: method, url (without the query), query, headers, body;
    /// secrets masked.
    pub masked: Value,
    /// The secrets this request carries (name, value), so that a receiver that echoes one
    /// back does not get it into the record: [`Rendered::mask_secrets`].
    pub secrets: Vec<(String, zeroize::Zeroizing<String>)>,
}

/// Secret values shorter than this are not masked in responses: a one- or two-character
/// "secret" would mask ordinary text everywhere.
const MASKED_SECRET_CHARS_MIN: usize = 4;

impl Rendered {
    /// `text` with every value of a secret this request carries replaced by its placeholder
    /// `{{ #name }}`: response excerpts and parsed responses are stored, and a receiver may
    /// echo what it was sent.
    ///
    /// Each value is looked for in every form a receiver may echo it in: as sent in a path or a
    /// query (percent-encoded, upper- or lower-case hex, a space as `%20` or `+`), inside a
    /// JSON string (escaped), and raw.
    pub fn mask_secrets(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.secrets {
            if value.chars().count() < MASKED_SECRET_CHARS_MIN {
                continue;
            }
            for form in echoed_forms(value) {
                if out.contains(form.as_str()) {
                    out = out.replace(form.as_str(), &format!("{{{{ #{name} }}}}"));
                }
            }
        }
        out
    }

    /// [`Rendered::mask_secrets`] over every string (keys too) of a JSON value.
    pub fn mask_secrets_in(&self, v: Value) -> Value {
        if self.secrets.is_empty() {
            return v;
        }
        match v {
            Value::String(s) => Value::String(self.mask_secrets(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.mask_secrets_in(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, x)| (self.mask_secrets(&k), self.mask_secrets_in(x))).collect())
            }
            other => other,
        }
    }
}

/// The spellings of `value` a receiver may send back, longest first (so that a longer form
/// is masked before a shorter one inside it): percent-encoded as this module sends it and as
/// other encoders write it (lower-case hex, `+` for a space), JSON-escaped, and raw.
fn echoed_forms(value: &str) -> Vec<zeroize::Zeroizing<String>> {
    let encoded = percent_encode(value, false);
    let lower = lower_hex(&encoded);
    let mut forms = vec![
        percent_encode(value, true),
        encoded.replace("%20", "+"),
        lower.replace("%20", "+"),
        lower,
        encoded,
        serde_json::to_string(value).map(|q| q[1..q.len() - 1].to_string()).unwrap_or_default(),
        value.to_string(),
    ];
    forms.retain(|f| !f.is_empty());
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms.into_iter().map(zeroize::Zeroizing::new).collect()
}

/// `%2F` → `%2f`: the hex digits of each escape in lower case, the rest unchanged.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut escape = 0;
    for c in encoded.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes every byte except RFC 3986 unreserved characters (and `/` when
/// `keep_slash`).
fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
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

fn render_map(m: &Map<String, Value>, r: &mut impl Resolver) -> Result<Vec<(String, String)>, Unresolved> {
    m.iter().map(|(k, v)| Ok((k.clone(), scalar_text(&render_value(v, r)?)))).collect()
}

fn as_object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// Renders a path template: substituted values are percent-encoded as path data (RFC 6570
/// simple expansion: only unreserved characters stay); a path that is exactly one
/// placeholder keeps the `/`s of its value. `masked`: secrets stay as their placeholder.
fn render_path(template: &str, r: &mut impl Resolver, masked: bool) -> Result<String, Unresolved> {
    let whole = is_whole_placeholder(template);
    render_str_with(template, r, |kind, text| match kind {
        Kind::Secret(_) if masked => text,
        _ => percent_encode(&text, whole),
    })
}

/// A `.` or `..` segment, also percent-encoded (WHATWG URL treats `%2e` as `.`): `url` would
/// remove it, so the request would go to another path than the one rendered.
fn is_dot_segment(seg: &str) -> bool {
    let s = seg.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

fn check_path(path: &str) -> Result<(), RenderError> {
    if !path.starts_with('/') {
        return Err(RenderError::Path("the rendered path does not begin with \"/\""));
    }
    if path.split('/').any(is_dot_segment) {
        return Err(RenderError::Path("the rendered path has a \".\" or \"..\" segment"));
    }
    Ok(())
}

/// `scheme://host[:port]/` of a domain.
///
/// Parsed once per domain and thread: each worker thread keeps the last domain's base (most
/// deliveries in a row go to few domains, and a parse with its IDNA pass is about 1 % of the
/// daemon's CPU per delivery). The memo is keyed by the scheme and host it was parsed from, so
/// an edited domain is parsed again.
fn base_url(d: &Domain) -> Result<reqwest::Url, RenderError> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(crate::model::Protocol, String, reqwest::Url)>> =
            const { std::cell::RefCell::new(None) };
    }
    let hit = LAST.with_borrow(|last| match last {
        Some((p, host, url)) if *p == d.protocol && *host == d.host => Some(url.clone()),
        _ => None,
    });
    if let Some(url) = hit {
        return Ok(url);
    }
    let url = parse_base_url(d)?;
    LAST.set(Some((d.protocol, d.host.clone(), url.clone())));
    Ok(url)
}

fn parse_base_url(d: &Domain) -> Result<reqwest::Url, RenderError> {
    let bad = || RenderError::Domain { host: d.host.clone() };
    let u = reqwest::Url::parse(&format!("{}://{}/", d.protocol.as_str(), d.host)).map_err(|_| bad())?;
    let clean = u.host().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none();
    if clean { Ok(u) } else { Err(bad()) }
}

/// Builds the final URL on the domain's base with `url`'s setters and checks that its
/// authority is still the domain's.
fn build_url(base: &reqwest::Url, path: &str, query: &[(String, String)]) -> Result<reqwest::Url, RenderError> {
    check_path(path)?;
    let mut url = base.clone();
    url.set_path(path);
    if !query.is_empty() {
        let qs = query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k, false), percent_encode(v, false)))
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(Some(&qs));
    }
    if url.scheme() != base.scheme() || url.authority() != base.authority() {
        return Err(RenderError::Path("the rendered URL would leave the domain"));
    }
    Ok(url)
}

fn is_reserved(name: &HeaderName) -> bool {
    DAEMON_HEADERS.contains(&name.as_str()) || TRANSPORT_HEADERS.contains(&name.as_str())
}

/// True when a template header value uses a secret.
fn uses_secret(v: &Value) -> bool {
    matches!(v, Value::String(s) if scan(s).iter().any(|p| matches!(p.kind, Kind::Secret(_))))
}

/// The template's rendered headers as one line per name (a later name that differs only in
/// case replaces an earlier one; templates created now cannot have both).
fn header_map(t: &WebhookTemplate, rendered: &[(String, String)]) -> Result<HeaderMap, RenderError> {
    let mut map = HeaderMap::with_capacity(rendered.len());
    for (k, v) in rendered {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| RenderError::Header { name: k.clone(), why: "not a valid header name" })?;
        if is_reserved(&name) {
            continue;
        }
        let mut value =
            HeaderValue::from_str(v).map_err(|_| RenderError::Header { name: k.clone(), why: BAD_VALUE })?;
        if t.headers.get(k).is_some_and(uses_secret) {
            value.set_sensitive(true);
        }
        map.insert(name, value);
    }
    Ok(map)
}

/// Checks a template's `headers_json` when it is created or changed: names are HTTP tokens,
/// unique regardless of case and not [`TRANSPORT_HEADERS`]; string values hold no CR, LF or
/// other byte a header value may not hold (RFC 9110 §5.5). `Err` explains, naming the header.
/// Values are scalars here (the API checked that); placeholders inside them are checked again
/// when they are rendered.
pub fn check_headers(headers: &Map<String, Value>) -> Result<(), String> {
    let mut seen: Vec<(HeaderName, &str)> = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("{k:?} is not a valid header name"))?;
        if TRANSPORT_HEADERS.contains(&name.as_str()) {
            return Err(format!(
                "{k:?} is set by the HTTP client (from the domain and the body); a template cannot set it"
            ));
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            return Err(format!("{first:?} and {k:?} are the same header (names are case-insensitive)"));
        }
        if let Value::String(s) = v
            && HeaderValue::from_str(s).is_err()
        {
            return Err(format!("the value of {k:?} contains CR, LF or another character not allowed in a header"));
        }
        seen.push((name, k));
    }
    Ok(())
}

/// Renders `t` against `context`; an unresolvable variable, a missing secret, a path that
/// leaves the domain or a header HTTP does not allow is an error naming it (the execution then
/// fails before any request).
pub fn render(
    store: &Store,
    vault: &Vault,
    brand: BrandId,
    t: &WebhookTemplate,
    d: &Domain,
    context: &Map<String, Value>,
) -> Result<Rendered, RenderError> {
    // A secret the store cannot read is not a missing secret: remember the fault and report
    // it instead of "unresolved".
    let store_fault: std::cell::RefCell<Option<crate::store::StoreError>> = std::cell::RefCell::new(None);
    let used: std::cell::RefCell<Vec<(String, zeroize::Zeroizing<String>)>> = std::cell::RefCell::new(Vec::new());
    let secrets = |name: &str| -> Option<String> {
        let s = match store.find_secret(brand, name) {
            Ok(s) => s?,
            Err(e) => {
                store_fault.borrow_mut().get_or_insert(e);
                return None;
            }
        };
        let plain = vault.open(s.id, &s.sealed).ok()?;
        let value = String::from_utf8(plain.to_vec()).ok()?;
        let mut used = used.borrow_mut();
        if !used.iter().any(|(n, _)| n == name) {
            used.push((name.to_string(), zeroize::Zeroizing::new(value.clone())));
        }
        Some(value)
    };
    let rendered = render_with(context, secrets, t, d);
    match store_fault.into_inner() {
        Some(e) => Err(RenderError::Store(e)),
        None => rendered.map(|mut r| {
            r.secrets = used.into_inner();
            r
        }),
    }
}

fn render_with(
    context: &Map<String, Value>,
    mut secrets: impl FnMut(&str) -> Option<String>,
    t: &WebhookTemplate,
    d: &Domain,
) -> Result<Rendered, RenderError> {
    // Counts the secrets the request used: without any, the masked copy is the request itself.
    let secrets_used = std::cell::Cell::new(0u32);
    let counted = |name: &str| {
        secrets_used.set(secrets_used.get() + 1);
        secrets(name)
    };
    let mut r = ContextResolver { initial: context, secrets: counted };
    let path = render_path(&t.path, &mut r, false)?;
    let query = render_map(&t.query, &mut r)?;
    let headers = render_map(&t.headers, &mut r)?;
    let has_body = t.method != HttpMethod::Get;
    let body = if has_body { Some(render_value(&t.body, &mut r)?) } else { None };
    let body_bytes = body.as_ref().map(|b| serde_json::to_vec(b).expect("JSON values serialise"));
    if body_bytes.as_ref().is_some_and(|b| crate::model::json_depth(b, BODY_DEPTH_MAX) > BODY_DEPTH_MAX) {
        return Err(RenderError::BodyTooDeep);
    }

    // `Masked` differs from the plain resolver only where a secret is used, so a request that
    // used none is its own masked copy (rendering it again is a third of the render's cost).
    let (masked_path, masked_query, mut masked_headers, masked_body) = if secrets_used.get() == 0 {
        (path.clone(), query.clone(), headers.clone(), body.unwrap_or(Value::Null))
    } else {
        let mut m = Masked(&mut r);
        (
            render_path(&t.path, &mut m, true)?,
            render_map(&t.query, &mut m)?,
            render_map(&t.headers, &mut m)?,
            if has_body { render_value(&t.body, &mut m)? } else { Value::Null },
        )
    };

    let base = base_url(d)?;
    let url = build_url(&base, &path, &query)?;
    let header_map = header_map(t, &headers)?;
    masked_headers.retain(|(k, _)| HeaderName::from_bytes(k.as_bytes()).is_ok_and(|n| !is_reserved(&n)));
    let masked = json!({
        "method": t.method.as_str(),
        "url": format!("{}{masked_path}", base.as_str().trim_end_matches('/')),
        "query": as_object(&masked_query),
        "headers": as_object(&masked_headers),
        "body": masked_body,
    });
    Ok(Rendered {
        method: reqwest::Method::from_bytes(t.method.as_str().as_bytes()).expect("known method"),
        url,
        headers: header_map,
        body: body_bytes,
        masked,
        secrets: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx(Value);

    impl Resolver for Ctx {
        fn secret(&mut self, name: &str) -> Option<String> {
            Some(format!("S-{name}"))
        }
        fn path(&mut self, path: &str) -> Option<Value> {
            crate::template::render::lookup(&self.0, path).cloned()
        }
    }

    fn url_of(path_template: &str, ctx: Value) -> Result<String, RenderError> {
        let base = reqwest::Url::parse("http://127.0.0.1:8080/").unwrap();
        let path = render_path(path_template, &mut Ctx(ctx), false)?;
        build_url(&base, &path, &[]).map(|u| u.to_string())
    }

    fn template(path: &str, headers: Value, body: Value) -> WebhookTemplate {
        use crate::model::{BrandId, DomainId, RetryPolicy, TemplateId};
        WebhookTemplate {
            id: TemplateId(uuid::Uuid::from_u128(3)),
            brand: BrandId(uuid::Uuid::from_u128(1)),
            name: "t".into(),
            description: String::new(),
            method: HttpMethod::Post,
            path: path.into(),
            domain: DomainId(uuid::Uuid::from_u128(2)),
            retry: RetryPolicy::DEFAULT,
            body,
            headers: headers.as_object().unwrap().clone(),
            query: Map::new(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn domain(protocol: crate::model::Protocol, host: &str) -> Domain {
        use crate::model::{BrandId, DomainId};
        Domain {
            id: DomainId(uuid::Uuid::from_u128(2)),
            brand: BrandId(uuid::Uuid::from_u128(1)),
            protocol,
            host: host.into(),
            rate_limit_enabled: false,
            concurrency_control_enabled: false,
            max_concurrent_jobs: 0,
            max_requests_per_second: 0,
            signing: Vec::new(),
            breaker: Default::default(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    /// A placeholder that is a whole value puts arrays and objects into the body, so a nested
    /// template and a nested value can render a body deeper than any the API accepts — and
    /// deeper than the store reads back once recorded in the attempt (a schema 5 build wrote
    /// such an execution and then could not list it or start). The render refuses past
    /// [`BODY_DEPTH_MAX`] levels; exactly that many render.
    #[test]
    fn a_rendered_body_deeper_than_the_api_accepts_is_refused() {
        let nest = |depth: usize, inner: Value| (0..depth).fold(inner, |v, _| json!([v]));
        let d = domain(crate::model::Protocol::Http, "127.0.0.1:9");
        let t = template("/", json!({}), nest(31, json!("{{ x }}")));
        for (value_depth, ok) in [(0, true), (BODY_DEPTH_MAX - 31, true), (BODY_DEPTH_MAX - 30, false), (157, false)] {
            let ctx = json!({"x": nest(value_depth, json!(1))}).as_object().unwrap().clone();
            match render_with(&ctx, |_| None, &t, &d) {
                Ok(r) => {
                    assert!(ok, "{value_depth}: rendered");
                    let sent = r.body.as_deref().expect("a body");
                    assert_eq!(crate::model::json_depth(sent, usize::MAX), 31 + value_depth);
                }
                Err(e) => {
                    assert!(!ok && matches!(e, RenderError::BodyTooDeep), "{value_depth}: {e}");
                    assert!(e.to_string().starts_with("body: the rendered body nests more than 128 levels"), "{e}");
                }
            }
        }
    }

    #[test]
    fn the_recorded_request_masks_exactly_the_secrets_it_used() {
        let ctx = json!({"n": 5, "who": "ann"}).as_object().unwrap().clone();
        let d = domain(crate::model::Protocol::Http, "127.0.0.1:9");
        let secret = |name: &str| (name == "tok").then(|| "S3CR3T".to_string());

        // No secret: the recorded copy is the request as sent.
        let t = template("/u/{{ who }}", json!({"x-n": "{{ n }}"}), json!({"n": "{{ n }}", "k": "v {{ who }}"}));
        let r = render_with(&ctx, secret, &t, &d).unwrap();
        assert_eq!(r.url.as_str(), "http://127.0.0.1:9/u/ann");
        assert_eq!(r.body.as_deref(), Some(br#"{"n":5,"k":"v ann"}"#.as_slice()));
        assert_eq!(
            r.masked,
            json!({"method": "POST", "url": "http://127.0.0.1:9/u/ann", "query": {},
                   "headers": {"x-n": "5"}, "body": {"n": 5, "k": "v ann"}})
        );

        // Secrets in the path, a header and the body: sent in clear, recorded as placeholders.
        let t = template(
            "/u/{{ #tok }}",
            json!({"authorization": "Bearer {{ #tok }}", "x-n": "{{ n }}"}),
            json!({"t": "{{ #tok }}", "n": "{{ n }}"}),
        );
        let r = render_with(&ctx, secret, &t, &d).unwrap();
        assert_eq!(r.url.as_str(), "http://127.0.0.1:9/u/S3CR3T");
        assert_eq!(r.headers["authorization"], "Bearer S3CR3T");
        assert_eq!(r.body.as_deref(), Some(br#"{"t":"S3CR3T","n":5}"#.as_slice()));
        assert_eq!(
            r.masked,
            json!({"method": "POST", "url": "http://127.0.0.1:9/u/{{ #tok }}", "query": {},
                   "headers": {"authorization": "Bearer {{ #tok }}", "x-n": "5"},
                   "body": {"t": "{{ #tok }}", "n": 5}})
        );
        assert!(!r.masked.to_string().contains("S3CR3T"));
    }

    #[test]
    fn a_domain_edited_between_two_renders_is_parsed_again() {
        use crate::model::Protocol;
        let ctx = Map::new();
        let t = template("/x", json!({}), json!({}));
        let none = |_: &str| None;
        let url = |d: &Domain| render_with(&ctx, none, &t, d).map(|r| r.url.to_string());
        assert_eq!(url(&domain(Protocol::Http, "127.0.0.1:9")).unwrap(), "http://127.0.0.1:9/x");
        assert_eq!(url(&domain(Protocol::Http, "127.0.0.1:9")).unwrap(), "http://127.0.0.1:9/x");
        assert_eq!(url(&domain(Protocol::Https, "127.0.0.1:9")).unwrap(), "https://127.0.0.1:9/x");
        assert_eq!(url(&domain(Protocol::Https, "localhost:10")).unwrap(), "https://localhost:10/x");
        assert!(matches!(url(&domain(Protocol::Https, "user@localhost")), Err(RenderError::Domain { .. })));
        assert_eq!(url(&domain(Protocol::Http, "127.0.0.1:9")).unwrap(), "http://127.0.0.1:9/x");
    }

    #[test]
    fn values_in_a_path_are_path_data_and_cannot_change_the_authority() {
        let ok = |t: &str, ctx: Value| url_of(t, ctx).unwrap();
        assert_eq!(ok("/u/{{ id }}", json!({"id": "a/b?c#d e%"})), "http://127.0.0.1:8080/u/a%2Fb%3Fc%23d%20e%25");
        assert_eq!(ok("/u/{{ id }}/x", json!({"id": "../../admin"})), "http://127.0.0.1:8080/u/..%2F..%2Fadmin/x");
        assert_eq!(ok("{{ p }}", json!({"p": "/a/b c"})), "http://127.0.0.1:8080/a/b%20c", "a whole-path value");
        assert_eq!(ok("/p/{{ #k }}", json!({})), "http://127.0.0.1:8080/p/S-k");
        for (t, ctx) in [
            ("{{ p }}", json!({"p": "@127.0.0.2:9/x"})),
            ("{{ p }}", json!({"p": "127.0.0.2/x"})),
            ("{{ p }}", json!({"p": ""})),
            ("{{ p }}", json!({"p": "/a/../admin"})),
            ("/u/{{ id }}", json!({"id": ".."})),
            ("/u/{{ id }}/x", json!({"id": "."})),
        ] {
            let e = url_of(t, ctx.clone()).expect_err(&format!("{t} {ctx}"));
            assert!(matches!(e, RenderError::Path(_)), "{e}");
            assert!(e.to_string().starts_with("path: "), "{e}");
        }
        // A value's `%` is data too, so it cannot spell a dot segment.
        assert_eq!(ok("{{ p }}", json!({"p": "/a/%2e%2e/b"})), "http://127.0.0.1:8080/a/%252e%252e/b");
        // `//host` as a whole path stays a path of the domain.
        assert_eq!(ok("{{ p }}", json!({"p": "//evil.example/x"})), "http://127.0.0.1:8080//evil.example/x");
    }
}
