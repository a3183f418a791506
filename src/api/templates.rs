//! Webhook-template endpoints: `add_webhook_template`, `get_webhook_template_paginated`,
//! `single_webhook_template_detail` (+ SDK `get_webhook_template_uuid`), and the extensions
//! `update_webhook_template` and `delete_webhook_template`.
//!
//! The SDK creates templates from a full `url`; its domain is registered on the fly (limits
//! off) or reused, in the same commit as the template.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::domains::parse_host;
use super::error::ApiError;
use super::fields::{Id, Int, JsonBody, JsonObject, Line, OneOf, Text};
use super::reply::{ApiResult, PageQuery, ok, paginated};
use super::request::{Cx, percent_decode};
use crate::model::{Backoff, Domain, DomainId, HttpMethod, Protocol, RetryPolicy, TemplateId, WebhookTemplate};
use crate::template::{for_each_string, secret_names};
use crate::time::tz::format_in_zone;

/// Longest template (or step webhook) name.
pub const NAME_CHARS_MAX: usize = 200;
/// Longest description.
pub const DESCRIPTION_CHARS_MAX: usize = 2000;
/// Longest path template.
pub const PATH_CHARS_MAX: usize = 2048;
/// Longest full URL (the SDK's `url`, `webhook_url`): a host, a path and a query.
pub const URL_CHARS_MAX: usize = 4096;
/// Most headers, and most query parameters, one template sets.
pub const HEADERS_MAX: usize = 100;
pub const QUERY_PARAMS_MAX: usize = 100;

pub type RetryDelay = Int<0, { RetryPolicy::RETRY_DELAY_SECONDS_MAX as i64 }>;
pub type MaxRetries = Int<0, { RetryPolicy::MAX_RETRIES_MAX as i64 }>;
pub type TimeoutMs = Int<1, { RetryPolicy::REQUEST_TIMEOUT_MS_MAX as i64 }>;

/// The schema of an optional request path: a single line of at most `PATH_CHARS_MAX`
/// characters starting with `/` or a `{{ placeholder }}` (`check_path`).
pub(crate) fn optional_path_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "maxLength": PATH_CHARS_MAX,
        "x-control-characters": false,
        "pattern": format!("^(/|\\{{\\{{)[^{}]*$", super::fields::REFUSED_LINE_CHARS),
    })
}

/// The schema of optional request headers (`scalar_map` and
/// [`crate::delivery::request::check_headers`]): names are HTTP tokens other than the transport
/// headers the client sets, in any case, and unique ignoring case (`x-keys-unique-ignoring-case`,
/// which JSON Schema cannot state); values are scalars, strings without control characters but
/// tab.
pub(crate) fn optional_headers_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let any_case = |name: &&str| -> String {
        name.chars()
            .map(|c| if c.is_ascii_alphabetic() { format!("[{}{}]", c.to_ascii_uppercase(), c) } else { c.to_string() })
            .collect()
    };
    let reserved: Vec<String> = crate::delivery::request::TRANSPORT_HEADERS.iter().map(any_case).collect();
    schemars::json_schema!({
        "type": ["object", "null"],
        "maxProperties": HEADERS_MAX,
        "propertyNames": {
            "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
            "not": {"pattern": format!("^({})$", reserved.join("|"))},
        },
        "additionalProperties": {"anyOf": [
            {"type": "string", "pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$"},
            {"type": ["number", "boolean", "null"]},
        ]},
        "x-keys-unique-ignoring-case": true,
    })
}

/// The schema of an optional `http(s)://host[:port][/path][?query]` URL (`parse_url`):
/// `format: http-url` alone (the host rules of `host-port` are more than a pattern can state),
/// with the length bound in `x-bounded-by`, or `null` (the same as leaving it out).
pub(crate) fn optional_url_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [{"type": "string", "format": "http-url"}, {"type": "null"}],
        "x-bounded-by": format!("an http(s) URL, at most {URL_CHARS_MAX} characters"),
    })
}

