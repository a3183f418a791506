//! Domain endpoints: `add_domain`, `get_domain_paginated`, and the extensions
//! `get_domain_uuid` (SDK), `update_domain`, `delete_domain`, the signing secret, and the
//! circuit breaker's `get_domain_health` and `reset_domain_circuit`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::{Id, Int, Line, OneOf};
use super::reply::{ApiResult, PageQuery, ok, paginated};
use super::request::Cx;
use crate::delivery::signing;
use crate::model::{BreakerSettings, CircuitState, Domain, DomainCircuit, DomainId, Protocol, SigningKey};
use crate::time::format_utc;
use crate::time::tz::format_in_zone;

/// Upper bounds for the traffic-guard settings.
const MAX_CONCURRENT_JOBS_MAX: i64 = 10_000;
const MAX_REQUESTS_PER_SECOND_MAX: i64 = 100_000;
/// Upper bounds of the circuit breaker's settings: a threshold above this never trips in
/// practice, and an hour and a day bound how long a domain may be held between probes.
const FAILURE_THRESHOLD_MAX: i64 = 1_000;
const OPEN_SECONDS_MAX: i64 = 86_400;
/// The longest failure-rate window: a day.
const RATE_WINDOW_SECONDS_MAX: i64 = 86_400;
/// Longest host (a DNS name has at most 253 characters), with its optional `:port`.
const HOST_CHARS_MAX: usize = 253;

/// `add_domain`. The SDK's names (`protocol`, `max_concurrent`, `rate_limit_per_second`) are
/// aliases; it sends no `*_enabled` flags, so a flag that is not sent defaults to whether its
/// limit was sent (> 0). An enabled limit must be at least 1.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// `https` or `http`.
    #[serde(alias = "protocol")]
    #[schemars(extend("x-aliases" = ["protocol"]))]
    pub protocol_type: OneOf<Protocol>,
    /// The host, with an optional port: `api.example.com`, `127.0.0.1:8080`, `[::1]:9000`.
    #[serde(alias = "domain_name")]
    #[schemars(extend("x-aliases" = ["domain_name"]))]
    #[schemars(extend("format" = "host-port"))]
    pub domain: Line<HOST_CHARS_MAX>,
    /// Space request starts `1/max_requests_per_second` s apart.
    pub rate_limit_enabled: Option<bool>,
    /// Allow at most `max_concurrent_jobs` requests in flight.
    pub concurrency_control_enabled: Option<bool>,
    /// Most requests in flight to the domain at once.
    #[serde(alias = "max_concurrent")]
    #[schemars(extend("x-aliases" = ["max_concurrent"]))]
    pub max_concurrent_jobs: Option<Int<0, MAX_CONCURRENT_JOBS_MAX>>,
    /// Most request starts per second.
    #[serde(alias = "rate_limit_per_second")]
    #[schemars(extend("x-aliases" = ["rate_limit_per_second"]))]
    pub max_requests_per_second: Option<Int<0, MAX_REQUESTS_PER_SECOND_MAX>>,
    /// Hold the domain's queue after `failure_threshold` failed attempts in a row, then probe
    /// with one attempt after `open_seconds` (default `false`).
    pub circuit_breaker_enabled: Option<bool>,
    /// Failed attempts in a row (no answer, 5xx, 408, 429) that open the circuit (default 5).
    pub failure_threshold: Option<Int<1, FAILURE_THRESHOLD_MAX>>,
    /// Seconds the circuit stays open before one probe attempt goes (default 30).
    pub open_seconds: Option<Int<1, OPEN_SECONDS_MAX>>,
    /// Also open the circuit when at least this percentage of the attempts in the window
    /// failed (1-100; 0 = off, the default).
    pub failure_rate_percent: Option<Int<0, 100>>,
    /// The failure-rate window, in seconds (default 60).
    pub failure_rate_window_seconds: Option<Int<1, RATE_WINDOW_SECONDS_MAX>>,
    /// Fewest attempts in the window before the failure rate is judged (default 10).
    pub failure_rate_min_count: Option<Int<1, FAILURE_THRESHOLD_MAX>>,
}

