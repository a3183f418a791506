//! Webhook-template endpoints: `add_webhook_template`, `get_webhook_template_paginated`,
//! `single_webhook_template_detail` (+ SDK `get_webhook_template_uuid`), and the extensions
//! `update_webhook_template` and `delete_webhook_template`.
//!
//! The SDK creates templates from a full `url`; its domain is registered on the fly (limits
//! off) or reused, in the same commit as the template.

use serde_json::{Map, Value, json};

use super::domains::parse_host;
use super::error::ApiError;
use super::reply::{ApiResult, ok, paginated};
use super::request::Req;
use super::request::{Cx, percent_decode};
use crate::model::{Backoff, Domain, DomainId, HttpMethod, Protocol, RetryPolicy, TemplateId, WebhookTemplate};
use crate::template::{for_each_string, secret_names};
use crate::time::tz::format_in_zone;

const ID: &[&str] = &["webhook_uuid", "template_uuid"];
/// The SDK's `get_webhook_template_uuid` names its id `template_uuid`; errors name that field.
const SDK_ID: &[&str] = &["template_uuid", "webhook_uuid"];
const NAME: &[&str] = &["webhook_name", "name"];
const DESCRIPTION: &[&str] = &["webhook_description", "description"];
const METHOD: &[&str] = &["method"];
const PATH: &[&str] = &["path"];
const DOMAIN_UUID: &[&str] = &["domain_uuid"];
const URL: &[&str] = &["url"];
const RETRY_DELAY: &[&str] = &["retry_delay"];
const BACKOFF: &[&str] = &["retry_backoff_mode"];
const MAX_RETRIES: &[&str] = &["max_retries"];
const TIMEOUT: &[&str] = &["request_timeout_in_milliseconds"];
const BODY: &[&str] = &["request_body_json", "body"];
const HEADERS: &[&str] = &["headers_json", "headers"];
const QUERY: &[&str] = &["query_params_json", "query_params"];

const NAME_CHARS_MAX: usize = 200;
const DESCRIPTION_CHARS_MAX: usize = 2000;
const PATH_CHARS_MAX: usize = 2048;

/// A `url` split into what a template stores.
struct ParsedUrl {
    protocol: Protocol,
    host: String,
    path: String,
    query: Map<String, Value>,
}

fn parse_url(raw: &str) -> Result<ParsedUrl, ApiError> {
    let bad = |why: &str| ApiError::invalid("url", why.to_string());
    let (scheme, rest) =
        raw.trim().split_once("://").ok_or_else(|| bad("expected http://host/path or https://host/path"))?;
    let protocol = Protocol::parse(scheme).ok_or_else(|| bad("scheme must be http or https"))?;
    let rest = rest.split('#').next().unwrap_or("");
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = parse_host(&rest[..cut], "url")?;
    let tail = &rest[cut..];
    let (path, query_str) = tail.split_once('?').unwrap_or((tail, ""));
    let mut query = Map::new();
    for pair in query_str.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
    Ok(ParsedUrl { protocol, host, path: if path.is_empty() { "/".into() } else { path.into() }, query })
}

fn check_path(path: &str) -> Result<(), ApiError> {
    if path.len() > PATH_CHARS_MAX {
        return Err(ApiError::invalid("path", format!("longer than {PATH_CHARS_MAX} characters")));
    }
    if !(path.starts_with('/') || path.starts_with("{{")) {
        return Err(ApiError::invalid("path", "must start with / (or a {{ placeholder }})"));
    }
    Ok(())
}

fn check_len(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    if s.chars().count() > max {
        return Err(ApiError::invalid(field, format!("longer than {max} characters")));
    }
    Ok(())
}

/// Header and query values must be scalars (they become text on the wire); header names must
/// be HTTP tokens.
fn scalar_map(
    req: &Req,
    names: &'static [&'static str],
    header_names: bool,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(map) = req.opt_object(names)? else {
        return Ok(None);
    };
    let field = req.field(names).expect("present").0;
    for (k, v) in &map {
        if header_names
            && (k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
        {
            return Err(ApiError::invalid(field, format!("{k:?} is not a valid header name")));
        }
        if matches!(v, Value::Object(_) | Value::Array(_)) {
            return Err(ApiError::invalid(field, format!("value of {k:?} must be a string, number or boolean")));
        }
    }
    Ok(Some(map))
}

