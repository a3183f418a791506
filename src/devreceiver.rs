//! `hookwheel dev receiver`: a tiny HTTP receiver for trying hookwheel out. It prints every
//! request it gets (time, method, path, size, `webhook-id`, body) and, when given the
//! domain's signing secret(s), checks the Standard Webhooks signature of each one
//! (<https://www.standardwebhooks.com/>: `webhook-id`, `webhook-timestamp` within 5 minutes,
//! `webhook-signature` holding `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`).
//!
//! It answers every request with the configured status and a JSON body
//! `{"ok": <status is 2xx>, "method", "path", "received_at", "echo": <request body as JSON or
//! null>}`, so a workflow step can read `{{ step.response.echo.<field> }}` from it.
//! A development tool: it listens where it is told (loopback by default) and keeps nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::delivery::signing;
use crate::time::{Clock, SystemClock, format_utc};

/// Standard Webhooks' default tolerance for `webhook-timestamp` against the receiver's clock.
const TIMESTAMP_TOLERANCE_S: i64 = 300;
/// Bytes of a body printed in text mode; the rest is summarised.
const BODY_PRINT_MAX: usize = 4096;

/// What the receiver was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// `whsec_…` secrets; a request passes when any of them signed it (rotation overlap).
    pub secrets: Vec<String>,
    /// Status answered to every request.
    pub status: StatusCode,
    /// One JSON object per request on stdout instead of text.
    pub json: bool,
}

/// The outcome of a signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// No secret was given to the receiver.
    NotChecked,
    /// One of the `v1` signatures matches and the timestamp is within tolerance.
    Valid,
    /// A Standard Webhooks header is absent.
    Missing,
    /// `webhook-timestamp` is not a number or is more than 5 minutes away.
    StaleTimestamp,
    /// No `v1` signature matches any secret.
    Invalid,
}

impl SignatureCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureCheck::NotChecked => "not checked (no --secret)",
            SignatureCheck::Valid => "signature ok",
            SignatureCheck::Missing => "signature MISSING",
            SignatureCheck::StaleTimestamp => "signature REFUSED: timestamp more than 5 minutes away",
            SignatureCheck::Invalid => "signature INVALID",
        }
    }
}

/// Checks a request's Standard Webhooks headers against `secrets` at `now_s` (Unix seconds).
pub fn check_signature(secrets: &[String], headers: &HeaderMap, body: &[u8], now_s: i64) -> SignatureCheck {
    if secrets.is_empty() {
        return SignatureCheck::NotChecked;
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Several signature header lines count as one space-separated list (RFC 9110 §5.3).
    let sigs: Vec<&str> = headers.get_all("webhook-signature").iter().filter_map(|v| v.to_str().ok()).collect();
    let (Some(id), Some(ts), false) = (get("webhook-id"), get("webhook-timestamp"), sigs.is_empty()) else {
        return SignatureCheck::Missing;
    };
    let Ok(ts) = ts.trim().parse::<i64>() else { return SignatureCheck::StaleTimestamp };
    if now_s.abs_diff(ts) > TIMESTAMP_TOLERANCE_S.unsigned_abs() {
        return SignatureCheck::StaleTimestamp;
    }
    let presented: Vec<&str> = sigs.iter().flat_map(|h| h.split(' ')).filter_map(|s| s.strip_prefix("v1,")).collect();
    let ok = secrets.iter().any(|secret| presented.iter().any(|sig| signing::verify(secret, id, ts, body, sig)));
    if ok { SignatureCheck::Valid } else { SignatureCheck::Invalid }
}

struct Ctx {
    opts: Options,
    clock: SystemClock,
}

/// Refuses a secret that cannot check anything: empty (an unset shell variable), or whose key
/// part (after `whsec_`) is not base64 — Standard Webhooks keys are base64, and an empty key
/// would accept a signature anyone can compute.
pub fn check_secret(secret: &str) -> Result<(), String> {
    use base64::Engine;
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if !k.is_empty() => Ok(()),
        Ok(_) => Err("a signing secret is empty (is the variable that should hold it set?)".into()),
        Err(_) => Err("a signing secret is not a whsec_ secret: its part after whsec_ is not base64".into()),
    }
}