/// `update_domain` (extension): absent fields keep their values.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDomain {
    /// The domain's id.
    pub domain_uuid: Id,
    /// `https` (default) or `http`.
    #[serde(alias = "protocol")]
    #[schemars(extend("x-aliases" = ["protocol"]))]
    pub protocol_type: Option<OneOf<Protocol>>,
    /// The host, with an optional port: `api.example.com`, `127.0.0.1:8080`, `[::1]:9000`.
    #[serde(alias = "domain_name")]
    #[schemars(extend("x-aliases" = ["domain_name"]))]
    #[schemars(extend("format" = "host-port"))]
    pub domain: Option<Line<HOST_CHARS_MAX>>,
    /// Space request starts `1/max_requests_per_second` s apart.
    pub rate_limit_enabled: Option<bool>,
    /// Allow at most `max_concurrent_jobs` requests in flight.
    pub concurrency_control_enabled: Option<bool>,
    /// Most requests in flight to the domain at once.
    #[serde(alias = "max_concurrent")]
    #[schemars(extend("x-aliases" = ["max_concurrent"]))]
    pub max_concurrent_jobs: Option<Int<0, MAX_CONCURRENT_JOBS_MAX>>,
    /// Most request starts per second.
    #[serde(alias = "rate_limit_per_second")]
    #[schemars(extend("x-aliases" = ["rate_limit_per_second"]))]
    pub max_requests_per_second: Option<Int<0, MAX_REQUESTS_PER_SECOND_MAX>>,
    /// Hold the domain's queue after `failure_threshold` failed attempts in a row, then probe
    /// with one attempt after `open_seconds` (default `false`).
    pub circuit_breaker_enabled: Option<bool>,
    /// Failed attempts in a row (no answer, 5xx, 408, 429) that open the circuit (default 5).
    pub failure_threshold: Option<Int<1, FAILURE_THRESHOLD_MAX>>,
    /// Seconds the circuit stays open before one probe attempt goes (default 30).
    pub open_seconds: Option<Int<1, OPEN_SECONDS_MAX>>,
    /// Also open the circuit when at least this percentage of the attempts in the window
    /// failed (1-100; 0 = off, the default).
    pub failure_rate_percent: Option<Int<0, 100>>,
    /// The failure-rate window, in seconds (default 60).
    pub failure_rate_window_seconds: Option<Int<1, RATE_WINDOW_SECONDS_MAX>>,
    /// Fewest attempts in the window before the failure rate is judged (default 10).
    pub failure_rate_min_count: Option<Int<1, FAILURE_THRESHOLD_MAX>>,
}

/// The SDK's `get_domain_uuid`: a domain by name and protocol (default `https`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindDomain {
    /// The host, with an optional port: `api.example.com`, `127.0.0.1:8080`, `[::1]:9000`.
    #[serde(alias = "domain_name")]
    #[schemars(extend("x-aliases" = ["domain_name"]))]
    #[schemars(extend("format" = "host-port"))]
    pub domain: Line<HOST_CHARS_MAX>,
    /// `https` (default) or `http`.
    #[serde(alias = "protocol")]
    #[schemars(extend("x-aliases" = ["protocol"]))]
    pub protocol_type: Option<OneOf<Protocol>>,
}

/// A domain by id: `delete_domain`, `get_domain_signing_secret`, `rotate_domain_signing_secret`,
/// `get_domain_health`, `reset_domain_circuit`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRef {
    /// The domain's id.
    pub domain_uuid: Id,
}

/// The traffic-guard values of a create or update.
struct Limits {
    rate_on: Option<bool>,
    conc_on: Option<bool>,
    max_conc: Option<i64>,
    max_rps: Option<i64>,
}