/// Applies every template field present in the request onto `t`. On create, `t` starts from
/// the defaults and the required fields are enforced; on update, absent fields stay.
/// Returns a domain to create alongside when the SDK's `url` names an unknown one.
pub(super) fn apply(cx: &Cx, req: &Req, t: &mut WebhookTemplate, creating: bool) -> Result<Option<Domain>, ApiError> {
    if let Some(name) = if creating { Some(req.string(NAME)?) } else { req.opt_string(NAME)? } {
        check_len("webhook_name", &name, NAME_CHARS_MAX)?;
        if name.trim().is_empty() {
            return Err(ApiError::invalid("webhook_name", "must not be empty"));
        }
        t.name = name;
    }
    if let Some(d) = req.opt_string(DESCRIPTION)? {
        check_len("webhook_description", &d, DESCRIPTION_CHARS_MAX)?;
        t.description = d;
    }
    let method = if creating { Some(req.string(METHOD)?) } else { req.opt_string(METHOD)? };
    if let Some(m) = method {
        t.method = HttpMethod::parse(&m)
            .ok_or_else(|| ApiError::invalid("method", "expected GET, POST, PUT, DELETE or PATCH"))?;
    }

    // Target: documented path + domain_uuid, or the SDK's full url.
    let mut new_domain = None;
    let url_only = !req.has(PATH) && !req.has(DOMAIN_UUID) && req.has(URL);
    if url_only {
        let u = parse_url(&req.string(URL)?)?;
        check_path(&u.path)?;
        t.path = u.path;
        for (k, v) in u.query {
            t.query.entry(k).or_insert(v);
        }
        new_domain = Some(super::domains::new_domain(cx, u.protocol, u.host));
    } else {
        if let Some(p) = if creating { Some(req.string(PATH)?) } else { req.opt_string(PATH)? } {
            check_path(&p)?;
            t.path = p;
        }
        if creating || req.has(DOMAIN_UUID) {
            t.domain = DomainId(req.uuid(DOMAIN_UUID)?);
        }
    }

    if let Some(v) = req.opt_int(RETRY_DELAY, 0, i64::from(RetryPolicy::RETRY_DELAY_SECONDS_MAX))? {
        t.retry.retry_delay_seconds = v as u32;
    }
    if let Some(b) = req.opt_string(BACKOFF)? {
        t.retry.backoff = Backoff::parse(&b)
            .ok_or_else(|| ApiError::invalid("retry_backoff_mode", "expected \"linear\" or \"exponential\""))?;
    }
    if let Some(v) = req.opt_int(MAX_RETRIES, 0, i64::from(RetryPolicy::MAX_RETRIES_MAX))? {
        t.retry.max_retries = v as u32;
    }
    if let Some(v) = req.opt_int(TIMEOUT, 1, i64::from(RetryPolicy::REQUEST_TIMEOUT_MS_MAX))? {
        t.retry.request_timeout_ms = v as u32;
    }
    match req.field(BODY) {
        None => {}
        Some((_, v @ (Value::Object(_) | Value::Array(_)))) => t.body = v.clone(),
        Some((n, _)) => return Err(ApiError::invalid(n, "expected a JSON object or array")),
    }
    if let Some(h) = scalar_map(req, HEADERS, true)? {
        crate::delivery::request::check_headers(&h).map_err(|why| ApiError::invalid("headers_json", why))?;
        t.headers = h;
    }
    if let Some(q) = scalar_map(req, QUERY, false)? {
        if url_only {
            t.query.extend(q);
        } else {
            t.query = q;
        }
    }
    Ok(new_domain)
}

/// Secret names the template uses, from `{{ #name }}` anywhere in path, headers, query, body.
pub fn expected_system_variables(t: &WebhookTemplate) -> Vec<String> {
    let mut strings: Vec<&str> = vec![&t.path];
    for v in t.headers.values().chain(t.query.values()) {
        for_each_string(v, &mut |s| strings.push(s));
    }
    for_each_string(&t.body, &mut |s| strings.push(s));
    secret_names(strings)
}

fn summary(cx: &Cx, t: &WebhookTemplate) -> Result<Value, ApiError> {
    let tz = cx.brand.timezone.as_str();
    let domain = cx.app.store.get_domain(cx.brand.id, t.domain)?;
    let (host, proto) = domain.map(|d| (d.host, d.protocol.as_str())).unwrap_or_default();
    Ok(json!({
        "path": t.path,
        "method": t.method.as_str(),
        "inserted_at": format_in_zone(t.created_ms, tz),
        "webhook_uuid": t.id.to_string(),
        "webhook_name": t.name,
        "webhook_description": t.description,
        "request_timeout_in_milliseconds": t.retry.request_timeout_ms,
        "max_retries": t.retry.max_retries,
        "retry_delay": t.retry.retry_delay_seconds,
        "retry_backoff_mode": t.retry.backoff.as_str(),
        "domain_details": {"domain": host, "protocol_type": proto},
        "domain_uuid": t.domain.to_string(),
    }))
}

