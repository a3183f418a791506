//! Per-API-key rate limit: a token bucket of `limit` tokens refilled continuously over a
//! minute. The answer carries what the `X-RateLimit-*` headers report.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::KeyId;
use crate::time::Millis;

const WINDOW_MS: f64 = 60_000.0;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<KeyId, (f64, Millis)>>,
}

/// The outcome of one request against its key's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds when the bucket is full again.
    pub reset_epoch_s: i64,
    /// Seconds until one request is allowed again (only when refused).
    pub retry_after_s: u64,
}

impl RateLimiter {
    /// Takes one token for `key`. `limit_per_minute` must be > 0.
    pub fn check(&self, key: KeyId, limit_per_minute: u32, now: Millis) -> Decision {
        let cap = f64::from(limit_per_minute);
        let per_ms = cap / WINDOW_MS;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(key).or_insert((cap, now));
        let elapsed = (now - *last).max(0) as f64;
        *tokens = (*tokens + elapsed * per_ms).min(cap);
        *last = now;
        let allowed = *tokens >= 1.0;
        if allowed {
            *tokens -= 1.0;
        }
        let missing = cap - *tokens;
        let reset_ms = now + (missing / per_ms).ceil() as i64;
        let retry_after_s = if allowed { 0 } else { (((1.0 - *tokens) / per_ms) / 1000.0).ceil().max(1.0) as u64 };
        Decision {
            allowed,
            limit: limit_per_minute,
            remaining: tokens.floor() as u32,
            reset_epoch_s: reset_ms.div_euclid(1000) + i64::from(reset_ms.rem_euclid(1000) > 0),
            retry_after_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_then_refills() {
        let rl = RateLimiter::default();
        let k = KeyId::new();
        for i in 0..3 {
            let d = rl.check(k, 3, 1_000);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i);
        }
        let d = rl.check(k, 3, 1_000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_s, 20, "one token per 20 s at 3/min");
        assert!(rl.check(k, 3, 21_000).allowed, "refilled one token after 20 s");
        assert!(!rl.check(k, 3, 21_001).allowed);
    }
}