/// Normalises and validates a host with optional port: `api.example.com`, `127.0.0.1:8080`,
/// `[::1]:9000`. No scheme, path, query, credentials or whitespace.
pub fn parse_host(raw: &str, field: &str) -> Result<String, ApiError> {
    let host = raw.trim().to_ascii_lowercase();
    let bad = |why: &str| ApiError::invalid(field, why.to_string());
    if host.is_empty() {
        return Err(bad("must not be empty"));
    }
    if host.len() > HOST_CHARS_MAX {
        return Err(bad("too long"));
    }
    if host.contains("://") {
        return Err(bad("give the host only, without a scheme; the scheme is protocol_type"));
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(|| bad("unclosed [ in IPv6 address"))?;
        if !after.is_empty() && !after.starts_with(':') {
            return Err(bad("only :port may follow an IPv6 address"));
        }
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad("not an IPv6 address"))?;
        (format!("[{v6}]"), after.strip_prefix(':').map(str::to_string))
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n.to_string(), Some(p.to_string())),
            None => (host.clone(), None),
        }
    };
    if !name.starts_with('[') {
        let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if name.is_empty() || !ok_chars || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(bad("not a host name (letters, digits, '-', '.', optional :port; no path)"));
        }
    }
    if let Some(p) = &port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(bad("port must be 1-65535")),
        }
    }
    Ok(match port {
        Some(p) => format!("{name}:{p}"),
        None => name,
    })
}

/// Applies the traffic-guard fields. A flag that is not sent defaults to whether its limit was
/// sent (the SDK sends only the limits); an enabled limit must be given and positive.
fn apply_limits(l: Limits, d: &mut Domain) -> Result<(), ApiError> {
    let Limits { rate_on, conc_on, max_conc, max_rps } = l;
    if let Some(v) = max_conc {
        d.max_concurrent_jobs = v as u32;
    }
    if let Some(v) = max_rps {
        d.max_requests_per_second = v as u32;
    }
    d.concurrency_control_enabled = conc_on.unwrap_or(d.concurrency_control_enabled || max_conc.is_some_and(|v| v > 0));
    d.rate_limit_enabled = rate_on.unwrap_or(d.rate_limit_enabled || max_rps.is_some_and(|v| v > 0));
    if d.concurrency_control_enabled && d.max_concurrent_jobs == 0 {
        return Err(match max_conc {
            None => ApiError::Missing("max_concurrent_jobs".into()),
            Some(_) => {
                ApiError::invalid("max_concurrent_jobs", "must be at least 1 when concurrency_control_enabled is true")
            }
        });
    }
    if d.rate_limit_enabled && d.max_requests_per_second == 0 {
        return Err(match max_rps {
            None => ApiError::Missing("max_requests_per_second".into()),
            Some(_) => {
                ApiError::invalid("max_requests_per_second", "must be at least 1 when rate_limit_enabled is true")
            }
        });
    }
    Ok(())
}

/// The circuit-breaker fields of `add_domain` / `update_domain`; absent ones keep their
/// values.
struct BreakerIn {
    enabled: Option<bool>,
    threshold: Option<i64>,
    open_seconds: Option<i64>,
    rate_percent: Option<i64>,
    rate_window_seconds: Option<i64>,
    rate_min_count: Option<i64>,
}

/// Applies the circuit-breaker fields; absent ones keep their values.
fn apply_breaker(i: BreakerIn, b: &mut BreakerSettings) {
    let set = |v: Option<i64>, field: &mut u32| {
        if let Some(v) = v {
            *field = u32::try_from(v).unwrap_or(u32::MAX);
        }
    };
    if let Some(v) = i.enabled {
        b.enabled = v;
    }
    set(i.threshold, &mut b.failure_threshold);
    set(i.open_seconds, &mut b.open_seconds);
    set(i.rate_percent, &mut b.failure_rate_percent);
    set(i.rate_window_seconds, &mut b.failure_rate_window_seconds);
    set(i.rate_min_count, &mut b.failure_rate_min_count);
}