/// `add_webhook_template`: the documented fields, or the SDK's `name` + full `url` (whose domain
/// is reused, or registered with limits off, in the same commit).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTemplate {
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub webhook_name: Line<NAME_CHARS_MAX>,
    /// `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: OneOf<HttpMethod>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub webhook_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// Path on the domain, starting with `/` (or a `{{ placeholder }}`); templatable. Required
    /// unless `url` is given.
    #[schemars(schema_with = "optional_path_schema")]
    pub path: Option<Line<PATH_CHARS_MAX>>,
    /// The domain to call. Required unless `url` is given.
    pub domain_uuid: Option<Id>,
    /// SDK: `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid`.
    #[schemars(schema_with = "optional_url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// Seconds between retries (default 10).
    pub retry_delay: Option<RetryDelay>,
    /// `linear` (default) or `exponential`.
    pub retry_backoff_mode: Option<OneOf<Backoff>>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    /// Per-attempt timeout (default 5000).
    pub request_timeout_in_milliseconds: Option<TimeoutMs>,
    /// The body: an object or array; string values are templatable.
    #[serde(alias = "body")]
    #[schemars(extend("x-aliases" = ["body"]))]
    pub request_body_json: Option<JsonBody>,
    /// Header name → value (scalars); values are templatable.
    #[serde(alias = "headers")]
    #[schemars(extend("x-aliases" = ["headers"]))]
    #[schemars(schema_with = "optional_headers_schema")]
    pub headers_json: Option<JsonObject<HEADERS_MAX>>,
    /// Query parameter → value (scalars); values are templatable.
    #[serde(alias = "query_params")]
    #[schemars(extend("x-aliases" = ["query_params"]))]
    pub query_params_json: Option<JsonObject<QUERY_PARAMS_MAX>>,
}

/// `update_webhook_template` (extension; the SDK sends `template_uuid` plus any fields): absent
/// fields keep their values.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplate {
    /// The webhook template's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub webhook_uuid: Id,
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub webhook_name: Option<Line<NAME_CHARS_MAX>>,
    /// The HTTP method: `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: Option<OneOf<HttpMethod>>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub webhook_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// Path on the domain, starting with `/` (or a `{{ placeholder }}`); templatable.
    #[schemars(schema_with = "optional_path_schema")]
    pub path: Option<Line<PATH_CHARS_MAX>>,
    /// The domain's id.
    pub domain_uuid: Option<Id>,
    /// `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid` (the domain is reused or registered).
    #[schemars(schema_with = "optional_url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// Seconds before the first retry (default 10).
    pub retry_delay: Option<RetryDelay>,
    /// How the delay grows: `linear` (default) or `exponential`.
    pub retry_backoff_mode: Option<OneOf<Backoff>>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    /// Per-attempt timeout in milliseconds (default 5000).
    pub request_timeout_in_milliseconds: Option<TimeoutMs>,
    /// The body: an object or array; string values are templatable.
    #[serde(alias = "body")]
    #[schemars(extend("x-aliases" = ["body"]))]
    pub request_body_json: Option<JsonBody>,
    /// Header name → value (scalars); values are templatable.
    #[serde(alias = "headers")]
    #[schemars(extend("x-aliases" = ["headers"]))]
    #[schemars(schema_with = "optional_headers_schema")]
    pub headers_json: Option<JsonObject<HEADERS_MAX>>,
    /// Query parameter → value (scalars); values are templatable.
    #[serde(alias = "query_params")]
    #[schemars(extend("x-aliases" = ["query_params"]))]
    pub query_params_json: Option<JsonObject<QUERY_PARAMS_MAX>>,
}

/// A template by id: `single_webhook_template_detail`, `delete_webhook_template`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    /// The webhook template's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub webhook_uuid: Id,
}

/// The SDK's `get_webhook_template_uuid` (`{template_uuid}`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkTemplateRef {
    /// The template's id (the SDK's name).
    #[serde(alias = "webhook_uuid")]
    #[schemars(extend("x-aliases" = ["webhook_uuid"]))]
    pub template_uuid: Id,
}

