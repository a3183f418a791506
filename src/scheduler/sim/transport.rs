//! The simulation's receiver: a [`Transport`] that never connects. It answers each request
//! by the seed (2xx, slow 2xx, 5xx, 429/503 with `Retry-After` in seconds or as an HTTP-date,
//! 410, timeouts after the request's timeout, connection resets) and logs every request it
//! receives, so the checker can compare the wire with the store.
//!
//! An answer is a function of the seed, the idempotency key and how many requests for that
//! key came before (not of the order in which requests of different executions arrive), under
//! the fault mix the simulation has set at that moment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::delivery::transport::{Incoming, Outgoing, SendError, Sending, Transport};
use crate::time::{Clock, Millis, TokioClock};

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// This status after `latency_ms`.
    Status { code: u16, latency_ms: i64 },
    /// 429 or 503 with `Retry-After: <seconds>`.
    RetryAfterSeconds { code: u16, seconds: i64 },
    /// 429 with `Retry-After: <HTTP-date>` this many seconds ahead.
    RetryAfterDate { seconds: i64 },
    /// No answer: the engine's request timeout ends the attempt.
    Timeout,
    /// The connection is reset after `latency_ms`.
    Reset { latency_ms: i64 },
}

impl Answer {
    /// The status the engine records for this answer (`None`: no response).
    pub fn status(self) -> Option<u16> {
        match self {
            Answer::Status { code, .. } | Answer::RetryAfterSeconds { code, .. } => Some(code),
            Answer::RetryAfterDate { .. } => Some(429),
            Answer::Timeout | Answer::Reset { .. } => None,
        }
    }
}

/// The receiver's behaviour, as weights of the kinds of answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mix {
    /// Nearly always 2xx.
    Healthy,
    /// A bit of everything.
    Flaky,
    /// Resets, timeouts and 503s only.
    Down,
    /// Slow answers and timeouts.
    Slow,
}