/// The settings' JSON fields (the names `add_domain` takes).
fn breaker_fields(b: &BreakerSettings) -> Value {
    json!({
        "circuit_breaker_enabled": b.enabled,
        "failure_threshold": b.failure_threshold,
        "open_seconds": b.open_seconds,
        "failure_rate_percent": b.failure_rate_percent,
        "failure_rate_window_seconds": b.failure_rate_window_seconds,
        "failure_rate_min_count": b.failure_rate_min_count,
    })
}

/// `a` with `b`'s keys added.
fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

fn domain_item(d: &Domain, tz: &str) -> Value {
    let item = json!({
        "protocol_type": d.protocol.as_str(),
        "rate_limit_enabled": d.rate_limit_enabled,
        "concurrency_control_enabled": d.concurrency_control_enabled,
        "max_concurrent_jobs": d.max_concurrent_jobs,
        "max_requests_per_second": d.max_requests_per_second,
        "domain_uuid": d.id.to_string(),
        "domain_name": d.host,
        "inserted_at": format_in_zone(d.created_ms, tz),
    });
    merged(item, breaker_fields(&d.breaker))
}

/// A fresh signing secret for a new domain, sealed by the vault.
pub fn new_signing_key(cx: &Cx, domain: DomainId) -> SigningKey {
    let secret = zeroize::Zeroizing::new(signing::new_secret());
    SigningKey { sealed: cx.app.vault.seal_signing(domain, cx.now, &secret), created_ms: cx.now, expires_ms: None }
}

/// A new domain of the caller's brand: limits off, a fresh signing secret. Every path that
/// registers a domain (add_domain, a template's or step's `url`) starts here.
pub fn new_domain(cx: &Cx, protocol: Protocol, host: String) -> Domain {
    let id = DomainId::new();
    Domain {
        id,
        brand: cx.brand.id,
        protocol,
        host,
        rate_limit_enabled: false,
        concurrency_control_enabled: false,
        max_concurrent_jobs: 0,
        max_requests_per_second: 0,
        signing: vec![new_signing_key(cx, id)],
        breaker: Default::default(),
        created_ms: cx.now,
        updated_ms: cx.now,
    }
}

/// The id of the brand's domain with `d`'s name, registering `d` when there is none.
pub async fn ensure_domain(cx: &Cx, d: Domain) -> Result<DomainId, ApiError> {
    if let Some(existing) = cx.app.store.find_domain(cx.brand.id, d.protocol, &d.host)? {
        return Ok(existing.id);
    }
    Ok(cx.app.store.create_domain(d).await?.id)
}

pub async fn add(cx: Cx, input: AddDomain) -> ApiResult {
    let host = parse_host(&input.domain.0, "domain")?;
    let mut d = new_domain(&cx, input.protocol_type.0, host);
    let limits = Limits {
        rate_on: input.rate_limit_enabled,
        conc_on: input.concurrency_control_enabled,
        max_conc: input.max_concurrent_jobs.map(|v| v.get()),
        max_rps: input.max_requests_per_second.map(|v| v.get()),
    };
    apply_limits(limits, &mut d)?;
    let breaker = BreakerIn {
        enabled: input.circuit_breaker_enabled,
        threshold: input.failure_threshold.map(|v| v.get()),
        open_seconds: input.open_seconds.map(|v| v.get()),
        rate_percent: input.failure_rate_percent.map(|v| v.get()),
        rate_window_seconds: input.failure_rate_window_seconds.map(|v| v.get()),
        rate_min_count: input.failure_rate_min_count.map(|v| v.get()),
    };
    apply_breaker(breaker, &mut d.breaker);
    let d = cx.app.store.create_domain(d).await?;
    ok(json!({"success": true, "details": "Domain added successfully", "domain_uuid": d.id.to_string()}))
}