/// The call fields shared by webhook templates and workflow steps, as one request gave them.
/// Every input type that carries them converts into this; [`apply`] validates and applies it.
#[derive(Default)]
pub(super) struct CallFields {
    /// Display name (default: the driver's description).
    pub name: Option<String>,
    pub description: Option<String>,
    /// The HTTP method: `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: Option<HttpMethod>,
    /// Path on the domain, starting with `/` (or a `{{ placeholder }}`); templatable.
    pub path: Option<String>,
    /// The domain's id.
    pub domain_uuid: Option<Id>,
    /// `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid` (the domain is reused or registered).
    pub url: Option<String>,
    /// Seconds before the first retry (default 10).
    pub retry_delay: Option<RetryDelay>,
    pub backoff: Option<Backoff>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    pub timeout_ms: Option<TimeoutMs>,
    pub body: Option<JsonBody>,
    pub headers: Option<JsonObject<HEADERS_MAX>>,
    pub query: Option<JsonObject<QUERY_PARAMS_MAX>>,
}

impl From<AddTemplate> for CallFields {
    fn from(i: AddTemplate) -> Self {
        CallFields {
            name: Some(i.webhook_name.0),
            description: i.webhook_description.map(|d| d.0),
            method: Some(i.method.0),
            path: i.path.map(|p| p.0),
            domain_uuid: i.domain_uuid,
            url: i.url.map(|u| u.0),
            retry_delay: i.retry_delay,
            backoff: i.retry_backoff_mode.map(|b| b.0),
            max_retries: i.max_retries,
            timeout_ms: i.request_timeout_in_milliseconds,
            body: i.request_body_json,
            headers: i.headers_json,
            query: i.query_params_json,
        }
    }
}

impl From<UpdateTemplate> for CallFields {
    fn from(i: UpdateTemplate) -> Self {
        CallFields {
            name: i.webhook_name.map(|n| n.0),
            description: i.webhook_description.map(|d| d.0),
            method: i.method.map(|m| m.0),
            path: i.path.map(|p| p.0),
            domain_uuid: i.domain_uuid,
            url: i.url.map(|u| u.0),
            retry_delay: i.retry_delay,
            backoff: i.retry_backoff_mode.map(|b| b.0),
            max_retries: i.max_retries,
            timeout_ms: i.request_timeout_in_milliseconds,
            body: i.request_body_json,
            headers: i.headers_json,
            query: i.query_params_json,
        }
    }
}

/// Which call fields a request must give.
#[derive(Clone, Copy)]
pub(super) struct Required {
    /// Display name (default: the driver's description).
    pub name: bool,
    /// The HTTP method: `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: bool,
    /// `path` + `domain_uuid`, or `url`.
    pub target: bool,
}

impl Required {
    pub const ALL: Required = Required { name: true, method: true, target: true };
    pub const NONE: Required = Required { name: false, method: false, target: false };
}

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

/// Header and query values must be scalars (they become text on the wire); header names must
/// be HTTP tokens.
fn scalar_map(map: Map<String, Value>, field: &str, header_names: bool) -> Result<Map<String, Value>, ApiError> {
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
    Ok(map)
}

