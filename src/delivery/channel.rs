//! Notification channel sends (product.md §12): an alert execution (`TargetKind::Channel`,
//! its context the alert's JSON payload from `monitor::alert::webhook_payload`) rendered for
//! its channel: `webhook` (the payload as is, signed with the channel's Standard Webhooks
//! secret like every delivery), `slack` (`{"text", "blocks"}`), `discord` (`{"content"}`), or
//! `email` (a plain-text mail over SMTP, config `[smtp]`, with `lettre`).
//!
//! A channel's URL is a credential (Slack and Discord put the secret in the path): it is only
//! opened here, for the request; the execution's record and every log line show its origin
//! (`scheme://host[:port]`), and a receiver that echoes it has it masked in the record.
//!
//! Channel sends go through the delivery engine's transport (egress policy, timeouts, retries:
//! [`CHANNEL_RETRY`]) but not through a domain's traffic guard or circuit breaker, and a
//! failed channel send never raises `execution_failed` (no alert loops).

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::request::Rendered;
use crate::model::{
    Backoff, BreakerSettings, ChannelAddress, ChannelKind, Domain, DomainId, HttpMethod, NotificationChannel, Protocol,
    RetryPolicy, SigningKey, TemplateId, WebhookTemplate,
};
use crate::monitor::alert;

/// How an SMTP connection is secured (`smtp.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same machine).
    None,
    /// Upgrade with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// `[smtp]`: the server email channels send through. The password is never in the file:
/// `password_file` names a file read at each send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The sender address (`From`).
    pub from: String,
    pub timeout: Duration,
}

/// Retries of a channel send: 5 after the first attempt, from 10 s, doubling; 10 s per
/// attempt.
pub const CHANNEL_RETRY: RetryPolicy =
    RetryPolicy { retry_delay_seconds: 10, backoff: Backoff::Exponential, max_retries: 5, request_timeout_ms: 10_000 };

/// Longest channel URL, characters.
pub const URL_CHARS_MAX: usize = 2048;

/// A channel URL checked: `http` or `https`, a host, no fragment. Returns the URL and its
/// origin (what responses show). The error never repeats the URL.
pub fn check_url(raw: &str) -> Result<(reqwest::Url, String), &'static str> {
    const SHAPE: &str = "expected an http:// or https:// URL with a host";
    let u = reqwest::Url::parse(raw.trim()).map_err(|_| SHAPE)?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(SHAPE);
    }
    if u.fragment().is_some() {
        return Err("a URL fragment is not sent; remove it");
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Sent as Basic auth, they would come back in any receiver's echo of its request.
        return Err("credentials in the URL (user:password@) are not supported");
    }
    let origin = u.origin().ascii_serialization();
    Ok((u, origin))
}

/// What delivery needs of a channel besides its synthetic template and domain.
#[derive(Debug, Clone)]
pub struct ChannelSend {
    pub channel: NotificationChannel,
}