/// Runs the receiver until Ctrl-C. Errors: a secret is refused by [`check_secret`]; the
/// address cannot be bound.
pub fn run(opts: Options) -> anyhow::Result<()> {
    for secret in &opts.secrets {
        check_secret(secret).map_err(|e| anyhow::anyhow!(e))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("cannot listen on {}", opts.listen))?;
        let checking = if opts.secrets.is_empty() {
            "signatures not checked (give --secret whsec_… to check them)".to_string()
        } else {
            format!("checking Standard Webhooks signatures with {} secret(s)", opts.secrets.len())
        };
        eprintln!(
            "hookwheel dev receiver listening on http://{}, answering {}; {checking}",
            listener.local_addr()?,
            opts.status.as_u16()
        );
        let ctx = Arc::new(Ctx { opts, clock: SystemClock });
        let app = axum::Router::new().fallback(receive).with_state(ctx);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

async fn receive(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let now = ctx.clock.now_ms();
    let check = check_signature(&ctx.opts.secrets, &headers, &body, now.div_euclid(1000));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ctx.opts.json {
        let all: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), Value::String(String::from_utf8_lossy(v.as_bytes()).into())))
            .collect();
        let line = json!({
            "received_at": format_utc(now),
            "method": method.as_str(),
            "path": path,
            "headers": all,
            "body": String::from_utf8_lossy(&body),
            "signature": match check {
                SignatureCheck::NotChecked => "not_checked",
                SignatureCheck::Valid => "valid",
                SignatureCheck::Missing => "missing",
                SignatureCheck::StaleTimestamp => "stale_timestamp",
                SignatureCheck::Invalid => "invalid",
            },
        });
        println!("{line}");
    } else {
        let id = match header("webhook-id") {
            "" => String::new(),
            id => format!("  webhook-id {id}"),
        };
        println!("{}  {} {}  {} bytes{id}  {}", format_utc(now), method.as_str(), path, body.len(), check.as_str());
        if !body.is_empty() {
            let shown = &body[..body.len().min(BODY_PRINT_MAX)];
            let more = if body.len() > shown.len() {
                format!(" … ({} more bytes)", body.len() - shown.len())
            } else {
                String::new()
            };
            println!("  {}{more}", printable(&String::from_utf8_lossy(shown)));
        }
    }
    let answer = json!({
        "ok": ctx.opts.status.is_success(),
        "method": method.as_str(),
        "path": path,
        "received_at": format_utc(now),
        "echo": parsed,
    });
    (ctx.opts.status, axum::Json(answer))
}

/// `text` with control characters (terminal escapes included) shown as `\u{..}` escapes, so
/// a sender cannot drive the terminal the receiver prints to.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        h.insert("webhook-timestamp", HeaderValue::from_str(&ts.to_string()).unwrap());
        h.insert("webhook-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    #[test]
    fn checks_the_standard_webhooks_test_vector() {
        // The test vector of the Standard Webhooks specification.
        let secret = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()];
        let body = br#"{"test": 2432232314}"#;
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, good);
        assert_eq!(check_signature(&secret, &h, body, 1614265330), SignatureCheck::Valid);
        // Several signatures (a rotation overlap): one valid one is enough.
        let two = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, &format!("v1,AAAA {good}"));
        assert_eq!(check_signature(&secret, &two, body, 1614265330 + 299), SignatureCheck::Valid);
        assert_eq!(check_signature(&secret, &h, body, 1614265330 + 301), SignatureCheck::StaleTimestamp);
        assert_eq!(check_signature(&secret, &h, b"{}", 1614265330), SignatureCheck::Invalid);
        let other = vec!["whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()];
        assert_eq!(check_signature(&other, &h, body, 1614265330), SignatureCheck::Invalid);
        assert_eq!(check_signature(&secret, &HeaderMap::new(), body, 0), SignatureCheck::Missing);
        assert_eq!(check_signature(&[], &h, body, 0), SignatureCheck::NotChecked);
        // Extreme timestamps are stale, never an overflow.
        let far = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", i64::MIN, good);
        assert_eq!(check_signature(&secret, &far, body, 1614265330), SignatureCheck::StaleTimestamp);
        let far = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", i64::MAX, good);
        assert_eq!(check_signature(&secret, &far, body, -1), SignatureCheck::StaleTimestamp);
        // The valid signature on a second header line counts.
        let mut split = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "v1,AAAA");
        split.append("webhook-signature", HeaderValue::from_static("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert_eq!(check_signature(&secret, &split, body, 1614265330), SignatureCheck::Valid);
    }

    #[test]
    fn secrets_that_check_nothing_are_refused_and_output_is_printable() {
        assert!(check_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(check_secret("").unwrap_err().contains("empty"));
        assert!(check_secret("whsec_").unwrap_err().contains("empty"));
        assert!(check_secret("whsec_not base64!").unwrap_err().contains("not base64"));
        assert_eq!(printable("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
    }
}