pub async fn add(cx: Cx, req: Req) -> ApiResult {
    let mut t = WebhookTemplate {
        id: TemplateId::new(),
        brand: cx.brand.id,
        name: String::new(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/".into(),
        domain: DomainId(uuid::Uuid::nil()),
        retry: RetryPolicy::DEFAULT,
        body: Value::Object(Map::new()),
        headers: Map::new(),
        query: Map::new(),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    let new_domain = apply(&cx, &req, &mut t, true)?;
    let t = cx.app.store.create_template(t, new_domain).await?;
    let id = t.id.to_string();
    ok(json!({
        "success": true,
        "webhook_template_id": id,
        "webhook_uuid": id,
        "message": "Webhook template created successfully",
    }))
}

/// The SDK's `create_schedule(webhook_url=...)`: a POST template for the URL (its domain
/// registered with limits off, or reused), named after the URL.
pub async fn template_for_url(cx: &Cx, url: &str) -> Result<TemplateId, ApiError> {
    let u = parse_url(url).map_err(|_| ApiError::invalid("webhook_url", "expected http(s)://host/path"))?;
    check_path(&u.path)?;
    // create_template reuses a domain of this name, or registers this one in the same commit.
    let new_domain = super::domains::new_domain(cx, u.protocol, u.host);
    let t = WebhookTemplate {
        id: TemplateId::new(),
        brand: cx.brand.id,
        name: url.chars().take(NAME_CHARS_MAX).collect(),
        description: "created for an SDK schedule".into(),
        method: HttpMethod::Post,
        path: u.path,
        domain: new_domain.id,
        retry: RetryPolicy::DEFAULT,
        body: Value::Object(Map::new()),
        headers: Map::new(),
        query: u.query,
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    Ok(cx.app.store.create_template(t, Some(new_domain)).await?.id)
}

pub async fn list(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let items = cx.app.store.list_templates(cx.brand.id, page, cx.page_size)?;
    let rows = items.items.iter().map(|t| summary(&cx, t)).collect::<Result<Vec<_>, _>>()?;
    let page_of_rows = crate::model::Page { items: rows, total: items.total };
    paginated(page_of_rows, page, cx.page_size, &cx.brand.timezone, Clone::clone)
}

fn load(cx: &Cx, req: &Req) -> Result<WebhookTemplate, ApiError> {
    load_by(cx, req, ID)
}

fn load_by(cx: &Cx, req: &Req, names: &'static [&'static str]) -> Result<WebhookTemplate, ApiError> {
    let id = TemplateId(req.uuid(names)?);
    cx.app.store.get_template(cx.brand.id, id)?.ok_or(ApiError::NotFound("Webhook"))
}

pub async fn detail(cx: Cx, req: Req) -> ApiResult {
    detail_of(&cx, load(&cx, &req)?)
}

/// The SDK's `get_webhook_template_uuid` (`{template_uuid}`): the same answer as `detail`.
pub async fn detail_sdk(cx: Cx, req: Req) -> ApiResult {
    detail_of(&cx, load_by(&cx, &req, SDK_ID)?)
}

fn detail_of(cx: &Cx, t: WebhookTemplate) -> ApiResult {
    let mut data = summary(cx, &t)?;
    let obj = data.as_object_mut().expect("summary is an object");
    obj.insert("timezone".into(), json!(cx.brand.timezone));
    obj.insert("headers_json".into(), Value::Object(t.headers.clone()));
    obj.insert("query_params_json".into(), Value::Object(t.query.clone()));
    obj.insert("request_body_json".into(), t.body.clone());
    obj.insert("expected_system_variables".into(), json!(expected_system_variables(&t)));
    ok(json!({"success": true, "data": data}))
}

pub async fn update(cx: Cx, req: Req) -> ApiResult {
    let mut t = load(&cx, &req)?;
    let new_domain = apply(&cx, &req, &mut t, false)?;
    if let Some(d) = new_domain {
        // An SDK update with a url: reuse or register that domain first.
        t.domain = super::domains::ensure_domain(&cx, d).await?;
    }
    t.updated_ms = cx.now;
    let t = cx.app.store.update_template(t).await?;
    ok(json!({"success": true, "details": "Webhook template updated successfully", "webhook_uuid": t.id.to_string()}))
}

pub async fn delete(cx: Cx, req: Req) -> ApiResult {
    let t = load(&cx, &req)?;
    cx.app.store.delete_template(cx.brand.id, t.id, cx.now).await?;
    ok(json!({"success": true, "details": "Webhook template deleted successfully", "webhook_uuid": t.id.to_string()}))
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_split_into_domain_path_and_query() {
        let u = parse_url("https://API.example.com:8443/hooks/a?x=1&y=a%20b").unwrap();
        assert_eq!(u.host, "api.example.com:8443");
        assert_eq!(u.path, "/hooks/a");
        assert_eq!(u.query["x"], "1");
        assert_eq!(u.query["y"], "a b");
        assert_eq!(parse_url("http://h").unwrap().path, "/");
        assert!(parse_url("ftp://h/x").is_err());
        assert!(parse_url("h/x").is_err());
    }
}