/// The template and domain a channel send is carried as: `POST` to the channel's origin with
/// [`CHANNEL_RETRY`], no traffic limits, no breaker, and (a `webhook` channel) its signing
/// secret. The domain id is the channel's id (the signing secret is sealed with it).
pub fn carrier(c: &NotificationChannel) -> (WebhookTemplate, Domain) {
    let (protocol, host) = match &c.address {
        ChannelAddress::Url { origin, .. } => {
            let (scheme, rest) = origin.split_once("://").unwrap_or(("https", origin));
            (if scheme == "http" { Protocol::Http } else { Protocol::Https }, rest.to_string())
        }
        ChannelAddress::Email { .. } => (Protocol::Https, "smtp.invalid".to_string()),
    };
    let domain = Domain {
        id: DomainId(c.id.0),
        brand: c.brand,
        protocol,
        host,
        rate_limit_enabled: false,
        concurrency_control_enabled: false,
        max_concurrent_jobs: 0,
        max_requests_per_second: 0,
        signing: c
            .signing
            .iter()
            .map(|s| SigningKey { sealed: s.clone(), created_ms: c.created_ms, expires_ms: None })
            .collect(),
        breaker: BreakerSettings::default(),
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    };
    let template = WebhookTemplate {
        id: TemplateId(c.id.0),
        brand: c.brand,
        name: c.name.clone(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/".into(),
        domain: domain.id,
        retry: CHANNEL_RETRY,
        body: Value::Null,
        headers: Map::new(),
        query: Map::new(),
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
    };
    (template, domain)
}

/// The body a channel of `kind` is sent for an alert payload (`None`: email, sent by mail).
pub fn body(kind: ChannelKind, payload: &Value) -> Option<Value> {
    match kind {
        ChannelKind::Webhook => Some(payload.clone()),
        ChannelKind::Slack => Some(alert::slack_body(payload)),
        ChannelKind::Discord => Some(alert::discord_body(payload)),
        ChannelKind::Email => None,
    }
}

/// Header on every channel send over HTTP (value: the alert's rule type, e.g. `monitor_down`,
/// else `alert`). The daemon's own ping, stage and process routes refuse a request carrying
/// it, so an alert cannot drive a monitor and raise the next alert (src/api/mod.rs,
/// `refuse_alert_loops`).
pub const ALERT_HEADER: &str = "x-hookwheel-alert";

/// The request of an HTTP channel's send. `url` is the opened channel URL; the record shows
/// only its origin and the headers sent.
pub fn render_http(c: &NotificationChannel, url: &str, context: &Map<String, Value>) -> Result<Rendered, String> {
    let (u, origin) = check_url(url).map_err(|why| format!("channel URL: {why}"))?;
    let payload = Value::Object(context.clone());
    let body = body(c.kind, &payload).unwrap_or(Value::Null);
    let bytes = serde_json::to_vec(&body).map_err(|e| format!("alert body: {e}"))?;
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let kind = context.get("rule_type").and_then(Value::as_str).unwrap_or("alert");
    let kind = HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("alert"));
    headers.insert(ALERT_HEADER, kind.clone());
    let secrets = url_secrets(&u, url);
    let masked = json!({
        "method": "POST",
        "url": origin,
        "query": {},
        "headers": {"content-type": "application/json", ALERT_HEADER: kind.to_str().unwrap_or("alert")},
        "body": body,
    });
    Ok(Rendered { method: reqwest::Method::POST, url: u, headers, body: Some(bytes), masked, secrets })
}

/// The forms of a channel URL a receiver might echo: the whole URL, its path with the query
/// (where Slack and Discord put their secret), and each path segment or query value that
/// looks like a token (see [`token_like`]), since a receiver may echo just the token
/// ("invalid_token <token>").
fn url_secrets(u: &reqwest::Url, raw: &str) -> Vec<(String, zeroize::Zeroizing<String>)> {
    let mut out = vec![("channel_url".to_string(), zeroize::Zeroizing::new(raw.to_string()))];
    let mut path = u.path().to_string();
    if let Some(q) = u.query() {
        path = format!("{path}?{q}");
    }
    if path.len() > 1 {
        out.push(("channel_url_path".to_string(), zeroize::Zeroizing::new(path)));
    }
    let segments = u.path_segments().into_iter().flatten().map(str::to_string);
    let values = u.query_pairs().map(|(_, v)| v.into_owned());
    for part in segments.chain(values).filter(|p| token_like(p)) {
        out.push(("channel_url_token".to_string(), zeroize::Zeroizing::new(part)));
    }
    out
}