pub async fn list(cx: Cx, input: PageQuery) -> ApiResult {
    let page = input.number();
    let items = cx.app.store.list_domains(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.as_str();
    paginated(items, page, cx.page_size, tz, |d| domain_item(d, tz))
}

pub async fn find_uuid(cx: Cx, input: FindDomain) -> ApiResult {
    let host = parse_host(&input.domain.0, "domain")?;
    let protocol = input.protocol_type.map_or(Protocol::Https, |p| p.0);
    let d = cx.app.store.find_domain(cx.brand.id, protocol, &host)?.ok_or(ApiError::NotFound("Domain"))?;
    let id = d.id.to_string();
    ok(json!({"success": true, "domain_uuid": id, "data": domain_item(&d, &cx.brand.timezone)}))
}

fn load(cx: &Cx, id: Id) -> Result<Domain, ApiError> {
    cx.app.store.get_domain(cx.brand.id, DomainId(id.0))?.ok_or(ApiError::NotFound("Domain"))
}

pub async fn update(cx: Cx, input: UpdateDomain) -> ApiResult {
    let mut d = load(&cx, input.domain_uuid)?;
    if let Some(p) = input.protocol_type {
        d.protocol = p.0;
    }
    if let Some(h) = &input.domain {
        d.host = parse_host(&h.0, "domain")?;
    }
    let limits = Limits {
        rate_on: input.rate_limit_enabled,
        conc_on: input.concurrency_control_enabled,
        max_conc: input.max_concurrent_jobs.map(|v| v.get()),
        max_rps: input.max_requests_per_second.map(|v| v.get()),
    };
    apply_limits(limits, &mut d)?;
    let breaker = BreakerIn {
        enabled: input.circuit_breaker_enabled,
        threshold: input.failure_threshold.map(|v| v.get()),
        open_seconds: input.open_seconds.map(|v| v.get()),
        rate_percent: input.failure_rate_percent.map(|v| v.get()),
        rate_window_seconds: input.failure_rate_window_seconds.map(|v| v.get()),
        rate_min_count: input.failure_rate_min_count.map(|v| v.get()),
    };
    apply_breaker(breaker, &mut d.breaker);
    d.updated_ms = cx.now;
    let id = d.id;
    let d = cx.app.store.update_domain(d).await?;
    // A queue held by the breaker sees the new settings at once (disabled: it drains).
    cx.app.delivery.domain_changed(&d);
    ok(json!({"success": true, "details": "Domain updated successfully", "domain_uuid": id.to_string()}))
}

pub async fn delete(cx: Cx, input: DomainRef) -> ApiResult {
    let id = DomainId(input.domain_uuid.0);
    cx.app.store.delete_domain(cx.brand.id, id).await?;
    ok(json!({"success": true, "details": "Domain deleted successfully", "domain_uuid": id.to_string()}))
}

/// `get_domain_signing_secret` (extension): the `whsec_` secret(s) that sign this domain's
/// requests — the one endpoint besides `get_value_of_secret` that reveals a secret.
pub async fn signing_secret(cx: Cx, input: DomainRef) -> ApiResult {
    let d = load(&cx, input.domain_uuid)?;
    let mut keys = Vec::new();
    for k in d.active_signing(cx.now) {
        let secret =
            cx.app.vault.open_signing(d.id, k).map_err(|e| ApiError::Internal(format!("domain {}: {e}", d.id)))?;
        keys.push(json!({
            "signing_secret": secret.as_str(),
            "created_at": crate::time::format_utc(k.created_ms),
            "expires_at": k.expires_ms.map(crate::time::format_utc),
        }));
    }
    let current = keys.first().map(|k| k["signing_secret"].clone()).unwrap_or(Value::Null);
    ok(
        json!({"success": true, "data": {"domain_uuid": d.id.to_string(), "signing_secret": current, "active_secrets": keys}}),
    )
}

/// `rotate_domain_signing_secret` (extension): a new secret signs from now on; the previous
/// one keeps signing alongside for `delivery.signing_overlap_seconds`.
pub async fn rotate_signing_secret(cx: Cx, input: DomainRef) -> ApiResult {
    let d = load(&cx, input.domain_uuid)?;
    let overlap = cx.app.delivery_limits().signing_overlap_ms;
    let mut keys: Vec<SigningKey> = d.active_signing(cx.now).cloned().collect();
    for k in &mut keys {
        let until = cx.now + overlap;
        k.expires_ms = Some(k.expires_ms.map_or(until, |e| e.min(until)));
    }
    keys.insert(0, new_signing_key(&cx, d.id));
    cx.app.store.set_domain_signing(cx.brand.id, d.id, keys).await?;
    ok(json!({
        "success": true,
        "details": "Signing secret rotated",
        "domain_uuid": d.id.to_string(),
        "previous_expires_at": crate::time::format_utc(cx.now + overlap),
    }))
}

/// The `data` of `get_domain_health` and `reset_domain_circuit`.
fn health_item(d: &Domain, c: &DomainCircuit, queued: usize, now: crate::time::Millis) -> Value {
    let (opened, next_probe, probe_in_flight) = match c.state {
        CircuitState::Closed => (None, None, false),
        CircuitState::Open { opened_ms, until_ms } => (Some(opened_ms), Some(until_ms), false),
        CircuitState::HalfOpen { opened_ms, probe_in_flight } => (Some(opened_ms), None, probe_in_flight),
    };
    let (window_attempts, window_failures) = crate::delivery::breaker::window_counts(&c.window, &d.breaker, now);
    let item = json!({
        "domain_uuid": d.id.to_string(),
        "state": c.state.name(),
        "consecutive_failures": c.consecutive_failures,
        "opened_at": opened.map(format_utc),
        "next_probe_at": next_probe.map(format_utc),
        "probe_in_flight": probe_in_flight,
        "state_changed_at": format_utc(c.changed_ms),
        "queued": queued,
        "counters": {
            "attempts": c.attempts,
            "successes": c.successes,
            "failures": c.failures,
            "since": format_utc(c.counters_since_ms),
        },
        "window": {
            "seconds": d.breaker.failure_rate_window_seconds,
            "attempts": window_attempts,
            "failures": window_failures,
        },
    });
    merged(item, breaker_fields(&d.breaker))
}

/// `get_domain_health` (extension): the domain's circuit breaker and queue.
pub async fn health(cx: Cx, input: DomainRef) -> ApiResult {
    let d = load(&cx, input.domain_uuid)?;
    let c = cx.app.delivery.circuit(&d)?.snapshot();
    ok(json!({"success": true, "data": health_item(&d, &c, cx.app.delivery.queue_depth(d.id), cx.now)}))
}

/// `reset_domain_circuit` (extension): closes the circuit and zeroes its counters; the
/// attempts it held go at once. Answered once the closed circuit is stored.
pub async fn reset_circuit(cx: Cx, input: DomainRef) -> ApiResult {
    let d = load(&cx, input.domain_uuid)?;
    let c = cx.app.delivery.circuit(&d)?.reset(cx.now).await?;
    ok(json!({
        "success": true,
        "details": "Circuit closed",
        "domain_uuid": d.id.to_string(),
        "data": health_item(&d, &c, cx.app.delivery.queue_depth(d.id), cx.now),
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_host;

    #[test]
    fn hosts_are_normalised_and_checked() {
        assert_eq!(parse_host(" API.Example.com ", "d").unwrap(), "api.example.com");
        assert_eq!(parse_host("127.0.0.1:8080", "d").unwrap(), "127.0.0.1:8080");
        assert_eq!(parse_host("[::1]:9000", "d").unwrap(), "[::1]:9000");
        for bad in [
            "",
            "[::1]/x",
            "[::1]junk",
            "https://x.com",
            "x.com/path",
            "x.com:0",
            "x.com:99999",
            "a b.com",
            "user@x.com",
            "x.com?q",
        ] {
            assert!(parse_host(bad, "d").is_err(), "{bad:?} accepted");
        }
    }
}