impl Mix {
    /// Weights of: ok, slow ok, 5xx, 503 + Retry-After, 429 + Retry-After (seconds), 429 +
    /// Retry-After (date), 410, timeout, reset.
    fn weights(self) -> [u64; 9] {
        match self {
            Mix::Healthy => [90, 8, 2, 0, 0, 0, 0, 0, 0],
            Mix::Flaky => [45, 10, 12, 5, 6, 4, 1, 8, 9],
            Mix::Down => [0, 0, 10, 15, 0, 0, 0, 30, 45],
            Mix::Slow => [10, 60, 0, 0, 0, 0, 0, 30, 0],
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub key: String,
    /// The life (daemon process) that sent it.
    pub life: u32,
    /// When it arrived (simulated ms): the attempt's `started_ms`.
    pub at_ms: Millis,
    pub answer: Answer,
    /// When the answer went back; `None` while in flight, and for good when the life was
    /// killed first.
    pub done_ms: Option<Millis>,
    /// `Retry-After` as an HTTP-date: the instant it named (whole seconds).
    pub retry_after_date_ms: Option<Millis>,
    pub method: String,
    pub host: String,
    pub path: String,
    pub authorization: Option<String>,
    pub signed: bool,
    pub webhook_id: Option<String>,
}

/// Everything the receiver got, shared with the checker.
#[derive(Debug, Default)]
pub(super) struct Log {
    pub sent: Vec<Sent>,
    /// Indexes into `sent`, per idempotency key.
    pub by_key: HashMap<String, Vec<usize>>,
    /// Requests in flight per key in the current life.
    in_flight: HashMap<String, usize>,
    /// Requests of one execution that overlapped in time (never allowed).
    pub violations: Vec<String>,
    pub mix: Option<Mix>,
}

impl Log {
    /// A life ended (killed or stopped): what was in flight never gets an answer.
    pub fn life_ended(&mut self) {
        self.in_flight.clear();
    }
}

/// The fake transport of one life.
pub(super) struct FakeTransport {
    pub seed: u64,
    pub life: u32,
    pub clock: Arc<TokioClock>,
    pub log: Arc<Mutex<Log>>,
}

/// splitmix64's finaliser: a well-mixed 64-bit hash of `x`.
pub(super) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of a string (stable across runs, unlike std's hasher).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The answer to the `n`-th request (from 0) for `key` under `mix`.
fn decide(seed: u64, key: &str, n: usize, mix: Mix, timeout_ms: i64) -> Answer {
    let mut h = mix64(seed ^ fnv(key) ^ mix64(n as u64));
    let mut draw = |m: u64| {
        h = mix64(h);
        h % m
    };
    let weights = mix.weights();
    let total: u64 = weights.iter().sum();
    let mut pick = draw(total);
    let mut kind = 0;
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            kind = i;
            break;
        }
        pick -= w;
    }
    let short = draw(40) as i64;
    match kind {
        0 => Answer::Status { code: [200, 201, 204][draw(3) as usize], latency_ms: short },
        1 => Answer::Status { code: 200, latency_ms: (draw(timeout_ms.max(2) as u64 - 1) as i64).max(1) },
        2 => Answer::Status { code: [500, 502, 504, 400][draw(4) as usize], latency_ms: short },
        3 => Answer::RetryAfterSeconds { code: 503, seconds: 1 + draw(4) as i64 },
        4 => Answer::RetryAfterSeconds { code: 429, seconds: 1 + draw(4) as i64 },
        5 => Answer::RetryAfterDate { seconds: 2 + draw(4) as i64 },
        6 => Answer::Status { code: 410, latency_ms: short },
        7 => Answer::Timeout,
        _ => Answer::Reset { latency_ms: short },
    }
}

impl Transport for FakeTransport {
    fn send(&self, req: Outgoing) -> Sending<'_> {
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let key = header("idempotency-key").unwrap_or_default();
        let timeout_ms = req.timeout.as_millis() as i64;
        let now = self.clock.now_ms();
        let (index, answer) = {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            let n = log.by_key.get(&key).map_or(0, Vec::len);
            let answer = decide(self.seed, &key, n, log.mix.unwrap_or(Mix::Healthy), timeout_ms);
            let busy = log.in_flight.entry(key.clone()).or_default();
            *busy += 1;
            if *busy > 1 {
                let v = format!("two requests for {key} at once (life {}, at {now})", self.life);
                log.violations.push(v);
            }
            let index = log.sent.len();
            log.sent.push(Sent {
                key: key.clone(),
                life: self.life,
                at_ms: now,
                answer,
                done_ms: None,
                retry_after_date_ms: None,
                method: req.method.to_string(),
                host: req.url.host_str().map(|h| format!("{h}:{}", req.url.port().unwrap_or(0))).unwrap_or_default(),
                path: req.url.path().to_string(),
                authorization: header("authorization"),
                signed: req.headers.contains_key("webhook-signature"),
                webhook_id: header("webhook-id"),
            });
            log.by_key.entry(key.clone()).or_default().push(index);
            (index, answer)
        };
        Box::pin(async move {
            let sleep = |ms: i64| tokio::time::sleep(Duration::from_millis(ms.max(0) as u64));
            let mut date_ms = None;
            let result = match answer {
                Answer::Status { code, latency_ms } => {
                    sleep(latency_ms).await;
                    Ok(Incoming { status: code, body: b"{\"ok\":true}".to_vec(), ..Incoming::default() })
                }
                Answer::RetryAfterSeconds { code, seconds } => {
                    Ok(Incoming { status: code, retry_after: Some(seconds.to_string()), ..Incoming::default() })
                }
                Answer::RetryAfterDate { seconds } => {
                    let at = (self.clock.now_ms() + seconds * 1000).div_euclid(1000) * 1000;
                    date_ms = Some(at);
                    let when = std::time::UNIX_EPOCH + Duration::from_millis(at as u64);
                    Ok(Incoming {
                        status: 429,
                        retry_after: Some(httpdate::fmt_http_date(when)),
                        ..Incoming::default()
                    })
                }
                Answer::Timeout => {
                    sleep(timeout_ms).await;
                    Err(SendError::Timeout)
                }
                Answer::Reset { latency_ms } => {
                    sleep(latency_ms).await;
                    Err(SendError::Connect("connection reset by peer".into()))
                }
            };
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            let done = self.clock.now_ms();
            let entry = &mut log.sent[index];
            entry.done_ms = Some(done);
            entry.retry_after_date_ms = date_ms;
            if let Some(busy) = log.in_flight.get_mut(&key) {
                *busy = busy.saturating_sub(1);
            }
            result
        })
    }
}