/// Applies the call fields given onto `t` (a template, or a step's inline call). Fields not
/// given keep `t`'s values; `required` says which must be given. Returns a domain to create
/// alongside when the SDK's `url` names one the brand does not have yet.
pub(super) fn apply(
    cx: &Cx,
    f: CallFields,
    t: &mut WebhookTemplate,
    required: Required,
) -> Result<Option<Domain>, ApiError> {
    match f.name {
        Some(name) if name.trim().is_empty() => return Err(ApiError::invalid("webhook_name", "must not be empty")),
        Some(name) => t.name = name,
        None if required.name => return Err(ApiError::Missing("webhook_name".into())),
        None => {}
    }
    if let Some(d) = f.description {
        t.description = d;
    }
    match f.method {
        Some(m) => t.method = m,
        None if required.method => return Err(ApiError::Missing("method".into())),
        None => {}
    }

    // Target: documented path + domain_uuid, or the SDK's full url.
    let mut new_domain = None;
    let url_only = f.path.is_none() && f.domain_uuid.is_none() && f.url.is_some();
    if let Some(url) = f.url.as_deref().filter(|_| url_only) {
        let u = parse_url(url)?;
        check_path(&u.path)?;
        t.path = u.path;
        for (k, v) in u.query {
            t.query.entry(k).or_insert(v);
        }
        new_domain = Some(super::domains::new_domain(cx, u.protocol, u.host));
    } else {
        if f.url.is_some() {
            return Err(ApiError::invalid("url", "give either url or path and domain_uuid, not both"));
        }
        match f.path {
            Some(p) => {
                check_path(&p)?;
                t.path = p;
            }
            None if required.target => return Err(ApiError::Missing("path".into())),
            None => {}
        }
        match f.domain_uuid {
            Some(d) => t.domain = DomainId(d.0),
            None if required.target => return Err(ApiError::Missing("domain_uuid".into())),
            None => {}
        }
    }

    if let Some(v) = f.retry_delay {
        t.retry.retry_delay_seconds = v.u32();
    }
    if let Some(b) = f.backoff {
        t.retry.backoff = b;
    }
    if let Some(v) = f.max_retries {
        t.retry.max_retries = v.u32();
    }
    if let Some(v) = f.timeout_ms {
        t.retry.request_timeout_ms = v.u32();
    }
    if let Some(b) = f.body {
        t.body = b.0;
    }
    if let Some(h) = f.headers {
        let h = scalar_map(h.0, "headers_json", true)?;
        crate::delivery::request::check_headers(&h).map_err(|why| ApiError::invalid("headers_json", why))?;
        t.headers = h;
    }
    if let Some(q) = f.query {
        let q = scalar_map(q.0, "query_params_json", false)?;
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

pub async fn add(cx: Cx, input: AddTemplate) -> ApiResult {
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
    let new_domain = apply(&cx, input.into(), &mut t, Required::ALL)?;
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

pub async fn list(cx: Cx, input: PageQuery) -> ApiResult {
    let page = input.number();
    let items = cx.app.store.list_templates(cx.brand.id, page, cx.page_size)?;
    let rows = items.items.iter().map(|t| summary(&cx, t)).collect::<Result<Vec<_>, _>>()?;
    let page_of_rows = crate::model::Page { items: rows, total: items.total };
    paginated(page_of_rows, page, cx.page_size, &cx.brand.timezone, Clone::clone)
}

fn load(cx: &Cx, id: Id) -> Result<WebhookTemplate, ApiError> {
    cx.app.store.get_template(cx.brand.id, TemplateId(id.0))?.ok_or(ApiError::NotFound("Webhook"))
}

pub async fn detail(cx: Cx, input: TemplateRef) -> ApiResult {
    detail_of(&cx, load(&cx, input.webhook_uuid)?)
}

/// The SDK's `get_webhook_template_uuid` (`{template_uuid}`): the same answer as `detail`.
pub async fn detail_sdk(cx: Cx, input: SdkTemplateRef) -> ApiResult {
    detail_of(&cx, load(&cx, input.template_uuid)?)
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

pub async fn update(cx: Cx, input: UpdateTemplate) -> ApiResult {
    let mut t = load(&cx, input.webhook_uuid)?;
    let new_domain = apply(&cx, input.into(), &mut t, Required::NONE)?;
    if let Some(d) = new_domain {
        // An SDK update with a url: reuse or register that domain first.
        t.domain = super::domains::ensure_domain(&cx, d).await?;
    }
    t.updated_ms = cx.now;
    let t = cx.app.store.update_template(t).await?;
    ok(json!({"success": true, "details": "Webhook template updated successfully", "webhook_uuid": t.id.to_string()}))
}

pub async fn delete(cx: Cx, input: TemplateRef) -> ApiResult {
    let t = load(&cx, input.webhook_uuid)?;
    let deactivated = cx.app.store.delete_template(cx.brand.id, t.id, cx.now).await?;
    cx.app.schedules_deactivated(cx.brand.id, &deactivated, "its webhook template was deleted").await;
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
