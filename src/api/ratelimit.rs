//! Per-API-key rate limit: a token bucket of `limit` tokens refilled continuously over a
//! minute. The answer carries what the `X-RateLimit-*` headers report. And [`KeyedRate`], the
//! per-object GCRA limit of public URLs (ingest URLs, ping URLs), on the `governor` crate.

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

type Gcra<K> = governor::RateLimiter<K, governor::state::keyed::HashMapStateStore<K>, governor::clock::MonotonicClock>;

/// A GCRA limit per key (a source, a monitor) with the rate and burst of `[events]`
/// (`ingest_rate_per_second`, `ingest_burst`; 0 = unlimited), rebuilt when they change on
/// reload.
pub struct KeyedRate<K: std::hash::Hash + Eq + Clone>(
    Mutex<Option<(crate::config::EventLimits, std::sync::Arc<Gcra<K>>)>>,
);

impl<K: std::hash::Hash + Eq + Clone> Default for KeyedRate<K> {
    fn default() -> Self {
        KeyedRate(Mutex::new(None))
    }
}

impl<K: std::hash::Hash + Eq + Clone> KeyedRate<K> {
    /// `Err(seconds to wait, at least 1)` when `key` is over its rate.
    pub fn check(&self, limits: crate::config::EventLimits, key: &K) -> Result<(), u64> {
        let Some(rate) = std::num::NonZeroU32::new(limits.ingest_rate_per_second) else { return Ok(()) };
        let limiter = {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match &*g {
                Some((l, lim)) if *l == limits => lim.clone(),
                _ => {
                    let burst = std::num::NonZeroU32::new(limits.ingest_burst).unwrap_or(rate);
                    let quota = governor::Quota::per_second(rate).allow_burst(burst);
                    let lim = std::sync::Arc::new(governor::RateLimiter::hashmap_with_clock(
                        quota,
                        governor::clock::MonotonicClock,
                    ));
                    *g = Some((limits, lim.clone()));
                    lim
                }
            }
        };
        limiter.check_key(key).map_err(|not_until| {
            use governor::clock::Clock;
            not_until.wait_time_from(governor::clock::MonotonicClock.now()).as_secs().max(1)
        })
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
