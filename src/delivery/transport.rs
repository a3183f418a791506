//! The transport seam: how one prepared request goes out and what came back, as data.
//!
//! [`HttpTransport`] is the real one (the pooled reqwest client, the egress checks on IP
//! literals and, with a configured proxy, on the target's addresses). Tests put a scripted
//! transport in its place (the simulation test injects 5xx, timeouts and resets), so
//! everything above the wire — guard, signing, classification, retries, recording — runs
//! unchanged.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::client::{self, SharedPolicy};
use super::egress::EgressDenied;

/// A request ready to send: everything rendered, signed and checked.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    /// One value per name (the engine built them with `insert`).
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// The template's `request_timeout_in_milliseconds`: the whole exchange, body included.
    pub timeout: Duration,
    /// Most response bytes kept; the rest is not read.
    pub max_response_bytes: usize,
}

/// What the receiver answered.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    /// At most `max_response_bytes` of the body.
    pub body: Vec<u8>,
    /// The body could not be read to its end (the status still counts).
    pub read_error: Option<String>,
}

/// Why no answer came back.
#[derive(Debug)]
pub enum SendError {
    /// The egress policy refused the target: permanent.
    Denied(EgressDenied),
    /// No answer within the request timeout.
    Timeout,
    /// No connection (refused, reset before the answer, DNS): the text says which.
    Connect(String),
    /// Anything else on the wire.
    Other(String),
}

pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Incoming, SendError>> + Send + 'a>>;

/// Sends prepared requests.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, req: Outgoing) -> Sending<'_>;

    /// The egress policy changed (reload): connections opened under the old one must not
    /// carry new requests.
    fn policy_changed(&self) {}
}

/// The real transport: one pooled client whose resolver enforces the egress policy. The
/// resolver judges the addresses of a new connection; a pooled connection was judged when it
/// opened, so a policy change replaces the client (and with it the pool).
pub struct HttpTransport {
    http: std::sync::RwLock<reqwest::Client>,
    policy: SharedPolicy,
    /// `egress.proxy_url`, if set: targets are resolved and judged before they go to the proxy.
    proxy: Option<reqwest::Url>,
    idle_per_host: usize,
}

impl HttpTransport {
    pub fn new(
        policy: SharedPolicy,
        idle_per_host: usize,
        proxy: Option<reqwest::Url>,
    ) -> Result<HttpTransport, reqwest::Error> {
        let http = client::build(policy.clone(), idle_per_host, proxy.as_ref())?;
        Ok(HttpTransport { http: std::sync::RwLock::new(http), policy, proxy, idle_per_host })
    }

    fn client(&self) -> reqwest::Client {
        self.http.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Transport for HttpTransport {
    fn policy_changed(&self) {
        match client::build(self.policy.clone(), self.idle_per_host, self.proxy.as_ref()) {
            Ok(http) => *self.http.write().unwrap_or_else(|e| e.into_inner()) = http,
            Err(e) => tracing::error!(error = %e, "the delivery client was not rebuilt for the new egress policy"),
        }
    }

    fn send(&self, req: Outgoing) -> Sending<'_> {
        Box::pin(async move {
            client::check_literal(&req.url, &self.policy).map_err(SendError::Denied)?;
            if self.proxy.is_some() {
                match client::check_via_proxy(&req.url, &self.policy).await {
                    Ok(()) => {}
                    Err(client::ProxyCheckError::Denied(denied)) => return Err(SendError::Denied(denied)),
                    Err(e) => return Err(SendError::Connect(error_chain(&e))),
                }
            }
            let mut rb = self.client().request(req.method, req.url).timeout(req.timeout).headers(req.headers);
            if let Some(b) = req.body {
                rb = rb.body(b);
            }
            match rb.send().await {
                Ok(mut resp) => {
                    let header =
                        |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                    let mut got = Incoming {
                        status: resp.status().as_u16(),
                        retry_after: header("retry-after"),
                        location: header("location"),
                        ..Incoming::default()
                    };
                    let max = req.max_response_bytes;
                    while got.body.len() < max {
                        match resp.chunk().await {
                            Ok(Some(c)) => {
                                let room = max - got.body.len();
                                got.body.extend_from_slice(&c[..c.len().min(room)]);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                got.read_error =
                                    Some(format!("reading the response: {}", error_chain(&e.without_url())));
                                break;
                            }
                        }
                    }
                    Ok(got)
                }
                Err(e) => {
                    // The error would show the rendered URL, which may carry secrets.
                    let e = e.without_url();
                    if let Some(denied) = client::egress_denial(&e) {
                        return Err(SendError::Denied(denied.clone()));
                    }
                    Err(if e.is_timeout() {
                        SendError::Timeout
                    } else if e.is_connect() {
                        SendError::Connect(error_chain(&e))
                    } else {
                        SendError::Other(error_chain(&e))
                    })
                }
            }
        })
    }
}

/// An error and its sources, one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