/// A URL part that may be a credential: at least 8 characters with a digit or an upper-case
/// letter (Slack's `T…/B…/<24 characters>`, Discord's `<id>/<68 characters>`), or at least 20
/// characters of anything. Plain words such as `services` or `webhooks` stay readable.
fn token_like(part: &str) -> bool {
    let n = part.chars().count();
    n >= 20 || (n >= 8 && part.chars().any(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
}

/// The record of an email send (nothing is sent over HTTP; `url` is `smtp://<host>`).
pub fn render_email(to: &[String], context: &Map<String, Value>, smtp_host: &str) -> Result<Rendered, String> {
    let payload = Value::Object(context.clone());
    let (subject, text) = alert::email_message(&payload);
    let url = reqwest::Url::parse(&format!("smtp://{smtp_host}"))
        .or_else(|_| reqwest::Url::parse("smtp://smtp.invalid"))
        .map_err(|e| format!("smtp host: {e}"))?;
    let masked = json!({
        "method": "SMTP",
        "url": url.as_str(),
        "query": {},
        "headers": {"to": to, "subject": subject},
        "body": text,
    });
    Ok(Rendered {
        method: reqwest::Method::POST,
        url,
        headers: HeaderMap::new(),
        body: Some(text.into_bytes()),
        masked,
        secrets: Vec::new(),
    })
}

/// Why a mail was not sent: `retry` when a later attempt may succeed (connection, timeout, a
/// 4xx answer), with a text that never holds the password.
#[derive(Debug, Clone)]
pub struct MailError {
    pub retry: bool,
    pub why: String,
}

/// Sends one alert mail through the configured SMTP server.
pub async fn send_email(
    smtp: &SmtpConfig,
    to: &[String],
    subject: &str,
    text: String,
    message_id: &str,
) -> Result<(), MailError> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let permanent = |why: String| MailError { retry: false, why };
    let from: Mailbox = smtp.from.parse().map_err(|_| permanent("smtp.from is not a valid address".into()))?;
    let mut b = Message::builder().from(from).subject(subject).header(ContentType::TEXT_PLAIN);
    for addr in to {
        let mb: Mailbox = addr.parse().map_err(|_| permanent("a recipient is not a valid address".into()))?;
        b = b.to(mb);
    }
    let msg = b
        .message_id(Some(format!("<{message_id}@hookwheel>")))
        .body(text)
        .map_err(|e| permanent(format!("mail: {e}")))?;
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls | SmtpTls::Tls => {
            let params = TlsParameters::builder(smtp.host.clone())
                .build_rustls()
                .map_err(|e| permanent(format!("smtp TLS settings: {e}")))?;
            if smtp.tls == SmtpTls::Tls { Tls::Wrapper(params) } else { Tls::Required(params) }
        }
    };
    let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let (Some(user), Some(file)) = (&smtp.username, &smtp.password_file) {
        let password = std::fs::read_to_string(file)
            .map_err(|e| MailError { retry: true, why: format!("cannot read smtp.password_file: {}", e.kind()) })?;
        t = t.credentials(Credentials::new(user.clone(), password.trim_end_matches(['\r', '\n']).to_string()));
    }
    let mailer = t.build();
    match tokio::time::timeout(smtp.timeout, mailer.send(msg)).await {
        Err(_) => Err(MailError { retry: true, why: format!("smtp: timeout after {} s", smtp.timeout.as_secs()) }),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(MailError { retry: !e.is_permanent(), why: format!("smtp: {e}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BrandId, ChannelId, Sealed};

    fn channel(kind: ChannelKind) -> NotificationChannel {
        NotificationChannel {
            id: ChannelId::new(),
            brand: BrandId::new(),
            name: "ops".into(),
            kind,
            address: ChannelAddress::Url {
                sealed: Sealed { nonce: [0; 12], ciphertext: vec![] },
                origin: "https://hooks.slack.com".into(),
            },
            signing: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn payload() -> Map<String, Value> {
        json!({"summary": "Monitor \"x\" is DOWN", "raised_at": "2026-12-01T10:00:00Z", "rule_type": "monitor_down"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn urls_are_checked_and_shown_as_their_origin() {
        let (_, origin) = check_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET").unwrap();
        assert_eq!(origin, "https://hooks.slack.com");
        assert_eq!(check_url("http://127.0.0.1:8080/x").unwrap().1, "http://127.0.0.1:8080");
        for bad in [
            "ftp://x/y",
            "not a url",
            "https://x/#frag",
            "file:///etc/passwd",
            "http://user:pw@127.0.0.1/h",
            "http://u@x/",
        ] {
            let e = check_url(bad).unwrap_err();
            assert!(!e.contains(bad));
        }
    }

    #[test]
    fn http_channels_render_their_format_and_record_only_the_origin() {
        let secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let r = render_http(&channel(ChannelKind::Slack), secret_url, &payload()).unwrap();
        let sent: Value = serde_json::from_slice(r.body.as_ref().unwrap()).unwrap();
        assert!(sent["text"].as_str().unwrap().contains("is DOWN"));
        assert_eq!(r.url.as_str(), secret_url);
        assert!(!r.masked.to_string().contains("XXXXSECRET"), "{}", r.masked);
        assert_eq!(r.mask_secrets(&format!("echo {secret_url}")), "echo {{ #channel_url }}");
        assert_eq!(r.mask_secrets("got /services/T000/B000/XXXXSECRET"), "got {{ #channel_url_path }}");
        let d = render_http(&channel(ChannelKind::Discord), secret_url, &payload()).unwrap();
        let sent: Value = serde_json::from_slice(d.body.as_ref().unwrap()).unwrap();
        assert!(sent["content"].as_str().unwrap().contains("is DOWN"));
        let w = render_http(&channel(ChannelKind::Webhook), secret_url, &payload()).unwrap();
        let sent: Value = serde_json::from_slice(w.body.as_ref().unwrap()).unwrap();
        assert_eq!(sent["rule_type"], "monitor_down");
        // Every send says it is an alert, so the daemon's ping routes can refuse it.
        assert_eq!(w.headers.get(ALERT_HEADER).unwrap(), "monitor_down");
        assert_eq!(w.masked["headers"][ALERT_HEADER], "monitor_down");
    }

    #[test]
    fn a_token_echoed_alone_is_masked_and_plain_words_stay() {
        let url = "http://127.0.0.1:9104/api/webhooks/123456789012/DISCORDTOKENXYZ?wait=true&thread_id=98765432109";
        let r = render_http(&channel(ChannelKind::Discord), url, &payload()).unwrap();
        assert_eq!(
            r.mask_secrets("invalid_token DISCORDTOKENXYZ ; query wait=true"),
            "invalid_token {{ #channel_url_token }} ; query wait=true"
        );
        assert_eq!(r.mask_secrets("thread 98765432109 of webhooks"), "thread {{ #channel_url_token }} of webhooks");
        assert!(token_like("T0123ABCD") && token_like("aaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!token_like("webhooks") && !token_like("services") && !token_like("T000"));
    }

    #[test]
    fn the_carrier_has_no_limits_no_breaker_and_the_channel_retries() {
        let c = channel(ChannelKind::Webhook);
        let (t, d) = carrier(&c);
        assert_eq!(d.host, "hooks.slack.com");
        assert_eq!(d.protocol, Protocol::Https);
        assert!(!d.breaker.enabled && !d.rate_limit_enabled && !d.concurrency_control_enabled);
        assert_eq!(t.retry, CHANNEL_RETRY);
        assert_eq!(d.id.0, c.id.0);
    }

    #[test]
    fn an_email_record_names_recipients_and_subject() {
        let r = render_email(&["ops@example.com".into()], &payload(), "127.0.0.1:2525").unwrap();
        assert_eq!(r.masked["headers"]["subject"], "[hookwheel] Monitor \"x\" is DOWN");
        assert_eq!(r.masked["url"], "smtp://127.0.0.1:2525");
    }
}
